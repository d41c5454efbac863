//===- Compiler.cpp - attn::Compiler: JIT a variant, cache it -------------===//
//
// compile() / compileGpu(): parse and check the source, emit the variant's
// attn IR, hash it (printed without locations) with the target, the options,
// the compiler version and the host (CPU) or the GPU toolchain (GPU) into the
// cache key; then the in-memory cache, the on-disk cache, or a fresh compile
// with one thread per dtype. CPU: cascade pipeline, tile kernels, LLVM, one
// ExecutionEngine per dtype; the shared library is then stored on disk by a
// background thread. GPU: the GPU cascade, one cubin per dtype
// (compileVariantBinary), stored on disk at once.
// A second map from a hash of the source text itself to the key makes a
// repeated compile of the same text a lookup, without parsing.
//
//===----------------------------------------------------------------------===//
#include "attn/compiler.hpp"

#include "compiler/Pipeline/Pipeline.h"
#include "compiler/jit/DiskCache.h"
#include "compiler/jit/GpuCache.h"
#include "compiler/jit/KernelImpl.h"
#include "compiler/targets/common/TileKernel.h"
#include "compiler/targets/common/VariantDescription.h"
#include "compiler/targets/cpu/CpuCodegen.h"
#include "compiler/targets/cpu/CpuCompiler.h"
#include "compiler/targets/gpu/GpuCompiler.h"
#include "compiler/targets/gpu/MmaKernel.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"
#include "frontend/Frontend.h"
#include "frontend/emit/EmitAttn.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ThreadPool.h"

#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

