//===- Aot.cpp - `attnc FILE -o libX.so | --emit header | --emit llvm` ----===//
//
// Ahead-of-time compilation: every variant of the file (or the one --variant
// names) is lowered, for --target cpu, to its CPU cascade and tile kernels,
// one per dtype; for --target gpu, to its GPU cascade and one sm_90a cubin
// per dtype, embedded in the library with C entry points that run them
// through libattnrt (GpuEntryPoints); --target all does both, on two copies
// of the module. The result is a shared library, the C header that declares
// its kernels and entry points, or (CPU only) the optimised LLVM IR.
//
//===----------------------------------------------------------------------===//
#include "compiler/tools/attnc/Driver.h"

#include "compiler/targets/cpu/CpuCodegen.h"
#include "compiler/targets/cpu/CpuCompiler.h"
#include "compiler/targets/cpu/GpuEntryPoints.h"
#include "compiler/targets/gpu/GpuCompiler.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

using namespace attn;

namespace {

/// Prints `message` to stderr if the work it announces is still running
/// after `delay` (or at once with -v), so that quick builds stay quiet.
class Progress {
public:
  Progress(std::string message, bool verbose)
      : message(std::move(message)), start(std::chrono::steady_clock::now()) {
    if (verbose) {
      llvm::errs() << this->message << "\n";
      printed = true;
      return;
    }
    watcher = std::thread([this] {
      std::unique_lock<std::mutex> lock(mutex);
      if (!cv.wait_for(lock, std::chrono::seconds(1), [this] { return done; })) {
        llvm::errs() << this->message << "\n";
        printed = true;
      }
    });
  }
  /// Ends the work; says how long it took when the start was announced.
  void finish(const std::string &what) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (finished)
        return;
      finished = done = true;
    }
    cv.notify_all();
    if (watcher.joinable())
      watcher.join();
    if (printed && !what.empty())
      llvm::errs() << "attnc: " << what << " in "
                   << llvm::format("%.2f", std::chrono::duration<double>(
                                               std::chrono::steady_clock::now() - start)
                                               .count())
                   << " s\n";
  }
  ~Progress() { finish(""); }

private:
  std::string message;
  std::chrono::steady_clock::time_point start;
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false, printed = false, finished = false;
  std::thread watcher;
};

/// A C identifier from a file name: ATTN_<STEM>_H.
std::string headerGuard(const std::string &output, const std::string &input) {
  std::string base = output == "-" ? llvm::sys::path::stem(input).str()
                                   : llvm::sys::path::filename(output).str();
  std::string guard = "ATTN_";
  for (char c : base)
    guard += llvm::isAlnum(c) ? (char)llvm::toUpper(c) : '_';
  if (output == "-")
    guard += "_H";
  return guard;
}

int fail(const std::string &message) {
  llvm::errs() << "attnc: error: " << message << "\n";
  return 1;
}

/// Compiles every variant of `cascades` (lowered for the GPU) for every
/// dtype of `options`; null after reporting an error.
std::optional<std::vector<GpuVariantBinaries>> compileGpuBinaries(mlir::ModuleOp cascades,
                                                                 const GpuCompileOptions &options) {
  std::vector<GpuVariantBinaries> variants;
  for (auto variant : cascades.getOps<VariantOp>()) {
    GpuVariantBinaries v;
    v.description = describeVariant(variant, options.dtypes.front(), /*rowTile=*/1);
    for (attn_dtype t : options.dtypes) {
      auto cubin = compileVariantBinary(variant, t, options, /*ptx=*/false);
      if (mlir::failed(cubin)) {
        fail("compiling the " + std::string(dtypeShortName(t)) + " GPU kernel of '" +
             variant.getSymName().str() + "' failed");
        return std::nullopt;
      }
      v.cubins.emplace_back(t, std::move(*cubin));
    }
    variants.push_back(std::move(v));
  }
  return variants;
}

} // namespace

GpuCompileOptions driver::gpuCompileOptions(const AotOptions &o) {
  GpuCompileOptions go;
  go.keyTile = o.gpuKeyTile;
  go.mmaHeadDims = o.gpuHeadDims;
  go.wgmma = o.gpuWgmma;
  static_cast<MmaMapping &>(go) = o.gpuMapping;
  go.dtypes = o.dtypes;
  return go;
}

