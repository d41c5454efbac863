//===- GpuKernelImpl.h - attn::GpuKernel's state: cubins, descriptions ----===//
//
// A GpuKernel holds its KernelInfo, one cubin per dtype with its base kernel
// name and C description, and the attn_gpu_binary array that libattnrt's
// attn_gpu_binary_run picks from. The modules the runtime loads for these
// cubins are unloaded when the GpuKernel goes.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_JIT_GPUKERNELIMPL_H
#define ATTNC_COMPILER_JIT_GPUKERNELIMPL_H

#include "compiler/jit/KernelDescription.h"

#include <string>
#include <vector>

namespace attn {

struct GpuKernel::Impl {
  /// One dtype's cubin.
  struct Entry {
    attn_dtype dtype;
    std::string cubin;  ///< opaque bytes (an sm_90a ELF image)
    std::string kernel; ///< the base kernel, attn_<variant>_<dtype>_gpu
    attn_variant_info cinfo{};
  };

  KernelInfo info;
  CDescription c; ///< what the entries' cinfo point into
  std::vector<Entry> entries;
  /// One per entry, pointing into it (built by finalize).
  std::vector<attn_gpu_binary> binaries;

  Impl() = default;
  ~Impl();
  Impl(const Impl &) = delete;
  Impl &operator=(const Impl &) = delete;

  /// Builds `c`, entries[*].cinfo and `binaries` (call once `info` and
  /// `entries` are final).
  void finalize();
};

} // namespace attn

#endif
