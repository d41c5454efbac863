//===- CascadeDialect.h - The Einsum-cascade dialect ------------*- C++ -*-===//
#ifndef ATTNC_DIALECTS_CASCADE_CASCADEDIALECT_H
#define ATTNC_DIALECTS_CASCADE_CASCADEDIALECT_H

#include "dialects/attn/AttnDialect.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"

#include <string>

#include "dialects/cascade/CascadeEnums.h.inc"
#include "dialects/cascade/CascadeDialect.h.inc"

#define GET_TYPEDEF_CLASSES
#include "dialects/cascade/CascadeTypes.h.inc"

#define GET_OP_CLASSES
#include "dialects/cascade/CascadeOps.h.inc"

namespace cascade {
/// The rank names of a fiber value, read from its producer: an input's or
/// einsum's `ranks`; an iterate's `ranks` for prev/cur and `ranks` minus
/// `over` for final.
llvm::SmallVector<llvm::StringRef> getRanks(mlir::Value fiber);
/// Rank names of an ArrayAttr of StringAttr.
llvm::SmallVector<llvm::StringRef> rankNames(mlir::ArrayAttr ranks);
/// Builds an ArrayAttr of rank names.
mlir::ArrayAttr rankAttr(mlir::MLIRContext *ctx, llvm::ArrayRef<llvm::StringRef> names);
/// The printed name of a fiber: its producer's name (`QK`, `GM`), or for an
/// iterate's results `RM_prev`, `RM` (cur) and `RM_final`.
std::string fiberName(mlir::Value fiber);
/// Whether `rank` is a key rank (`m` or one of its partitions `m0 m1 m2`).
bool isKeyRank(llvm::StringRef rank);
/// The identity of a reduction: -inf (max), +inf (min), 0 (sum).
double identityOf(CombineKind kind);
} // namespace cascade

#endif
