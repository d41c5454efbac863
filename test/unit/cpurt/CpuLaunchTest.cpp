//===- CpuLaunchTest.cpp - attn_cpu_launch with hand-written tile kernels -===//
//
// The launcher is tested with tile kernels written by hand against the ABI of
// attn/kernel.h: a kernel that counts which (b, h, row) it was called for, one
// that records the argument block, and a plain causal softmax attention
// compared with a float64 formula, also in a split-KV form (chunks of the
// keys and their merge) that checks the launcher's chunking and scratch.
//
//===----------------------------------------------------------------------===//
#include "attn/kernel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

/// A strided tensor that owns its storage. Strides default to row-major;
/// `pad` adds unused elements after each dimension's extent to make a view
/// that is not contiguous.
struct Tensor {
  std::vector<char> bytes;
  attn_tensor view{};
  bool nullData = false;

  Tensor(attn_dtype dtype, std::vector<int64_t> shape, std::vector<int64_t> strides = {}) {
    view.dtype = dtype;
    view.rank = static_cast<int32_t>(shape.size());
    int64_t stride = 1, maxOffset = 0;
    for (int i = view.rank - 1; i >= 0; --i) {
      view.shape[i] = shape[i];
      view.strides[i] = strides.empty() ? stride : strides[i];
      stride *= shape[i];
      if (shape[i] > 0)
        maxOffset += (shape[i] - 1) * std::max<int64_t>(view.strides[i], 0);
    }
    bytes.assign(static_cast<size_t>(maxOffset + 1) * attn_dtype_size(dtype), 0);
  }
  attn_tensor *get() {
    view.data = nullData ? nullptr : bytes.data();
    return &view;
  }
  int64_t offset(std::initializer_list<int64_t> index) const {
    int64_t off = 0, d = 0;
    for (int64_t i : index)
      off += i * view.strides[d++];
    return off;
  }
  float &f(std::initializer_list<int64_t> index) {
    return reinterpret_cast<float *>(bytes.data())[offset(index)];
  }
  int32_t &i32(std::initializer_list<int64_t> index) {
    return reinterpret_cast<int32_t *>(bytes.data())[offset(index)];
  }
  /// Fills every element reachable through the view with uniform [-1, 1).
  void randomize(std::mt19937 &rng) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    float *p = reinterpret_cast<float *>(bytes.data());
    for (size_t e = 0; e < bytes.size() / sizeof(float); ++e)
      p[e] = dist(rng);
  }
};

/// Row-major strides of `shape` with each extent padded by `pad` elements.
std::vector<int64_t> paddedStrides(std::vector<int64_t> shape, int64_t pad) {
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = stride;
    stride *= shape[i] + pad;
  }
  return strides;
}

attn_variant_info makeInfo(const char *name, int64_t rowTile, attn_dtype dtype = ATTN_F32) {
  attn_variant_info info{};
  info.name = name;
  info.input_dtype = dtype;
  info.has_lse = 1;
  info.row_tile = rowTile;
  return info;
}

//===----------------------------------------------------------------------===//
// Hand-written tile kernels
//===----------------------------------------------------------------------===//

template <typename T> T *ptr(const int64_t *args, int word) {
  return reinterpret_cast<T *>(static_cast<intptr_t>(args[word]));
}

/// Adds 1 to count[b, h, row] (extra tensor 0, i32[B, H, Sq]) for every row
/// of the tile, atomically, and fails the test on a malformed tile.
int32_t countKernel(const int64_t *args, int64_t b, int64_t h, int64_t row0, int64_t nrows) {
  const attn_tensor *tensors = ptr<const attn_tensor>(args, ATTN_ARG_TENSORS);
  const attn_tensor &count = tensors[0];
  if (b < 0 || b >= args[ATTN_ARG_B] || h < 0 || h >= args[ATTN_ARG_H] || row0 < 0 ||
      nrows <= 0 || row0 + nrows > args[ATTN_ARG_SQ])
    return ATTN_ERROR_INTERNAL;
  int32_t *data = static_cast<int32_t *>(count.data);
  for (int64_t r = row0; r < row0 + nrows; ++r)
    __atomic_fetch_add(&data[b * count.strides[0] + h * count.strides[1] + r * count.strides[2]],
                       1, __ATOMIC_RELAXED);
  return 0;
}

/// The argument block and tile sizes seen by recordKernel.
std::mutex recordMutex;
std::vector<int64_t> recordedArgs;
std::vector<double> recordedParams;
std::set<int64_t> recordedTileSizes;

int32_t recordKernel(const int64_t *args, int64_t b, int64_t h, int64_t row0, int64_t nrows) {
  std::lock_guard<std::mutex> lock(recordMutex);
  recordedTileSizes.insert(nrows);
  if (b == 0 && h == 0 && row0 == 0) {
    recordedArgs.assign(args, args + ATTN_ARG_COUNT);
    recordedParams.clear();
    // The number of params is not in the block; the tests use at most 3.
    const double *params = ptr<const double>(args, ATTN_ARG_PARAMS);
    for (int p = 0; p < 3; ++p)
      recordedParams.push_back(params ? params[p] : 0);
  }
  return 0;
}

/// Plain causal softmax attention in fp32 over the strided f32 views of the
/// argument block: scale 1/sqrt(D), keep j <= q_offset + row, lse if given.
int32_t causalKernel(const int64_t *args, int64_t b, int64_t h, int64_t row0, int64_t nrows) {
  const float *q = ptr<const float>(args, ATTN_ARG_Q);
  const float *k = ptr<const float>(args, ATTN_ARG_K);
  const float *v = ptr<const float>(args, ATTN_ARG_V);
  float *o = ptr<float>(args, ATTN_ARG_O);
  float *lse = ptr<float>(args, ATTN_ARG_LSE);
  const int64_t *qs = args + ATTN_ARG_Q_STRIDES, *ks = args + ATTN_ARG_K_STRIDES,
                *vs = args + ATTN_ARG_V_STRIDES, *os = args + ATTN_ARG_O_STRIDES,
                *ls = args + ATTN_ARG_LSE_STRIDES;
  int64_t H = args[ATTN_ARG_H], Hkv = args[ATTN_ARG_HKV], Skv = args[ATTN_ARG_SKV],
          D = args[ATTN_ARG_D], qOffset = args[ATTN_ARG_QOFFSET];
  int64_t hk = h / (H / Hkv);
  float scale = 1.0f / std::sqrt(static_cast<float>(D));
  std::vector<float> s(static_cast<size_t>(Skv)), acc(static_cast<size_t>(D));
  for (int64_t r = row0; r < row0 + nrows; ++r) {
    int64_t i = qOffset + r;
    const float *qr = q + b * qs[0] + h * qs[1] + r * qs[2];
    float m = -std::numeric_limits<float>::infinity();
    int64_t last = std::min(i, Skv - 1);
    for (int64_t j = 0; j <= last; ++j) {
      const float *kj = k + b * ks[0] + hk * ks[1] + j * ks[2];
      float dot = 0;
      for (int64_t d = 0; d < D; ++d)
        dot += qr[d * qs[3]] * kj[d * ks[3]];
      s[j] = scale * dot;
      m = std::max(m, s[j]);
    }
    float *orow = o + b * os[0] + h * os[1] + r * os[2];
    float *lrow = lse ? lse + b * ls[0] + h * ls[1] + r * ls[2] : nullptr;
    if (last < 0) {
      for (int64_t d = 0; d < D; ++d)
        orow[d * os[3]] = 0;
      if (lrow)
        *lrow = -std::numeric_limits<float>::infinity();
      continue;
    }
    float sum = 0;
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t j = 0; j <= last; ++j) {
      float p = std::exp(s[j] - m);
      sum += p;
      const float *vj = v + b * vs[0] + hk * vs[1] + j * vs[2];
      for (int64_t d = 0; d < D; ++d)
        acc[d] += p * vj[d * vs[3]];
    }
    for (int64_t d = 0; d < D; ++d)
      orow[d * os[3]] = acc[d] / sum;
    if (lrow)
      *lrow = m + std::log(sum);
  }
  return 0;
}

