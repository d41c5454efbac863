//===- GpuCache.h - the on-disk cache of GPU kernels: one .gpu file per key ===//
//
// `<dir>/<key>.gpu` holds a GpuKernel: a header line, its description
// (serializeInfo's text) and, per dtype, a `cubin DTYPE KERNEL SIZE` line
// followed by the cubin's bytes. Written to a temporary file in the folder
// and renamed into place (readers see the old file, no file or the new one,
// never a partial one). A file that does not parse, lacks a dtype's cubin or
// describes another key is a miss. Plain C++ (no LLVM), like GpuKernel.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_JIT_GPUCACHE_H
#define ATTNC_COMPILER_JIT_GPUCACHE_H

#include "compiler/jit/GpuKernelImpl.h"

#include <memory>
#include <string>

namespace attn::jit {

/// The GPU cache file of `key` in `dir`.
std::string gpuCachePath(const std::string &dir, const std::string &key);

/// Loads the GPU kernel in the cache file `path`; when `key` is not empty
/// the file must describe that key. Returns null with `*why` set on a miss.
/// The result is finalized, with origin Disk and cacheFile `path`.
std::unique_ptr<GpuKernel::Impl> loadGpuCache(const std::string &path, const std::string &key,
                                              std::string *why);

/// Writes `kernel` (its info and entries) to gpuCachePath(dir, its key)
/// atomically. Returns "" or what went wrong.
std::string storeGpuCache(const GpuKernel::Impl &kernel, const std::string &dir);

} // namespace attn::jit

#endif
