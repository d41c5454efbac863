//===- ReferenceKernelsTest.cpp - the benchmark's hand-written kernels ----===//
//
// The tile kernels of bench/cpu/ReferenceKernels.cpp, run through
// attn_cpu_launch: against float64 on ragged shapes (S not a multiple of the
// 64-row tile, D not a multiple of 32, GQA), and on strided views, which must
// give exactly the contiguous result.
//
//===----------------------------------------------------------------------===//
#include "bench/cpu/Harness.h"
#include "bench/cpu/ReferenceKernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace {

using attn::bench::BenchCase;
using attn::bench::BenchInputs;
using attn::bench::CpuKernel;

/// fastExp's relative error is below 2e-7 and the sums are fp32 over at most
/// a few hundred keys of |v| < 1.
constexpr double kTolerance = 1e-5;

BenchCase smallCase(const std::string &variant, int64_t S, int64_t D) {
  BenchCase c;
  c.variant = variant;
  c.batch = 2;
  c.heads = 4;
  c.kvHeads = 2;
  c.seqLen = S;
  c.headDim = D;
  c.window = 17;
  return c;
}

TEST(ReferenceKernels, MatchFloat64) {
  for (const char *variant : {"full", "causal", "sliding_window", "document"})
    for (auto [S, D] : {std::pair<int64_t, int64_t>{100, 40}, {64, 64}, {130, 128}, {7, 8}}) {
      BenchInputs in(smallCase(variant, S, D));
      CpuKernel kernel = attn::bench::referenceKernel(variant);
      ASSERT_TRUE(kernel.fn);
      attn::bench::TimingOptions once;
      once.threads = 2;
      once.warmup = 0;
      once.reps = 1;
      attn::bench::Timing t = attn::bench::timeKernel(kernel.info, kernel.fn, in, once);
      ASSERT_TRUE(t.ok()) << t.error;
      EXPECT_LE(attn::bench::maxErrorOnSampleRows(in, in.oData), kTolerance)
          << variant << " S=" << S << " D=" << D;
    }
}

/// A copy of a contiguous [A, B, C, D] array into a view with the given
/// strides (elements), returned with its storage.
struct Strided {
  std::vector<float> data;
  attn_tensor view{};
  Strided(const std::vector<float> &src, const int64_t (&shape)[4], const int64_t (&strides)[4]) {
    int64_t size = 1;
    for (int i = 0; i < 4; ++i)
      size += (shape[i] - 1) * strides[i];
    data.assign(static_cast<size_t>(size), NAN);
    view.dtype = ATTN_F32;
    view.rank = 4;
    for (int i = 0; i < 4; ++i) {
      view.shape[i] = shape[i];
      view.strides[i] = strides[i];
    }
    view.data = data.data();
    int64_t e = 0;
    for (int64_t a = 0; a < shape[0]; ++a)
      for (int64_t b = 0; b < shape[1]; ++b)
        for (int64_t c = 0; c < shape[2]; ++c)
          for (int64_t d = 0; d < shape[3]; ++d)
            data[a * strides[0] + b * strides[1] + c * strides[2] + d * strides[3]] = src[e++];
  }
  float at(int64_t a, int64_t b, int64_t c, int64_t d) const {
    return data[a * view.strides[0] + b * view.strides[1] + c * view.strides[2] + d * view.strides[3]];
  }
};

TEST(ReferenceKernels, StridedViewsGiveTheContiguousResult) {
  const int64_t B = 2, H = 4, Hkv = 2, S = 90, D = 24;
  for (const char *variant : {"full", "causal", "sliding_window"}) {
    BenchInputs in(smallCase(variant, S, D));
    CpuKernel kernel = attn::bench::referenceKernel(variant);
    attn::bench::TimingOptions once;
    once.threads = 2;
    once.warmup = 0;
    once.reps = 1;
    ASSERT_TRUE(attn::bench::timeKernel(kernel.info, kernel.fn, in, once).ok());

    // q in [B, S, H, D] order, k with d-stride 2, v with d-stride 3, o in
    // [B, S, H, D] order with padding.
    Strided q(in.qData, {B, H, S, D}, {S * H * D, D, H * D, 1});
    Strided k(in.kData, {B, Hkv, S, D}, {Hkv * S * D * 2, S * D * 2, D * 2, 2});
    Strided v(in.vData, {B, Hkv, S, D}, {Hkv * S * D * 3, S * D * 3, D * 3, 3});
    std::vector<float> zeros(static_cast<size_t>(B * H * S * D), 0.0f);
    Strided o(zeros, {B, H, S, D}, {S * H * (D + 5), D + 5, H * (D + 5), 1});
    double window = 17;
    ASSERT_EQ(attn_cpu_launch(kernel.info, kernel.fn, &q.view, &k.view, &v.view, &o.view, nullptr,
                              kernel.info->num_params ? &window : nullptr, nullptr, -1, 3),
              ATTN_OK)
        << attn_last_error();
    int64_t mismatches = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t s = 0; s < S; ++s)
          for (int64_t d = 0; d < D; ++d)
            mismatches += o.at(b, h, s, d) != in.oData[((b * H + h) * S + s) * D + d];
    EXPECT_EQ(mismatches, 0) << variant;
  }
}

} // namespace