namespace attn {

namespace {

/// What a compile targets.
enum class Target { Cpu, Gpu };

/// What one compile produced: a kernel of its target, or an error.
struct Outcome {
  std::shared_ptr<const Kernel> kernel;
  std::shared_ptr<const GpuKernel> gpuKernel;
  std::string error;
  bool ok() const { return kernel || gpuKernel; }
  KernelOrigin origin() const {
    return kernel ? kernel->info().origin : gpuKernel->info().origin;
  }
};

/// A variant's AST and attn IR in its own context, and its cache key.
struct Prepared {
  std::unique_ptr<ast::Module> ast;
  std::unique_ptr<mlir::MLIRContext> ctx;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::string variant;
  std::string key;
};

std::string hexDigest(llvm::StringRef text) {
  llvm::SHA256 h;
  h.update(text);
  auto digest = h.final();
  return llvm::toHex(digest, /*LowerCase=*/true).substr(0, 40);
}

double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

/// The threads GPU compiles share, one pool per process: the JIT's contexts
/// have no threads of their own (the CPU path compiles each dtype on a thread).
llvm::ThreadPoolInterface &gpuCompileThreads() {
  static llvm::DefaultThreadPool pool(llvm::hardware_concurrency());
  return pool;
}

/// Collects MLIR diagnostics as `file:line:col: error: message` lines
/// (formatDiagnostic).
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(mlir::MLIRContext &ctx)
      : handler(&ctx, [this](mlir::Diagnostic &d) {
          std::string line = formatDiagnostic(d);
          std::lock_guard<std::mutex> lock(mutex);
          text += line;
          return mlir::success();
        }) {
    ctx.printOpOnDiagnostic(false); // not the IR of the op that failed (a whole module)
  }
  std::string take(const std::string &fallback) {
    return text.empty() ? fallback : std::move(text);
  }

private:
  std::mutex mutex;
  std::string text;
  mlir::ScopedDiagnosticHandler handler;
};

/// One dtype's JIT'd tile kernel, or why there is none.
struct JitPart {
  std::unique_ptr<mlir::ExecutionEngine> engine;
  Kernel::Impl::Entry entry;
  std::string error;
};

/// Builds the tile kernel of `variant` for `dtype` from the lowered module
/// `cascades` and JIT-compiles it.
void jitOne(mlir::ModuleOp cascades, CpuCompileOptions co, const std::string &variant,
            attn_dtype dtype, JitPart &out) {
  co.dtypes = {dtype};
  auto kernels = buildCpuKernels(cascades, co);
  if (mlir::failed(kernels)) {
    out.error = "attnc: error: building the " + std::string(attn_dtype_name(dtype)) +
                " tile kernel of variant '" + variant + "' failed";
    return;
  }
  auto engine = jitCompile(**kernels);
  if (!engine) {
    out.error = "attnc: error: JIT compilation of variant '" + variant +
                "' failed: " + llvm::toString(engine.takeError());
    return;
  }
  std::string sym = tileKernelName(variant, dtype);
  auto fn = (*engine)->lookup(sym); // materialises: LLVM code generation happens here
  if (!fn) {
    out.error = "attnc: error: the JIT has no symbol " + sym + ": " +
                llvm::toString(fn.takeError());
    return;
  }
  out.entry.dtype = dtype;
  out.entry.fn = reinterpret_cast<attn_tile_fn>(*fn);
  out.engine = std::move(*engine);
}

/// The variant `name` of a lowered module (null when it is not there).
VariantOp findVariant(mlir::ModuleOp module, llvm::StringRef name) {
  for (auto v : module.getOps<VariantOp>())
    if (v.getSymName() == name)
      return v;
  return nullptr;
}

/// The description of `op` (lowered) as a KernelInfo.
KernelInfo describeKernel(VariantOp op, const Prepared &p, const std::vector<attn_dtype> &dtypes,
                          int64_t rowTile, int64_t keyTile) {
  KernelInfo info;
  auto desc = describeVariant(op, ATTN_F32, rowTile);
  info.variant = p.variant;
  info.dtypes = dtypes;
  for (const attn_param_info &c : desc->params)
    info.params.push_back({c.name, c.type, c.has_default != 0, c.default_value});
  for (const attn_tensor_info &c : desc->tensors)
    info.tensors.push_back({c.name, c.dtype, std::vector<int64_t>(c.dims, c.dims + c.rank)});
  info.hasLse = desc->info.has_lse != 0;
  info.rowTile = rowTile;
  info.keyTile = keyTile;
  info.key = p.key;
  info.origin = KernelOrigin::Compiled;
  return info;
}

/// Builds one kernel per dtype, each on a thread of its own in a context of
/// its own (LLVM's optimisation and code generation, or ptxas, dominate a
/// cold compile): `build(module, 0)` here on `p.module` (already lowered),
/// `build(module, i)` for 0 < i < n on the variant emitted afresh from the
/// AST and lowered by `lower`. `build` returns "" or an error message, which
/// the diagnostics it caused replace. Returns the first error, or "".
std::string buildPerDtype(Prepared &p, size_t n,
                          const std::function<mlir::LogicalResult(mlir::ModuleOp)> &lower,
                          const std::function<std::string(mlir::ModuleOp, size_t)> &build) {
  std::vector<std::string> errors(n);
  auto buildOne = [&](mlir::MLIRContext &ctx, mlir::ModuleOp module, size_t i) {
    DiagnosticCollector collect(ctx);
    if (std::string error = build(module, i); !error.empty())
      errors[i] = collect.take(error);
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < n; ++i)
    threads.emplace_back([&, i] {
      mlir::MLIRContext tctx(mlir::MLIRContext::Threading::DISABLED);
      tctx.loadDialect<AttnDialect, cascade::CascadeDialect, mlir::arith::ArithDialect,
                       mlir::math::MathDialect>();
      DiagnosticCollector tcollect(tctx);
      auto module = emitAttnModule(tctx, *p.ast, p.variant);
      if (!module || mlir::failed(lower(*module)))
        errors[i] = tcollect.take("attnc: error: lowering variant '" + p.variant +
                                  "' to the Einsum cascade failed");
      else
        buildOne(tctx, *module, i);
    });
  buildOne(*p.ctx, *p.module, 0);
  for (std::thread &t : threads)
    t.join();
  for (std::string &error : errors)
    if (!error.empty())
      return error;
  return "";
}

/// Where ptxas is (CUDA_HOME, else /usr/local/cuda) and its size and time:
/// the GPU toolchain's part of GPU cache keys.
std::string ptxasIdentity() {
  const char *home = std::getenv("CUDA_HOME");
  std::string path = std::string(home && *home ? home : "/usr/local/cuda") + "/bin/ptxas";
  llvm::sys::fs::file_status st;
  if (llvm::sys::fs::status(path, st) || !llvm::sys::fs::exists(st))
    return path + " (none)";
  return path + " " + std::to_string(st.getSize()) + " " +
         std::to_string(llvm::sys::toTimeT(st.getLastModificationTime()));
}

} // namespace

