//===- AttentionCheck.h - compiled kernels against the float64 oracle ---*- C++ -*-===//
//
// Header-only helpers of the tests that run compiled kernels (CPU JIT, GPU JIT,
// AOT libraries) and compare them with the direct float64 evaluation
// (compiler/reference/DirectEval): random inputs in a kernel dtype with the same
// values as float64, the reference of a variant of a source, the max abs error,
// device copies of host tensors through libattnrt (attn/gpu.h), and one check
// of a compiled variant on the GPU. No MLIR.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_TEST_UNIT_COMMON_ATTENTIONCHECK_H
#define ATTNC_TEST_UNIT_COMMON_ATTENTIONCHECK_H

#include "attn/compiler.hpp"
#include "attn/gpu.h"
#include "attn/npy.h"
#include "compiler/reference/DirectEval.h"
#include "frontend/Frontend.h"
#include "test/unit/common/TestSupport.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace attn::test {

/// Random q [B,H,Sq,D] and k, v [B,Hkv,Skv,D] in `dtype`, uniform in [-2, 2],
/// and the same values (rounded to `dtype`) as the float64 problem.
struct RandomInputs {
  HostTensor q, k, v;
  ref::Problem problem;
  RandomInputs(int64_t B, int64_t H, int64_t Hkv, int64_t Sq, int64_t Skv, int64_t D,
               attn_dtype dtype, unsigned seed)
      : q({B, H, Sq, D}, dtype), k({B, Hkv, Skv, D}, dtype), v({B, Hkv, Skv, D}, dtype) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> dist(-2, 2);
    auto fill = [&](HostTensor &t, ref::Array &a) {
      a.shape.assign(t.view.shape, t.view.shape + t.view.rank);
      a.data.resize(t.size());
      for (int64_t i = 0; i < t.size(); ++i) {
        t.set(i, dist(rng));
        a.data[i] = t.get(i);
      }
    };
    fill(q, problem.q);
    fill(k, problem.k);
    fill(v, problem.v);
  }
};

/// The float64 reference of `variant` of the .attn text `source` on `problem`
/// (failures are gtest failures).
inline ref::Result referenceOf(const std::string &source, const std::string &variant,
                               const ref::Problem &problem) {
  DiagnosticEngine diags("<ref>", source);
  auto ast = parseAndCheck(diags);
  ref::Result r;
  EXPECT_TRUE(ast) << "the reference cannot parse the source";
  if (!ast)
    return r;
  bool found = false;
  for (auto &v : ast->variants)
    if (v.name == variant) {
      found = true;
      auto err = ref::evaluateDirect(v, problem, r);
      EXPECT_FALSE(err) << *err;
    }
  EXPECT_TRUE(found) << "no variant " << variant;
  return r;
}

/// max |t - want| over every element; NaN when any element of t is NaN.
inline double maxAbsError(const HostTensor &t, const ref::Array &want) {
  double m = 0;
  for (int64_t i = 0; i < t.size(); ++i) {
    double e = std::fabs(t.get(i) - want.data[i]);
    if (std::isnan(e))
      return e;
    m = std::max(m, e);
  }
  return m;
}

/// Device memory mirroring a HostTensor (same dtype, shape, dense strides),
/// through libattnrt; `view` points at the device copy. `ok` is false (with
/// attn_last_error()) when there is no GPU or the copy failed.
struct DeviceTensor {
  attn_tensor view{};
  void *device = nullptr;
  size_t bytes = 0;
  bool ok = false;

  explicit DeviceTensor(const HostTensor &host) : view(host.view), bytes(host.bytes.size()) {
    ok = attn_gpu_alloc(bytes, &device) == ATTN_OK &&
         attn_gpu_copy_to_device(device, host.bytes.data(), bytes) == ATTN_OK;
    view.data = device;
  }
  ~DeviceTensor() {
    if (device)
      attn_gpu_free(device);
  }
  DeviceTensor(const DeviceTensor &) = delete;
  DeviceTensor &operator=(const DeviceTensor &) = delete;

