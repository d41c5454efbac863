//===- KernelDescription.h - a KernelInfo as text, as C, and by name ------===//
//
// What attn::Kernel (CPU) and attn::GpuKernel share: the text form of a
// KernelInfo that every on-disk cache file carries, its C view (the
// attn_param_info / attn_tensor_info arrays an attn_variant_info points
// into), and the resolution of params and tensors given by name. Plain C++
// over libattnrt (no LLVM or MLIR), so that the GPU kernels' run side builds
// without the compiler.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_JIT_KERNELDESCRIPTION_H
#define ATTNC_COMPILER_JIT_KERNELDESCRIPTION_H

#include "attn/compiler.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace attn {

/// The C view of a KernelInfo: params and tensors pointing into its strings.
struct CDescription {
  std::vector<attn_param_info> params;
  std::vector<attn_tensor_info> tensors;

  /// (Re)builds the arrays from `info`, which must outlive them unchanged.
  void build(const KernelInfo &info);

  /// The attn_variant_info of `info`'s kernel for `dtype` (after build).
  attn_variant_info variantInfo(const KernelInfo &info, attn_dtype dtype) const;
};

/// The description of `info` as text: the variant, dtypes, tiles, key,
/// has_lse, params and tensors (one per line), ending with "end\n".
std::string serializeInfo(const KernelInfo &info);

/// Parses serializeInfo's text (origin / timing fields are left default);
/// nullopt with `*why` set when it is malformed.
std::optional<KernelInfo> parseInfo(const std::string &text, std::string *why);

/// "f32, bf16": the dtypes `info` has kernels for.
std::string dtypeList(const KernelInfo &info);

/// Puts params and tensors given by name into declaration order (params not
/// given: NaN, their default). A name `info` does not declare, or a missing
/// tensor, is ATTN_ERROR_INVALID_ARGUMENT with attn_last_error() naming it
/// and what the variant declares.
attn_status resolveNamedArguments(const KernelInfo &info,
                                  const std::map<std::string, double> &params,
                                  const std::map<std::string, attn_tensor> &tensors,
                                  std::vector<double> &paramValues,
                                  std::vector<attn_tensor> &tensorViews);

} // namespace attn

#endif
