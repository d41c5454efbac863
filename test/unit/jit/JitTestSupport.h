//===- JitTestSupport.h - helpers of the JIT API tests ----------*- C++ -*-===//
//
// Header-only: an example's text, fresh cache folders removed at exit, wall
// and process CPU time, and Compiler options with a cache folder. Shared by
// JitCompilerTest (CPU) and GpuJitTest (GPU).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_TEST_UNIT_JIT_JITTESTSUPPORT_H
#define ATTNC_TEST_UNIT_JIT_JITTESTSUPPORT_H

#include "attn/compiler.hpp"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <chrono>
#include <string>
#include <time.h>
#include <vector>

namespace attn::test {

/// The text of examples/`name` ("" when it cannot be read).
inline std::string readExample(const std::string &name) {
  auto buf = llvm::MemoryBuffer::getFile(std::string(ATTNC_EXAMPLES_DIR) + "/" + name);
  return buf ? (*buf)->getBuffer().str() : std::string();
}

/// A fresh empty folder under the system temp folder, removed at exit.
inline std::string tempDir(const std::string &tag) {
  struct Folders {
    std::vector<std::string> paths;
    ~Folders() {
      for (auto &p : paths)
        llvm::sys::fs::remove_directories(p);
    }
  };
  static Folders folders;
  llvm::SmallString<128> path;
  llvm::sys::fs::createUniqueDirectory("attnc-jit-" + tag, path);
  folders.paths.push_back(path.str().str());
  return path.str().str();
}

inline double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

/// CPU time of the process in ms (every compile thread), a figure that does
/// not grow with the machine's load as wall time does.
inline double processCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/// Default options with the cache in `dir`.
inline CompilerOptions withDir(const std::string &dir) {
  CompilerOptions o;
  o.cacheDir = dir;
  return o;
}

} // namespace attn::test

#endif
