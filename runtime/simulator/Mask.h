//===- Mask.h - tile classes of index-only masks by intervals --*- C++ -*-===//
#ifndef ATTNC_RUNTIME_SIMULATOR_MASK_H
#define ATTNC_RUNTIME_SIMULATOR_MASK_H

#include "Program.h"

namespace attn::sim {

/// Classifies rows [i0, i1] x keys [j0, j1] (inclusive, absolute positions)
/// under `mask` without visiting the points.
TileClass classifyTile(const MaskSpec &mask, int64_t i0, int64_t i1, int64_t j0,
                       int64_t j1);

/// Whether (i, j) is kept (for tests of classifyTile).
bool isKept(const MaskSpec &mask, int64_t i, int64_t j);

} // namespace attn::sim

#endif // ATTNC_RUNTIME_SIMULATOR_MASK_H
