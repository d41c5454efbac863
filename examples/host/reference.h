//===- reference.h - shapes, bf16 rounding, views and the float64 causal loop ===//
//
// Shared by the AOT host (main.cpp) and the JIT host (jit_main.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_EXAMPLES_HOST_REFERENCE_H
#define ATTNC_EXAMPLES_HOST_REFERENCE_H

#include <attn/attn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace host {

constexpr int64_t B = 2, H = 8, Hkv = 2, Sq = 100, Skv = 130, D = 64;

inline uint16_t toBF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fff + ((u >> 16) & 1); // round to nearest even
  return (uint16_t)(u >> 16);
}

inline float fromBF16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// A dense row-major view of `data`.
inline attn_tensor view(void *data, attn_dtype dtype, std::vector<int64_t> shape) {
  attn_tensor t{};
  t.data = data;
  t.dtype = dtype;
  t.rank = (int32_t)shape.size();
  int64_t stride = 1;
  for (int d = t.rank - 1; d >= 0; --d) {
    t.shape[d] = shape[d];
    t.strides[d] = stride;
    stride *= shape[d];
  }
  return t;
}

/// o[b,h,i,:] = softmax_j<=i'(q.k / sqrt(D)) v, i' = i + Skv - Sq, in float64.
inline std::vector<double> reference(const std::vector<double> &q, const std::vector<double> &k,
                              const std::vector<double> &v) {
  std::vector<double> o(B * H * Sq * D, 0.0);
  const double scale = 1.0 / std::sqrt((double)D);
  std::vector<double> s(Skv);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      int64_t hk = h / (H / Hkv);
      for (int64_t r = 0; r < Sq; ++r) {
        int64_t i = r + Skv - Sq;
        const double *qr = &q[((b * H + h) * Sq + r) * D];
        double m = -INFINITY;
        for (int64_t j = 0; j <= i && j < Skv; ++j) {
          const double *kr = &k[((b * Hkv + hk) * Skv + j) * D];
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += qr[d] * kr[d];
          s[j] = dot * scale;
          m = std::max(m, s[j]);
        }
        double z = 0;
        for (int64_t j = 0; j <= i && j < Skv; ++j)
          z += std::exp(s[j] - m);
        double *orow = &o[((b * H + h) * Sq + r) * D];
        for (int64_t j = 0; j <= i && j < Skv; ++j) {
          double w = std::exp(s[j] - m) / z;
          const double *vr = &v[((b * Hkv + hk) * Skv + j) * D];
          for (int64_t d = 0; d < D; ++d)
            orow[d] += w * vr[d];
        }
      }
    }
  return o;
}

} // namespace host

#endif
