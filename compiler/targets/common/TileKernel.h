//===- CascadeToCpu.h - a variant's cascade -> a CPU tile kernel -*- C++ -*-===//
//
// Builds the tile kernel of runtime/include/attn/kernel.h from a partitioned
// cascade (normally the online, 1-pass form): a `func.func` over scf / arith /
// math / memref / llvm that computes rows [row0, row0 + nrows) of one (b, h).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_CPU_CASCADETOCPU_H
#define ATTNC_COMPILER_TARGETS_CPU_CASCADETOCPU_H

#include "attn/attn.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"

#include <string>

namespace attn {
class VariantOp;

/// How the kernel is specialised.
struct CpuKernelOptions {
  int64_t rowTile = 64;             ///< rows per call (the runtime's row tile)
  attn_dtype inputType = ATTN_F32;  ///< q / k / v / o element type
};

/// The symbol name of a variant's tile kernel: `attn_<variant>_<dtype>_tile`.
std::string tileKernelName(llvm::StringRef variant, attn_dtype inputType);

/// Adds the tile kernel of `variant` (which must hold a partitioned
/// `cascade.cascade`) to `target`. Reports errors on the variant's location.
mlir::LogicalResult buildCpuTileKernel(attn::VariantOp variant,
                                       mlir::ModuleOp target,
                                       const CpuKernelOptions &options);

} // namespace attn

#endif
