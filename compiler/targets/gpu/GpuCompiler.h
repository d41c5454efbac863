//===- GpuCompiler.h - variants -> GPU kernels -> PTX / cubin ---*- C++ -*-===//
//
// The GPU target's driver: lowers the variants of an attn module to their
// cascades and GPU tile kernels (compiler/targets/common/TileKernel.h, one
// thread per row), then through gpu / nvvm and LLVM's NVPTX backend to PTX
// (gpu-module-to-binary, one nested module per kernel, lowered in parallel on
// the context's threads), and through one whole-program ptxas run over those
// PTX modules to an sm_90a cubin.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_GPU_GPUCOMPILER_H
#define ATTNC_COMPILER_TARGETS_GPU_GPUCOMPILER_H

#include "attn/attn.h"
#include "compiler/targets/gpu/MmaKernel.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LogicalResult.h"

#include <string>
#include <vector>

namespace attn {
class VariantOp;

/// A GPU compile: the target, the tiers and dtypes, and the tensor-core
/// kernels' mapping (MmaMapping, attnc's --gpu-* flags).
struct GpuCompileOptions : MmaMapping {
  int64_t keyTile = 16;                        ///< keys per tile (m0)
  std::vector<attn_dtype> dtypes = {ATTN_BF16, ATTN_F16, ATTN_F32};
  std::string chip = "sm_90a";
  std::string features = "+ptx83";
  int optLevel = 3;
  /// Head-dimension tiers of the tensor-core kernels (MmaKernel.h) added next
  /// to each bf16 / fp16 row kernel; empty: row kernels only.
  std::vector<int64_t> mmaHeadDims = {64, 128};
  /// On sm_90a the tensor-core kernels use warpgroup MMAs (wgmma); false:
  /// mma.sync everywhere (attnc --gpu-mma=sync).
  bool wgmma = true;
};

/// Registers the dialects and translations the GPU target produces.
void registerGpuCodegenDialects(mlir::DialectRegistry &registry);

/// The cascade pipeline the GPU target wants (online, m partitioned by
/// keyTile), in place.
mlir::LogicalResult lowerToGpuCascade(mlir::ModuleOp module, const GpuCompileOptions &options);

/// A new module holding `gpu.module @attn_kernels` with one kernel per
/// variant of `cascades` and dtype.
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
buildGpuKernels(mlir::ModuleOp cascades, const GpuCompileOptions &options);

/// Lowers a module from buildGpuKernels to a binary: `ptx` true gives PTX
/// text (one module), false a cubin (needs ptxas: CUDA_HOME, PATH or
/// /usr/local/cuda). The kernels lower in parallel when the context has
/// threads (the JIT gives its contexts a shared pool).
mlir::FailureOr<std::string> compileGpuKernels(mlir::ModuleOp kernels,
                                               const GpuCompileOptions &options, bool ptx);

/// Adds the kernels of one variant and dtype to `kernels`: the row kernel
/// `attn_<variant>_<dtype>_gpu` and, where the cascade fits the tensor-core
/// mapping, `..._d<N>` for every N of options.mmaHeadDims.
mlir::LogicalResult addVariantKernels(attn::VariantOp variant, attn_dtype dtype,
                                      const GpuCompileOptions &options, mlir::ModuleOp kernels);

/// Compiles the kernels of one variant (its cascade already built by
/// lowerToGpuCascade) for `dtype` into a cubin (or PTX) holding
/// `attn_<variant>_<dtype>_gpu` (and its tensor-core kernels).
mlir::FailureOr<std::string> compileVariantBinary(attn::VariantOp variant, attn_dtype dtype,
                                                  const GpuCompileOptions &options, bool ptx);

/// Compiles every variant of `attnModule` (lowered in place) for every dtype
/// of `options` and writes, into the existing directory `dir`,
/// `<variant>_<dtype>.cubin` (or `.ptx` when `ptx`) holding kernel
/// `attn_<variant>_<dtype>_gpu`, and `<variant>.info` (docs/gpu.md).
/// Errors are reported on the variants' locations or returned as text.
mlir::LogicalResult writeGpuArtifacts(mlir::ModuleOp attnModule, const GpuCompileOptions &options,
                                      const std::string &dir, bool ptx, std::string &error);

} // namespace attn

#endif