struct Compiler::Impl {
  CompilerOptions options;
  GpuCompileOptions gpuOptions; ///< what compileGpu builds with (GPU target defaults)
  std::string cpuKeyText, gpuKeyText; ///< each target's part of its keys
  std::mutex mutex;
  /// Every key compiled or being compiled (failed compiles are removed).
  std::map<std::string, std::shared_future<Outcome>> byKey;
  /// Hash of (target, options, variant, source text) -> key, for compiles
  /// that succeeded.
  std::map<std::string, std::string> bySource;
  /// Whether cacheDir exists and is writable (stores are skipped otherwise).
  bool cacheWritable = false;
  /// Background writers of cache files (joined by waitForDiskCache / ~Impl).
  std::mutex writersMutex;
  std::vector<std::thread> writers;

  ~Impl() { waitForWriters(); }
  void waitForWriters() {
    std::vector<std::thread> joining;
    {
      std::lock_guard<std::mutex> lock(writersMutex);
      joining.swap(writers);
    }
    for (std::thread &t : joining)
      t.join();
  }

  /// Validates the options; "" when fine.
  std::string checkOptions() const;
  bool prepare(const std::string &source, const std::string &variant,
               const std::string &fileName, Target target, Prepared &out,
               std::string &error) const;
  /// The memory cache, else build (once for concurrent callers).
  Outcome compile(Target target, const std::string &source, const std::string &variant,
                  const std::string &fileName, KernelOrigin *origin);
  Outcome build(Target target, Prepared &p);
  Outcome buildCpu(Prepared &p);
  Outcome buildGpu(Prepared &p);
};

std::string Compiler::Impl::checkOptions() const {
  if (options.dtypes.empty())
    return "attnc: error: CompilerOptions::dtypes is empty";
  for (attn_dtype d : options.dtypes)
    if (d != ATTN_F32 && d != ATTN_BF16 && d != ATTN_F16)
      return std::string("attnc: error: no kernel for dtype ") + attn_dtype_name(d) +
             " (allowed: f32, bf16, f16)";
  if (options.rowTile < 1 || options.keyTile < 1)
    return "attnc: error: rowTile and keyTile must be >= 1";
  if (std::string why = checkCpuTiles(options.rowTile, options.keyTile); !why.empty())
    return "attnc: error: CompilerOptions::rowTile / keyTile: " + why;
  return "";
}

bool Compiler::Impl::prepare(const std::string &source, const std::string &variant,
                             const std::string &fileName, Target target, Prepared &out,
                             std::string &error) const {
  DiagnosticEngine diags(fileName, source);
  auto ast = parseAndCheck(diags);
  if (!ast) {
    std::ostringstream os;
    diags.print(os);
    error = os.str();
    return false;
  }
  std::string names;
  bool found = false;
  for (auto &v : ast->variants) {
    names += (names.empty() ? "" : ", ") + v.name;
    found |= v.name == variant;
  }
  out.variant = variant;
  if (variant.empty()) {
    if (ast->variants.size() != 1) {
      error = fileName + ": error: the source defines " + std::to_string(ast->variants.size()) +
              " variants (" + names + "): name one";
      return false;
    }
    out.variant = ast->variants.front().name;
  } else if (!found) {
    error = fileName + ": error: no variant named '" + variant + "' (the source defines: " +
            (names.empty() ? "none" : names) + ")";
    return false;
  }
  out.ctx = std::make_unique<mlir::MLIRContext>(mlir::MLIRContext::Threading::DISABLED);
  out.ctx->loadDialect<AttnDialect, mlir::arith::ArithDialect, mlir::math::MathDialect>();
  DiagnosticCollector collect(*out.ctx);
  out.module = emitAttnModule(*out.ctx, *ast, out.variant);
  out.ast = std::move(ast);
  if (!out.module) {
    error = collect.take(fileName + ": error: cannot emit variant '" + out.variant + "'");
    return false;
  }
  std::string ir;
  llvm::raw_string_ostream os(ir);
  out.module->print(os, mlir::OpPrintingFlags()); // no locations
  out.key = hexDigest("attnc-jit-cache 1\n" +
                      (target == Target::Cpu ? cpuKeyText : gpuKeyText) + ir);
  return true;
}

Outcome Compiler::Impl::build(Target target, Prepared &p) {
  return target == Target::Cpu ? buildCpu(p) : buildGpu(p);
}