  /// Copies the device data back into `host` (same layout).
  bool read(HostTensor &host) const {
    return attn_gpu_copy_to_host(host.bytes.data(), device, bytes) == ATTN_OK;
  }
};

/// Max abs error of o that a kernel of `dtype` meets against float64 on
/// outputs of order 1 (the reference sees the inputs rounded to `dtype`; the
/// output is rounded to it).
inline double outputTolerance(attn_dtype dtype) {
  return dtype == ATTN_BF16 ? 3e-2 : dtype == ATTN_F16 ? 3e-3 : 2e-5;
}

/// Calls a compiled variant on device views (params and tensors in
/// declaration order).
using GpuCall = std::function<attn_status(const attn_tensor &q, const attn_tensor &k,
                                          const attn_tensor &v, attn_tensor &o, attn_tensor *lse,
                                          const double *params, const attn_tensor *tensors)>;

/// Values for an extra tensor of `shape`: i32 tensors hold segment ids along
/// their last dimension, (t + 7 * r) / (seg + seg / 3 * (r % 5)) for position
/// t of outer row r (document masks: every row has its own boundaries);
/// f32 tensors uniform in [-2, 2].
inline void fillExtraTensor(HostTensor &t, attn_dtype dtype, std::mt19937_64 &rng, int64_t seg) {
  std::uniform_real_distribution<double> dist(-2, 2);
  int64_t last = t.view.rank ? t.view.shape[t.view.rank - 1] : 1;
  for (int64_t i = 0; i < t.size(); ++i) {
    int64_t r = i / std::max<int64_t>(last, 1), pos = i % std::max<int64_t>(last, 1);
    t.set(i, dtype == ATTN_I32 ? double((pos + 7 * r) / (seg + seg / 3 * (r % 5))) : dist(rng));
  }
}

