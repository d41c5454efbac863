//===- Passes.h - the cascade rewrites -------------------------*- C++ -*-===//
#ifndef ATTNC_COMPILER_TRANSFORMS_PASSES_H
#define ATTNC_COMPILER_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

#include <cstdint>
#include <memory>

namespace cascade {
#define GEN_PASS_DECL
#include "compiler/Transforms/Passes.h.inc"

/// `cascade-defer-division`: A = N / D feeding only AV = sum[m](A, V) becomes
/// NV = sum[m](N * V) and AV = NV / D.
std::unique_ptr<mlir::Pass> createDeferDivisionPass();
/// `cascade-partition{m-tile= p-tile=}`: m -> m1 x m0 (p -> p1 x p0 when
/// pTile > 0); records the tiles in the cascade's `partitions`.
std::unique_ptr<mlir::Pass> createPartitionPass(int64_t mTile, int64_t pTile = 0);
/// `cascade-online`: iterative construction over m1 (needs a partitioned cascade).
std::unique_ptr<mlir::Pass> createOnlinePass();
/// `cascade-split-kv{workers=}`: m1 -> m2 x m1 with a merge over m2 (needs an
/// online cascade).
std::unique_ptr<mlir::Pass> createSplitKVPass(int64_t workers);

/// `registerCascadeTransformsPasses()` registers the four passes with the
/// global registry (attn-opt).
#define GEN_PASS_REGISTRATION
#include "compiler/Transforms/Passes.h.inc"
} // namespace cascade

#endif // ATTNC_COMPILER_TRANSFORMS_PASSES_H
