//===- Utils.h - helpers shared by the cascade rewrites --------*- C++ -*-===//
#ifndef ATTNC_COMPILER_TRANSFORMS_UTILS_H
#define ATTNC_COMPILER_TRANSFORMS_UTILS_H

#include "dialects/cascade/CascadeDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

#include <optional>

namespace cascade {
/// True when some rank of `ranks` is a key rank.
bool hasKeyRank(llvm::ArrayRef<llvm::StringRef> ranks);
/// True when the fiber has no key rank (a row-level value such as GM [p]).
bool isRowLevel(mlir::Value fiber);

/// Creates `cascade.einsum` with an entry block holding `b, h, i, j : i64` and
/// one argument per input, and leaves `b` at the start of that block.
EinsumOp createEinsum(mlir::OpBuilder &b, mlir::Location loc, mlir::Type elem,
                      llvm::StringRef name, llvm::ArrayRef<llvm::StringRef> ranks,
                      std::optional<CombineKind> reduce,
                      llvm::ArrayRef<llvm::StringRef> reduceRanks, mlir::ValueRange inputs,
                      mlir::Value keep = {}, mlir::Value init = {});
/// Creates `cascade.iterate` over `over` with an entry block holding
/// `b, h, i, j : i64`, `prev : f32` and one argument per input, and leaves `b`
/// at the start of that block.
IterateOp createIterate(mlir::OpBuilder &b, mlir::Location loc, llvm::StringRef name,
                        llvm::ArrayRef<llvm::StringRef> ranks, llvm::StringRef over,
                        double identity, mlir::ValueRange inputs, mlir::Value init = {});

/// Replaces every rank `from` by `to` (in order) in a rank list.
llvm::SmallVector<llvm::StringRef> splitRank(llvm::ArrayRef<llvm::StringRef> ranks,
                                             llvm::StringRef from,
                                             llvm::ArrayRef<llvm::StringRef> to);

/// Erases inputs, einsums and iterates of `c` whose results are unused, and
/// then the unused pure ops inside the remaining bodies.
void eraseDeadOps(CascadeOp c);

/// Clones the ops of `v`'s block that compute `v`, in the block's order, at
/// `b`'s insertion point, and returns the clone of `v`; every block argument
/// they read must be mapped in `map` (null when one is not).
mlir::Value cloneChain(mlir::OpBuilder &b, mlir::Value v, mlir::IRMapping &map);

/// An f32 constant.
mlir::Value f32Const(mlir::OpBuilder &b, mlir::Location loc, double v);
} // namespace cascade

#endif // ATTNC_COMPILER_TRANSFORMS_UTILS_H