/// causalKernel with split-KV: key tiles of kSplitKeyTile, a row's state is
/// (max, sum, numerator[D]); whole rows when not split.
constexpr int64_t kSplitKeyTile = 4;
std::atomic<int> mergeCalls{0};
int32_t splitCausalKernel(const int64_t *args, int64_t b, int64_t h, int64_t row0,
                          int64_t nrows) {
  const int64_t D = args[ATTN_ARG_D], F = 2 + D;
  switch (args[ATTN_ARG_SPLIT]) {
  case ATTN_SPLIT_NONE:
    return causalKernel(args, b, h, row0, nrows);
  case ATTN_SPLIT_DESCRIBE: {
    int64_t *out = ptr<int64_t>(args, ATTN_ARG_PARTIALS);
    out[0] = kSplitKeyTile;
    out[1] = F;
    return nrows == 0 ? 0 : ATTN_ERROR_INTERNAL;
  }
  case ATTN_SPLIT_PARTIAL:
  case ATTN_SPLIT_MERGE:
    break;
  default:
    return ATTN_ERROR_INTERNAL;
  }
  const float *q = ptr<const float>(args, ATTN_ARG_Q);
  const float *k = ptr<const float>(args, ATTN_ARG_K);
  const float *v = ptr<const float>(args, ATTN_ARG_V);
  float *o = ptr<float>(args, ATTN_ARG_O);
  float *lse = ptr<float>(args, ATTN_ARG_LSE);
  float *part = ptr<float>(args, ATTN_ARG_PARTIALS);
  const int64_t *qs = args + ATTN_ARG_Q_STRIDES, *ks = args + ATTN_ARG_K_STRIDES,
                *vs = args + ATTN_ARG_V_STRIDES, *os = args + ATTN_ARG_O_STRIDES,
                *ls = args + ATTN_ARG_LSE_STRIDES;
  const int64_t H = args[ATTN_ARG_H], Hkv = args[ATTN_ARG_HKV], Sq = args[ATTN_ARG_SQ],
                Skv = args[ATTN_ARG_SKV], qOffset = args[ATTN_ARG_QOFFSET],
                W = args[ATTN_ARG_NUM_CHUNKS], c = args[ATTN_ARG_CHUNK];
  const int64_t hk = h / (H / Hkv);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D)), ninf = -INFINITY;
  const int64_t tiles = (Skv + kSplitKeyTile - 1) / kSplitKeyTile;
  if (W < 2 || !part)
    return ATTN_ERROR_INTERNAL;
  auto state = [&](int64_t r, int64_t chunk) {
    return part + (((b * H + h) * Sq + r) * W + chunk) * F;
  };
  for (int64_t r = row0; r < row0 + nrows; ++r) {
    const int64_t i = qOffset + r;
    if (args[ATTN_ARG_SPLIT] == ATTN_SPLIT_PARTIAL) {
      if (c < 0 || c >= W)
        return ATTN_ERROR_INTERNAL;
      float *st = state(r, c);
      st[0] = ninf;
      st[1] = 0;
      std::fill(st + 2, st + F, 0.0f);
      // Chunk c: key tiles c, c + W, ... (attn/kernel.h).
      for (int64_t t = c; t < tiles; t += W) {
        const int64_t jEnd = std::min({(t + 1) * kSplitKeyTile, Skv, i + 1});
        for (int64_t j = t * kSplitKeyTile; j < jEnd; ++j) {
          float dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += q[b * qs[0] + h * qs[1] + r * qs[2] + d * qs[3]] *
                   k[b * ks[0] + hk * ks[1] + j * ks[2] + d * ks[3]];
          const float sc = scale * dot, m = std::max(st[0], sc);
          const float old = st[0] == ninf ? 0.0f : std::exp(st[0] - m), p = std::exp(sc - m);
          st[0] = m;
          st[1] = st[1] * old + p;
          for (int64_t d = 0; d < D; ++d)
            st[2 + d] = st[2 + d] * old + p * v[b * vs[0] + hk * vs[1] + j * vs[2] + d * vs[3]];
        }
      }
      continue;
    }
    float m = ninf;
    for (int64_t w = 0; w < W; ++w)
      m = std::max(m, state(r, w)[0]);
    float sum = 0;
    std::vector<float> acc(static_cast<size_t>(D), 0.0f);
    for (int64_t w = 0; w < W && m != ninf; ++w) {
      const float *st = state(r, w);
      if (st[0] == ninf)
        continue;
      const float f = std::exp(st[0] - m);
      sum += st[1] * f;
      for (int64_t d = 0; d < D; ++d)
        acc[d] += st[2 + d] * f;
    }
    for (int64_t d = 0; d < D; ++d)
      o[b * os[0] + h * os[1] + r * os[2] + d * os[3]] = sum > 0 ? acc[d] / sum : 0.0f;
    if (lse)
      lse[b * ls[0] + h * ls[1] + r * ls[2]] = sum > 0 ? m + std::log(sum) : ninf;
  }
  if (args[ATTN_ARG_SPLIT] == ATTN_SPLIT_MERGE)
    ++mergeCalls;
  return 0;
}

int32_t failAtRow8Kernel(const int64_t *, int64_t, int64_t, int64_t row0, int64_t) {
  return row0 == 8 ? ATTN_ERROR_OUT_OF_RANGE : 0;
}

int32_t failInternalKernel(const int64_t *, int64_t, int64_t, int64_t, int64_t) {
  return 77;
}

std::atomic<int> kernelCalls{0};
int32_t countCallsKernel(const int64_t *, int64_t, int64_t, int64_t, int64_t) {
  ++kernelCalls;
  return 0;
}

