//===- Driver.h - shared pieces of the attnc subcommands --------*- C++ -*-===//
#ifndef ATTNC_COMPILER_TOOLS_ATTNC_DRIVER_H
#define ATTNC_COMPILER_TOOLS_ATTNC_DRIVER_H

#include "frontend/AST.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

#include <memory>
#include <string>

namespace attn::driver {

/// A parsed, checked and emitted .attn file.
struct LoadedFile {
  std::unique_ptr<ast::Module> ast;
  mlir::OwningOpRef<mlir::ModuleOp> attnModule;
};

/// Registers every dialect attnc uses in `ctx`.
void registerDialects(mlir::MLIRContext &ctx);

/// Reads `path`, parses and checks it (diagnostics to stderr, clang style) and
/// emits the attn dialect. `variant` selects one variant (error if unknown).
/// Returns null on any error (already reported).
std::unique_ptr<LoadedFile> loadAttnFile(mlir::MLIRContext &ctx,
                                         const std::string &path,
                                         const std::string &variant);

/// `attnc run ...` (RunCommand.cpp). argv[0] is "run".
int runMain(int argc, char **argv);

/// `attnc FILE --explain` / `--emit cascade` (Explain.cpp): prints, for each
/// variant of `module`, the cascade before and after the rewrites and the pass
/// count with reasons (explain), or just the final cascade IR.
int explainMain(mlir::ModuleOp attnModule, bool explain, llvm::raw_ostream &os);

} // namespace attn::driver

#endif
