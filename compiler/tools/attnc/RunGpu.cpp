//===- RunGpu.cpp - `attnc run --target gpu`: JIT through attn::Compiler --===//
//
// Compiles the variant's GPU kernel for q's dtype (an sm_90a cubin) with the
// C++ JIT API and its caches (Compiler::compileGpu), copies the inputs to the
// device, runs it through libattnrt's CUDA launcher (GpuKernel::run), and
// copies the output back. Without a GPU or driver it reports libattnrt's
// reason before compiling anything.
//
//===----------------------------------------------------------------------===//
#include "compiler/tools/attnc/Driver.h"

#include "attn/compiler.hpp"
#include "attn/gpu.h"
#include "attn/npy.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <memory>

using namespace attn;

namespace {

/// A host array converted to `dtype`, mirrored in device memory.
struct DeviceArray {
  attn_npy_array host{};
  attn_tensor view{}; ///< data points at the device copy
  void *device = nullptr;
  std::string error;

  DeviceArray(const std::vector<int64_t> &shape, attn_dtype dtype, const double *values) {
    if (attn_npy_alloc(dtype, (int32_t)shape.size(), shape.data(), &host) != ATTN_OK ||
        (values && attn_npy_from_f64(&host, values, attn_npy_num_elements(&host)) != ATTN_OK)) {
      error = attn_last_error();
      return;
    }
    size_t bytes = std::max<size_t>(host.nbytes, 1);
    if (attn_gpu_alloc(bytes, &device) != ATTN_OK ||
        (host.nbytes && attn_gpu_copy_to_device(device, host.data, host.nbytes) != ATTN_OK)) {
      error = attn_last_error();
      return;
    }
    view.data = device;
    view.dtype = dtype;
    view.rank = (int32_t)shape.size();
    int64_t stride = 1;
    for (int d = view.rank - 1; d >= 0; --d) {
      view.shape[d] = shape[d];
      view.strides[d] = stride;
      stride *= shape[d];
    }
  }
  ~DeviceArray() {
    if (device)
      attn_gpu_free(device);
    attn_npy_free(&host);
  }
  DeviceArray(const DeviceArray &) = delete;
  DeviceArray &operator=(const DeviceArray &) = delete;

  /// Copies the device data back and converts it to doubles.
  std::optional<std::string> read(const std::vector<int64_t> &shape, ref::Array &out) {
    if (host.nbytes && attn_gpu_copy_to_host(host.data, device, host.nbytes) != ATTN_OK)
      return std::string(attn_last_error());
    out.shape = shape;
    out.data.resize(attn_npy_num_elements(&host));
    if (attn_npy_to_f64(&host, out.data.data()) != ATTN_OK)
      return std::string(attn_last_error());
    return std::nullopt;
  }
};

} // namespace

std::optional<std::string> driver::runOnGpu(const std::string &file, const std::string &variant,
                                            const ref::Problem &problem, attn_dtype qType,
                                            ref::Result &result) {
  if (auto err = checkCompiledTargetInputs("gpu", problem, qType))
    return err;
  if (attn_gpu_available() != ATTN_OK)
    return std::string("--target gpu: ") + attn_last_error();

  CompilerOptions options;
  options.dtypes = {qType};
  // The one head-dimension tier that serves this D (the smallest default
  // tier >= D; none above them, where the row kernel runs): the compile then
  // pays for one tier, not every default one (docs/performance.md, "GPU JIT
  // compile": 2.0 s against 4.8 s).
  // The runtime's own rule (attn_gpu_tier_for) picks it.
  int64_t tier = attn_gpu_tier_for(problem.q.shape[3], options.gpuHeadDims.data(),
                                   options.gpuHeadDims.size());
  options.gpuHeadDims.clear();
  if (tier)
    options.gpuHeadDims.push_back(tier);
  Compiler compiler(options);
  std::string error;
  KernelOrigin origin;
  auto compileStart = std::chrono::steady_clock::now();
  auto kernel = compiler.compileGpuFile(file, variant, &error, &origin);
  double compileMs = msSince(compileStart);
  if (!kernel) {
    while (!error.empty() && error.back() == '\n')
      error.pop_back();
    return error;
  }
  const KernelInfo &info = kernel->info();

  DeviceArray q(problem.q.shape, qType, problem.q.data.data());
  DeviceArray k(problem.k.shape, qType, problem.k.data.data());
  DeviceArray v(problem.v.shape, qType, problem.v.data.data());
  DeviceArray o(problem.q.shape, qType, nullptr);
  std::vector<int64_t> lseShape(problem.q.shape.begin(), problem.q.shape.begin() + 3);
  DeviceArray lse(lseShape, ATTN_F32, nullptr);
  for (DeviceArray *a : {&q, &k, &v, &o, &lse})
    if (!a->error.empty())
      return "cannot place the inputs on the GPU: " + a->error;
  // Extra tensors in their declared dtypes, by name (params too).
  std::vector<std::unique_ptr<DeviceArray>> owned;
  std::map<std::string, attn_tensor> tensors;
  for (const TensorInfo &t : info.tensors) {
    auto it = problem.tensors.find(t.name);
    if (it == problem.tensors.end())
      return "variant '" + info.variant + "' needs tensor '" + t.name + "'";
    owned.push_back(std::make_unique<DeviceArray>(it->second.shape, t.dtype,
                                                  it->second.data.data()));
    if (!owned.back()->error.empty())
      return "cannot place tensor '" + t.name + "' on the GPU: " + owned.back()->error;
    tensors[t.name] = owned.back()->view;
  }

  auto runStart = std::chrono::steady_clock::now();
  attn_status s = kernel->run(q.view, k.view, v.view, o.view, info.hasLse ? &lse.view : nullptr,
                              problem.params, tensors, problem.qOffset.value_or(-1),
                              /*stream=*/nullptr);
  double runMs = msSince(runStart);
  if (s != ATTN_OK)
    return std::string(attn_status_string(s)) + ": " + attn_last_error();
  if (auto e = o.read(problem.q.shape, result.o))
    return "cannot read the output: " + *e;
  if (info.hasLse) {
    result.lse.emplace();
    if (auto e = lse.read(lseShape, *result.lse))
      return "cannot read the lse: " + *e;
  }
  llvm::outs() << "attnc run: gpu kernel " << kernel->binary(qType)->kernel << " ("
               << originName(origin) << " in " << llvm::format("%.1f", compileMs)
               << " ms), ran in " << llvm::format("%.3f", runMs) << " ms\n";
  return std::nullopt;
}