std::mutex threadIdsMutex;
std::set<std::thread::id> threadIds;
int32_t threadIdKernel(const int64_t *, int64_t, int64_t, int64_t, int64_t) {
  {
    std::lock_guard<std::mutex> lock(threadIdsMutex);
    threadIds.insert(std::this_thread::get_id());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return 0;
}

//===----------------------------------------------------------------------===//
// The float64 formula
//===----------------------------------------------------------------------===//

/// Causal softmax attention in float64 straight from LANGUAGE.md; returns the
/// largest |o - ref| and |lse - ref| over the whole output.
std::pair<double, double> causalError(Tensor &q, Tensor &k, Tensor &v, Tensor &o, Tensor *lse,
                                      int64_t qOffset) {
  int64_t B = q.view.shape[0], H = q.view.shape[1], Sq = q.view.shape[2], D = q.view.shape[3];
  int64_t Hkv = k.view.shape[1], Skv = k.view.shape[2];
  double scale = 1.0 / std::sqrt(static_cast<double>(D)), errO = 0, errL = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t r = 0; r < Sq; ++r) {
        int64_t hk = h / (H / Hkv), i = qOffset + r;
        std::vector<double> s;
        double m = -INFINITY;
        for (int64_t j = 0; j < Skv && j <= i; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += double(q.f({b, h, r, d})) * double(k.f({b, hk, j, d}));
          s.push_back(scale * dot);
          m = std::max(m, s.back());
        }
        double z = 0;
        for (double x : s)
          z += std::exp(x - m);
        for (int64_t d = 0; d < D; ++d) {
          double ref = 0;
          for (size_t j = 0; j < s.size(); ++j)
            ref += std::exp(s[j] - m) / z * double(v.f({b, hk, int64_t(j), d}));
          errO = std::max(errO, std::abs(ref - double(o.f({b, h, r, d}))));
        }
        if (lse) {
          double ref = s.empty() ? -INFINITY : m + std::log(z);
          double got = lse->f({b, h, r});
          if (std::isinf(ref))
            errL = std::max(errL, got == ref ? 0.0 : INFINITY);
          else
            errL = std::max(errL, std::abs(ref - got));
        }
      }
  return {errO, errL};
}

/// Tolerance of fp32 softmax attention against float64 for |inputs| < 1 and
/// Skv <= 512: a few ulps of accumulation per key, well under 1e-5.
constexpr double kTolerance = 2e-5;

//===----------------------------------------------------------------------===//
// A well-formed call, which each error test breaks in one place
//===----------------------------------------------------------------------===//

struct Call {
  int64_t B = 2, H = 4, Hkv = 2, Sq = 16, Skv = 16, D = 8;
  attn_param_info paramInfos[3] = {{"window", ATTN_I32, 1, 4.0},
                                   {"cap", ATTN_F32, 0, 0.0},
                                   {"flag", ATTN_BOOL, 1, 1.0}};
  attn_tensor_info tensorInfos[2] = {{"count", ATTN_I32, 3, {-1 - ATTN_SIZE_B, -1 - ATTN_SIZE_H, -1 - ATTN_SIZE_SQ}},
                                     {"table", ATTN_F32, 2, {-1 - ATTN_SIZE_HKV, 5}}};
  attn_variant_info info = makeInfo("demo", 4);
  Tensor q{ATTN_F32, {B, H, Sq, D}}, k{ATTN_F32, {B, Hkv, Skv, D}}, v{ATTN_F32, {B, Hkv, Skv, D}},
      o{ATTN_F32, {B, H, Sq, D}}, lse{ATTN_F32, {B, H, Sq}};
  Tensor count{ATTN_I32, {B, H, Sq}}, table{ATTN_F32, {Hkv, 5}};
  double params[3] = {8, 2.5, NAN};
  attn_tensor extra[2];
  attn_tile_fn fn = countKernel;
  bool useLse = true;
  int64_t qOffset = -1;
  int32_t threads = 2;

  Call() {
    info.num_params = 3;
    info.params = paramInfos;
    info.num_tensors = 2;
    info.tensors = tensorInfos;
  }
  void *oData = nullptr, *lseData = nullptr; ///< where o / lse point, if not at their own bytes
  attn_status run() {
    extra[0] = *count.get();
    extra[1] = *table.get();
    attn_tensor *ov = o.get(), *lv = useLse ? lse.get() : nullptr;
    if (oData)
      ov->data = oData;
    if (lv && lseData)
      lv->data = lseData;
    return attn_cpu_launch(&info, fn, q.get(), k.get(), v.get(), ov, lv, params, extra, qOffset,
                           threads);
  }
};

void expectError(Call &call, attn_status status, const std::string &message) {
  EXPECT_EQ(call.run(), status);
  EXPECT_EQ(std::string(attn_last_error()), message);
}

//===----------------------------------------------------------------------===//
// Errors: one test per check
//===----------------------------------------------------------------------===//

TEST(CpuLaunchErrors, WellFormedCallSucceeds) {
  Call call;
  EXPECT_EQ(call.run(), ATTN_OK) << attn_last_error();
}

TEST(CpuLaunchErrors, NullInfo) {
  Call call;
  EXPECT_EQ(attn_cpu_launch(nullptr, countKernel, call.q.get(), call.k.get(), call.v.get(),
                            call.o.get(), nullptr, nullptr, nullptr, -1, 1),
            ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(attn_last_error(), "variant info is null");
}

TEST(CpuLaunchErrors, NullKernel) {
  Call call;
  call.fn = nullptr;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "tile kernel of variant 'demo' is null");
}

TEST(CpuLaunchErrors, NullTensors) {
  for (const char *which : {"q", "k", "v", "o"}) {
    Call call;
    call.extra[0] = *call.count.get();
    call.extra[1] = *call.table.get();
    std::string w = which;
    attn_status s = attn_cpu_launch(&call.info, countKernel, w == "q" ? nullptr : call.q.get(),
                                    w == "k" ? nullptr : call.k.get(),
                                    w == "v" ? nullptr : call.v.get(),
                                    w == "o" ? nullptr : call.o.get(), nullptr, call.params,
                                    call.extra, -1, 1);
    EXPECT_EQ(s, ATTN_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(std::string(attn_last_error()), w + ": tensor is null");
  }
}

TEST(CpuLaunchErrors, NullData) {
  Call call;
  call.v.nullData = true;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "v: data pointer is null");
}

TEST(CpuLaunchErrors, NullLseData) {
  Call call;
  call.lse.nullData = true;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "lse: data pointer is null");
}

TEST(CpuLaunchErrors, QRank) {
  Call call;
  call.q.view.rank = 3;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "q: expected rank 4, got rank 3");
}

