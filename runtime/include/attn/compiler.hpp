//===- attn/compiler.hpp - the C++ JIT API: Compiler, Kernel, GpuKernel ---===//
//
// Compiles a variant of a `.attn` source in-process and runs it through
// libattnrt: for the host CPU (compile(): MLIR ExecutionEngine JIT, a Kernel)
// or for NVIDIA GPUs (compileGpu(): sm_90a cubins, a GpuKernel launched
// through the CUDA driver). Compiled kernels are cached in memory (per
// Compiler) and on disk (one file per cache key, in $ATTN_CACHE_DIR, else
// $XDG_CACHE_HOME/attnc, else ~/.cache/attnc), so a later process that
// compiles the same variant with the same options for the same target loads
// it in milliseconds. Implemented by libattnc_jit
// (compiler/jit); CMake target `attnc::jit`. Errors are values: compile()
// returns null and an error string, Kernel::run returns an attn_status with
// attn_last_error() set. Nothing here throws or aborts on bad input.
//
//===----------------------------------------------------------------------===//
#ifndef ATTN_COMPILER_HPP
#define ATTN_COMPILER_HPP

#include "attn/gpu_binary.h"
#include "attn/kernel.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace attn {

/// How a Compiler specialises kernels and where it caches them.
struct CompilerOptions {
  /// One kernel per input dtype (q, k, v and o share it), for the CPU and for
  /// the GPU. Allowed: ATTN_F32, ATTN_BF16, ATTN_F16.
  std::vector<attn_dtype> dtypes = {ATTN_F32, ATTN_BF16, ATTN_F16};
  /// The CPU tile kernels' tiles; the GPU kernels have their own (one row
  /// per thread, the GPU target's key tile).
  int64_t rowTile = 64; ///< query rows per tile-kernel call (>= 1)
  int64_t keyTile = 64; ///< keys per inner tile (>= 1)
  /// compileGpu(): the head-dimension tiers of the tensor-core kernels
  /// (multiples of 32 up to 256; a call with D runs the smallest tier >= D,
  /// else the one-row-per-thread kernel). Each tier is about half of a GPU
  /// compile: a program that knows its D compiles only that tier.
  std::vector<int64_t> gpuHeadDims = {64, 128};
  /// The on-disk cache folder; empty: $ATTN_CACHE_DIR, else
  /// $XDG_CACHE_HOME/attnc, else $HOME/.cache/attnc.
  std::string cacheDir;
  /// Look up and store compiled kernels on disk. An unusable cache folder or
  /// file is never an error: the kernel is then compiled in memory.
  bool diskCache = true;
};

/// Where the kernel of one compile() call came from.
enum class KernelOrigin {
  Memory,  ///< this Compiler had it already
  Disk,    ///< loaded from the on-disk cache (dlopen; a .gpu file's cubins)
  Compiled ///< compiled now (MLIR -> LLVM -> ExecutionEngine JIT; -> PTX -> cubin)
};

/// "memory", "disk" or "compiled".
const char *originName(KernelOrigin origin);

/// A runtime scalar of a compiled variant.
struct ParamInfo {
  std::string name;
  attn_dtype type; ///< ATTN_I32, ATTN_F32 or ATTN_BOOL
  bool hasDefault;
  double defaultValue;
};

/// An extra tensor of a compiled variant; dims as in attn_tensor_info
/// (>= 0: an extent; < 0: -(1 + ATTN_SIZE_*)).
struct TensorInfo {
  std::string name;
  attn_dtype dtype;
  std::vector<int64_t> dims;
};

/// What a Kernel is.
struct KernelInfo {
  std::string variant;              ///< the variant's name
  std::vector<attn_dtype> dtypes;   ///< input dtypes it has a tile kernel for
  std::vector<ParamInfo> params;    ///< declaration order
  std::vector<TensorInfo> tensors;  ///< declaration order
  bool hasLse = false;              ///< the norm defines a log-sum-exp
  int64_t rowTile = 0, keyTile = 0; ///< the specialisation
  std::string key;                  ///< the cache key (hex SHA-256 prefix)
  KernelOrigin origin = KernelOrigin::Compiled; ///< how this object was made (disk or compiled)
  double buildMs = 0;               ///< time it took to make this object
  /// Its file in the on-disk cache ("" if none): the file it was loaded
  /// from, or the one a fresh compile stores (a CPU kernel's shared library
  /// is stored in the background, see Compiler::waitForDiskCache; a GPU
  /// kernel's cubins at once).
  std::string cacheFile;
};

