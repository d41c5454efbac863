//===- TileIntervals.h - a keep predicate's class over a tile, in IR -*- C++ -*-===//
//
// The kernels' counterpart of compiler/Analysis/MaskClass.h: emits, inside a
// kernel, interval arithmetic over a keep predicate's body for a tile of
// rows [iLo, iHi] x keys [jLo, jHi], with the runtime values of the sizes and
// params. The result is two i1 values: `full` (every point of the tile is
// kept) and `empty` (none is). Sound: an op the arithmetic does not know
// makes the tile "partial" (both false), never a wrong class.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_COMMON_TILEINTERVALS_H
#define ATTNC_COMPILER_TARGETS_COMMON_TILEINTERVALS_H

#include "compiler/targets/common/BodyInliner.h"

namespace attn {

struct TileClassValues {
  mlir::Value full, empty; ///< i1
};

/// Emits the class of the tile under `keepBody` (block args b, h, i, j and
/// no inputs, yielding i1). `iLo..jHi` are inclusive i64 bounds.
TileClassValues emitTileClass(attn::VariantOp variant, mlir::OpBuilder &b, mlir::Location loc,
                              const BodyContext &ctx, mlir::Region &keepBody, mlir::Value iLo,
                              mlir::Value iHi, mlir::Value jLo, mlir::Value jHi);

/// The key tiles worth visiting for a block of rows: [start, end) with the
/// keys [0, start * tileKeys) and [end * tileKeys, skv) shown empty by
/// `emptyOf(j0, j1)` (i1 for the inclusive i64 key span [j0, j1], e.g. the
/// `empty` of emitTileClass over the block's rows). Two binary searches over
/// spans of tiles (about 2 log2(numTiles) evaluations); sound for any mask,
/// since only spans `emptyOf` answers true for are left out (a monotone
/// classifier, as interval arithmetic is, also makes the range the tightest
/// such spans give).
std::pair<mlir::Value, mlir::Value>
emitKeyTileRange(mlir::OpBuilder &b, mlir::Location loc, mlir::Value numTiles, int64_t tileKeys,
                 mlir::Value skv, llvm::function_ref<mlir::Value(mlir::Value, mlir::Value)> emptyOf);

/// The first of the tiles first, first + step, ... that is >= start (i64).
mlir::Value emitFirstTileFrom(mlir::OpBuilder &b, mlir::Location loc, mlir::Value first,
                              mlir::Value step, mlir::Value start);

} // namespace attn

#endif