int driver::aotMain(mlir::ModuleOp attnModule, const AotOptions &o) {
  const bool cpu = o.target == "cpu" || o.target == "all";
  const bool gpu = o.target == "gpu" || o.target == "all";
  if (!cpu && !gpu)
    return fail("--target " + o.target +
                " builds no library, header or LLVM IR (cpu, gpu and all do)");
  if (gpu && o.kind == AotKind::Llvm)
    return fail("--emit llvm is the CPU kernels' LLVM IR (--target cpu); the GPU kernels' "
                "code is --target gpu --emit ptx -o DIR");
  if (o.kind == AotKind::Library && o.output == "-")
    return fail("a shared library needs an output file: -o libNAME.so");
  mlir::MLIRContext *ctx = attnModule.getContext();
  ctx->loadDialect<cascade::CascadeDialect>();

  CpuCompileOptions co;
  co.rowTile = o.rowTile;
  co.keyTile = o.keyTile;
  co.dtypes = o.dtypes;
  GpuCompileOptions go = gpuCompileOptions(o);
  std::vector<std::string> names;
  for (auto v : attnModule.getOps<VariantOp>())
    names.push_back(v.getSymName().str());
  size_t count = names.size() * o.dtypes.size() * (cpu && gpu ? 2 : 1);
  std::string what = std::to_string(count) + (cpu && gpu ? " CPU and GPU" : gpu ? " GPU" : "") +
                     " kernel" + (count == 1 ? "" : "s") + " for " + llvm::join(names, ", ");

  Progress progress("attnc: compiling " + what + " (" + o.input + ")...", o.verbose);
  // The GPU lowering on its own copy when the CPU one needs the module too.
  mlir::OwningOpRef<mlir::ModuleOp> gpuCopy;
  mlir::ModuleOp gpuCascades;
  if (gpu) {
    if (cpu)
      gpuCopy = attnModule.clone();
    gpuCascades = cpu ? *gpuCopy : attnModule;
    if (mlir::failed(lowerToGpuCascade(gpuCascades, go)))
      return fail("lowering to the Einsum cascade (GPU) failed");
  }
  if (cpu && mlir::failed(lowerToCpuCascade(attnModule, co)))
    return fail("lowering to the Einsum cascade failed");

  if (o.kind == AotKind::Header) {
    std::string err;
    auto out = mlir::openOutputFile(o.output, &err);
    if (!out)
      return fail(err);
    std::string guard = headerGuard(o.output, o.input);
    if (!gpu)
      out->os() << emitCpuHeader(attnModule, co, guard);
    else
      out->os() << wrapHeader(guard,
                              std::string("the ") + (cpu ? "CPU and GPU" : "GPU") +
                                  " kernels of a shared library and their entry points",
                              {"attn/gpu_binary.h"},
                              (cpu ? emitCpuDeclarations(attnModule, co) : "") +
                                  emitGpuDeclarations(names, o.dtypes));
    out->keep();
    progress.finish("wrote the header of " + what);
    return 0;
  }

  mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>> kernels = mlir::failure();
  if (cpu) {
    kernels = buildCpuKernels(attnModule, co);
    if (mlir::failed(kernels))
      return fail("building the tile kernels failed");
  } else {
    mlir::DialectRegistry registry;
    registerCpuCodegenDialects(registry);
    ctx->appendDialectRegistry(registry);
    ctx->loadAllAvailableDialects();
    kernels = mlir::OwningOpRef<mlir::ModuleOp>(mlir::ModuleOp::create(attnModule.getLoc()));
  }
  if (gpu) {
    auto binaries = compileGpuBinaries(gpuCascades, go);
    if (!binaries)
      return 1;
    addGpuEntryPoints(**kernels, *binaries);
  }

  if (o.kind == AotKind::Llvm) {
    auto tm = createHostTargetMachine();
    if (!tm)
      return fail(llvm::toString(tm.takeError()));
    llvm::LLVMContext llvmCtx;
    auto mod = translateAndOptimize(**kernels, llvmCtx, **tm);
    if (!mod)
      return fail(llvm::toString(mod.takeError()));
    std::string err;
    auto out = mlir::openOutputFile(o.output, &err);
    if (!out)
      return fail(err);
    (*mod)->print(out->os(), nullptr);
    out->keep();
    progress.finish("optimised " + what);
    return 0;
  }

  // A shared library: linked into a temporary file next to the output and
  // renamed, so that a failed build never leaves a partial library behind.
  llvm::SmallString<256> tmp;
  llvm::sys::fs::createUniquePath(o.output + ".tmp-%%%%%%", tmp, /*MakeAbsolute=*/false);
  if (llvm::Error e = writeSharedLibrary(**kernels, tmp.str().str())) {
    llvm::sys::fs::remove(tmp);
    return fail(llvm::toString(std::move(e)));
  }
  if (auto ec = llvm::sys::fs::rename(tmp, o.output)) {
    llvm::sys::fs::remove(tmp);
    return fail("cannot write '" + o.output + "': " + ec.message());
  }
  progress.finish("built " + o.output + " (" + what + ")");
  return 0;
}
