//===- Driver.cpp - loading .attn files for the attnc subcommands ---------===//
#include "compiler/tools/attnc/Driver.h"

#include "compiler/Pipeline/Pipeline.h"
#include "dialects/attn/AttnDialect.h"
#include "frontend/Frontend.h"
#include "frontend/emit/EmitAttn.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <iostream>

using namespace attn;

void driver::registerDialects(mlir::MLIRContext &ctx) {
  ctx.loadDialect<AttnDialect, mlir::arith::ArithDialect, mlir::math::MathDialect>();
  // MLIR's diagnostics (a pass or a target failing on a variant) as
  // `file:line:col: error: ...`, like the front end's, without the IR of the
  // op that failed (a whole kernel module).
  ctx.printOpOnDiagnostic(false);
  ctx.getDiagEngine().registerHandler([](mlir::Diagnostic &d) {
    llvm::errs() << formatDiagnostic(d);
    return mlir::success();
  });
}

std::unique_ptr<driver::LoadedFile>
driver::loadAttnFile(mlir::MLIRContext &ctx, const std::string &path,
                     const std::string &variant) {
  auto buf = llvm::MemoryBuffer::getFileOrSTDIN(path, /*IsText=*/true);
  if (!buf) {
    llvm::errs() << "attnc: error: cannot read '" << path
                 << "': " << buf.getError().message() << "\n";
    return nullptr;
  }
  DiagnosticEngine diags(path, (*buf)->getBuffer().str());
  auto ast = parseAndCheck(diags);
  diags.print(std::cerr);
  if (!ast)
    return nullptr;
  auto result = std::make_unique<LoadedFile>();
  if (!variant.empty()) {
    bool found = false;
    for (auto &v : ast->variants)
      found |= v.name == variant;
    if (!found) {
      llvm::errs() << path << ": error: no variant named '" << variant
                   << "' (the file defines:";
      for (auto &v : ast->variants)
        llvm::errs() << " " << v.name;
      llvm::errs() << ")\n";
      return nullptr;
    }
  }
  result->attnModule = emitAttnModule(ctx, *ast, variant);
  if (!result->attnModule)
    return nullptr;
  result->ast = std::move(ast);
  return result;
}