TEST(CpuLaunchErrors, ORank) {
  Call call;
  call.o.view.rank = 5;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "o: expected rank 4, got rank 5");
}

TEST(CpuLaunchErrors, LseRank) {
  Call call;
  call.lse.view.rank = 4;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "lse: expected rank 3, got rank 4");
}

TEST(CpuLaunchErrors, LseWithoutLogSumExp) {
  Call call;
  call.info.has_lse = 0;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "lse: variant 'demo' has no log-sum-exp (its norm is not a softmax); pass null");
}

TEST(CpuLaunchErrors, InputDtypeMismatch) {
  Call call;
  call.info.input_dtype = ATTN_F16;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "q: expected dtype f16 (variant 'demo' was compiled for it), got f32");
}

TEST(CpuLaunchErrors, OutputDtypeMismatch) {
  Call call;
  call.o.view.dtype = ATTN_BF16;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "o: expected dtype f32 (variant 'demo' was compiled for it), got bf16");
}

TEST(CpuLaunchErrors, VariantDtypeNotFloat) {
  Call call;
  call.info.input_dtype = ATTN_F64;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "variant 'demo': input dtype f64 is not f32, f16 or bf16");
}

TEST(CpuLaunchErrors, LseDtype) {
  Call call;
  call.lse.view.dtype = ATTN_F16;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "lse: expected dtype f32, got f16");
}

TEST(CpuLaunchErrors, KBatchMismatch) {
  Call call;
  call.k.view.shape[0] = 3;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "k: expected shape [2, 2, 16, 8] (B, Hkv, Skv, D from q and k), got [3, 2, 16, 8]");
}

TEST(CpuLaunchErrors, KHeadDimMismatch) {
  Call call;
  call.k.view.shape[3] = 4;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "k: expected shape [2, 2, 16, 8] (B, Hkv, Skv, D from q and k), got [2, 2, 16, 4]");
}

TEST(CpuLaunchErrors, VShapeMismatch) {
  Call call;
  call.v.view.shape[2] = 15;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "v: expected shape [2, 2, 16, 8] (B, Hkv, Skv, D, the shape of k), got [2, 2, 15, 8]");
}

TEST(CpuLaunchErrors, OShapeMismatch) {
  Call call;
  call.o.view.shape[2] = 17;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "o: expected shape [2, 4, 16, 8] (B, H, Sq, D, the shape of q), got [2, 4, 17, 8]");
}

TEST(CpuLaunchErrors, LseShapeMismatch) {
  Call call;
  call.lse.view.shape[1] = 2;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "lse: expected shape [2, 4, 16] (B, H, Sq), got [2, 2, 16]");
}

TEST(CpuLaunchErrors, HeadsNotMultiple) {
  Call call;
  call.k.view.shape[1] = call.v.view.shape[1] = 3;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "H = 4 query heads is not a multiple of Hkv = 3 key/value heads");
}

TEST(CpuLaunchErrors, ZeroKvHeads) {
  Call call;
  call.k.view.shape[1] = call.v.view.shape[1] = 0;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "k: number of key/value heads Hkv must be positive, got shape [2, 0, 16, 8]");
}

TEST(CpuLaunchErrors, ZeroHeadDim) {
  Call call;
  call.q.view.shape[3] = 0;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "q: head dimension D must be positive, got shape [2, 4, 16, 0]");
}

TEST(CpuLaunchErrors, NegativeExtent) {
  Call call;
  call.q.view.shape[2] = -1;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "q: negative extent in shape [2, 4, -1, 8]");
}

TEST(CpuLaunchErrors, NegativeStride) {
  Call call;
  call.k.view.strides[2] = -8;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "k: stride -8 of dimension 2 must be positive (strides [256, 128, -8, 1])");
}

TEST(CpuLaunchErrors, ZeroStride) {
  Call call;
  call.o.view.strides[3] = 0;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "o: stride 0 of dimension 3 must be positive (strides [512, 128, 8, 0])");
}

TEST(CpuLaunchErrors, ExtraTensorsMissing) {
  Call call;
  EXPECT_EQ(attn_cpu_launch(&call.info, countKernel, call.q.get(), call.k.get(), call.v.get(),
                            call.o.get(), nullptr, call.params, nullptr, -1, 1),
            ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(attn_last_error(), "variant 'demo' needs 2 extra tensor(s) but none were given");
}

TEST(CpuLaunchErrors, ExtraTensorDtype) {
  Call call;
  call.count.view.dtype = ATTN_F32;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "tensor 'count': expected dtype i32, got f32");
}

TEST(CpuLaunchErrors, ExtraTensorRank) {
  Call call;
  call.table.view.rank = 1;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "tensor 'table': expected rank 2, got rank 1");
}

TEST(CpuLaunchErrors, ExtraTensorSizeNameDim) {
  Call call;
  call.count.view.shape[2] = 15;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "tensor 'count': expected shape [2, 4, 16] (B, H, Sq), got [2, 4, 15]");
}

TEST(CpuLaunchErrors, ExtraTensorLiteralDim) {
  Call call;
  call.table.view.shape[1] = 6;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "tensor 'table': expected shape [2, 5] (Hkv, 5), got [2, 6]");
}

TEST(CpuLaunchErrors, ExtraTensorNullData) {
  Call call;
  call.table.nullData = true;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "tensor 'table': data pointer is null");
}

TEST(CpuLaunchErrors, ParamWithoutDefault) {
  Call call;
  call.params[1] = NAN;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "param 'cap' has no default and was not given");
}

TEST(CpuLaunchErrors, ParamsNullButOneHasNoDefault) {
  Call call;
  call.extra[0] = *call.count.get();
  call.extra[1] = *call.table.get();
  EXPECT_EQ(attn_cpu_launch(&call.info, countKernel, call.q.get(), call.k.get(), call.v.get(),
                            call.o.get(), nullptr, nullptr, call.extra, -1, 1),
            ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(attn_last_error(), "param 'cap' has no default and was not given");
}

TEST(CpuLaunchErrors, ParamI32NotIntegral) {
  Call call;
  call.params[0] = 2.5;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "param 'window' is i32 but got 2.500000 (not an integer in range)");
}

TEST(CpuLaunchErrors, ParamI32OutOfRange) {
  Call call;
  call.params[0] = 4294967296.0;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "param 'window' is i32 but got 4294967296.000000 (not an integer in range)");
}

TEST(CpuLaunchErrors, ParamBoolNotZeroOrOne) {
  Call call;
  call.params[2] = 2;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "param 'flag' is bool but got 2.000000 (expected 0 or 1)");
}

TEST(CpuLaunchErrors, ParamF32OutOfRange) {
  Call call;
  call.params[1] = 1e60;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "param 'cap' is f32 but got 1e+60 (beyond the f32 range)");
}

