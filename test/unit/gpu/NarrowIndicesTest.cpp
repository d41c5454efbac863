//===- NarrowIndicesTest.cpp - narrowIndexArithmetic on small functions ---===//
//
// Which i64 comparisons and conversions narrowIndexArithmetic rewrites to
// i32, and which it must leave: the rewrite is exact only when every value
// on the way fits in i32.
//
//===----------------------------------------------------------------------===//
#include "compiler/targets/common/NarrowIndices.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <string>

namespace {

/// `body` inside a function of i64 arguments %x, %y and i32 %p, where %i and
/// %j are seeds in [0, 2^30) and %q one in [-2^30, 2^30); returns the number
/// rewritten and the predicates' operand widths of the compares after it.
struct Result {
  unsigned rewritten = 0;
  std::string widths; ///< per cmpi / sitofp in order: "32" or "64"
  bool ok = false;
};

Result run(const std::string &body, const std::string &results) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<mlir::arith::ArithDialect, mlir::func::FuncDialect>();
  std::string text = "func.func @f(%x: i64, %y: i64, %p: i32) -> (" + results + ") {\n"
                     "  %ti = arith.trunci %x : i64 to i30\n"
                     "  %i = arith.extui %ti : i30 to i64\n"
                     "  %tj = arith.trunci %y : i64 to i30\n"
                     "  %j = arith.extui %tj : i30 to i64\n"
                     "  %tq = arith.trunci %x : i64 to i31\n"
                     "  %q = arith.extsi %tq : i31 to i64\n"
                     "  %w = arith.extsi %p : i32 to i64\n" +
                     body + "}\n";
  mlir::OwningOpRef<mlir::ModuleOp> m = mlir::parseSourceString<mlir::ModuleOp>(text, &ctx);
  Result r;
  if (!m)
    return r;
  r.rewritten = attn::narrowIndexArithmetic(*m);
  m->walk([&](mlir::Operation *op) {
    if (auto c = llvm::dyn_cast<mlir::arith::CmpIOp>(op))
      r.widths += c.getLhs().getType().isInteger(32) ? "32 " : "64 ";
    if (auto s = llvm::dyn_cast<mlir::arith::SIToFPOp>(op))
      r.widths += s.getIn().getType().isInteger(32) ? "32 " : "64 ";
  });
  r.ok = mlir::succeeded(mlir::verify(*m));
  return r;
}

TEST(NarrowIndices, CausalAndWindowMasksCompareIn32Bits) {
  // j <= i && i - j < window (sliding_window), j + 127 < Skv-like sums.
  Result r = run("  %a = arith.cmpi sle, %j, %i : i64\n"
                 "  %d = arith.subi %i, %j : i64\n"
                 "  %b = arith.cmpi slt, %d, %w : i64\n"
                 "  %c127 = arith.constant 127 : i64\n"
                 "  %e = arith.addi %j, %c127 : i64\n"
                 "  %c = arith.cmpi slt, %e, %i : i64\n"
                 "  return %a, %b, %c : i1, i1, i1\n",
                 "i1, i1, i1");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.rewritten, 3u);
  EXPECT_EQ(r.widths, "32 32 32 ");
}

TEST(NarrowIndices, SignedQueryPositionsAndConversions) {
  // q - j with q possibly negative, converted to f32 (ALiBi's i - j).
  Result r = run("  %d = arith.subi %q, %j : i64\n"
                 "  %f = arith.sitofp %d : i64 to f32\n"
                 "  %c64 = arith.constant 64 : i64\n"
                 "  %bi = arith.floordivsi %q, %c64 : i64\n"
                 "  %bj = arith.floordivsi %j, %c64 : i64\n"
                 "  %e = arith.cmpi eq, %bi, %bj : i64\n"
                 "  return %f, %e : f32, i1\n",
                 "f32, i1");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.rewritten, 2u);
  EXPECT_EQ(r.widths, "32 32 ");
}

TEST(NarrowIndices, LeavesWhatMayNotFit) {
  // i * j reaches 2^60; i + window + j can pass 2^31; %x is no seed; an
  // unsigned predicate is left alone.
  Result r = run("  %m = arith.muli %i, %j : i64\n"
                 "  %a = arith.cmpi slt, %m, %w : i64\n"
                 "  %s = arith.addi %i, %w : i64\n"
                 "  %s2 = arith.addi %s, %j : i64\n"
                 "  %b = arith.cmpi slt, %s2, %j : i64\n"
                 "  %c = arith.cmpi slt, %x, %j : i64\n"
                 "  %u = arith.cmpi ult, %i, %j : i64\n"
                 "  %f = arith.sitofp %m : i64 to f32\n"
                 "  return %a, %b, %c, %u, %f : i1, i1, i1, i1, f32\n",
                 "i1, i1, i1, i1, f32");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.rewritten, 0u);
  EXPECT_EQ(r.widths, "64 64 64 64 64 ");
}

TEST(NarrowIndices, SeedsAreWhatTheKernelsEmit) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<mlir::arith::ArithDialect, mlir::func::FuncDialect>();
  mlir::OpBuilder b(&ctx);
  mlir::Location loc = b.getUnknownLoc();
  mlir::OwningOpRef<mlir::ModuleOp> m = mlir::ModuleOp::create(loc);
  b.setInsertionPointToEnd(m->getBody());
  mlir::Value x = mlir::arith::ConstantIntOp::create(b, loc, b.getI64Type(), 5);
  mlir::Value i = attn::assumeIndexRange(b, loc, x), q = attn::assumeSignedIndexRange(b, loc, x);
  auto cmp = mlir::arith::CmpIOp::create(b, loc, mlir::arith::CmpIPredicate::slt,
                                         mlir::arith::SubIOp::create(b, loc, q, i), i);
  (void)cmp;
  EXPECT_EQ(attn::narrowIndexArithmetic(*m), 1u);
  EXPECT_TRUE(mlir::succeeded(mlir::verify(*m)));
}

} // namespace
