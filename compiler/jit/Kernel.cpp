//===- Kernel.cpp - attn::Kernel: dispatch on q's dtype, params by name ---===//
#include "compiler/jit/KernelImpl.h"

#include "compiler/jit/KernelDescription.h"

#include "runtime/lib/Error.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"

#include <dlfcn.h>

namespace attn {

Kernel::Impl::Impl() = default;

Kernel::Impl::~Impl() {
  engines.clear();
  if (dlHandle)
    dlclose(dlHandle);
}

void Kernel::Impl::finalize() {
  c.build(info);
  for (Entry &e : entries)
    e.cinfo = c.variantInfo(info, e.dtype);
}

const Kernel::Impl::Entry *Kernel::Impl::find(attn_dtype dtype) const {
  for (const Entry &e : entries)
    if (e.dtype == dtype)
      return &e;
  return nullptr;
}

Kernel::Kernel(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
Kernel::~Kernel() = default;

const KernelInfo &Kernel::info() const { return impl->info; }

const attn_variant_info *Kernel::variantInfo(attn_dtype dtype) const {
  const Impl::Entry *e = impl->find(dtype);
  return e ? &e->cinfo : nullptr;
}

attn_tile_fn Kernel::tileFunction(attn_dtype dtype) const {
  const Impl::Entry *e = impl->find(dtype);
  return e ? e->fn : nullptr;
}

attn_status Kernel::run(const attn_tensor &q, const attn_tensor &k, const attn_tensor &v,
                        attn_tensor &o, attn_tensor *lse, const double *params,
                        const attn_tensor *tensors, int64_t qOffset, int32_t threads) const {
  const Impl::Entry *e = impl->find(q.dtype);
  if (!e) {
    return rt::fail(ATTN_ERROR_UNSUPPORTED,
                    "variant '" + impl->info.variant + "': no kernel for q's dtype " +
                        attn_dtype_name(q.dtype) +
                        " (this kernel was built for " + dtypeList(impl->info) + ")");
  }
  return attn_cpu_launch(&e->cinfo, e->fn, &q, &k, &v, &o, lse, params, tensors, qOffset,
                         threads);
}

attn_status Kernel::run(const attn_tensor &q, const attn_tensor &k, const attn_tensor &v,
                        attn_tensor &o, attn_tensor *lse,
                        const std::map<std::string, double> &params,
                        const std::map<std::string, attn_tensor> &tensors, int64_t qOffset,
                        int32_t threads) const {
  std::vector<double> paramValues;
  std::vector<attn_tensor> tensorViews;
  if (attn_status s =
          resolveNamedArguments(impl->info, params, tensors, paramValues, tensorViews))
    return s;
  return run(q, k, v, o, lse, paramValues.empty() ? nullptr : paramValues.data(),
             tensorViews.empty() ? nullptr : tensorViews.data(), qOffset, threads);
}

} // namespace attn
