//===- Aot.cpp - `attnc FILE -o libX.so | --emit header | --emit llvm` ----===//
//
// Ahead-of-time compilation for the CPU target: every variant of the file (or
// the one --variant names) is lowered to its CPU cascade and tile kernels, one
// per dtype, and written as a shared library, as the C header that declares
// the kernels and their entry points, or as the optimised LLVM IR.
//
//===----------------------------------------------------------------------===//
#include "compiler/tools/attnc/Driver.h"

#include "compiler/targets/cpu/CpuCodegen.h"
#include "compiler/targets/cpu/CpuCompiler.h"
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

} // namespace

int driver::aotMain(mlir::ModuleOp attnModule, const AotOptions &o) {
  if (o.target == "gpu")
    return fail("--target gpu builds cubins or PTX (--emit cubin|ptx -o DIR); shared "
                "libraries, headers and LLVM IR are for --target cpu");
  if (o.target != "cpu")
    return fail("--target " + o.target +
                " is not available yet: only the cpu target builds libraries, headers "
                "and LLVM IR");
  if (o.kind == AotKind::Library && o.output == "-")
    return fail("a shared library needs an output file: -o libNAME.so");
  mlir::MLIRContext *ctx = attnModule.getContext();
  ctx->loadDialect<cascade::CascadeDialect>();

  CpuCompileOptions co;
  co.rowTile = o.rowTile;
  co.keyTile = o.keyTile;
  co.dtypes = o.dtypes;
  std::vector<std::string> names;
  for (auto v : attnModule.getOps<VariantOp>())
    names.push_back(v.getSymName().str());
  std::string what = std::to_string(names.size() * co.dtypes.size()) + " kernel" +
                     (names.size() * co.dtypes.size() == 1 ? "" : "s") + " for " +
                     llvm::join(names, ", ");

  Progress progress("attnc: compiling " + what + " (" + o.input + ")...", o.verbose);
  if (mlir::failed(lowerToCpuCascade(attnModule, co)))
    return fail("lowering to the Einsum cascade failed");

  if (o.kind == AotKind::Header) {
    std::string err;
    auto out = mlir::openOutputFile(o.output, &err);
    if (!out)
      return fail(err);
    out->os() << emitCpuHeader(attnModule, co, headerGuard(o.output, o.input));
    out->keep();
    progress.finish("wrote the header of " + what);
    return 0;
  }

  auto kernels = buildCpuKernels(attnModule, co);
  if (mlir::failed(kernels))
    return fail("building the tile kernels failed");

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