/// A compiled variant: one tile kernel per dtype and their descriptions.
/// Immutable and thread-safe; shared by every Compiler cache hit.
class Kernel {
public:
  struct Impl;
  explicit Kernel(std::unique_ptr<Impl> impl);
  ~Kernel();
  Kernel(const Kernel &) = delete;
  Kernel &operator=(const Kernel &) = delete;

  /// Runs the variant on q [B, H, Sq, D], k, v [B, Hkv, Skv, D] into o
  /// [B, H, Sq, D] (o has q's dtype), with the tile kernel of q's dtype.
  /// `lse` (f32 [B, H, Sq]) may be null; `params` holds one value per
  /// declared param in order, NaN for "the default" (null: all defaults);
  /// `tensors` one view per declared tensor in order; `qOffset` < 0 means
  /// Skv - Sq; `threads` 0 means all cores. Returns ATTN_OK or a status with
  /// attn_last_error() set (a dtype without a kernel is
  /// ATTN_ERROR_UNSUPPORTED).
  attn_status run(const attn_tensor &q, const attn_tensor &k,
                  const attn_tensor &v, attn_tensor &o,
                  attn_tensor *lse = nullptr, const double *params = nullptr,
                  const attn_tensor *tensors = nullptr, int64_t qOffset = -1,
                  int32_t threads = 0) const;

  /// As above with params and tensors by name: a name the variant does not
  /// declare, or a missing tensor, is ATTN_ERROR_INVALID_ARGUMENT with a
  /// message naming it and what the variant declares. Params not given take
  /// their defaults.
  attn_status run(const attn_tensor &q, const attn_tensor &k,
                  const attn_tensor &v, attn_tensor &o, attn_tensor *lse,
                  const std::map<std::string, double> &params,
                  const std::map<std::string, attn_tensor> &tensors = {},
                  int64_t qOffset = -1, int32_t threads = 0) const;

  /// The variant, its declarations and how it was built.
  const KernelInfo &info() const;

  /// The C description and tile function for `dtype` (for attn_cpu_launch
  /// directly); null when there is no kernel for it.
  const attn_variant_info *variantInfo(attn_dtype dtype) const;
  attn_tile_fn tileFunction(attn_dtype dtype) const;

private:
  std::unique_ptr<Impl> impl;
};

/// A variant compiled for NVIDIA GPUs (sm_90a): one cubin per dtype, each
/// holding the base kernel `attn_<variant>_<dtype>_gpu` (and whatever else
/// the GPU target puts beside it), and their descriptions. Immutable and
/// thread-safe; shared by every Compiler cache hit. Runs through libattnrt's
/// CUDA launcher (attn/gpu_binary.h), which loads a cubin into the current
/// CUDA context at its first run; every tensor is a view of device memory.
class GpuKernel {
public:
  struct Impl;
  explicit GpuKernel(std::unique_ptr<Impl> impl);
  ~GpuKernel();
  GpuKernel(const GpuKernel &) = delete;
  GpuKernel &operator=(const GpuKernel &) = delete;

  /// Kernel::run's arguments with device tensors, on `stream` (a CUstream;
  /// null: the default stream); returns when the kernel has finished. A
  /// dtype without a cubin, and a machine without a CUDA driver or device,
  /// are ATTN_ERROR_UNSUPPORTED with attn_last_error() saying why; bad
  /// arguments are ATTN_ERROR_INVALID_ARGUMENT (checked before the driver
  /// is asked for anything).
  attn_status run(const attn_tensor &q, const attn_tensor &k,
                  const attn_tensor &v, attn_tensor &o,
                  attn_tensor *lse = nullptr, const double *params = nullptr,
                  const attn_tensor *tensors = nullptr, int64_t qOffset = -1,
                  void *stream = nullptr) const;

