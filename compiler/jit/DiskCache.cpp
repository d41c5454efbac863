//===- DiskCache.cpp - the on-disk kernel cache ---------------------------===//
#include "compiler/jit/DiskCache.h"

#include "compiler/targets/common/TileKernel.h"
#include "compiler/targets/cpu/CpuCompiler.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/TargetParser/Host.h"

#include <algorithm>
#include <cstdlib>
#include <dlfcn.h>
#include <sys/stat.h>
#include <vector>

#ifndef ATTNC_VERSION
#define ATTNC_VERSION "unknown"
#endif

namespace attn::jit {

std::string defaultCacheDir() {
  if (const char *d = std::getenv("ATTN_CACHE_DIR"); d && *d)
    return d;
  if (const char *d = std::getenv("XDG_CACHE_HOME"); d && *d)
    return std::string(d) + "/attnc";
  if (const char *d = std::getenv("HOME"); d && *d)
    return std::string(d) + "/.cache/attnc";
  return "";
}

const std::string &hostDescription() {
  static const std::string desc = [] {
    std::vector<std::string> features;
    for (auto &f : llvm::sys::getHostCPUFeatures())
      features.push_back((f.second ? "+" : "-") + f.first().str());
    std::sort(features.begin(), features.end());
    return llvm::sys::getProcessTriple() + " " + llvm::sys::getHostCPUName().str() + " " +
           llvm::join(features, ",");
  }();
  return desc;
}

const std::string &compilerVersion() {
  static const std::string version = [] {
    std::string v = std::string("attnc ") + ATTNC_VERSION + " LLVM " LLVM_VERSION_STRING;
    Dl_info dl;
    struct stat st;
    if (dladdr((void *)&compilerVersion, &dl) && dl.dli_fname &&
        ::stat(dl.dli_fname, &st) == 0)
      v += " build " + std::to_string((long long)st.st_size) + "-" +
           std::to_string((long long)st.st_mtim.tv_sec) + "." +
           std::to_string((long long)st.st_mtim.tv_nsec);
    return v;
  }();
  return version;
}

std::string cachePath(const std::string &dir, const std::string &key) {
  return dir + "/" + key + ".so";
}

std::unique_ptr<Kernel::Impl> loadCached(const std::string &dir, const std::string &key,
                                         std::string *why) {
  std::string path = cachePath(dir, key);
  auto miss = [&](std::string reason, void *handle) -> std::unique_ptr<Kernel::Impl> {
    if (handle)
      dlclose(handle);
    if (why)
      *why = std::move(reason);
    return nullptr;
  };
  if (!llvm::sys::fs::exists(path))
    return miss("no file " + path, nullptr);
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *err = dlerror();
    return miss("cannot load " + path + ": " + (err ? err : "?"), nullptr);
  }
  auto *meta = static_cast<const char *>(dlsym(handle, kMetaSymbol));
  if (!meta)
    return miss(path + " has no kernel description", handle);
  std::string malformed;
  auto info = parseInfo(meta, &malformed);
  if (!info)
    return miss(path + ": " + malformed, handle);
  if (info->key != key)
    return miss(path + " describes key " + info->key, handle);
  auto impl = std::make_unique<Kernel::Impl>();
  impl->info = std::move(*info);
  for (attn_dtype d : impl->info.dtypes) {
    std::string sym = tileKernelName(impl->info.variant, d);
    void *fn = dlsym(handle, sym.c_str());
    if (!fn)
      return miss(path + " lacks " + sym, handle);
    Kernel::Impl::Entry e;
    e.dtype = d;
    e.fn = reinterpret_cast<attn_tile_fn>(fn);
    impl->entries.push_back(e);
  }
  impl->dlHandle = handle;
  impl->info.origin = KernelOrigin::Disk;
  impl->info.cacheFile = path;
  impl->finalize();
  return impl;
}

llvm::Expected<std::string> storeCached(mlir::ModuleOp kernels, const std::string &dir,
                                        const KernelInfo &info) {
  // The description, as a NUL-terminated constant the loader finds by name.
  std::string text = serializeInfo(info);
  text.push_back('\0');
  mlir::MLIRContext *ctx = kernels.getContext();
  mlir::OpBuilder b = mlir::OpBuilder::atBlockEnd(kernels.getBody());
  auto type = mlir::LLVM::LLVMArrayType::get(mlir::IntegerType::get(ctx, 8), text.size());
  auto global = mlir::LLVM::GlobalOp::create(b, kernels.getLoc(), type, /*isConstant=*/true,
                                             mlir::LLVM::Linkage::External, kMetaSymbol,
                                             b.getStringAttr(text));
  if (auto ec = llvm::sys::fs::create_directories(dir)) {
    global.erase();
    return llvm::createStringError(ec, "cannot create the cache folder " + dir);
  }
  std::string path = cachePath(dir, info.key);
  llvm::SmallString<256> tmp;
  llvm::sys::fs::createUniquePath(path + ".tmp-%%%%%%%%", tmp, /*MakeAbsolute=*/false);
  llvm::Error e = writeSharedLibrary(kernels, tmp.str().str());
  global.erase();
  if (e) {
    llvm::sys::fs::remove(tmp);
    return std::move(e);
  }
  if (auto ec = llvm::sys::fs::rename(tmp, path)) {
    llvm::sys::fs::remove(tmp);
    return llvm::createStringError(ec, "cannot rename " + tmp.str().str() + " to " + path);
  }
  return path;
}

} // namespace attn::jit
