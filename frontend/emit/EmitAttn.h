//===- EmitAttn.h - checked AST -> attn dialect -----------------*- C++ -*-===//
#ifndef ATTNC_FRONTEND_EMIT_EMITATTN_H
#define ATTNC_FRONTEND_EMIT_EMITATTN_H

#include "frontend/AST.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace attn {
/// Builds one attn.variant per variant of a checked module (Sema passed), with
/// locations pointing at the .attn source (FileLineColLoc). If `only` is
/// non-empty, emits just that variant (null if it does not exist).
mlir::OwningOpRef<mlir::ModuleOp> emitAttnModule(mlir::MLIRContext &ctx,
                                                 const ast::Module &module,
                                                 llvm::StringRef only = "");
} // namespace attn

#endif