  /// As above with params and tensors by name (as Kernel::run).
  attn_status run(const attn_tensor &q, const attn_tensor &k,
                  const attn_tensor &v, attn_tensor &o, attn_tensor *lse,
                  const std::map<std::string, double> &params,
                  const std::map<std::string, attn_tensor> &tensors = {},
                  int64_t qOffset = -1, void *stream = nullptr) const;

  /// The variant, its declarations and how it was built (rowTile 1: one row
  /// per GPU thread; keyTile: the GPU target's).
  const KernelInfo &info() const;

  /// The cubin, base kernel name and C description for `dtype` (for
  /// attn_gpu_module_load / attn_gpu_launch directly); null when there is
  /// no kernel for it. Valid as long as this GpuKernel.
  const attn_gpu_binary *binary(attn_dtype dtype) const;

private:
  std::unique_ptr<Impl> impl;
};

/// JIT-compiles variants for the CPU or the GPU, with an in-memory and an
/// on-disk cache. Thread-safe: concurrent compiles of the same variant for
/// the same target do the work once.
class Compiler {
public:
  explicit Compiler(CompilerOptions options = CompilerOptions());
  ~Compiler();
  Compiler(const Compiler &) = delete;
  Compiler &operator=(const Compiler &) = delete;

  /// Compiles `variant` of the .attn text `source` (`variant` may be empty
  /// when the source defines exactly one). On failure returns null and sets
  /// `*error` (when given) to the diagnostics, `fileName:line:col: error:
  /// ...` with the source line and a caret, or to a one-line message.
  /// `*origin` (when given) says where the kernel came from.
  std::shared_ptr<const Kernel> compile(const std::string &source,
                                        const std::string &variant,
                                        std::string *error = nullptr,
                                        const std::string &fileName = "<source>",
                                        KernelOrigin *origin = nullptr);

  /// compile() on the contents of the file at `path`.
  std::shared_ptr<const Kernel> compileFile(const std::string &path,
                                            const std::string &variant,
                                            std::string *error = nullptr,
                                            KernelOrigin *origin = nullptr);

  /// compile() for NVIDIA GPUs: one sm_90a cubin per dtype of the options
  /// (needs the CUDA toolkit's ptxas, not a GPU), cached in memory and on
  /// disk (`<cacheDir>/<key>.gpu`) like CPU kernels, under keys of their own.
  std::shared_ptr<const GpuKernel> compileGpu(const std::string &source,
                                              const std::string &variant,
                                              std::string *error = nullptr,
                                              const std::string &fileName = "<source>",
                                              KernelOrigin *origin = nullptr);

  /// compileGpu() on the contents of the file at `path`.
  std::shared_ptr<const GpuKernel> compileGpuFile(const std::string &path,
                                                  const std::string &variant,
                                                  std::string *error = nullptr,
                                                  KernelOrigin *origin = nullptr);

  /// The options, with cacheDir resolved ("" when there is no disk cache).
  const CompilerOptions &options() const;

  /// A fresh compile stores its shared library in the on-disk cache on a
  /// background thread (the JIT'd kernel is usable at once); this waits for
  /// every such store. The destructor waits too.
  void waitForDiskCache();

  /// The cache key a compile() (CPU) of this source and variant would use,
  /// or "" (with `*error`) when the source does not compile to attn IR.
  std::string cacheKey(const std::string &source, const std::string &variant,
                       std::string *error = nullptr,
                       const std::string &fileName = "<source>") const;

  /// The compiler identity that is part of every cache key (version, LLVM,
  /// build of libattnc_jit).
  static std::string versionString();

  /// The default on-disk cache folder (see CompilerOptions::cacheDir).
  static std::string defaultCacheDir();

private:
  struct Impl;
  std::unique_ptr<Impl> impl;
};

} // namespace attn

#endif // ATTN_COMPILER_HPP
