//===- JitMain.cpp - attn-bench-cpu-jit: the table with attnc's JIT kernels ===//
//
// The harness of Harness.h with kernels that the CPU target JIT-compiles from
// examples/<variant>.attn (fp32, default tiles), one compile per variant,
// timed and printed to stderr (the compile-time target is under 1 s).
//
//===----------------------------------------------------------------------===//
#include "bench/cpu/Harness.h"
#include "compiler/targets/cpu/CascadeToCpu.h"
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
#include <memory>

namespace {

/// One JIT-compiled example file and the description of its variant.
struct JitVariant {
  std::unique_ptr<attn::ast::Module> ast;
  mlir::OwningOpRef<mlir::ModuleOp> cascades;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  std::unique_ptr<attn::VariantDescription> description;
  attn_tile_fn fn = nullptr;
};

mlir::MLIRContext &context() {
  static mlir::MLIRContext ctx;
  static bool init = [] {
    ctx.loadDialect<attn::AttnDialect, cascade::CascadeDialect>();
    mlir::DialectRegistry registry;
    attn::registerCpuCodegenDialects(registry);
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
    return true;
  }();
  (void)init;
  return ctx;
}

/// Compiles examples/<name>.attn and looks up variant `name`'s fp32 kernel;
/// on failure says why on stderr and returns null.
std::unique_ptr<JitVariant> compile(const std::string &name) {
  auto start = std::chrono::steady_clock::now();
  std::string path = std::string(ATTNC_EXAMPLES_DIR) + "/" + name + ".attn";
  auto buf = llvm::MemoryBuffer::getFile(path);
  if (!buf) {
    std::cerr << "attn-bench-cpu-jit: cannot read " << path << "\n";
    return nullptr;
  }
  auto jv = std::make_unique<JitVariant>();
  attn::DiagnosticEngine diags(path, (*buf)->getBuffer().str());
  jv->ast = attn::parseAndCheck(diags);
  if (!jv->ast) {
    std::cerr << "attn-bench-cpu-jit: " << path << " does not parse\n";
    return nullptr;
  }
  attn::CpuCompileOptions opts;
  jv->cascades = attn::emitAttnModule(context(), *jv->ast);
  if (!jv->cascades || mlir::failed(attn::lowerToCpuCascade(*jv->cascades, opts))) {
    std::cerr << "attn-bench-cpu-jit: " << name << ": cascade pipeline failed\n";
    return nullptr;
  }
  auto kernels = attn::buildCpuKernels(*jv->cascades, opts);
  if (mlir::failed(kernels)) {
    std::cerr << "attn-bench-cpu-jit: " << name << ": kernel generation failed\n";
    return nullptr;
  }
  auto engine = attn::jitCompile(**kernels);
  if (!engine) {
    std::cerr << "attn-bench-cpu-jit: " << name << ": " << llvm::toString(engine.takeError()) << "\n";
    return nullptr;
  }
  jv->engine = std::move(*engine);
  for (auto op : jv->cascades->getOps<attn::VariantOp>())
    if (op.getSymName() == name)
      jv->description = attn::describeVariant(op, ATTN_F32, opts.rowTile);
  auto fn = jv->engine->lookup(attn::tileKernelName(name, ATTN_F32));
  if (!jv->description || !fn) {
    if (!fn)
      llvm::consumeError(fn.takeError());
    std::cerr << "attn-bench-cpu-jit: no fp32 kernel for variant '" << name << "'\n";
    return nullptr;
  }
  jv->fn = reinterpret_cast<attn_tile_fn>(*fn);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::cerr << "# JIT " << name << ": " << static_cast<int>(ms) << " ms\n";
  return jv;
}

} // namespace

int main(int argc, char **argv) {
  std::map<std::string, std::unique_ptr<JitVariant>> cache;
  return attn::bench::benchMain(
      argc, argv, "attnc", [&](const std::string &variant, int64_t) -> attn::bench::CpuKernel {
        auto it = cache.find(variant);
        if (it == cache.end())
          it = cache.emplace(variant, compile(variant)).first;
        if (!it->second)
          return {};
        return {&it->second->description->info, it->second->fn};
      });
}