// Outputs written over an input or over each other gave a silent wrong answer
// (or a race between threads): refused wherever the views' spans show it.
TEST(CpuLaunchErrors, OutputOverAnInput) {
  Call call; // in place: o on q's buffer
  call.oData = call.q.get()->data;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "o shares memory with q: outputs must not overlap the inputs or each other");
}

TEST(CpuLaunchErrors, OutputOverAnExtraTensor) {
  Call call; // lse [B, H, Sq] f32 on the i32 tensor of the same shape
  call.lseData = call.count.get()->data;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "lse shares memory with tensor 'count': outputs must not overlap the inputs or each "
              "other");
}

TEST(CpuLaunchErrors, OutputsOverEachOther) {
  Call call; // lse inside o's buffer, from its second half
  call.lseData = static_cast<float *>(call.o.get()->data) + 2 * 4 * 16 * 4;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "o shares memory with lse: outputs must not overlap the inputs or each other");
}

TEST(CpuLaunchErrors, OutputWritesOneAddressTwice) {
  Call call; // heads 8 elements apart: head h + 1's row r is head h's row r + 1
  call.o.view.strides[1] = 8;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
              "o: shape [2, 4, 16, 8] with strides [512, 8, 8, 1] may write two elements to the "
              "same address (an output's strides, in increasing order, must each be at least the "
              "previous stride times its extent)");
}

// What stays allowed: inputs sharing memory (k and v one buffer), and outputs
// interleaved with inputs in one packed buffer without sharing an element
// (q and o of [B, Sq, 2, H, D]: neither fills its span, so their spans meet).
TEST(CpuLaunchErrors, InterleavedOutputAndSharedInputsRun) {
  Call call;
  Tensor packed{ATTN_F32, {2, 16, 2, 4, 8}};
  void *base = packed.get()->data;
  const int64_t strides[4] = {16 * 2 * 4 * 8, 8, 2 * 4 * 8, 1};
  for (Tensor *t : {&call.q, &call.o})
    std::copy(strides, strides + 4, t->view.strides);
  attn_tensor q = *call.q.get(), o = *call.o.get();
  q.data = base;
  o.data = static_cast<float *>(base) + 4 * 8;
  attn_tensor k = *call.k.get(), v = k;
  call.extra[0] = *call.count.get();
  call.extra[1] = *call.table.get();
  EXPECT_EQ(attn_cpu_launch(&call.info, call.fn, &q, &k, &v, &o, call.lse.get(), call.params,
                            call.extra, -1, 2),
            ATTN_OK)
      << attn_last_error();
  // The same o moved onto q's own elements is refused (their first elements meet).
  o.data = base;
  EXPECT_EQ(attn_cpu_launch(&call.info, call.fn, &q, &k, &v, &o, call.lse.get(), call.params,
                            call.extra, -1, 2),
            ATTN_ERROR_INVALID_ARGUMENT);
}

TEST(CpuLaunchErrors, OffsetsOverflow) {
  // A stride whose last offset passes 64 bits, and an element count that
  // does: refused before any kernel runs (they wrapped, or crashed).
  {
    Call call;
    call.q.view.strides[0] = INT64_MAX / 2;
    expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
                "q: shape [2, 4, 16, 8] with strides [4611686018427387903, 128, 8, 1] addresses "
                "more elements than 64-bit offsets can");
  }
  {
    Call call;
    call.qOffset = INT64_MAX - 3;
    expectError(call, ATTN_ERROR_INVALID_ARGUMENT,
                "q_offset 9223372036854775804 + Sq 16 overflows 64-bit positions");
  }
}

TEST(CpuLaunchErrors, NegativeThreadCount) {
  Call call;
  call.threads = -1;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "num_threads must be >= 0 (0: all cores), got -1");
}

TEST(CpuLaunchErrors, BadRowTile) {
  Call call;
  call.info.row_tile = 0;
  expectError(call, ATTN_ERROR_INVALID_ARGUMENT, "variant 'demo': row_tile must be positive, got 0");
}

TEST(CpuLaunchErrors, KernelOutOfRange) {
  Call call;
  call.fn = failAtRow8Kernel;
  expectError(call, ATTN_ERROR_OUT_OF_RANGE, "tensor index out of range in variant 'demo'");
}

TEST(CpuLaunchErrors, KernelOtherCode) {
  Call call;
  call.fn = failInternalKernel;
  expectError(call, ATTN_ERROR_INTERNAL, "tile kernel of variant 'demo' returned 77 (not a status code)");
}

//===----------------------------------------------------------------------===//
// Coverage, sizes, params
//===----------------------------------------------------------------------===//

TEST(CpuLaunch, CoversEveryRowOnce) {
  struct Shape { int64_t B, H, Hkv, Sq, rowTile; int32_t threads; };
  for (Shape s : {Shape{1, 1, 1, 1, 1, 1}, Shape{2, 3, 1, 17, 4, 2}, Shape{3, 8, 2, 64, 16, 3},
                  Shape{1, 2, 2, 100, 7, 7}, Shape{4, 4, 4, 5, 64, 0}, Shape{2, 6, 3, 33, 1, 5},
                  Shape{1, 2, 1, 9, std::numeric_limits<int64_t>::max(), 2}}) {
    attn_tensor_info countInfo{"count", ATTN_I32, 3, {-1 - ATTN_SIZE_B, -1 - ATTN_SIZE_H, -1 - ATTN_SIZE_SQ}};
    attn_variant_info info = makeInfo("count", s.rowTile);
    info.num_tensors = 1;
    info.tensors = &countInfo;
    Tensor q(ATTN_F32, {s.B, s.H, s.Sq, 4}), k(ATTN_F32, {s.B, s.Hkv, 9, 4}),
        v(ATTN_F32, {s.B, s.Hkv, 9, 4}), o(ATTN_F32, {s.B, s.H, s.Sq, 4});
    Tensor count(ATTN_I32, {s.B, s.H, s.Sq});
    for (int rep = 0; rep < 3; ++rep) {
      std::fill(count.bytes.begin(), count.bytes.end(), 0);
      ASSERT_EQ(attn_cpu_launch(&info, countKernel, q.get(), k.get(), v.get(), o.get(), nullptr,
                                nullptr, count.get(), -1, s.threads),
                ATTN_OK)
          << attn_last_error();
      for (int64_t b = 0; b < s.B; ++b)
        for (int64_t h = 0; h < s.H; ++h)
          for (int64_t r = 0; r < s.Sq; ++r)
            ASSERT_EQ(count.i32({b, h, r}), 1) << "b=" << b << " h=" << h << " row=" << r;
    }
  }
}

