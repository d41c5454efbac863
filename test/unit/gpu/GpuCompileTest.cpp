//===- GpuCompileTest.cpp - every example compiles to an sm_90a cubin -----===//
//
// CI has no GPU: this checks that every example's GPU kernels (bf16, fp16,
// fp32) go through gpu / nvvm / NVPTX and that ptxas accepts the PTX, and
// that the PTX holds the expected entry points. Numerics are checked on the
// device by bench/gpu.
//
//===----------------------------------------------------------------------===//
#include "compiler/targets/common/TileKernel.h"
#include "compiler/targets/gpu/GpuCompiler.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"
#include "frontend/Frontend.h"
#include "frontend/emit/EmitAttn.h"
#include "test/unit/common/TestSupport.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>

#include <cstdlib>


using namespace attn;

namespace {

class GpuCompileTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GpuCompileTest, CompilesToCubin) {
  std::string path = std::string(ATTNC_EXAMPLES_DIR) + "/" + GetParam();
  mlir::MLIRContext ctx;
  ctx.loadDialect<AttnDialect, cascade::CascadeDialect>();
  auto buf = llvm::MemoryBuffer::getFile(path);
  ASSERT_TRUE((bool)buf);
  DiagnosticEngine diags(path, (*buf)->getBuffer().str());
  auto ast = parseAndCheck(diags);
  ASSERT_TRUE(ast);
  auto module = emitAttnModule(ctx, *ast);
  GpuCompileOptions opts;
  ASSERT_TRUE(mlir::succeeded(lowerToGpuCascade(*module, opts)));
  // PTX needs only LLVM; the cubin needs ptxas (CUDA_HOME or /usr/local/cuda).
  const char *cudaHome = std::getenv("CUDA_HOME");
  bool havePtxas = llvm::sys::fs::exists(std::string(cudaHome ? cudaHome : "/usr/local/cuda") +
                                         "/bin/ptxas");
  for (bool ptx : {true, false}) {
    if (!ptx && !havePtxas) {
      GTEST_SKIP() << "no ptxas (CUDA toolkit): PTX checked, cubin skipped";
    }
    auto kernels = buildGpuKernels(*module, opts);
    ASSERT_TRUE(mlir::succeeded(kernels));
    auto binary = compileGpuKernels(**kernels, opts, ptx);
    ASSERT_TRUE(mlir::succeeded(binary)) << (ptx ? "PTX" : "cubin");
    for (const auto &v : ast->variants)
      for (attn_dtype t : opts.dtypes) {
        std::string name = tileKernelName(v.name, t, KernelTarget::Gpu);
        if (ptx)
          EXPECT_NE(binary->find(".entry " + name), std::string::npos) << name;
        else
          EXPECT_NE(binary->find(name), std::string::npos) << name;
      }
    if (!ptx)
      EXPECT_EQ(binary->compare(0, 4, "\x7f" "ELF"), 0) << "a cubin is an ELF image";
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, GpuCompileTest,
                         ::testing::ValuesIn(attn::test::listAttnFiles(ATTNC_EXAMPLES_DIR)),
                         [](const auto &info) { return attn::test::testName(info.param); });

} // namespace
