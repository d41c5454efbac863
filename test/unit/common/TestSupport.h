//===- TestSupport.h - helpers shared by the unit tests ---------*- C++ -*-===//
//
// Header-only: the example files, a dense host tensor with its attn_tensor
// view (fp32 / bf16 / fp16 / f64 / i32, values set and read as doubles
// through libattnrt's conversions), and a gtest-safe name for a file.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_TEST_UNIT_COMMON_TESTSUPPORT_H
#define ATTNC_TEST_UNIT_COMMON_TESTSUPPORT_H

#include "attn/attn.h"
#include "attn/npy.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <dirent.h>
#include <string>
#include <vector>

namespace attn::test {

/// The `.attn` files of `dir`, sorted: names, or full paths with `fullPaths`.
inline std::vector<std::string> listAttnFiles(const std::string &dir, bool fullPaths = false) {
  std::vector<std::string> files;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 5 && n.substr(n.size() - 5) == ".attn")
        files.push_back(fullPaths ? dir + "/" + n : n);
    }
    closedir(d);
  }
  std::sort(files.begin(), files.end());
  return files;
}

/// A gtest parameter name for a file: its stem with non-alphanumerics as '_'.
inline std::string testName(std::string file) {
  if (size_t slash = file.rfind('/'); slash != std::string::npos)
    file = file.substr(slash + 1);
  if (file.size() > 5 && file.substr(file.size() - 5) == ".attn")
    file = file.substr(0, file.size() - 5);
  for (char &c : file)
    if (!std::isalnum((unsigned char)c))
      c = '_';
  return file;
}

/// A dense, row-major host buffer and its attn_tensor view.
struct HostTensor {
  std::vector<char> bytes;
  attn_tensor view{};

  HostTensor(const std::vector<int64_t> &shape, attn_dtype dtype) {
    view.dtype = dtype;
    view.rank = (int32_t)shape.size();
    int64_t n = 1;
    for (int k = view.rank - 1; k >= 0; --k) {
      view.shape[k] = shape[k];
      view.strides[k] = n;
      n *= shape[k];
    }
    bytes.resize(std::max<int64_t>(n, 1) * std::max<size_t>(attn_dtype_size(dtype), 1));
    view.data = bytes.data();
  }
  int64_t size() const {
    int64_t n = 1;
    for (int k = 0; k < view.rank; ++k)
      n *= view.shape[k];
    return n;
  }
  /// Stores `v` rounded to the element type (nearest even for bf16 / fp16).
  void set(int64_t i, double v) {
    switch (view.dtype) {
    case ATTN_F32: ((float *)view.data)[i] = (float)v; break;
    case ATTN_F64: ((double *)view.data)[i] = v; break;
    case ATTN_BF16: ((uint16_t *)view.data)[i] = attn_f32_to_bf16((float)v); break;
    case ATTN_F16: ((uint16_t *)view.data)[i] = attn_f32_to_f16((float)v); break;
    case ATTN_I32: ((int32_t *)view.data)[i] = (int32_t)v; break;
    default: break;
    }
  }
  double get(int64_t i) const {
    switch (view.dtype) {
    case ATTN_F32: return ((const float *)view.data)[i];
    case ATTN_F64: return ((const double *)view.data)[i];
    case ATTN_BF16: return attn_bf16_to_f32(((const uint16_t *)view.data)[i]);
    case ATTN_F16: return attn_f16_to_f32(((const uint16_t *)view.data)[i]);
    case ATTN_I32: return ((const int32_t *)view.data)[i];
    default: return 0;
    }
  }
};

} // namespace attn::test

#endif
