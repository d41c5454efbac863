//===- DiskCache.h - the on-disk kernel cache: keys, folder, load, store ---===//
//
// One shared library per key, `<dir>/<key>.so`, written by the CPU target's
// writeSharedLibrary into a temporary file and renamed into place (atomic:
// readers see the old file, no file or the new one, never a partial one). The
// library carries its kernels' description (serializeInfo) in the string
// symbol kMetaSymbol, so a hit needs no lowering. A file that does not load,
// lacks the description or describes another key is a miss.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_JIT_DISKCACHE_H
#define ATTNC_COMPILER_JIT_DISKCACHE_H

#include "compiler/jit/KernelImpl.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>

namespace attn::jit {

/// $ATTN_CACHE_DIR, else $XDG_CACHE_HOME/attnc, else $HOME/.cache/attnc
/// ("" when none of them is set).
std::string defaultCacheDir();

/// The host CPU's name and its sorted feature list ("+avx2,+fma,-...").
const std::string &hostDescription();

/// attnc's version, LLVM's, and an identity of the binary holding this code
/// (its size and modification time), so that a rebuilt compiler misses.
const std::string &compilerVersion();

/// The cache file of `key` in `dir`.
std::string cachePath(const std::string &dir, const std::string &key);

/// Loads `<dir>/<key>.so`. Returns null with `*why` set on a miss (no file,
/// does not load, wrong or missing description, missing kernel symbol).
std::unique_ptr<Kernel::Impl> loadCached(const std::string &dir, const std::string &key,
                                         std::string *why);

/// Adds `info`'s description to `kernels` (an LLVM-dialect module), writes it
/// as a shared library to a temporary file in `dir` and renames it to
/// `<dir>/<key>.so`. Returns the final path.
llvm::Expected<std::string> storeCached(mlir::ModuleOp kernels, const std::string &dir,
                                        const KernelInfo &info);

} // namespace attn::jit

#endif
