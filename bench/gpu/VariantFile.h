//===- VariantFile.h - <variant>.info: a GPU variant's description -*- C++ -*-===//
//
// attnc writes, beside each variant's cubins (<variant>_<dtype>.cubin), a small
// text file <variant>.info with what the runtime needs to call it (the
// attn_variant_info of attn/kernel.h minus the dtype). docs/gpu.md has the
// format; in short, one statement per line, '#' starts a comment:
//
//   variant sliding_window        # required, first
//   has_lse 1                     # 1: the norm defines a log-sum-exp
//   row_tile 1                    # optional (default 1)
//   param window i32 1024         # name, i32|f32|bool, default or '-'
//   tensor doc i32 B Skv          # name, i32|f32, dims: integers or B H Hkv Sq Skv D
//   kernel bf16 my_symbol         # optional: the symbol for one dtype
//                                 # (default attn_<variant>_<dtype>_gpu)
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_BENCH_GPU_VARIANTFILE_H
#define ATTNC_BENCH_GPU_VARIANTFILE_H

#include "attn/kernel.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace attn::gpubench {

/// An attn_variant_info with the strings it points at.
struct VariantDescription {
  std::string name;
  int32_t hasLse = 1;
  int64_t rowTile = 1;
  std::vector<std::string> paramNames, tensorNames;
  std::vector<attn_param_info> params;
  std::vector<attn_tensor_info> tensors;
  std::map<std::string, std::string> kernels; ///< dtype name -> symbol override

  /// The info for kernels of `dtype` (points into this object).
  attn_variant_info info(attn_dtype dtype);
  /// The kernel symbol for `dtype` ("attn_<variant>_<dtype>_gpu" by default).
  std::string kernelName(const std::string &dtypeName) const;
  /// Points the name fields of params/tensors at paramNames/tensorNames.
  void fixPointers();
};

/// Parses the text of a .info file; on error returns null and sets `error`
/// ("line N: ...").
std::unique_ptr<VariantDescription> parseVariantFile(const std::string &text,
                                                     std::string &error);

/// Reads and parses `path`.
std::unique_ptr<VariantDescription> readVariantFile(const std::string &path, std::string &error);

/// The text of a .info file for `d` (what attnc should write).
std::string writeVariantFile(const VariantDescription &d);

/// "bf16" -> ATTN_BF16 (f32, f16, bf16); false if unknown.
bool parseDtype(const std::string &text, attn_dtype &out);

} // namespace attn::gpubench

#endif