TEST(CpuLaunch, ArgumentBlock) {
  Call call;
  call.fn = recordKernel;
  call.Sq = 10;
  call.info.row_tile = 4;
  Tensor q(ATTN_F32, {2, 4, 10, 8}, paddedStrides({2, 4, 10, 8}, 1));
  Tensor o(ATTN_F32, {2, 4, 10, 8}, {320, 8, 32, 1}); // [B, S, H, D] memory order
  Tensor lse(ATTN_F32, {2, 4, 10});
  Tensor count(ATTN_I32, {2, 4, 10});
  call.extra[0] = *count.get();
  call.extra[1] = *call.table.get();
  recordedTileSizes.clear();
  ASSERT_EQ(attn_cpu_launch(&call.info, recordKernel, q.get(), call.k.get(), call.v.get(),
                            o.get(), lse.get(), call.params, call.extra, -1, 2),
            ATTN_OK)
      << attn_last_error();
  ASSERT_EQ(recordedArgs.size(), size_t(ATTN_ARG_COUNT));
  const int64_t *a = recordedArgs.data();
  EXPECT_EQ(a[ATTN_ARG_Q], reinterpret_cast<intptr_t>(q.bytes.data()));
  EXPECT_EQ(a[ATTN_ARG_K], reinterpret_cast<intptr_t>(call.k.bytes.data()));
  EXPECT_EQ(a[ATTN_ARG_V], reinterpret_cast<intptr_t>(call.v.bytes.data()));
  EXPECT_EQ(a[ATTN_ARG_O], reinterpret_cast<intptr_t>(o.bytes.data()));
  EXPECT_EQ(a[ATTN_ARG_LSE], reinterpret_cast<intptr_t>(lse.bytes.data()));
  EXPECT_EQ(a[ATTN_ARG_B], 2);
  EXPECT_EQ(a[ATTN_ARG_H], 4);
  EXPECT_EQ(a[ATTN_ARG_HKV], 2);
  EXPECT_EQ(a[ATTN_ARG_SQ], 10);
  EXPECT_EQ(a[ATTN_ARG_SKV], 16);
  EXPECT_EQ(a[ATTN_ARG_D], 8);
  EXPECT_EQ(a[ATTN_ARG_QOFFSET], 6); // Skv - Sq
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a[ATTN_ARG_Q_STRIDES + i], q.view.strides[i]);
    EXPECT_EQ(a[ATTN_ARG_K_STRIDES + i], call.k.view.strides[i]);
    EXPECT_EQ(a[ATTN_ARG_V_STRIDES + i], call.v.view.strides[i]);
    EXPECT_EQ(a[ATTN_ARG_O_STRIDES + i], o.view.strides[i]);
  }
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(a[ATTN_ARG_LSE_STRIDES + i], lse.view.strides[i]);
  EXPECT_EQ(a[ATTN_ARG_TENSORS], reinterpret_cast<intptr_t>(call.extra));
  EXPECT_EQ(recordedParams, (std::vector<double>{8, 2.5, 1}));
  EXPECT_EQ(recordedTileSizes, (std::set<int64_t>{4, 2})); // 10 rows = 4 + 4 + 2

  // An explicit q_offset, no lse (null pointer, zero strides).
  ASSERT_EQ(attn_cpu_launch(&call.info, recordKernel, q.get(), call.k.get(), call.v.get(),
                            o.get(), nullptr, call.params, call.extra, 3, 1),
            ATTN_OK);
  EXPECT_EQ(recordedArgs[ATTN_ARG_QOFFSET], 3);
  EXPECT_EQ(recordedArgs[ATTN_ARG_LSE], 0);
  EXPECT_EQ(recordedArgs[ATTN_ARG_LSE_STRIDES], 0);
}

TEST(CpuLaunch, ParamDefaults) {
  Call call;
  call.fn = recordKernel;
  call.params[0] = NAN;  // window: default 4
  call.params[1] = -1.5; // cap: given
  call.params[2] = 0;    // flag: given false
  ASSERT_EQ(call.run(), ATTN_OK) << attn_last_error();
  EXPECT_EQ(recordedParams, (std::vector<double>{4, -1.5, 0}));

  // Null params: all defaults (when every param has one).
  call.paramInfos[1].has_default = 1;
  call.paramInfos[1].default_value = 30.0;
  call.extra[0] = *call.count.get();
  call.extra[1] = *call.table.get();
  ASSERT_EQ(attn_cpu_launch(&call.info, recordKernel, call.q.get(), call.k.get(), call.v.get(),
                            call.o.get(), nullptr, nullptr, call.extra, -1, 2),
            ATTN_OK)
      << attn_last_error();
  EXPECT_EQ(recordedParams, (std::vector<double>{4, 30, 1}));
}

TEST(CpuLaunch, HalfPrecisionInputsAccepted) {
  for (attn_dtype dtype : {ATTN_F16, ATTN_BF16}) {
    attn_tensor_info countInfo{"count", ATTN_I32, 3, {-1 - ATTN_SIZE_B, -1 - ATTN_SIZE_H, -1 - ATTN_SIZE_SQ}};
    attn_variant_info info = makeInfo("half", 8, dtype);
    info.num_tensors = 1;
    info.tensors = &countInfo;
    Tensor q(dtype, {1, 2, 20, 16}), k(dtype, {1, 1, 20, 16}), v(dtype, {1, 1, 20, 16}),
        o(dtype, {1, 2, 20, 16}), lse(ATTN_F32, {1, 2, 20}), count(ATTN_I32, {1, 2, 20});
    ASSERT_EQ(attn_cpu_launch(&info, countKernel, q.get(), k.get(), v.get(), o.get(), lse.get(),
                              nullptr, count.get(), -1, 2),
              ATTN_OK)
        << attn_last_error();
    EXPECT_EQ(count.i32({0, 1, 19}), 1);
  }
}

TEST(CpuLaunch, EmptyWorkIsANoOp) {
  attn_variant_info info = makeInfo("empty", 4);
  kernelCalls = 0;
  // Sq = 0, and B = 0 (with null data: nothing to read).
  for (auto [B, Sq] : {std::pair<int64_t, int64_t>{2, 0}, {0, 8}}) {
    Tensor q(ATTN_F32, {B, 2, Sq, 4}), k(ATTN_F32, {B, 2, 8, 4}), v(ATTN_F32, {B, 2, 8, 4}),
        o(ATTN_F32, {B, 2, Sq, 4});
    q.nullData = o.nullData = true;
    EXPECT_EQ(attn_cpu_launch(&info, countCallsKernel, q.get(), k.get(), v.get(), o.get(), nullptr,
                              nullptr, nullptr, -1, 2),
              ATTN_OK)
        << attn_last_error();
  }
  EXPECT_EQ(kernelCalls.load(), 0);
}