/// Runs `call`, a compiled variant described by `info`, on the GPU on random
/// GQA inputs in info.input_dtype, twice: (B 2, H 4, Hkv 2, Sq 67, Skv 93,
/// D 64) and (B 1, H 4, Hkv 2, Sq 600, Skv 700, D 64, several query and key
/// tiles, neither length a multiple of 128), with `params` by name (the others
/// take their defaults) and the declared tensors filled by fillExtraTensor
/// (segments of 17-39 positions, several per key tile, then of 300-700), so
/// that a GPU kernel's tiles of 128 rows x 128 keys are empty, partial and
/// full in every table: document's per-b table (segments of 300) holds the
/// full tile (query rows 128-255, keys 0-127), the empty one (rows 384-511,
/// keys 0-127) and partial ones; then compares o (outputTolerance, every
/// element written: o starts as NaN) and lse (1e-3) with the float64
/// reference of `source`.
inline void checkOnGpu(const attn_variant_info &info, const std::string &source,
                       const std::map<std::string, double> &params, const GpuCall &call) {
  const attn_dtype dtype = info.input_dtype;
  SCOPED_TRACE(std::string(info.name) + " " + attn_dtype_name(dtype));
  struct Shape {
    int64_t B, H, Hkv, Sq, Skv, D, segment;
  };
  // Prefill, and decode with few rows (the launcher splits the keys: split-KV
  // kernels and their merge).
  for (Shape sh : {Shape{2, 4, 2, 67, 93, 64, 17}, Shape{1, 4, 2, 600, 700, 64, 300},
                   Shape{1, 4, 2, 1, 3000, 64, 700}}) {
    const int64_t B = sh.B, H = sh.H, Sq = sh.Sq, D = sh.D;
    SCOPED_TRACE("Sq " + std::to_string(Sq) + " Skv " + std::to_string(sh.Skv));
    RandomInputs in(B, H, sh.Hkv, Sq, sh.Skv, D, dtype, 17);
    std::vector<double> paramValues;
    for (int32_t p = 0; p < info.num_params; ++p) {
      auto it = params.find(info.params[p].name);
      paramValues.push_back(it == params.end() ? std::nan("") : it->second);
      if (it != params.end())
        in.problem.params[it->first] = it->second;
    }
    std::mt19937_64 rng(29);
    std::vector<std::unique_ptr<HostTensor>> hostTensors;
    for (int32_t t = 0; t < info.num_tensors; ++t) {
      const attn_tensor_info &ti = info.tensors[t];
      const int64_t sizes[] = {B, H, sh.Hkv, Sq, sh.Skv, D}; // ATTN_SIZE_* order
      std::vector<int64_t> shape;
      for (int32_t d = 0; d < ti.rank; ++d) {
        int64_t dim = ti.dims[d];
        ASSERT_TRUE(dim >= 0 || -(dim + 1) < 6) << "tensor '" << ti.name << "': dim " << dim;
        shape.push_back(dim >= 0 ? dim : sizes[-(dim + 1)]);
      }
      auto host = std::make_unique<HostTensor>(shape, ti.dtype);
      fillExtraTensor(*host, ti.dtype, rng, sh.segment);
      ref::Array &a = in.problem.tensors[ti.name];
      a.shape = shape;
      for (int64_t i = 0; i < host->size(); ++i)
        a.data.push_back(host->get(i));
      hostTensors.push_back(std::move(host));
    }
    ref::Result want = referenceOf(source, info.name, in.problem);
    HostTensor o({B, H, Sq, D}, dtype), lse({B, H, Sq}, ATTN_F32);
    for (int64_t i = 0; i < o.size(); ++i)
      o.set(i, std::nan(""));
    DeviceTensor q(in.q), k(in.k), v(in.v), dout(o), dlse(lse);
    for (const DeviceTensor *t : {&q, &k, &v, &dout, &dlse})
      ASSERT_TRUE(t->ok) << attn_last_error();
    std::vector<std::unique_ptr<DeviceTensor>> deviceTensors;
    std::vector<attn_tensor> tensorViews;
    for (const auto &host : hostTensors) {
      deviceTensors.push_back(std::make_unique<DeviceTensor>(*host));
      ASSERT_TRUE(deviceTensors.back()->ok) << attn_last_error();
      tensorViews.push_back(deviceTensors.back()->view);
    }
    ASSERT_EQ(call(q.view, k.view, v.view, dout.view, info.has_lse ? &dlse.view : nullptr,
                   paramValues.empty() ? nullptr : paramValues.data(),
                   tensorViews.empty() ? nullptr : tensorViews.data()),
              ATTN_OK)
        << attn_last_error();
    ASSERT_TRUE(dout.read(o) && dlse.read(lse)) << attn_last_error();
    double err = maxAbsError(o, want.o);
    std::printf("%s %s Sq %lld Skv %lld on the GPU: max abs error of o %.3g (tolerance %.0e)\n",
                info.name, attn_dtype_name(dtype), (long long)Sq, (long long)sh.Skv, err,
                outputTolerance(dtype));
    EXPECT_LE(err, outputTolerance(dtype));
    if (info.has_lse) {
      ASSERT_TRUE(want.lse);
      EXPECT_LE(maxAbsError(lse, *want.lse), 1e-3);
    }
  }
}

/// checkOnGpu of the `dtype` kernel of a GpuKernel (JIT).
inline void checkOnGpu(const GpuKernel &kernel, attn_dtype dtype, const std::string &source,
                       const std::map<std::string, double> &params) {
  const attn_gpu_binary *bin = kernel.binary(dtype);
  ASSERT_TRUE(bin) << "no " << attn_dtype_name(dtype) << " kernel";
  checkOnGpu(*bin->info, source, params,
             [&](const attn_tensor &q, const attn_tensor &k, const attn_tensor &v,
                 attn_tensor &o, attn_tensor *lse, const double *p, const attn_tensor *t) {
               return kernel.run(q, k, v, o, lse, p, t);
             });
}

} // namespace attn::test

#endif
