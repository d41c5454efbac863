//===- Driver.h - shared pieces of the attnc subcommands --------*- C++ -*-===//
#ifndef ATTNC_COMPILER_TOOLS_ATTNC_DRIVER_H
#define ATTNC_COMPILER_TOOLS_ATTNC_DRIVER_H

#include "attn/attn.h"
#include "compiler/reference/Problem.h"
#include "compiler/targets/gpu/GpuCompiler.h"
#include "frontend/AST.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attn::driver {

/// A parsed, checked and emitted .attn file.
struct LoadedFile {
  std::unique_ptr<ast::Module> ast;
  mlir::OwningOpRef<mlir::ModuleOp> attnModule;
};

/// Registers every dialect attnc uses in `ctx`.
void registerDialects(mlir::MLIRContext &ctx);

/// Reads `path`, parses and checks it (diagnostics to stderr, clang style) and
/// emits the attn dialect. `variant` selects one variant (error if unknown).
/// Returns null on any error (already reported).
std::unique_ptr<LoadedFile> loadAttnFile(mlir::MLIRContext &ctx,
                                         const std::string &path,
                                         const std::string &variant);

/// `attnc run ...` (RunCommand.cpp). argv[0] is "run".
int runMain(int argc, char **argv);

/// `attnc FILE --explain` / `--emit cascade` (Explain.cpp): prints, for each
/// variant of `module`, the cascade before and after the rewrites and the pass
/// count with reasons (explain), or just the final cascade IR; the GPU line
/// describes the tensor-core kernels under `gpuMapping` (attnc's --gpu-* flags)
/// with warpgroup MMAs on sm_90a (`gpuWgmma`) or mma.sync (--gpu-mma=sync).
int explainMain(mlir::ModuleOp attnModule, bool explain, const MmaMapping &gpuMapping,
                bool gpuWgmma, llvm::raw_ostream &os);

/// What `attnc FILE` produces ahead of time (Aot.cpp).
enum class AotKind {
  Library, ///< a shared library with every tile kernel (-o libX.so)
  Header,  ///< the C header declaring them (--emit header)
  Llvm     ///< the optimised LLVM IR (--emit llvm)
};

/// The options of an AOT build.
struct AotOptions {
  AotKind kind = AotKind::Library;
  std::string input;          ///< the .attn file (for messages)
  std::string output = "-";   ///< "-": stdout (not for a library)
  /// cpu: the CPU kernels; gpu: the GPU kernels (cubins embedded in the
  /// library, with their entry points); all: both. spatial builds nothing.
  std::string target = "cpu";
  std::vector<attn_dtype> dtypes = {ATTN_F32, ATTN_BF16, ATTN_F16};
  int64_t rowTile = 64, keyTile = 64; ///< the CPU kernels' tiles
  int64_t gpuKeyTile = 16;            ///< the GPU kernels' key tile
  std::vector<int64_t> gpuHeadDims = {64, 128}; ///< tensor-core kernel tiers (--gpu-head-dims)
  bool gpuWgmma = true; ///< warpgroup MMAs on sm_90a (--gpu-mma)
  /// The tensor-core kernels' mapping (--gpu-tile-range, --gpu-pingpong, --gpu-paired-mma,
  /// --gpu-warpgroup-votes, --gpu-masked-sums, --gpu-tile-classes, --gpu-overlap,
  /// --gpu-persistent, --gpu-producer, --gpu-max-registers).
  MmaMapping gpuMapping;
  bool verbose = false; ///< announce the work at once (else after 1 s)
};

/// Builds what `o` asks for from every variant of `attnModule` (the attn
/// dialect; lowered in place, a copy of it for the GPU with --target all).
/// Errors go to stderr; returns the exit status.
int aotMain(mlir::ModuleOp attnModule, const AotOptions &o);

/// The GPU target's options from attnc's (--gpu-*, --dtypes): the one mapping
/// that `--emit cubin|ptx` and the libraries of --target gpu|all share.
GpuCompileOptions gpuCompileOptions(const AotOptions &o);

/// `attnc run --target cpu` (RunCpu.cpp): JIT-compiles `variant` of `file`
/// for q's dtype through attn::Compiler (with its caches), runs it on
/// `problem` (q/k/v in `qType`) and returns o (and lse when the norm has one)
/// as float64 in `result`. Prints where the kernel came from and the times
/// to stdout. Returns an error message on failure.
std::optional<std::string> runOnCpu(const std::string &file, const std::string &variant,
                                    const ref::Problem &problem, attn_dtype qType,
                                    ref::Result &result);

/// The inputs a compiled target (cpu, gpu) accepts: q in f32 / bf16 / f16 and
/// q_offset >= 0 (the C ABI reads a negative offset as the default). Returns
/// the error message naming `target`, or nullopt.
std::optional<std::string> checkCompiledTargetInputs(const std::string &target,
                                                     const ref::Problem &problem,
                                                     attn_dtype qType);

/// Milliseconds since `start`.
double msSince(std::chrono::steady_clock::time_point start);

/// `attnc run --target gpu` (RunGpu.cpp): compiles the variant's GPU kernel
/// for `qType`, runs it through libattnrt's CUDA launcher; an error message
/// (e.g. no GPU or driver) on failure.
std::optional<std::string> runOnGpu(const std::string &file, const std::string &variant,
                                    const ref::Problem &problem, attn_dtype qType,
                                    ref::Result &result);

} // namespace attn::driver

#endif
