//===- ApproximateMath.h - math ops as polynomials for the targets -*- C++ -*-===//
//
// Rewrites exp, log, tanh, ... into MLIR's polynomial approximations (arith
// only), so that CPU loops vectorise and GPU kernels need no libdevice.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_COMMON_APPROXIMATEMATH_H
#define ATTNC_COMPILER_TARGETS_COMMON_APPROXIMATEMATH_H

#include "mlir/Pass/Pass.h"

#include <memory>

namespace attn {
/// A pass (any op) applying populateMathPolynomialApproximationPatterns.
std::unique_ptr<mlir::Pass> createApproximateMathPass();
} // namespace attn

#endif
