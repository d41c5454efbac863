//===- RunReference.h - lower an attn module and interpret it ---*- C++ -*-===//
//
// The `--target ref` path of `attnc run` and the tests' entry point: lowers
// (a clone of) an attn module through the cascade pipeline and runs the
// float64 cascade interpreter on one variant.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_INTERPRETER_RUNREFERENCE_H
#define ATTNC_COMPILER_INTERPRETER_RUNREFERENCE_H

#include "compiler/Pipeline/Pipeline.h"
#include "compiler/reference/Problem.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace attn {

/// Clones `attnModule` (attn dialect, as emitted), lowers the clone with
/// `lowerToCascade(clone, options)`, and interprets the cascade of `variant`
/// on `problem`. Pipeline diagnostics become the error's message. The input
/// module is not modified.
llvm::Error runCascadeReference(mlir::ModuleOp attnModule, llvm::StringRef variant,
                                const PipelineOptions &options,
                                const attn::ref::Problem &problem,
                                attn::ref::Result &result);

/// Interprets the cascade of `variant` in an already lowered module (any
/// stage of the pipeline).
llvm::Error runLoweredReference(mlir::ModuleOp loweredModule, llvm::StringRef variant,
                                const attn::ref::Problem &problem,
                                attn::ref::Result &result);

} // namespace attn

#endif // ATTNC_COMPILER_INTERPRETER_RUNREFERENCE_H
