//===- GpuJitRunTest.cpp - GPU kernels of both paths, run where no compiler is ===//
//
// The run side of the GPU target's two paths, built without LLVM or MLIR
// (libattnrt, attnc_jit_run, the front end and DirectEval), so that the
// device machine, which has no LLVM, runs it (bench/gpu/run.sh stages it):
//
//  - JIT: every GpuKernel in the on-disk cache folder $ATTN_TEST_GPU_CACHE
//    (`<key>.gpu` files, written by Compiler::compileGpu: GpuJitTest's
//    GpuJit.CompilesExamples with that variable set), loaded as the JIT's
//    disk hit loads it and run through GpuKernel::run;
//  - AOT: libattn_test_causal.so, built by `attnc examples/causal.attn
//    --target all --dtypes f32,bf16` and linked here, through its header's
//    attn_causal_gpu_run / attn_causal_gpu_binary (and attn_causal_f32 on
//    the CPU).
//
// With a GPU each kernel runs on random GQA inputs against the float64
// DirectEval (checkOnGpu: o within 3e-2 in bf16, 3e-3 in f16; lse 1e-3);
// without one each GPU call must be ATTN_ERROR_UNSUPPORTED with the reason.
// On MockCuda (ctest) a GpuKernel of mock images runs MockCuda's causal
// kernels through the same path (dtype pick, module load and reuse, launch).
// The examples are read from $ATTNC_EXAMPLES_DIR, else ./examples (the
// device runs from the repository root), else the source tree's; then the
// test's own variants (test/unit/jit/Inputs: a mask reading a tensor by head).
//
//===----------------------------------------------------------------------===//
#include "attn/compiler.hpp"
#include "compiler/jit/GpuCache.h"
#include "test/unit/common/AttentionCheck.h"

#ifdef ATTNC_TEST_AOT
#include "attn_test_causal.h"
#endif

#include <gtest/gtest.h>

#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <sstream>

using namespace attn;
using namespace attn::test;

namespace {

/// The text of examples/`name`.attn (or of test/unit/jit/Inputs/, the test's
/// own variants), from the first folder that has it.
std::string readExample(const std::string &name) {
  std::vector<std::string> dirs;
  if (const char *d = std::getenv("ATTNC_EXAMPLES_DIR"); d && *d)
    dirs.push_back(d);
  dirs.push_back("examples");
  dirs.push_back(ATTNC_EXAMPLES_DIR);
  dirs.push_back("test/unit/jit/Inputs");
  dirs.push_back(ATTNC_JIT_INPUTS_DIR);
  for (const std::string &dir : dirs) {
    std::ifstream in(dir + "/" + name + ".attn");
    if (in) {
      std::ostringstream os;
      os << in.rdbuf();
      return os.str();
    }
  }
  return "";
}

/// Expects a GPU call made without a GPU to say so.
void expectNoGpu(attn_status status) {
  EXPECT_EQ(status, ATTN_ERROR_UNSUPPORTED);
  EXPECT_NE(std::string(attn_last_error()).find("CUDA"), std::string::npos)
      << attn_last_error();
}

/// Host inputs for a call that must be refused for want of a GPU.
struct HostCall {
  RandomInputs in{1, 2, 1, 8, 8, 16, ATTN_BF16, 3};
  HostTensor o{{1, 2, 8, 16}, ATTN_BF16};
};

TEST(GpuJitRun, CachedJitKernels) {
  const char *dir = std::getenv("ATTN_TEST_GPU_CACHE");
  if (!dir || !*dir)
    GTEST_SKIP() << "set ATTN_TEST_GPU_CACHE to a folder of GPU JIT cache files";
  DIR *d = opendir(dir);
  if (!d)
    GTEST_SKIP() << "no folder " << dir << " (GpuJitTest fills it where ptxas is installed)";
  std::vector<std::string> files;
  while (dirent *e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 4 && n.substr(n.size() - 4) == ".gpu")
      files.push_back(std::string(dir) + "/" + n);
  }
  closedir(d);
  ASSERT_FALSE(files.empty()) << "no .gpu files in " << dir;
  const bool gpu = attn_gpu_available() == ATTN_OK;
  for (const std::string &path : files) {
    SCOPED_TRACE(path);
    std::string why;
    auto impl = jit::loadGpuCache(path, /*key=*/"", &why);
    ASSERT_TRUE(impl) << why;
    GpuKernel kernel(std::move(impl));
    const KernelInfo &info = kernel.info();
    EXPECT_EQ(info.origin, KernelOrigin::Disk);
    std::string source = readExample(info.variant);
    ASSERT_FALSE(source.empty()) << "no examples/" << info.variant << ".attn";
    for (attn_dtype dtype : info.dtypes) {
      if (!gpu) {
        if (dtype != ATTN_BF16 || !info.tensors.empty())
          continue;
        HostCall call;
        expectNoGpu(kernel.run(call.in.q.view, call.in.k.view, call.in.v.view, call.o.view));
        continue;
      }
      checkOnGpu(kernel, dtype, source, {{"window", 37}});
    }
  }
}