Outcome Compiler::Impl::buildCpu(Prepared &p) {
  auto start = std::chrono::steady_clock::now();
  Outcome result;
  // The on-disk cache.
  if (options.diskCache && !options.cacheDir.empty()) {
    std::string why;
    if (auto impl = jit::loadCached(options.cacheDir, p.key, &why)) {
      impl->info.buildMs = msSince(start);
      result.kernel = std::make_shared<const Kernel>(std::move(impl));
      return result;
    }
  }
  // A fresh compile.
  mlir::MLIRContext &ctx = *p.ctx;
  ctx.loadDialect<cascade::CascadeDialect>();
  // Released before the context moves to the background store.
  std::optional<DiagnosticCollector> collect(std::in_place, ctx);
  CpuCompileOptions co;
  co.rowTile = options.rowTile;
  co.keyTile = options.keyTile;
  co.dtypes = options.dtypes;
  auto fail = [&](const std::string &what) {
    result.error = collect->take("attnc: error: " + what + " failed for variant '" + p.variant +
                                "'");
    return result;
  };
  if (mlir::failed(lowerToCpuCascade(*p.module, co)))
    return fail("lowering to the Einsum cascade");
  VariantOp op = findVariant(*p.module, p.variant);
  if (!op)
    return fail("finding the variant after lowering");
  auto impl = std::make_unique<Kernel::Impl>();
  KernelInfo &info = impl->info;
  info = describeKernel(op, p, options.dtypes, options.rowTile, options.keyTile);

  std::vector<JitPart> parts(options.dtypes.size());
  std::string error = buildPerDtype(
      p, parts.size(),
      [&](mlir::ModuleOp module) { return lowerToCpuCascade(module, co); },
      [&](mlir::ModuleOp module, size_t i) {
        jitOne(module, co, p.variant, options.dtypes[i], parts[i]);
        return parts[i].error;
      });
  if (!error.empty()) {
    result.error = collect->take(error);
    return result;
  }
  for (JitPart &part : parts) {
    impl->entries.push_back(part.entry);
    impl->engines.push_back(std::move(part.engine));
  }
  collect.reset();
  if (cacheWritable)
    info.cacheFile = jit::cachePath(options.cacheDir, p.key);
  impl->finalize();
  info.buildMs = msSince(start);
  // Store for later processes, in the background (it compiles the kernels
  // once more, to an object, and links it): the JIT'd kernel is usable now.
  // A failed store only costs the store.
  if (cacheWritable) {
    auto task = [ctx = std::move(p.ctx), module = std::move(p.module), co,
                 dir = options.cacheDir, info]() mutable {
      auto kernels = buildCpuKernels(*module, co);
      if (mlir::succeeded(kernels)) {
        auto path = jit::storeCached(**kernels, dir, info);
        if (!path)
          llvm::consumeError(path.takeError());
      }
      kernels = mlir::failure();
      module = nullptr;
      ctx.reset();
    };
    std::lock_guard<std::mutex> lock(writersMutex);
    writers.emplace_back(std::move(task));
  }
  result.kernel = std::make_shared<const Kernel>(std::move(impl));
  return result;
}

Outcome Compiler::Impl::buildGpu(Prepared &p) {
  for (int64_t n : options.gpuHeadDims)
    if (!isMmaHeadDim(n)) {
      Outcome bad;
      bad.error = "attnc: error: CompilerOptions::gpuHeadDims: " + std::to_string(n) +
                  " is not a multiple of 32 up to 256";
      return bad;
    }
  auto start = std::chrono::steady_clock::now();
  Outcome result;
  std::string path =
      options.cacheDir.empty() ? std::string() : jit::gpuCachePath(options.cacheDir, p.key);
  // The on-disk cache.
  if (!path.empty()) {
    std::string why;
    if (auto impl = jit::loadGpuCache(path, p.key, &why)) {
      impl->info.buildMs = msSince(start);
      result.gpuKernel = std::make_shared<const GpuKernel>(std::move(impl));
      return result;
    }
  }
  // A fresh compile: one cubin per dtype.
  mlir::MLIRContext &ctx = *p.ctx;
  ctx.loadDialect<cascade::CascadeDialect>();
  DiagnosticCollector collect(ctx);
  auto fail = [&](const std::string &what) {
    result.error = collect.take("attnc: error: " + what + " failed for variant '" + p.variant +
                                "'");
    return result;
  };
  if (mlir::failed(lowerToGpuCascade(*p.module, gpuOptions)))
    return fail("lowering to the Einsum cascade");
  VariantOp op = findVariant(*p.module, p.variant);
  if (!op)
    return fail("finding the variant after lowering");
  auto impl = std::make_unique<GpuKernel::Impl>();
  impl->info = describeKernel(op, p, options.dtypes, /*rowTile=*/1, gpuOptions.keyTile);
  impl->entries.resize(options.dtypes.size());
  std::string error = buildPerDtype(
      p, impl->entries.size(),
      [&](mlir::ModuleOp module) { return lowerToGpuCascade(module, gpuOptions); },
      [&](mlir::ModuleOp module, size_t i) -> std::string {
        attn_dtype dtype = options.dtypes[i];
        // The dtype's kernels lower and compile in parallel
        // (compileGpuKernels) on the process's compile threads.
        if (!module.getContext()->isMultithreadingEnabled())
          module.getContext()->setThreadPool(gpuCompileThreads());
        auto cubin =
            compileVariantBinary(findVariant(module, p.variant), dtype, gpuOptions, false);
        if (mlir::failed(cubin))
          return "attnc: error: compiling the " + std::string(attn_dtype_name(dtype)) +
                 " GPU kernel of variant '" + p.variant + "' failed";
        GpuKernel::Impl::Entry &e = impl->entries[i];
        e.dtype = dtype;
        e.cubin = std::move(*cubin);
        e.kernel = tileKernelName(p.variant, dtype, KernelTarget::Gpu);
        return "";
      });
  if (!error.empty()) {
    result.error = collect.take(error);
    return result;
  }
  // Store for later processes (the cubins are in hand: a plain file write).
  // A failed store only costs the store.
  if (cacheWritable && jit::storeGpuCache(*impl, options.cacheDir).empty())
    impl->info.cacheFile = path;
  impl->finalize();
  impl->info.buildMs = msSince(start);
  result.gpuKernel = std::make_shared<const GpuKernel>(std::move(impl));
  return result;
}

