//===- GpuKernel.cpp - attn::GpuKernel: cubins run by libattnrt -----------===//
#include "compiler/jit/GpuKernelImpl.h"

namespace attn {

GpuKernel::Impl::~Impl() {
  // The runtime's modules point at our cubins: unload them before they go.
  attn_gpu_binary_release(binaries.data(), (int32_t)binaries.size());
}

void GpuKernel::Impl::finalize() {
  c.build(info);
  binaries.clear();
  for (Entry &e : entries) {
    e.cinfo = c.variantInfo(info, e.dtype);
    binaries.push_back({&e.cinfo, e.cubin.data(), e.cubin.size(), e.kernel.c_str()});
  }
}

GpuKernel::GpuKernel(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
GpuKernel::~GpuKernel() = default;

const KernelInfo &GpuKernel::info() const { return impl->info; }

const attn_gpu_binary *GpuKernel::binary(attn_dtype dtype) const {
  return attn_gpu_binary_find(impl->binaries.data(), (int32_t)impl->binaries.size(), dtype);
}

attn_status GpuKernel::run(const attn_tensor &q, const attn_tensor &k, const attn_tensor &v,
                           attn_tensor &o, attn_tensor *lse, const double *params,
                           const attn_tensor *tensors, int64_t qOffset, void *stream) const {
  return attn_gpu_binary_run(impl->binaries.data(), (int32_t)impl->binaries.size(), &q, &k, &v,
                             &o, lse, params, tensors, qOffset, stream);
}

attn_status GpuKernel::run(const attn_tensor &q, const attn_tensor &k, const attn_tensor &v,
                           attn_tensor &o, attn_tensor *lse,
                           const std::map<std::string, double> &params,
                           const std::map<std::string, attn_tensor> &tensors, int64_t qOffset,
                           void *stream) const {
  std::vector<double> paramValues;
  std::vector<attn_tensor> tensorViews;
  if (attn_status s =
          resolveNamedArguments(impl->info, params, tensors, paramValues, tensorViews))
    return s;
  return run(q, k, v, o, lse, paramValues.empty() ? nullptr : paramValues.data(),
             tensorViews.empty() ? nullptr : tensorViews.data(), qOffset, stream);
}

} // namespace attn
