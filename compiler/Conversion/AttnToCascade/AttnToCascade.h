//===- AttnToCascade.h - attn -> canonical Einsum cascade -------*- C++ -*-===//
#ifndef ATTNC_COMPILER_CONVERSION_ATTNTOCASCADE_ATTNTOCASCADE_H
#define ATTNC_COMPILER_CONVERSION_ATTNTOCASCADE_ATTNTOCASCADE_H

#include "mlir/Pass/Pass.h"

#include <memory>

namespace attn {
class VariantOp;

#define GEN_PASS_DECL
#include "compiler/Conversion/AttnToCascade/Passes.h.inc"

/// Builds the canonical cascade of `variant` (docs/cascade.md) and erases its
/// statement ops. Errors are reported at the offending statement.
mlir::LogicalResult convertVariantToCascade(VariantOp variant);

#define GEN_PASS_REGISTRATION
#include "compiler/Conversion/AttnToCascade/Passes.h.inc"
} // namespace attn

#endif
