//===- RunSpatial.h - `attnc run --target spatial` ---------------*- C++ -*-===//
//
// Lowers (a clone of) an attn module through the cascade pipeline with the
// spatial array's tiles (m0 = the array's columns), maps the variant to a
// spatial.program, executes it functionally in float64 (p1 tile by p1 tile,
// each tile's epochs through the partitioned cascade's semantics) and times
// it with the analytical model for the problem's shape.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_SPATIAL_RUNSPATIAL_H
#define ATTNC_COMPILER_TARGETS_SPATIAL_RUNSPATIAL_H

#include "compiler/reference/Problem.h"
#include "runtime/simulator/Model.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace attn {

/// How `runSpatial` maps the variant.
struct SpatialRunOptions {
  std::string archPath;         ///< "" = FuseMax's configuration (arch/fusemax.json)
  std::string binding = "auto"; ///< fusemax | flat | auto
  bool online = true;           ///< false: the multi-pass (FLAT) baseline
  int64_t mTile = 0;            ///< key tile m0; 0 = the 2D array's columns
  int64_t pTile = 0;            ///< query tile p0; 0 = the 2D array's rows
};

/// What the run found besides the output.
struct SpatialRunInfo {
  std::string binding;
  unsigned passes = 0;
  int64_t pTiles = 0;          ///< p1 tiles executed
  attn::sim::Report report;    ///< the model's estimate for the problem's shape
  std::string program;         ///< the spatial.program, printed
};

/// Runs `variant` of `attnModule` (attn dialect, as emitted; not modified)
/// on `problem` through the spatial target. Errors: lowering or mapping
/// diagnostics, a bad architecture file, interpreter errors.
llvm::Error runSpatial(mlir::ModuleOp attnModule, llvm::StringRef variant,
                       const SpatialRunOptions &options, const attn::ref::Problem &problem,
                       attn::ref::Result &result, SpatialRunInfo *info = nullptr);

} // namespace attn

#endif