Compiler::Compiler(CompilerOptions options) : impl(std::make_unique<Impl>()) {
  static std::once_flag targetsOnce;
  std::call_once(targetsOnce, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
  if (options.cacheDir.empty())
    options.cacheDir = defaultCacheDir();
  if (!options.diskCache)
    options.cacheDir.clear();
  // Duplicated dtypes would build one kernel twice.
  std::vector<attn_dtype> dtypes;
  for (attn_dtype d : options.dtypes)
    if (std::find(dtypes.begin(), dtypes.end(), d) == dtypes.end())
      dtypes.push_back(d);
  options.dtypes = dtypes;
  std::sort(options.gpuHeadDims.begin(), options.gpuHeadDims.end());
  options.gpuHeadDims.erase(std::unique(options.gpuHeadDims.begin(), options.gpuHeadDims.end()),
                            options.gpuHeadDims.end());
  impl->gpuOptions.mmaHeadDims = options.gpuHeadDims;
  impl->options = std::move(options);
  if (!impl->options.cacheDir.empty()) {
    const std::string &dir = impl->options.cacheDir;
    impl->cacheWritable = !llvm::sys::fs::create_directories(dir) &&
                          llvm::sys::fs::can_write(dir);
  }
  std::string dtypeText = "dtypes";
  for (attn_dtype d : impl->options.dtypes)
    dtypeText += std::string(" ") + attn_dtype_name(d);
  std::string version = "version " + jit::compilerVersion() + "\n";
  impl->cpuKeyText = "target cpu\n" + dtypeText + "\nrow_tile " +
                     std::to_string(impl->options.rowTile) + "\nkey_tile " +
                     std::to_string(impl->options.keyTile) + "\n" + version + "host " +
                     jit::hostDescription() + "\n";
  const GpuCompileOptions &gpu = impl->gpuOptions;
  std::string tiers = "head_dims";
  for (int64_t n : gpu.mmaHeadDims)
    tiers += " " + std::to_string(n);
  impl->gpuKeyText = "target gpu\nchip " + gpu.chip + " " + gpu.features + " O" +
                     std::to_string(gpu.optLevel) + "\n" + dtypeText + "\nkey_tile " +
                     std::to_string(gpu.keyTile) + "\n" + tiers + "\nmapping wgmma " +
                     std::to_string(gpu.wgmma) + " tile_range " + std::to_string(gpu.tileRange) +
                     " pingpong " + std::to_string(gpu.pingPong) + " paired_mma " +
                     std::to_string(gpu.pairedMma) + " wg_votes " +
                     std::to_string(gpu.warpgroupVotes) + " tile_classes " +
                     std::to_string(gpu.tileClasses) + " overlap " + std::to_string(gpu.overlap) +
                     " masked_sums " + std::to_string(gpu.maskedSums) + " persistent " +
                     std::to_string(gpu.persistent) + " producer " +
                     std::to_string(gpu.producer) + " max_registers " +
                     std::to_string(gpu.maxRegisters) +
                     "\n" + version + "ptxas " +
                     ptxasIdentity() + "\n";
}

Compiler::~Compiler() = default;

const CompilerOptions &Compiler::options() const { return impl->options; }

void Compiler::waitForDiskCache() { impl->waitForWriters(); }

std::string Compiler::versionString() { return jit::compilerVersion(); }

std::string Compiler::defaultCacheDir() { return jit::defaultCacheDir(); }

std::string Compiler::cacheKey(const std::string &source, const std::string &variant,
                               std::string *error, const std::string &fileName) const {
  Prepared p;
  std::string err;
  if (!impl->prepare(source, variant, fileName, Target::Cpu, p, err)) {
    if (error)
      *error = err;
    return "";
  }
  return p.key;
}

Outcome Compiler::Impl::compile(Target target, const std::string &source,
                                const std::string &variant, const std::string &fileName,
                                KernelOrigin *origin) {
  auto failWith = [](std::string msg) {
    Outcome o;
    o.error = std::move(msg);
    return o;
  };
  if (std::string bad = checkOptions(); !bad.empty())
    return failWith(bad);
  std::string sourceKey = hexDigest((target == Target::Cpu ? cpuKeyText : gpuKeyText) +
                                    "variant " + variant + "\n" + source);
  // Seen this exact text before: no parsing.
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto s = bySource.find(sourceKey);
    if (s != bySource.end()) {
      auto k = byKey.find(s->second);
      if (k != byKey.end() &&
          k->second.wait_for(std::chrono::seconds(0)) == std::future_status::ready &&
          k->second.get().ok()) {
        if (origin)
          *origin = KernelOrigin::Memory;
        return k->second.get();
      }
    }
  }
  Prepared p;
  std::string err;
  if (!prepare(source, variant, fileName, target, p, err))
    return failWith(err);

  std::promise<Outcome> promise;
  std::shared_future<Outcome> future;
  bool owner = false;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = byKey.find(p.key);
    if (it != byKey.end()) {
      future = it->second;
    } else {
      future = promise.get_future().share();
      byKey.emplace(p.key, future);
      owner = true;
    }
  }
  if (!owner) {
    // Someone else compiled it or is compiling it: wait for their result.
    const Outcome &o = future.get();
    if (!o.ok())
      return o;
    std::lock_guard<std::mutex> lock(mutex);
    bySource[sourceKey] = p.key;
    if (origin)
      *origin = KernelOrigin::Memory;
    return o;
  }
  Outcome outcome = build(target, p);
  promise.set_value(outcome);
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (outcome.ok())
      bySource[sourceKey] = p.key;
    else
      byKey.erase(p.key);
  }
  if (outcome.ok() && origin)
    *origin = outcome.origin();
  return outcome;
}

