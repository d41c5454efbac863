//===- VariantDescription.h - what the runtime needs to know ----*- C++ -*-===//
//
// A compiled variant's description (its params, tensors, whether it has a
// log-sum-exp), as the runtime's attn_variant_info, built from the variant's
// attn declarations. Shared by the CPU target (JIT, AOT header) and the GPU
// target (the `.info` file beside each cubin, docs/gpu.md).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_COMMON_VARIANTDESCRIPTION_H
#define ATTNC_COMPILER_TARGETS_COMMON_VARIANTDESCRIPTION_H

#include "attn/kernel.h"

#include <memory>
#include <string>
#include <vector>

namespace attn {
class VariantOp;

/// An attn_variant_info with the strings it points at.
struct VariantDescription {
  std::string name;
  std::vector<std::string> paramNames, tensorNames;
  std::vector<attn_param_info> params;
  std::vector<attn_tensor_info> tensors;
  attn_variant_info info{};
};

/// Describes `variant` (declarations + whether its cascade has an LSE) for a
/// kernel of input type `dtype` handling `rowTile` rows per call.
std::unique_ptr<VariantDescription> describeVariant(VariantOp variant, attn_dtype dtype,
                                                    int64_t rowTile);

/// The `.info` text of docs/gpu.md ("variant NAME", "has_lse", "row_tile",
/// one "param" / "tensor" line per declaration in order).
std::string toInfoText(const VariantDescription &d);

/// "f32", "bf16", "f16", ... and the C enumerator name ("ATTN_F32", ...).
const char *dtypeShortName(attn_dtype t);
const char *dtypeEnumName(attn_dtype t);

} // namespace attn

#endif