TEST(CpuLaunch, NoKeysGiveZerosAndMinusInfinity) {
  attn_variant_info info = makeInfo("nokeys", 4);
  kernelCalls = 0;
  Tensor q(ATTN_F32, {1, 2, 5, 4}), k(ATTN_F32, {1, 1, 0, 4}), v(ATTN_F32, {1, 1, 0, 4}),
      o(ATTN_F32, {1, 2, 5, 4}, paddedStrides({1, 2, 5, 4}, 2)), lse(ATTN_F32, {1, 2, 5});
  std::fill(o.bytes.begin(), o.bytes.end(), 0x7f);
  ASSERT_EQ(attn_cpu_launch(&info, countCallsKernel, q.get(), k.get(), v.get(), o.get(), lse.get(),
                            nullptr, nullptr, -1, 2),
            ATTN_OK)
      << attn_last_error();
  EXPECT_EQ(kernelCalls.load(), 0);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t r = 0; r < 5; ++r) {
      EXPECT_EQ(lse.f({0, h, r}), -INFINITY);
      for (int64_t d = 0; d < 4; ++d)
        EXPECT_EQ(o.f({0, h, r, d}), 0.0f);
    }
}

//===----------------------------------------------------------------------===//
// Numerics with the causal kernel
//===----------------------------------------------------------------------===//

struct CausalCase {
  int64_t B, H, Hkv, Sq, Skv, D, rowTile, qOffset;
  int64_t pad; ///< non-contiguous views when > 0
};

void checkCausal(const CausalCase &c, int32_t threads, unsigned seed,
                 attn_tile_fn fn = causalKernel, int32_t expectChunks = 0) {
  std::mt19937 rng(seed);
  auto strides = [&](std::vector<int64_t> shape) {
    return c.pad ? paddedStrides(shape, c.pad) : std::vector<int64_t>{};
  };
  Tensor q(ATTN_F32, {c.B, c.H, c.Sq, c.D}, strides({c.B, c.H, c.Sq, c.D}));
  Tensor k(ATTN_F32, {c.B, c.Hkv, c.Skv, c.D}, strides({c.B, c.Hkv, c.Skv, c.D}));
  Tensor v(ATTN_F32, {c.B, c.Hkv, c.Skv, c.D}, strides({c.B, c.Hkv, c.Skv, c.D}));
  // o in [B, Sq, H, D] memory order (a transposed view) when padded.
  std::vector<int64_t> oStrides;
  if (c.pad)
    oStrides = {c.Sq * c.H * c.D, c.D, c.H * c.D, 1};
  Tensor o(ATTN_F32, {c.B, c.H, c.Sq, c.D}, oStrides);
  Tensor lse(ATTN_F32, {c.B, c.H, c.Sq}, strides({c.B, c.H, c.Sq}));
  q.randomize(rng);
  k.randomize(rng);
  v.randomize(rng);
  attn_variant_info info = makeInfo("causal", c.rowTile);
  ASSERT_EQ(attn_cpu_launch(&info, fn, q.get(), k.get(), v.get(), o.get(), lse.get(),
                            nullptr, nullptr, c.qOffset, threads),
            ATTN_OK)
      << attn_last_error();
  if (expectChunks)
    EXPECT_EQ(attn_cpu_last_key_chunks(), expectChunks)
        << "Sq=" << c.Sq << " Skv=" << c.Skv << " threads=" << threads;
  auto [errO, errL] = causalError(q, k, v, o, &lse, c.qOffset < 0 ? c.Skv - c.Sq : c.qOffset);
  EXPECT_LE(errO, kTolerance) << "B=" << c.B << " H=" << c.H << " Hkv=" << c.Hkv;
  EXPECT_LE(errL, kTolerance) << "B=" << c.B << " H=" << c.H << " Hkv=" << c.Hkv;
}

TEST(CpuLaunchNumerics, CausalSoftmaxMatchesFloat64) {
  checkCausal({2, 4, 4, 64, 64, 32, 16, -1, 0}, 3, 1);
  checkCausal({1, 2, 2, 37, 37, 16, 8, -1, 0}, 2, 2);
}

TEST(CpuLaunchNumerics, GroupedAndMultiQuery) {
  checkCausal({2, 8, 2, 33, 33, 16, 8, -1, 0}, 2, 3); // GQA 8/2
  checkCausal({1, 6, 1, 20, 20, 8, 4, -1, 0}, 4, 4);  // MQA
}

TEST(CpuLaunchNumerics, QueryOffsets) {
  checkCausal({1, 2, 1, 8, 48, 16, 3, -1, 0}, 2, 5); // decode-like: default Skv - Sq
  checkCausal({1, 2, 1, 8, 48, 16, 3, 0, 0}, 2, 6);  // explicit 0
  checkCausal({1, 2, 2, 48, 8, 16, 5, -1, 0}, 2, 7); // Sq > Skv: first rows see no key
}

TEST(CpuLaunchNumerics, NonContiguousViews) {
  checkCausal({2, 4, 2, 30, 30, 12, 8, -1, 3}, 3, 8);
}

//===----------------------------------------------------------------------===//
// Split-KV: the launcher cuts the keys into chunks and merges them
//===----------------------------------------------------------------------===//

/// Sets ATTN_SPLIT_KV while alive.
struct SplitOverride {
  explicit SplitOverride(const char *value) { setenv("ATTN_SPLIT_KV", value, 1); }
  ~SplitOverride() { unsetenv("ATTN_SPLIT_KV"); }
};

TEST(CpuLaunchSplitKV, FewerItemsThanThreadsSplit) {
  // One item (B*H = 1, Sq <= row tile) on 4 threads: 50 keys = 13 tiles of 4,
  // at least 4 tiles a chunk: 3 chunks. 8 items on 2 threads: no split.
  checkCausal({1, 1, 1, 1, 50, 8, 4, -1, 0}, 4, 20, splitCausalKernel, 3);
  checkCausal({1, 1, 1, 3, 50, 8, 4, -1, 0}, 4, 21, splitCausalKernel, 3);
  checkCausal({2, 4, 2, 1, 50, 8, 4, -1, 0}, 2, 22, splitCausalKernel, 1);
  // Three items on 8 threads, 400 tiles: 5 chunks each (15 of 8 threads' two
  // rounds: 0.4 of an item, within 10% of 8 chunks' 3/8).
  checkCausal({1, 3, 1, 1, 1600, 8, 4, -1, 0}, 8, 23, splitCausalKernel, 5);
  // Too few keys for two chunks of 4 tiles: no split.
  checkCausal({1, 1, 1, 1, 28, 8, 4, -1, 0}, 4, 24, splitCausalKernel, 1);
}

TEST(CpuLaunchSplitKV, MergeRunsOncePerItemAfterItsChunks) {
  mergeCalls = 0;
  checkCausal({1, 2, 1, 5, 64, 8, 2, -1, 0}, 8, 25, splitCausalKernel, 4);
  EXPECT_EQ(mergeCalls.load(), 2 * 3); // B*H*ceil(Sq / row tile) items
}