/// The text of the file at `path`, or nullopt with `*error` set.
static std::optional<std::string> readSource(const std::string &path, std::string *error) {
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buf) {
    if (error)
      *error = "attnc: error: cannot read '" + path + "': " + buf.getError().message();
    return std::nullopt;
  }
  return (*buf)->getBuffer().str();
}

std::shared_ptr<const Kernel> Compiler::compile(const std::string &source,
                                                const std::string &variant,
                                                std::string *error,
                                                const std::string &fileName,
                                                KernelOrigin *origin) {
  Outcome o = impl->compile(Target::Cpu, source, variant, fileName, origin);
  if (!o.kernel && error)
    *error = o.error;
  return o.kernel;
}

std::shared_ptr<const GpuKernel> Compiler::compileGpu(const std::string &source,
                                                      const std::string &variant,
                                                      std::string *error,
                                                      const std::string &fileName,
                                                      KernelOrigin *origin) {
  Outcome o = impl->compile(Target::Gpu, source, variant, fileName, origin);
  if (!o.gpuKernel && error)
    *error = o.error;
  return o.gpuKernel;
}

std::shared_ptr<const Kernel> Compiler::compileFile(const std::string &path,
                                                    const std::string &variant,
                                                    std::string *error,
                                                    KernelOrigin *origin) {
  std::optional<std::string> source = readSource(path, error);
  return source ? compile(*source, variant, error, path, origin) : nullptr;
}

std::shared_ptr<const GpuKernel> Compiler::compileGpuFile(const std::string &path,
                                                          const std::string &variant,
                                                          std::string *error,
                                                          KernelOrigin *origin) {
  std::optional<std::string> source = readSource(path, error);
  return source ? compileGpu(*source, variant, error, path, origin) : nullptr;
}

} // namespace attn
