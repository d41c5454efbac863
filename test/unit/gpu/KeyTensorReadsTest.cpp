//===- KeyTensorReadsTest.cpp - which mask reads a kernel shares per key --===//
//
// keyTensorReads (BodyInliner.h) picks the reads of an extra tensor in a
// mask's body whose indices depend on the key and otherwise on b and h only:
// the GPU kernels read those once per key and share them across rows
// (docs/gpu.md, partial tiles). A read that also depends on the query, or on
// nothing of the key, must not be picked. rowTensorReads picks those that
// depend on b, h and the query only (read once per row, before the key
// loop); readsOnlyRowsOrKeys says whether those two cover every read.
//
//===----------------------------------------------------------------------===//
#include "compiler/Pipeline/Pipeline.h"
#include "compiler/targets/common/BodyInliner.h"
#include "frontend/Frontend.h"
#include "frontend/emit/EmitAttn.h"

#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace attn;

namespace {

using Picker = llvm::SmallVector<mlir::Value> (*)(mlir::Region &);

/// The tensors (by name) of the reads `pick` picks in the keep of
/// `source`'s only variant, after the online pipeline; "<all rows or keys>"
/// last when readsOnlyRowsOrKeys holds.
std::vector<std::string> picked(const std::string &source, Picker pick = keyTensorReads) {
  DiagnosticEngine diags("test.attn", source);
  std::unique_ptr<ast::Module> ast = parseAndCheck(diags);
  EXPECT_TRUE(ast);
  if (!ast)
    return {"<parse error>"};
  mlir::MLIRContext ctx;
  ctx.loadDialect<attn::AttnDialect, cascade::CascadeDialect, mlir::arith::ArithDialect,
                  mlir::math::MathDialect>();
  mlir::OwningOpRef<mlir::ModuleOp> module = emitAttnModule(ctx, *ast, ast->variants[0].name);
  EXPECT_TRUE(module);
  EXPECT_TRUE(mlir::succeeded(lowerToCascade(*module, PipelineOptions{})));
  mlir::Value keep;
  module->walk([&](cascade::EinsumOp e) {
    if (e.getKeep())
      keep = e.getKeep();
  });
  std::vector<std::string> out;
  if (!keep)
    return {"<no keep>"};
  auto keepOp = keep.getDefiningOp<cascade::EinsumOp>();
  for (mlir::Value v : pick(keepOp.getBody())) {
    auto load = v.getDefiningOp<attn::LoadOp>();
    out.push_back(load ? load.getTensor().str() : "<not a read>");
  }
  if (pick == rowTensorReads && readsOnlyRowsOrKeys(keepOp.getBody()))
    out.push_back("<all rows or keys>");
  return out;
}

TEST(KeyTensorReads, DocumentIdOfTheKey) {
  // doc[b, i] depends on the query: only doc[b, j] is shared.
  EXPECT_EQ(picked("variant d { tensor doc: i32[B, Skv]; mask = doc[b, i] == doc[b, j] && j <= i; }"),
            std::vector<std::string>{"doc"});
}

TEST(KeyTensorReads, ReadOfTheBatchAloneIsNotPerKey) {
  // prefix_len[b] is the same for every key: nothing to share.
  EXPECT_TRUE(picked("variant p { tensor prefix_len: i32[B]; mask = j < prefix_len[b] || j <= i; }")
                  .empty());
}

TEST(KeyTensorReads, ReadOfQueryAndKeyIsNotPerKey) {
  EXPECT_TRUE(picked("variant t { tensor allow: i32[B, Sq, Skv]; mask = allow[b, i, j] != 0; }")
                  .empty());
}

TEST(KeyTensorReads, IndexComputedFromTheKeyAndHead) {
  // An index that is a function of j and h (and a size) is still per key.
  EXPECT_EQ(picked("variant s { tensor seg: i32[H, Skv]; mask = seg[h, Skv - 1 - j] >= 0 && j <= i; }"),
            std::vector<std::string>{"seg"});
}

TEST(RowTensorReads, DocumentIdOfTheQuery) {
  // doc[b, i]: once per row; with doc[b, j] (per key) every read is covered.
  EXPECT_EQ(picked("variant d { tensor doc: i32[B, Skv]; mask = doc[b, i] == doc[b, j] && j <= i; }",
                   rowTensorReads),
            (std::vector<std::string>{"doc", "<all rows or keys>"}));
}

TEST(RowTensorReads, ReadOfTheBatchAlone) {
  EXPECT_EQ(picked("variant p { tensor prefix_len: i32[B]; mask = j < prefix_len[b] || j <= i; }",
                   rowTensorReads),
            (std::vector<std::string>{"prefix_len", "<all rows or keys>"}));
}

TEST(RowTensorReads, ReadOfQueryAndKeyIsNeither) {
  // allow[b, i, j] is per point: not a row read, and not every read is covered.
  EXPECT_EQ(picked("variant t { tensor allow: i32[B, Sq, Skv]; tensor lim: i32[B];"
                   " mask = j < lim[b] && allow[b, i, j] != 0; }",
                   rowTensorReads),
            std::vector<std::string>{"lim"});
}

TEST(RowTensorReads, GuardedReadIsNeither) {
  // lim[b] right of `&&` is read only where the left side holds (a guarded
  // read, checked in the body under its guard): not staged per row; nor is
  // seg[h, j] under `?:` per key.
  EXPECT_EQ(picked("variant t { tensor allow: i32[B, Sq, Skv]; tensor lim: i32[B];"
                   " mask = allow[b, i, j] != 0 && j < lim[b]; }",
                   rowTensorReads),
            std::vector<std::string>{});
  EXPECT_EQ(picked("variant s { tensor seg: i32[H, Skv]; mask = j < 4 ? seg[h, j] >= 0 : j <= i; }"),
            std::vector<std::string>{});
}

TEST(RowTensorReads, ReadOfTheKeyIsNotPerRow) {
  EXPECT_EQ(picked("variant s { tensor seg: i32[H, Skv]; mask = seg[h, Skv - 1 - j] >= 0 && j <= i; }",
                   rowTensorReads),
            std::vector<std::string>{"<all rows or keys>"});
}

} // namespace
