//===- CpuCompiler.h - variants -> CPU tile kernels, .so, header -*- C++ -*-===//
//
// The CPU target's driver: lowers the variants of an attn module to their
// cascades and tile kernels, and produces what JIT and AOT need: the LLVM
// module, a shared library, the variant descriptions and the C header.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_CPU_CPUCOMPILER_H
#define ATTNC_COMPILER_TARGETS_CPU_CPUCOMPILER_H

#include "attn/kernel.h"
#include "compiler/targets/common/VariantDescription.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace attn {
class VariantOp;

struct CpuCompileOptions {
  int64_t rowTile = 64;                      ///< query rows per tile-kernel call
  int64_t keyTile = 64;                      ///< keys per tile (m0)
  std::vector<attn_dtype> dtypes = {ATTN_F32}; ///< one kernel per input dtype
  /// The GPU's mapping (one row per call, inputs read in place, no vectors),
  /// run on the CPU: lets CI check the GPU kernels' logic numerically.
  bool gpuMapping = false;
};

/// The CPU kernels keep a row tile's [rows x keys] f32 buffers (scores,
/// weights, masks) on the calling thread's stack: rowTile * keyTile is at
/// most this many points (256 KiB a buffer).
constexpr int64_t kMaxCpuTilePoints = 64 * 1024;

/// "" when rowTile and keyTile (attnc --row-tile / --key-tile,
/// CompilerOptions) suit the CPU kernels, else why not (one sentence).
inline std::string checkCpuTiles(int64_t rowTile, int64_t keyTile) {
  if (rowTile < 1 || keyTile < 1)
    return "the row tile and the key tile must be >= 1";
  if (rowTile > kMaxCpuTilePoints / keyTile)
    return "row tile x key tile = " + std::to_string(rowTile) + " x " + std::to_string(keyTile) +
           " is above the CPU kernels' limit of " + std::to_string(kMaxCpuTilePoints) +
           " points (their tile buffers live on the stack)";
  return "";
}

/// Runs the cascade pipeline the CPU target wants (attn-to-cascade, division
/// deferral, partitioning of m by keyTile, online rewrite, and split-KV for
/// the cascades whose kernels can split their keys: canSplitKeys) on
/// `module` in place.
mlir::LogicalResult lowerToCpuCascade(mlir::ModuleOp module,
                                      const CpuCompileOptions &options);

/// Builds a new module with the tile kernel of every variant of `cascades`
/// (already lowered by lowerToCpuCascade) for every dtype, lowered to the
/// LLVM dialect.
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
buildCpuKernels(mlir::ModuleOp cascades, const CpuCompileOptions &options);

/// Compiles an LLVM-dialect module to an object and links it into a shared
/// library at `path` (depends on nothing but what the kernels call).
llvm::Error writeSharedLibrary(mlir::ModuleOp kernels, const std::string &path);

/// The C declarations of the kernels of `cascades`, their descriptions and
/// an `attn_<variant>_<dtype>(...)` entry point per kernel (calls libattnrt),
/// for a header that includes <attn/kernel.h>.
std::string emitCpuDeclarations(mlir::ModuleOp cascades, const CpuCompileOptions &options);

/// A C header (valid C and C++) guarded by `guard`, saying it holds `what`,
/// including `includes` (e.g. "attn/kernel.h") and holding `body` in
/// extern "C".
std::string wrapHeader(const std::string &guard, const std::string &what,
                       llvm::ArrayRef<std::string> includes, const std::string &body);

/// The C header of a library of the CPU kernels of `cascades`:
/// emitCpuDeclarations in wrapHeader.
std::string emitCpuHeader(mlir::ModuleOp cascades, const CpuCompileOptions &options,
                          const std::string &guard);

} // namespace attn

#endif
