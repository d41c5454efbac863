//===- Partition.cpp - cascade-partition ----------------------------------===//
//
// Rank partitioning (tiling): m -> m1 x m0 and p -> p1 x p0 in every rank
// list; the tile sizes go to the cascade's `partitions`. Bodies keep reading
// the absolute i and j.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/Utils.h"

namespace cascade {
#define GEN_PASS_DEF_CASCADEPARTITION
#include "compiler/Transforms/Passes.h.inc"
} // namespace cascade

using namespace mlir;
using namespace cascade;

namespace {

/// Renames `from` -> `to...` in the rank attribute `name` of `op`.
void renameIn(Operation *op, StringRef name, StringRef from, ArrayRef<StringRef> to) {
  auto ranks = op->getAttrOfType<ArrayAttr>(name);
  if (!ranks)
    return;
  op->setAttr(name, rankAttr(op->getContext(), splitRank(rankNames(ranks), from, to)));
}

void partition(CascadeOp c, StringRef rank, ArrayRef<StringRef> to, int64_t tile) {
  if (tile <= 0)
    return;
  c.walk([&](Operation *op) {
    if (isa<InputOp, EinsumOp, IterateOp>(op)) {
      renameIn(op, "ranks", rank, to);
      renameIn(op, "reduce_ranks", rank, to);
    }
  });
  MLIRContext *ctx = c.getContext();
  NamedAttrList parts;
  if (auto old = c.getPartitionsAttr())
    parts.append(old.getValue());
  parts.set(rank, IntegerAttr::get(IntegerType::get(ctx, 64), tile));
  c.setPartitionsAttr(parts.getDictionary(ctx));
}

struct PartitionPass : public cascade::impl::CascadePartitionBase<PartitionPass> {
  using CascadePartitionBase::CascadePartitionBase;
  void runOnOperation() override {
    if (mTile < 0 || pTile < 0) {
      getOperation()->emitError("cascade-partition: tile sizes must not be negative");
      return signalPassFailure();
    }
    getOperation()->walk([&](CascadeOp c) {
      if (auto parts = c.getPartitionsAttr();
          parts && ((mTile > 0 && parts.get("m")) || (pTile > 0 && parts.get("p")))) {
        c.emitError("cascade is already partitioned");
        return signalPassFailure();
      }
      partition(c, "m", {"m1", "m0"}, mTile);
      partition(c, "p", {"p1", "p0"}, pTile);
    });
  }
};
} // namespace

std::unique_ptr<Pass> cascade::createPartitionPass(int64_t mTile, int64_t pTile) {
  CascadePartitionOptions opts;
  opts.mTile = mTile;
  opts.pTile = pTile;
  return std::make_unique<PartitionPass>(opts);
}
