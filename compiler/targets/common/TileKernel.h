//===- TileKernel.h - a variant's cascade -> a tile kernel ------*- C++ -*-===//
//
// The mapping shared by the CPU and GPU targets: a partitioned cascade
// (normally the online, 1-pass form) becomes a kernel that computes rows
// [row0, row0 + nrows) of one (b, h) with loops over stack buffers
// (scf / arith / math / memref / vector / llvm). The CPU entry is a plain
// function (runtime/include/attn/kernel.h) run by libattnrt's thread pool;
// the GPU entry is a `gpu.func` kernel where each thread computes one row
// (runtime/include/attn/gpu.h). The CPU entry of a split cascade can also
// compute one chunk of the keys and merge chunks (split-KV for decode).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_COMMON_TILEKERNEL_H
#define ATTNC_COMPILER_TARGETS_COMMON_TILEKERNEL_H

#include "attn/attn.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"

#include <string>

namespace attn {
class VariantOp;

/// Which entry the kernel gets.
enum class KernelTarget { Cpu, Gpu };

/// How the kernel is specialised.
struct TileKernelOptions {
  KernelTarget target = KernelTarget::Cpu;
  int64_t rowTile = 64;            ///< rows per call (CPU); 1 on the GPU
  attn_dtype inputType = ATTN_F32; ///< q / k / v / o element type
  /// Vector lanes of the contraction micro-kernel; head dims and rows are
  /// padded to it. 1 turns the micro-kernel off (GPU threads are scalar).
  int64_t vectorLanes = 16;
  /// Read K / V in place instead of copying tiles into stack buffers (the
  /// GPU, where each thread owns one row; Q is still copied once). Tests also
  /// run this mapping on the CPU, with rowTile = vectorLanes = 1.
  bool directInputs = false;
};

/// The symbol name of a variant's kernel: `attn_<variant>_<dtype>_tile` on
/// the CPU, `attn_<variant>_<dtype>_gpu` on the GPU.
std::string tileKernelName(llvm::StringRef variant, attn_dtype inputType,
                           KernelTarget target = KernelTarget::Cpu);

/// Adds `gpu.func @name(%args: !llvm.ptr) kernel` to the `gpu.module
/// @attn_kernels` of `target` (created, with the container attribute, when
/// missing) and leaves `b` before the `gpu.return` of its entry block. Every
/// attnc GPU kernel takes this one parameter (runtime/include/attn/gpu.h).
mlir::gpu::GPUFuncOp addGpuKernel(mlir::ModuleOp target, mlir::OpBuilder &b, mlir::Location loc,
                                  llvm::StringRef name);

/// Adds the kernel of `variant` (which must hold a partitioned
/// `cascade.cascade`) to `target`: a `func.func` for the CPU, a `gpu.func`
/// in the module's `gpu.module @attn_kernels` for the GPU. Reports errors on
/// the variant's location.
///
/// A split cascade (`cascade-split-kv`; CPU only) gives a kernel that also
/// runs over one chunk of the key tiles, leaving each row's iterate states
/// in the caller's scratch, and merges the chunks' states with the
/// cascade's merge Einsums (ATTN_ARG_SPLIT in attn/kernel.h); the number of
/// chunks comes with the call, not from the cascade's `split`.
mlir::LogicalResult buildTileKernel(attn::VariantOp variant, mlir::ModuleOp target,
                                    const TileKernelOptions &options);

/// Whether the CPU kernel of `variant`'s online cascade can split its keys
/// (so `cascade-split-kv` should run on it): one pass over K/V, with every
/// value that crosses key tiles an iterate (softmax-like norms; a norm left
/// multi-pass by the online rewrite cannot).
bool canSplitKeys(attn::VariantOp variant);

} // namespace attn

#endif
