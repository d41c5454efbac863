//===- CascadeToSpatial.h - cascade -> spatial.program ----------*- C++ -*-===//
#ifndef ATTNC_COMPILER_TARGETS_SPATIAL_CASCADETOSPATIAL_H
#define ATTNC_COMPILER_TARGETS_SPATIAL_CASCADETOSPATIAL_H

#include "mlir/Pass/Pass.h"

#include <cstdint>
#include <memory>
#include <string>

namespace spatial {
class ProgramOp;

#define GEN_PASS_DECL
#include "compiler/targets/spatial/Passes.h.inc"

/// Options of the mapping (those of `cascade-to-spatial`).
struct MappingOptions {
  std::string binding = "auto"; ///< fusemax | flat | auto
  int64_t p0 = 0;               ///< 0: the array's rows
  bool pipelined = true;
  bool interleave = true;
  bool lse = true;
};

/// Maps the cascade of `variant` (an attn.variant) to a spatial.program
/// inserted after it, replacing an existing program. Errors are emitted at
/// the offending op.
mlir::FailureOr<ProgramOp> mapVariant(mlir::Operation *variant, const MappingOptions &options);

#define GEN_PASS_REGISTRATION
#include "compiler/targets/spatial/Passes.h.inc"
} // namespace spatial

#endif
