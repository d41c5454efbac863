//===- NarrowIndices.h - 64-bit index arithmetic done in 32 bits -*- C++ -*-===//
//
// A kernel computes indices (i, j, sizes, integer params) in i64, as the
// language defines them. Where the launcher guarantees that the seeds lie in
// [0, 2^29) (the kernel marks them zext(trunc(x to i29))) or they are
// sign-extended from i32 (i32 params), interval arithmetic over add / sub / mul /
// min / max / select / division and remainder by a positive constant shows
// which values fit too; comparisons and integer-to-float conversions of such
// values are then done on i32 copies (half the instructions of a 64-bit
// compare, and I2F.S32 instead of the slow 64-bit conversion). Exact: a
// compare or conversion is narrowed only when its operands fit in i32; the
// i32 operands are rebuilt from add / sub / mul / select of any range (they
// commute with truncation) and from min / max / division / remainder only
// when those ops' operands fit too, else truncated from the 64-bit value.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_COMMON_NARROWINDICES_H
#define ATTNC_COMPILER_TARGETS_COMMON_NARROWINDICES_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Operation.h"

namespace attn {

/// zext(trunc(v to i29)) of an i64 value: v, stated to lie in [0, 2^29)
/// (the caller's guarantee, attn/gpu.h's ATTN_GPU_MAX_INDEX), as a seed for
/// narrowIndexArithmetic. A query position minus such a value plus a tile
/// offset (up to 2^29) fits in i32.
mlir::Value assumeIndexRange(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v);
/// sext(trunc(v to i30)): v stated to lie in [-2^29, 2^29) (a query
/// position, whose q_offset may be negative).
mlir::Value assumeSignedIndexRange(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v);

/// Rewrites the i64 comparisons (every predicate) and
/// sitofp conversions under `root` whose operands provably fit in i32 to
/// i32 ones. Returns how many it rewrote.
unsigned narrowIndexArithmetic(mlir::Operation *root);

} // namespace attn

#endif
