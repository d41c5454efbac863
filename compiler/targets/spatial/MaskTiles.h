//===- MaskTiles.h - the model's tile classes from a variant's mask -*- C++ -*-===//
//
// Builds the simulator's tile classifier (sim::Workload::classify) from the
// KEEP Einsum of a variant's cascade with the interval analysis of
// compiler/Analysis/MaskClass.h, so that the model skips exactly the tiles
// the compiler proves empty for this variant, with runtime param values.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_SPATIAL_MASKTILES_H
#define ATTNC_COMPILER_TARGETS_SPATIAL_MASKTILES_H

#include "compiler/Analysis/MaskClass.h"
#include "runtime/simulator/Program.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <functional>

namespace attn {
class VariantOp;

/// Sizes, params and tensor summaries the classifier reads.
struct MaskTileEnv {
  llvm::StringMap<int64_t> sizes;  ///< B, H, Hkv, Sq, Skv, D
  llvm::StringMap<double> params;  ///< overrides the variant's defaults
  /// Range of a tensor over a box of indices; empty = unknown.
  std::function<std::optional<cascade::Interval>(llvm::StringRef,
                                                 llvm::ArrayRef<cascade::Interval>)>
      tensorRange;
};

/// The classifier of `variant`'s mask (its cascade's i1 KEEP Einsum); an
/// empty function when the variant has no mask.
llvm::Expected<std::function<attn::sim::TileClass(int64_t, int64_t, int64_t, int64_t)>>
maskTileClassifier(VariantOp variant, const MaskTileEnv &env);

} // namespace attn

#endif
