//===- AttncMain.cpp - attn-bench-cpu-attnc: attnc's JIT kernels in the table -===//
//
// Compiles examples/<variant>.attn with the CPU target (fp32 tile kernels,
// JIT through mlir::ExecutionEngine) and times them with the shared harness
// beside the unfused OpenBLAS baseline and the sgemm peak.
//
//===----------------------------------------------------------------------===//
#include "bench/cpu/Harness.h"
#include "compiler/targets/common/TileKernel.h"
#include "compiler/targets/cpu/CpuCodegen.h"
#include "compiler/targets/cpu/CpuCompiler.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"
#include "frontend/Frontend.h"
#include "frontend/emit/EmitAttn.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MemoryBuffer.h"

#include <chrono>
#include <iostream>
#include <map>

namespace {
struct Compiled {
  mlir::OwningOpRef<mlir::ModuleOp> cascades;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  std::unique_ptr<attn::VariantDescription> desc;
};
} // namespace

int main(int argc, char **argv) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<attn::AttnDialect, cascade::CascadeDialect>();
  mlir::DialectRegistry registry;
  attn::registerCpuCodegenDialects(registry);
  ctx.appendDialectRegistry(registry);
  ctx.loadAllAvailableDialects();
  std::map<std::string, Compiled> cache;

  auto provider = [&](const std::string &variant, int64_t) -> attn::bench::CpuKernel {
    auto it = cache.find(variant);
    if (it == cache.end()) {
      std::string path = std::string(ATTNC_EXAMPLES_DIR) + "/" + variant + ".attn";
      auto buf = llvm::MemoryBuffer::getFile(path);
      if (!buf)
        return {};
      auto t0 = std::chrono::steady_clock::now();
      attn::DiagnosticEngine diags(path, (*buf)->getBuffer().str());
      auto ast = attn::parseAndCheck(diags);
      if (!ast) {
        diags.print(std::cerr);
        return {};
      }
      Compiled c;
      c.cascades = attn::emitAttnModule(ctx, *ast);
      attn::CpuCompileOptions opts;
      if (mlir::failed(attn::lowerToCpuCascade(*c.cascades, opts)))
        return {};
      auto kernels = attn::buildCpuKernels(*c.cascades, opts);
      if (mlir::failed(kernels))
        return {};
      auto engine = attn::jitCompile(**kernels);
      if (!engine) {
        std::cerr << llvm::toString(engine.takeError()) << "\n";
        return {};
      }
      c.engine = std::move(*engine);
      c.desc = attn::describeVariant(*c.cascades->getOps<attn::VariantOp>().begin(), ATTN_F32,
                                     opts.rowTile);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                      .count();
      std::cerr << "attnc: JIT of " << variant << ": " << ms << " ms\n";
      it = cache.emplace(variant, std::move(c)).first;
    }
    auto fn = it->second.engine->lookup(attn::tileKernelName(variant, ATTN_F32));
    if (!fn) {
      llvm::consumeError(fn.takeError());
      return {};
    }
    return {&it->second.desc->info, (attn_tile_fn)*fn};
  };
  return attn::bench::benchMain(argc, argv, "attnc", provider);
}