TEST(CpuLaunchSplitKV, EnvironmentOverrides) {
  {
    SplitOverride force("5"); // 13 tiles in 5 chunks (3, 3, 3, 2, 2 tiles)
    checkCausal({2, 4, 2, 2, 50, 8, 4, -1, 0}, 2, 26, splitCausalKernel, 5);
  }
  {
    SplitOverride force("64"); // more chunks than tiles: one tile each
    checkCausal({1, 2, 2, 1, 50, 8, 4, -1, 0}, 2, 27, splitCausalKernel, 13);
  }
  {
    SplitOverride force("4"); // 11 tiles in 4 chunks
    // q_offset 5: keys past 5 + row are masked: chunks 2 and 3 keep nothing.
    checkCausal({1, 2, 1, 3, 44, 8, 4, 5, 0}, 2, 28, splitCausalKernel, 4);
  }
  {
    SplitOverride never("0");
    checkCausal({1, 1, 1, 1, 50, 8, 4, -1, 0}, 4, 29, splitCausalKernel, 1);
  }
}

TEST(CpuLaunchSplitKV, KernelsThatCannotSplitRunWhole) {
  // causalKernel knows nothing of ATTN_SPLIT_DESCRIBE: called for no rows,
  // it leaves the answer at zero, and the call runs unsplit.
  checkCausal({1, 1, 1, 1, 50, 8, 4, -1, 0}, 4, 30, causalKernel, 1);
  SplitOverride force("3");
  checkCausal({1, 2, 1, 2, 50, 8, 4, -1, 0}, 2, 31, causalKernel, 1);
}

//===----------------------------------------------------------------------===//
// Threads
//===----------------------------------------------------------------------===//

TEST(CpuLaunchThreads, ThreadCounts) {
  attn_variant_info info = makeInfo("threads", 1);
  Tensor q(ATTN_F32, {1, 1, 96, 4}), k(ATTN_F32, {1, 1, 4, 4}), v(ATTN_F32, {1, 1, 4, 4}),
      o(ATTN_F32, {1, 1, 96, 4});
  auto distinctThreads = [&](int32_t threads) {
    threadIds.clear();
    EXPECT_EQ(attn_cpu_launch(&info, threadIdKernel, q.get(), k.get(), v.get(), o.get(), nullptr,
                              nullptr, nullptr, -1, threads),
              ATTN_OK);
    return threadIds;
  };
  std::set<std::thread::id> one = distinctThreads(1);
  EXPECT_EQ(one, std::set<std::thread::id>{std::this_thread::get_id()});
  std::set<std::thread::id> three = distinctThreads(3);
  EXPECT_LE(three.size(), 3u);
  EXPECT_GE(three.size(), 2u); // 96 tiles of 2 ms: the helpers do join
  EXPECT_TRUE(three.count(std::this_thread::get_id())); // the caller takes part

  // ATTN_NUM_THREADS sets the default (num_threads = 0).
  setenv("ATTN_NUM_THREADS", "2", 1);
  std::set<std::thread::id> two = distinctThreads(0);
  unsetenv("ATTN_NUM_THREADS");
  EXPECT_LE(two.size(), 2u);
}

TEST(CpuLaunchThreads, ConcurrentLaunches) {
  // Four threads launch causal attention on their own data at the same time;
  // every result must equal the one computed alone.
  const int64_t B = 2, H = 4, Hkv = 2, S = 40, D = 16;
  attn_variant_info info = makeInfo("causal", 8);
  std::mt19937 rng(11);
  Tensor q(ATTN_F32, {B, H, S, D}), k(ATTN_F32, {B, Hkv, S, D}), v(ATTN_F32, {B, Hkv, S, D});
  q.randomize(rng);
  k.randomize(rng);
  v.randomize(rng);
  Tensor expected(ATTN_F32, {B, H, S, D});
  ASSERT_EQ(attn_cpu_launch(&info, causalKernel, q.get(), k.get(), v.get(), expected.get(),
                            nullptr, nullptr, nullptr, -1, 1),
            ATTN_OK);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      Tensor o(ATTN_F32, {B, H, S, D});
      attn_tensor qv = q.view, kv = k.view, vv = v.view;
      for (int rep = 0; rep < 25; ++rep) {
        std::fill(o.bytes.begin(), o.bytes.end(), 0);
        attn_status s = attn_cpu_launch(&info, causalKernel, &qv, &kv, &vv, o.get(), nullptr,
                                        nullptr, nullptr, -1, 1 + (t + rep) % 4);
        if (s != ATTN_OK || o.bytes != expected.bytes)
          ++failures;
      }
    });
  for (std::thread &t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
}

/// A tile kernel that itself launches the count kernel on a small problem
/// (as a kernel calling a library that uses libattnrt would).
std::atomic<int> nestedFailures{0};
int32_t nestedKernel(const int64_t *, int64_t, int64_t, int64_t, int64_t) {
  attn_tensor_info countInfo{"count", ATTN_I32, 3, {-1 - ATTN_SIZE_B, -1 - ATTN_SIZE_H, -1 - ATTN_SIZE_SQ}};
  attn_variant_info info = makeInfo("inner", 2);
  info.num_tensors = 1;
  info.tensors = &countInfo;
  Tensor q(ATTN_F32, {1, 2, 8, 4}), k(ATTN_F32, {1, 2, 3, 4}), v(ATTN_F32, {1, 2, 3, 4}),
      o(ATTN_F32, {1, 2, 8, 4}), count(ATTN_I32, {1, 2, 8});
  if (attn_cpu_launch(&info, countKernel, q.get(), k.get(), v.get(), o.get(), nullptr, nullptr,
                      count.get(), -1, 3) != ATTN_OK)
    ++nestedFailures;
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t r = 0; r < 8; ++r)
      if (count.i32({0, h, r}) != 1)
        ++nestedFailures;
  return 0;
}

TEST(CpuLaunchThreads, NestedLaunchesDoNotDeadlock) {
  attn_variant_info info = makeInfo("outer", 1);
  Tensor q(ATTN_F32, {2, 2, 6, 4}), k(ATTN_F32, {2, 2, 3, 4}), v(ATTN_F32, {2, 2, 3, 4}),
      o(ATTN_F32, {2, 2, 6, 4});
  nestedFailures = 0;
  ASSERT_EQ(attn_cpu_launch(&info, nestedKernel, q.get(), k.get(), v.get(), o.get(), nullptr,
                            nullptr, nullptr, -1, 4),
            ATTN_OK);
  EXPECT_EQ(nestedFailures.load(), 0);
}

TEST(CpuLaunchThreads, ErrorsAreThreadLocal) {
  Call call;
  call.fn = nullptr;
  EXPECT_EQ(call.run(), ATTN_ERROR_INVALID_ARGUMENT);
  std::string other;
  std::thread([&] { other = attn_last_error(); }).join();
  EXPECT_EQ(other, "");
  EXPECT_EQ(std::string(attn_last_error()), "tile kernel of variant 'demo' is null");
}

} // namespace
