//===- FastExp.h - a vectorisable fp32 exp for softmax loops ----*- C++ -*-===//
//
// exp(x) = 2^n * 2^f with n = round(x log2 e), |f| <= 1/2, 2^f by a degree-6
// Taylor polynomial (relative error below 2e-7 for x <= 0). x = -inf gives
// exactly 0. Written as plain loops so that the compiler vectorises them; used
// by the hand-written kernels and the unfused baseline alike.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_BENCH_CPU_FASTEXP_H
#define ATTNC_BENCH_CPU_FASTEXP_H

#include <cmath>
#include <cstdint>
#include <cstring>

namespace attn::bench {

inline float fastExp(float x) {
  float t = x * 1.44269504088896341f;
  t = t < -127.0f ? -127.0f : (t > 127.0f ? 127.0f : t);
  float n = std::floor(t + 0.5f);
  float f = (t - n) * 0.69314718055994531f;
  float p = 1.0f + f * (1.0f + f * (0.5f + f * (1.0f / 6 + f * (1.0f / 24 + f * (1.0f / 120 +
                                                                                  f * (1.0f / 720))))));
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

/// x[i] = exp(x[i]) for i < n.
inline void fastExpInPlace(float *x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    x[i] = fastExp(x[i]);
}

} // namespace attn::bench

#endif // ATTNC_BENCH_CPU_FASTEXP_H
