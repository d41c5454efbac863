//===- GpuJitTest.cpp - Compiler::compileGpu, GpuKernel and their caches --===//
//
// The GPU side of the C++ JIT API, on a machine without a GPU as well: a cold
// compile of examples/causal.attn to a bf16 cubin (its time is printed), the
// in-memory hit (same object), the on-disk hit in a fresh Compiler (same
// cubin), misses on a changed source or dtype set and against the CPU target,
// a corrupt or truncated cache file rebuilt, and GpuKernel::run's answers
// without a GPU (ATTN_ERROR_UNSUPPORTED with the driver's reason; a dtype
// without a cubin; bad arguments before the driver). With a GPU
// (attn_gpu_available() == ATTN_OK) it runs causal in bf16 and
// sliding_window in f16 (params by name) on random GQA inputs against the
// float64 DirectEval: max abs error of o below 3e-2 (bf16) / 3e-3 (f16),
// outputs of order 1, lse within 1e-3.
//
// GpuJit.CompilesExamples compiles the examples the device run checks
// (causal, sliding_window, document, and Inputs/head_segments and
// temperature; bf16 and f16) into
// $ATTN_TEST_GPU_CACHE when it is set (bench/gpu/run.sh stages them for
// GpuJitRunTest), else into a temporary folder.
//
//===----------------------------------------------------------------------===//
#include "attn/compiler.hpp"
#include "test/unit/common/AttentionCheck.h"
#include "test/unit/jit/JitTestSupport.h"

#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sys/resource.h>

using namespace attn;
using namespace attn::test;

