//===- BodyInliner.h - inline an Einsum body at one point -------*- C++ -*-===//
//
// Both kernel mappings (TileKernel's loops over stack buffers and the GPU's
// tensor-core mapping) evaluate the map action of an Einsum or iterate at a
// point (b, h, i, j) by cloning its body. The attn ops a body may hold
// (sizes, params, extra-tensor reads, floor division) become reads of the
// argument block (runtime/include/attn/kernel.h).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_COMMON_BODYINLINER_H
#define ATTNC_COMPILER_TARGETS_COMMON_BODYINLINER_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringMap.h"

namespace attn {
class VariantOp;

/// What the inlined attn ops read. Values live in the function being built.
struct BodyContext {
  mlir::Value bIdx, hIdx;   ///< i64 batch and head of the point
  mlir::Value paramsPtr;    ///< !llvm.ptr to the params (double, declaration order)
  mlir::Value tensorsPtr;   ///< !llvm.ptr to the attn_tensor array
  /// memref<1xi32>: an out-of-range tensor read ORs 1 into it.
  mlir::Value errorFlag;
  /// i1 or null: whether the point is real (padding points never flag reads).
  mlir::Value pointValid;
  /// i64 value of each size kind (B, H, Sq, Skv, D, ...) by name.
  const llvm::StringMap<mlir::Value> *sizes = nullptr;
};

/// Clones `body` (an Einsum's or iterate's region: block args b, h, i, j,
/// then `leading`, then `inputs`) at the builder's insertion point and
/// returns the value it yields; null after reporting an op it cannot lower.
/// Body values found in `presets` are taken from it instead of computed.
/// A tensor read flags an out-of-range index only where the body uses its
/// value (guardedTensorReads: `c ? t[j] : 0` checks t[j] where c holds).
mlir::Value inlineBody(attn::VariantOp variant, mlir::OpBuilder &b, mlir::Location loc,
                       const BodyContext &ctx, mlir::Region &body, mlir::Value i,
                       mlir::Value j, mlir::ValueRange leading,
                       llvm::ArrayRef<mlir::Value> inputs,
                       const mlir::IRMapping *presets = nullptr);

/// The reads of extra tensors in `body` whose values it uses only under a
/// condition (LANGUAGE.md's lazy `&&`, `||`, `?:`, as the direct reference
/// evaluates them): `t[j]` in `j < 4 ? t[j] : 0.0`, in `j < 4 && t[j] > 0`.
/// inlineBody checks their range under that condition; they are never row or
/// key reads (below), and interval arithmetic leaves their values unknown.
llvm::SmallPtrSet<mlir::Operation *, 4> guardedTensorReads(mlir::Region &body);

/// The reads of an extra tensor in a body (block args b, h, i, j, ...)
/// whose indices depend on j and otherwise on b and h only (no i, no
/// inputs; e.g. the key's document id `doc[b, j]`, not `prefix_len[b]`):
/// what a kernel can read once per key and share across rows.
llvm::SmallVector<mlir::Value> keyTensorReads(mlir::Region &body);

/// The reads of an extra tensor in a body whose indices depend on b, h and
/// i only (no j, no inputs; `doc[b, i]`, `prefix_len[b]`, `slopes[h]`): the
/// same for every key of a row, so a kernel reads them once per row.
llvm::SmallVector<mlir::Value> rowTensorReads(mlir::Region &body);

/// True if every read of an extra tensor in `body` is one of its row or key
/// reads (none depends on both i and j, or on an input).
bool readsOnlyRowsOrKeys(mlir::Region &body);

/// Clones what `wanted` (values of `body`, rowTensorReads or keyTensorReads)
/// need at row `i` and key `j` (either null when `wanted` does not depend on
/// it) and returns their values; empty after reporting an op it cannot lower.
llvm::SmallVector<mlir::Value> inlineReads(attn::VariantOp variant, mlir::OpBuilder &b,
                                           mlir::Location loc, const BodyContext &ctx,
                                           mlir::Region &body, mlir::Value i, mlir::Value j,
                                           llvm::ArrayRef<mlir::Value> wanted);

/// Lowers one attn op of a body (operands already in `map`); null if the op
/// is not one of those a body may hold.
mlir::Value lowerAttnOp(attn::VariantOp variant, mlir::OpBuilder &b, mlir::Location loc,
                        const BodyContext &ctx, mlir::Operation *op, mlir::IRMapping &map);

} // namespace attn

#endif
