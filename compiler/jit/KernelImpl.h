//===- KernelImpl.h - attn::Kernel's state (JIT engine or dlopen'd library) -===//
//
// A Kernel holds its KernelInfo, the C descriptions (attn_variant_info per
// dtype, pointing into the KernelInfo's strings) and the tile functions, and
// owns what keeps the code alive: an mlir::ExecutionEngine or a dlopen
// handle. The text form of the description is what the on-disk cache stores
// inside each shared library (symbol kMetaSymbol).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_JIT_KERNELIMPL_H
#define ATTNC_COMPILER_JIT_KERNELIMPL_H

#include "compiler/jit/KernelDescription.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace attn {

struct Kernel::Impl {
  /// One tile kernel.
  struct Entry {
    attn_dtype dtype;
    attn_tile_fn fn = nullptr;
    attn_variant_info cinfo{};
  };

  KernelInfo info;
  CDescription c; ///< what the entries' cinfo point into
  std::vector<Entry> entries;
  /// One JIT engine per dtype (compiled in parallel), or none when loaded.
  std::vector<std::unique_ptr<mlir::ExecutionEngine>> engines;
  void *dlHandle = nullptr;

  Impl();
  ~Impl();

  /// Builds `c` and entries[*].cinfo from `info` (call once the info is
  /// final; entries must already hold their dtype and fn).
  void finalize();

  /// The entry for `dtype`, or null.
  const Entry *find(attn_dtype dtype) const;
};

/// Name of the NUL-terminated string in every cached shared library that
/// describes its kernels (serializeInfo's text).
inline constexpr const char *kMetaSymbol = "attnc_cache_meta";

} // namespace attn

#endif