namespace {

/// CPU time of the process's finished children in ms (ptxas).
double childrenCpuMs() {
  rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

bool havePtxas() {
  const char *home = std::getenv("CUDA_HOME");
  return llvm::sys::fs::exists(std::string(home && *home ? home : "/usr/local/cuda") +
                               "/bin/ptxas");
}

#define REQUIRE_PTXAS()                                                                    \
  do {                                                                                     \
    if (!havePtxas())                                                                      \
      GTEST_SKIP() << "no ptxas (CUDA toolkit): GPU kernels cannot be compiled here";    \
  } while (0)

CompilerOptions gpuOptions(const std::string &dir, std::vector<attn_dtype> dtypes) {
  CompilerOptions o = withDir(dir);
  o.dtypes = std::move(dtypes);
  return o;
}

std::string fileBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(GpuJit, ColdMemoryAndDiskHits) {
  REQUIRE_PTXAS();
  std::string dir = tempDir("gpu-hits");
  std::string src = readExample("causal.attn");
  ASSERT_FALSE(src.empty());
  std::shared_ptr<const GpuKernel> first;
  {
    Compiler c(gpuOptions(dir, {ATTN_BF16}));
    std::string err;
    KernelOrigin origin;
    auto t0 = std::chrono::steady_clock::now();
    double cpu0 = processCpuMs(), children0 = childrenCpuMs();
    first = c.compileGpu(src, "causal", &err, "causal.attn", &origin);
    double cold = msSince(t0), coldCpu = processCpuMs() - cpu0;
    double ptxasCpu = childrenCpuMs() - children0;
    ASSERT_TRUE(first) << err;
    std::printf("[ timing ] causal.attn GPU JIT cold compile (bf16 cubin, sm_90a; parse, "
                "lowering, NVPTX, ptxas, cache store): %.1f ms wall; CPU %.1f ms in process "
                "+ %.1f ms ptxas\n",
                cold, coldCpu, ptxasCpu);
    EXPECT_EQ(origin, KernelOrigin::Compiled);
    const KernelInfo &info = first->info();
    EXPECT_EQ(info.origin, KernelOrigin::Compiled);
    EXPECT_EQ(info.variant, "causal");
    EXPECT_EQ(info.dtypes, std::vector<attn_dtype>{ATTN_BF16});
    EXPECT_TRUE(info.hasLse);
    EXPECT_EQ(info.rowTile, 1);
    EXPECT_EQ(info.cacheFile, dir + "/" + info.key + ".gpu");
    EXPECT_TRUE(llvm::sys::fs::exists(info.cacheFile));
    const attn_gpu_binary *bin = first->binary(ATTN_BF16);
    ASSERT_TRUE(bin);
    EXPECT_STREQ(bin->kernel, "attn_causal_bf16_gpu");
    EXPECT_STREQ(bin->info->name, "causal");
    EXPECT_EQ(bin->info->input_dtype, ATTN_BF16);
    EXPECT_EQ(bin->info->has_lse, 1);
    ASSERT_GT(bin->size, 4u);
    EXPECT_EQ(std::memcmp(bin->image, "\x7f" "ELF", 4), 0) << "a cubin is an ELF image";
    EXPECT_FALSE(first->binary(ATTN_F32));

    t0 = std::chrono::steady_clock::now();
    auto again = c.compileGpu(src, "causal", &err, "causal.attn", &origin);
    double hit = msSince(t0);
    EXPECT_EQ(again, first) << "a memory hit returns the same kernel";
    EXPECT_EQ(origin, KernelOrigin::Memory);
    // A comment changes the text, not the IR: same key, same kernel.
    auto commented = c.compileGpu("# a comment\n" + src, "causal", &err, "x.attn", &origin);
    EXPECT_EQ(commented, first);
    EXPECT_EQ(origin, KernelOrigin::Memory);
    std::printf("[ timing ] causal.attn GPU JIT memory hit %.4f ms\n", hit);
  }
  Compiler fresh(gpuOptions(dir, {ATTN_BF16}));
  std::string err;
  KernelOrigin origin;
  auto t0 = std::chrono::steady_clock::now();
  auto loaded = fresh.compileGpu(src, "causal", &err, "causal.attn", &origin);
  double disk = msSince(t0);
  ASSERT_TRUE(loaded) << err;
  std::printf("[ timing ] causal.attn GPU JIT disk hit in a new Compiler: %.2f ms\n", disk);
  EXPECT_EQ(origin, KernelOrigin::Disk);
  EXPECT_EQ(loaded->info().origin, KernelOrigin::Disk);
  EXPECT_EQ(loaded->info().key, first->info().key);
  EXPECT_TRUE(loaded->info().hasLse);
  const attn_gpu_binary *a = first->binary(ATTN_BF16), *b = loaded->binary(ATTN_BF16);
  ASSERT_TRUE(b);
  EXPECT_NE(a->image, b->image) << "the disk hit holds its own copy";
  ASSERT_EQ(a->size, b->size);
  EXPECT_EQ(std::memcmp(a->image, b->image, a->size), 0) << "the same cubin";
  EXPECT_STREQ(b->kernel, "attn_causal_bf16_gpu");
}

TEST(GpuJit, KeysMissOnSourceDtypesAndTarget) {
  REQUIRE_PTXAS();
  std::string dir = tempDir("gpu-keys");
  const std::string before = "variant v { mask = j <= i; }";
  const std::string after = "variant v { mask = j < i; }";
  std::string err;
  KernelOrigin origin;
  std::string keyBefore;
  {
    Compiler c(gpuOptions(dir, {ATTN_F16}));
    auto k = c.compileGpu(before, "v", &err, "a.attn", &origin);
    ASSERT_TRUE(k) << err;
    keyBefore = k->info().key;
    // The CPU target's key of the same variant and options is another one.
    EXPECT_NE(c.cacheKey(before, "v"), keyBefore);
  }
  // A later process with the source changed misses the cache.
  Compiler c(gpuOptions(dir, {ATTN_F16}));
  auto changed = c.compileGpu(after, "v", &err, "a.attn", &origin);
  ASSERT_TRUE(changed) << err;
  EXPECT_EQ(origin, KernelOrigin::Compiled);
  EXPECT_NE(changed->info().key, keyBefore);
  // ... and the unchanged source still hits.
  auto same = c.compileGpu(before, "v", &err, "a.attn", &origin);
  ASSERT_TRUE(same) << err;
  EXPECT_EQ(origin, KernelOrigin::Disk);
  // Another dtype set is another key.
  Compiler two(gpuOptions(dir, {ATTN_F16, ATTN_BF16}));
  auto both = two.compileGpu(before, "v", &err, "a.attn", &origin);
  ASSERT_TRUE(both) << err;
  EXPECT_EQ(origin, KernelOrigin::Compiled);
  EXPECT_NE(both->info().key, keyBefore);
  EXPECT_TRUE(both->binary(ATTN_F16) && both->binary(ATTN_BF16));
  // A CPU compile in the same Compiler and folder is its own kernel.
  auto cpu = c.compile(before, "v", &err, "a.attn", &origin);
  ASSERT_TRUE(cpu) << err;
  EXPECT_EQ(origin, KernelOrigin::Compiled);
  EXPECT_NE(cpu->info().key, keyBefore);
  EXPECT_EQ(cpu->info().dtypes, std::vector<attn_dtype>{ATTN_F16});
}

TEST(GpuJit, HeadDimsChooseTheTiers) {
  REQUIRE_PTXAS();
  std::string dir = tempDir("gpu-tiers");
  std::string src = readExample("causal.attn");
  ASSERT_FALSE(src.empty());
  std::string err;
  KernelOrigin origin;
  CompilerOptions one = gpuOptions(dir, {ATTN_BF16});
  one.gpuHeadDims = {128};
  Compiler c(one);
  auto t0 = std::chrono::steady_clock::now();
  double cpu0 = processCpuMs(), children0 = childrenCpuMs();
  auto k = c.compileGpu(src, "causal", &err, "causal.attn", &origin);
  double cold = msSince(t0), coldCpu = processCpuMs() - cpu0, ptxasCpu = childrenCpuMs() - children0;
  ASSERT_TRUE(k) << err;
  EXPECT_EQ(origin, KernelOrigin::Compiled);
  std::printf("[ timing ] causal.attn GPU JIT cold compile, one tier (bf16, gpuHeadDims {128}): "
              "%.1f ms wall; CPU %.1f ms in process + %.1f ms ptxas\n",
              cold, coldCpu, ptxasCpu);
  const attn_gpu_binary *bin = k->binary(ATTN_BF16);
  ASSERT_TRUE(bin);
  std::string image(static_cast<const char *>(bin->image), bin->size);
  EXPECT_NE(image.find("attn_causal_bf16_gpu_d128"), std::string::npos);
  EXPECT_EQ(image.find("attn_causal_bf16_gpu_d64"), std::string::npos) << "only the tier asked for";
  // The default tiers are another key, with both kernels.
  Compiler both(gpuOptions(dir, {ATTN_BF16}));
  auto k2 = both.compileGpu(src, "causal", &err, "causal.attn", &origin);
  ASSERT_TRUE(k2) << err;
  EXPECT_EQ(origin, KernelOrigin::Compiled);
  EXPECT_NE(k2->info().key, k->info().key);
  std::string image2(static_cast<const char *>(k2->binary(ATTN_BF16)->image), k2->binary(ATTN_BF16)->size);
  EXPECT_NE(image2.find("attn_causal_bf16_gpu_d64"), std::string::npos);
  EXPECT_NE(image2.find("attn_causal_bf16_gpu_d128"), std::string::npos);
  // A tier that is not a multiple of 32 up to 256 is an error, not a silent drop.
  CompilerOptions bad = gpuOptions(dir, {ATTN_BF16});
  bad.gpuHeadDims = {100};
  Compiler b(bad);
  EXPECT_FALSE(b.compileGpu(src, "causal", &err, "causal.attn", &origin));
  EXPECT_NE(err.find("gpuHeadDims: 100"), std::string::npos) << err;
}

TEST(GpuJit, CorruptOrTruncatedCacheFileIsRebuilt) {
  REQUIRE_PTXAS();
  std::string dir = tempDir("gpu-corrupt");
  std::string src = readExample("sliding_window.attn");
  std::string err;
  KernelOrigin origin;
  std::string path, good;
  {
    Compiler c(gpuOptions(dir, {ATTN_BF16}));
    auto k = c.compileGpu(src, "", &err, "sw.attn", &origin);
    ASSERT_TRUE(k) << err;
    path = k->info().cacheFile;
    good = fileBytes(path);
    ASSERT_FALSE(good.empty());
  }
  for (std::string bad : {std::string("not a cache file"), good.substr(0, good.size() / 2),
                          good.substr(0, good.find("end\n"))}) {
    {
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f << bad;
    }
    Compiler c(gpuOptions(dir, {ATTN_BF16}));
    auto k = c.compileGpu(src, "", &err, "sw.attn", &origin);
    ASSERT_TRUE(k) << err;
    EXPECT_EQ(origin, KernelOrigin::Compiled) << "a " << bad.size() << "-byte file is a miss";
    // ... and is replaced by a good one: the same record up to the cubin
    // (ptxas may allocate registers otherwise from one run to the next, so
    // not the same bytes after it), which a new compiler reads back.
    std::string rebuilt = fileBytes(path);
    size_t head = good.find("\ncubin ");
    ASSERT_NE(head, std::string::npos);
    EXPECT_EQ(rebuilt.substr(0, head), good.substr(0, head));
    Compiler again(gpuOptions(dir, {ATTN_BF16}));
    ASSERT_TRUE(again.compileGpu(src, "", &err, "sw.attn", &origin)) << err;
    EXPECT_EQ(origin, KernelOrigin::Disk) << "the rebuilt file is read back";
  }
}

TEST(GpuJit, CompileErrors) {
  Compiler c(gpuOptions(tempDir("gpu-errors"), {ATTN_BF16}));
  std::string err;
  EXPECT_FALSE(c.compileGpu("variant v {\n  mask = j <= zz;\n}\n", "v", &err, "bad.attn"));
  EXPECT_NE(err.find("bad.attn:2:"), std::string::npos) << err;
  err.clear();
  EXPECT_FALSE(c.compileGpuFile("/no/such/file.attn", "v", &err));
  EXPECT_NE(err.find("cannot read '/no/such/file.attn'"), std::string::npos) << err;
  Compiler f64(gpuOptions(tempDir("gpu-errors"), {ATTN_F64}));
  err.clear();
  EXPECT_FALSE(f64.compileGpu("variant v { }", "v", &err));
  EXPECT_NE(err.find("no kernel for dtype f64"), std::string::npos) << err;
}

/// Expects `status` with a message containing `text`.
#define EXPECT_RUN_ERROR(call, status, text)                                             \
  do {                                                                                   \
    EXPECT_EQ((call), status);                                                           \
    EXPECT_NE(std::string(attn_last_error()).find(text), std::string::npos)              \
        << "message: " << attn_last_error();                                            \
  } while (0)

TEST(GpuJit, RunAnswersWithoutAGpu) {
  REQUIRE_PTXAS();
  Compiler c(gpuOptions(tempDir("gpu-run"), {ATTN_BF16}));
  std::string err;
  auto sw = c.compileGpu(readExample("sliding_window.attn"), "", &err, "sw.attn");
  ASSERT_TRUE(sw) << err;
  // Answers that need no driver, GPU or not.
  RandomInputs f32(1, 2, 1, 8, 8, 16, ATTN_F32, 1);
  HostTensor o32({1, 2, 8, 16}, ATTN_F32);
  EXPECT_RUN_ERROR(sw->run(f32.q.view, f32.k.view, f32.v.view, o32.view),
                   ATTN_ERROR_UNSUPPORTED,
                   "variant 'sliding_window': no GPU kernel for q's dtype f32 (built for bf16)");
  RandomInputs in(1, 2, 1, 8, 8, 16, ATTN_BF16, 1);
  HostTensor small({1, 2, 7, 16}, ATTN_BF16);
  EXPECT_EQ(sw->run(in.q.view, in.k.view, in.v.view, small.view), ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attn_last_error()), "");
  EXPECT_RUN_ERROR(sw->run(in.q.view, in.k.view, in.v.view, small.view, nullptr,
                           {{"windw", 3.0}}),
                   ATTN_ERROR_INVALID_ARGUMENT, "has no param 'windw' (it declares: window)");
  if (attn_gpu_available() == ATTN_OK)
    GTEST_SKIP() << "a GPU is available: GpuJit.RunsOnTheGpu runs the kernels";
  // A good call (host memory: the driver is asked first, and is missing).
  HostTensor o({1, 2, 8, 16}, ATTN_BF16);
  EXPECT_EQ(sw->run(in.q.view, in.k.view, in.v.view, o.view), ATTN_ERROR_UNSUPPORTED);
  std::string why = attn_last_error();
  EXPECT_FALSE(why.empty());
  EXPECT_NE(why.find("CUDA"), std::string::npos) << why;
  std::printf("without a GPU: %s\n", why.c_str());
}

TEST(GpuJit, RunsOnTheGpu) {
  if (attn_gpu_available() != ATTN_OK)
    GTEST_SKIP() << "no GPU: " << attn_last_error();
  REQUIRE_PTXAS();
  Compiler c(gpuOptions(tempDir("gpu-device"), {ATTN_BF16, ATTN_F16}));
  std::string err;
  std::string causal = readExample("causal.attn"), sw = readExample("sliding_window.attn");
  auto kc = c.compileGpu(causal, "causal", &err, "causal.attn");
  ASSERT_TRUE(kc) << err;
  checkOnGpu(*kc, ATTN_BF16, causal, {});
  auto ks = c.compileGpu(sw, "sliding_window", &err, "sw.attn");
  ASSERT_TRUE(ks) << err;
  checkOnGpu(*ks, ATTN_F16, sw, {{"window", 37}});
}

TEST(GpuJit, CompilesExamples) {
  REQUIRE_PTXAS();
  const char *staged = std::getenv("ATTN_TEST_GPU_CACHE");
  std::string dir = staged && *staged ? staged : tempDir("gpu-examples");
  ASSERT_FALSE(llvm::sys::fs::create_directories(dir)) << dir;
  // head_segments (test/unit/jit/Inputs): a mask that reads a tensor by head;
  // temperature: a custom norm whose rescale coefficient is a row value.
  for (const char *name :
       {"causal", "sliding_window", "document", "head_segments", "temperature"}) {
    SCOPED_TRACE(name);
    std::string src = readExample(std::string(name) + ".attn");
    if (src.empty())
      if (auto buf = llvm::MemoryBuffer::getFile(std::string(ATTNC_JIT_INPUTS_DIR) + "/" + name + ".attn"))
        src = (*buf)->getBuffer().str();
    ASSERT_FALSE(src.empty()) << name;
    std::string err;
    KernelOrigin origin;
    {
      Compiler c(gpuOptions(dir, {ATTN_BF16, ATTN_F16}));
      auto k = c.compileGpu(src, name, &err, name);
      ASSERT_TRUE(k) << err;
      EXPECT_TRUE(k->binary(ATTN_BF16) && k->binary(ATTN_F16));
    }
    Compiler fresh(gpuOptions(dir, {ATTN_BF16, ATTN_F16}));
    auto k = fresh.compileGpu(src, name, &err, name, &origin);
    ASSERT_TRUE(k) << err;
    EXPECT_EQ(origin, KernelOrigin::Disk);
    std::printf("%s: %s\n", name, k->info().cacheFile.c_str());
  }
}

} // namespace
