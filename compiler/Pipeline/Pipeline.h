//===- Pipeline.h - attn -> rewritten cascade, stage by stage ---*- C++ -*-===//
#ifndef ATTNC_COMPILER_PIPELINE_PIPELINE_H
#define ATTNC_COMPILER_PIPELINE_PIPELINE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <functional>
#include <string>

namespace attn {

/// How the cascade is rewritten before a target maps it.
struct PipelineOptions {
  /// Tile of the key rank m (`cascade-partition{m-tile}`); 0 skips partitioning
  /// (and with it the online rewrite).
  int64_t mTile = 64;
  /// Tile of the query rank p; 0 keeps p whole.
  int64_t pTile = 0;
  /// Run `cascade-online` (iterative construction over m1).
  bool online = true;
  /// Run `cascade-defer-division`.
  bool deferDivision = true;
  /// Split-KV workers (`cascade-split-kv{workers}`); 0 or 1 = no split.
  int64_t splitKV = 0;
};

/// Lowers every attn.variant of `module` to its cascade (`attn-to-cascade`) and
/// applies the rewrites `options` asks for, in order: defer-division,
/// partition, online, split-KV. After each stage `onStage(stageName, module)`
/// is called (stage names: "attn-to-cascade", "defer-division", "partition",
/// "online", "split-kv"). Fails, with diagnostics already emitted, if a stage
/// fails.
mlir::LogicalResult
lowerToCascade(mlir::ModuleOp module, const PipelineOptions &options,
               std::function<void(llvm::StringRef stage, mlir::ModuleOp)> onStage = {});

/// `diag` as attnc prints it, pointing at the user's source:
/// `file:line:col: error: message` (a location that is not a file position,
/// as MLIR prints it), then its notes the same way; each line ends in '\n'.
/// attnc's handler and the JIT's error text both use it.
std::string formatDiagnostic(mlir::Diagnostic &diag);

} // namespace attn

#endif