TEST(GpuJitRun, MockDriverRunsTheDtypesBinary) {
  // MockCuda's "cubins" are text naming its host kernels, among them causal's.
  if (!std::getenv("ATTN_TEST_MOCK_CUDA"))
    GTEST_SKIP() << "runs with ATTN_CUDA_DRIVER=<MockCuda> and ATTN_TEST_MOCK_CUDA=1 (ctest)";
  ASSERT_EQ(attn_gpu_available(), ATTN_OK) << attn_last_error();
  std::string source = readExample("causal");
  auto impl = std::make_unique<GpuKernel::Impl>();
  impl->info.variant = "causal";
  impl->info.dtypes = {ATTN_F16, ATTN_BF16};
  impl->info.hasLse = true;
  impl->info.rowTile = 1;
  for (attn_dtype dtype : impl->info.dtypes) {
    GpuKernel::Impl::Entry e;
    e.dtype = dtype;
    e.kernel = std::string("attn_causal_") + attn_dtype_name(dtype) + "_gpu";
    e.cubin = ".visible .entry " + e.kernel + "(.param .u64 args)\n";
    impl->entries.push_back(e);
  }
  impl->finalize();
  GpuKernel kernel(std::move(impl));
  // Twice each: the second run finds the module the first one loaded.
  for (int round = 0; round < 2; ++round) {
    checkOnGpu(kernel, ATTN_BF16, source, {});
    checkOnGpu(kernel, ATTN_F16, source, {});
  }
}

#ifdef ATTNC_TEST_AOT
TEST(GpuJitRun, AotLibrary) {
  std::string source = readExample("causal");
  ASSERT_FALSE(source.empty());
  // The description and cubin the library embeds.
  const attn_gpu_binary *bin = attn_causal_gpu_binary(ATTN_BF16);
  ASSERT_TRUE(bin);
  EXPECT_STREQ(bin->kernel, "attn_causal_bf16_gpu");
  EXPECT_STREQ(bin->info->name, "causal");
  EXPECT_EQ(bin->info->input_dtype, ATTN_BF16);
  EXPECT_EQ(bin->info->has_lse, 1);
  EXPECT_EQ(bin->info->row_tile, 1);
  ASSERT_GT(bin->size, 4u);
  EXPECT_EQ(std::string(static_cast<const char *>(bin->image), 4), "\x7f" "ELF");
  EXPECT_FALSE(attn_causal_gpu_binary(ATTN_F16));

  // The CPU entry point of the same library.
  RandomInputs in(2, 4, 2, 37, 70, 16, ATTN_F32, 7);
  ref::Result want = referenceOf(source, "causal", in.problem);
  HostTensor o({2, 4, 37, 16}, ATTN_F32);
  ASSERT_EQ(attn_causal_f32(&in.q.view, &in.k.view, &in.v.view, &o.view, nullptr, nullptr,
                            nullptr, -1, 0),
            ATTN_OK)
      << attn_last_error();
  EXPECT_LE(maxAbsError(o, want.o), outputTolerance(ATTN_F32));

  auto run = [](const attn_tensor &q, const attn_tensor &k, const attn_tensor &v,
                attn_tensor &o, attn_tensor *lse, const double *params,
                const attn_tensor *tensors) {
    return attn_causal_gpu_run(&q, &k, &v, &o, lse, params, tensors, -1, nullptr);
  };
  if (attn_gpu_available() != ATTN_OK) {
    HostCall call;
    expectNoGpu(run(call.in.q.view, call.in.k.view, call.in.v.view, call.o.view, nullptr,
                    nullptr, nullptr));
    GTEST_SKIP() << "no GPU: " << attn_last_error();
  }
  checkOnGpu(*bin->info, source, {}, run);
}
#endif

} // namespace
