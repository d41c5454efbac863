//===- GpuCache.cpp - the on-disk cache of GPU kernels --------------------===//
#include "compiler/jit/GpuCache.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace attn::jit {

namespace {
constexpr const char *kHeader = "attnc-gpu-cache 1\n";
} // namespace

std::string gpuCachePath(const std::string &dir, const std::string &key) {
  return dir + "/" + key + ".gpu";
}

std::unique_ptr<GpuKernel::Impl> loadGpuCache(const std::string &path, const std::string &key,
                                              std::string *why) {
  auto miss = [&](const std::string &reason) -> std::unique_ptr<GpuKernel::Impl> {
    if (why)
      *why = path + ": " + reason;
    return nullptr;
  };
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return miss("cannot open it");
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.compare(0, std::strlen(kHeader), kHeader) != 0)
    return miss("not a GPU kernel cache file");
  size_t begin = std::strlen(kHeader);
  size_t end = data.find("\nend\n", begin);
  if (end == std::string::npos)
    return miss("truncated description");
  end += 5;
  std::string malformed;
  auto info = parseInfo(data.substr(begin, end - begin), &malformed);
  if (!info)
    return miss(malformed);
  if (!key.empty() && info->key != key)
    return miss("describes key " + info->key);
  auto impl = std::make_unique<GpuKernel::Impl>();
  impl->info = std::move(*info);
  size_t pos = end;
  while (pos < data.size()) {
    size_t eol = data.find('\n', pos);
    if (eol == std::string::npos)
      return miss("truncated cubin header");
    std::istringstream ls(data.substr(pos, eol - pos));
    std::string word;
    int dtype = -1;
    GpuKernel::Impl::Entry e;
    uint64_t size = 0;
    ls >> word >> dtype >> e.kernel >> size;
    if (ls.fail() || word != "cubin" || size == 0 || size > data.size() - (eol + 1))
      return miss("malformed cubin record");
    e.dtype = (attn_dtype)dtype;
    e.cubin = data.substr(eol + 1, size);
    impl->entries.push_back(std::move(e));
    pos = eol + 1 + size;
  }
  for (attn_dtype d : impl->info.dtypes) {
    bool found = false;
    for (const auto &e : impl->entries)
      found |= e.dtype == d;
    if (!found)
      return miss(std::string("no cubin for ") + attn_dtype_name(d));
  }
  if (impl->entries.size() != impl->info.dtypes.size())
    return miss("cubins for dtypes it does not describe");
  impl->info.origin = KernelOrigin::Disk;
  impl->info.cacheFile = path;
  impl->finalize();
  return impl;
}

std::string storeGpuCache(const GpuKernel::Impl &kernel, const std::string &dir) {
  std::string path = gpuCachePath(dir, kernel.info.key);
  std::string data = std::string(kHeader) + serializeInfo(kernel.info);
  for (const auto &e : kernel.entries)
    data += "cubin " + std::to_string((int)e.dtype) + " " + e.kernel + " " +
            std::to_string(e.cubin.size()) + "\n" + e.cubin;
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0)
    return "cannot create a temporary file beside " + path + ": " + std::strerror(errno);
  ::fchmod(fd, 0644); // as the CPU cache's libraries: readable by all
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      std::string err = std::strerror(errno);
      ::close(fd);
      std::remove(tmp.c_str());
      return "cannot write " + tmp + ": " + err;
    }
    written += (size_t)n;
  }
  if (::close(fd) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = std::strerror(errno);
    std::remove(tmp.c_str());
    return "cannot store " + path + ": " + err;
  }
  return "";
}

} // namespace attn::jit
