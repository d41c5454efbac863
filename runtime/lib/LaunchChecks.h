//===- LaunchChecks.h - argument checks shared by the launchers -*- C++ -*-===//
//
// The checks every launcher (attn_cpu_launch, attn_gpu_launch) makes on a call
// before it touches any memory: the variant description, q/k/v/o/lse views
// (ranks, extents, strides, dtypes, shapes, H % Hkv), the extra tensors and
// the params (defaults filled in, types and ranges checked). Each failure is
// an ATTN_ERROR_INVALID_ARGUMENT with a message (attn_last_error).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_RUNTIME_LIB_LAUNCHCHECKS_H
#define ATTNC_RUNTIME_LIB_LAUNCHCHECKS_H

#include "attn/kernel.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace attn::rt {

/// What a checked call computes: its sizes and its param values.
struct CheckedCall {
  std::string variant;        ///< the variant's name ("?" when unnamed)
  int64_t B = 0, H = 0, Hkv = 0, Sq = 0, Skv = 0, D = 0;
  int64_t qOffset = 0;        ///< resolved: Skv - Sq when the caller passed < 0
  std::vector<double> params; ///< one value per declared param, defaults filled in
};

/// Checks a call against `info` (everything but the kernel itself and how it
/// is run) and fills `out`. Tensor data pointers are only checked for null.
attn_status checkLaunchArguments(const attn_variant_info *info, const attn_tensor *q,
                                 const attn_tensor *k, const attn_tensor *v,
                                 const attn_tensor *o, const attn_tensor *lse,
                                 const double *params, const attn_tensor *tensors,
                                 int64_t qOffset, CheckedCall &out);

/// A call's tensor as messages name it ("q", "tensor 'doc'").
using NamedView = std::pair<std::string, const attn_tensor *>;

/// A checked call's inputs (q, k, v, the extra tensors) and outputs (o, and
/// lse when given), named.
void callViews(const attn_variant_info *info, const attn_tensor *q, const attn_tensor *k,
               const attn_tensor *v, const attn_tensor *o, const attn_tensor *lse,
               const attn_tensor *tensors, std::vector<NamedView> &inputs,
               std::vector<NamedView> &outputs);

/// Whether the bytes [begin, end) meet the span of `t`'s elements (first to
/// last byte; a view checkLaunchArguments accepted, empty views meet
/// nothing): for a buffer of the launcher's own, such as a class table.
bool viewSpanMeets(const attn_tensor &t, uintptr_t begin, uintptr_t end);

/// "[2, 4, 16, 8]".
std::string shapeString(const int64_t *dims, int rank);

/// Records `message` and returns ATTN_ERROR_INVALID_ARGUMENT.
attn_status invalidArgument(std::string message);

} // namespace attn::rt

#endif
