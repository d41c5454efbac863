//===- SplitKV.cpp - cascade-split-kv: per-worker iterates, merge over m2 -===//
//
// Split-KV (flash-decoding) on an online cascade: the key tiles m1 are
// divided among W workers, m1 -> m2 x m1 (m2 = worker, extent W; m1 = tile
// within the worker, extent ceil(ceil(Skv / T) / W); j = (m2 * M1 + m1) * T +
// m0), recorded as the cascade's `split = W`. Every iterate then runs per
// worker, and each iterate R gets a merge Einsum over m2 read by every
// consumer of R's final:
//
//   R_merged [kept] = red [m2] (R_final, r_final, r_merged...)
//       { R_w == identity ? identity : R_w * exp(sum c * (r_merged - r_w)) }
//
// with the same factors c as the online rewrite: the iterate's exponent
// sum c * (r.cur - r.prev), cloned with r.prev -> r_w and r.cur -> r_merged
// (c a constant or a row value, e.g. 1 / T for a param T).
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

namespace cascade {
#define GEN_PASS_DEF_CASCADESPLITKV
#include "compiler/Transforms/Passes.h.inc"
} // namespace cascade

using namespace mlir;
using namespace cascade;

namespace {

/// t of a rescaling iterate's body select(prev == id, l, combine(prev * exp(t), l)).
Value rescaleExponent(IterateOp it) {
  auto y = cast<YieldOp>(it.getBody().front().getTerminator());
  auto sel = y.getValue().getDefiningOp<arith::SelectOp>();
  Operation *comb = sel ? sel.getFalseValue().getDefiningOp() : nullptr;
  if (!comb || comb->getNumOperands() != 2)
    return {};
  auto mul = comb->getOperand(0).getDefiningOp<arith::MulFOp>();
  auto e = mul ? mul.getRhs().getDefiningOp<math::ExpOp>() : nullptr;
  return e ? e.getOperand() : Value();
}

/// Renames m1 -> m2, m1 in every rank list (iterates keep iterating m1).
void splitRanks(CascadeOp c) {
  MLIRContext *ctx = c.getContext();
  c.walk([&](Operation *op) {
    if (!isa<InputOp, EinsumOp, IterateOp>(op))
      return;
    for (StringRef attr : {"ranks", "reduce_ranks"})
      if (auto ranks = op->getAttrOfType<ArrayAttr>(attr))
        op->setAttr(attr, rankAttr(ctx, splitRank(rankNames(ranks), "m1", {"m2", "m1"})));
  });
}

LogicalResult splitOne(CascadeOp c, int64_t workers) {
  auto parts = c.getPartitionsAttr();
  if (!parts || !parts.get("m"))
    return c.emitError("cascade-split-kv needs a partitioned, online cascade");
  if (c.getSplitAttr())
    return c.emitError("cascade is already split");
  SmallVector<IterateOp> iterates;
  for (Operation &op : c.getBody().front())
    if (auto it = dyn_cast<IterateOp>(op))
      iterates.push_back(it);
  if (iterates.empty())
    return c.emitError("cascade-split-kv needs an online cascade (run cascade-online first)");
  for (IterateOp it : iterates)
    if (it.getOver() != "m1" || !it->getAttrOfType<StringAttr>("combine") ||
        !symbolizeCombineKind(it->getAttrOfType<StringAttr>("combine").getValue()))
      return it.emitError("cascade-split-kv: iterate without a `combine` kind over m1 "
                          "(not produced by cascade-online)");

  splitRanks(c);
  OpBuilder b(c.getContext());
  c.setSplitAttr(b.getI64IntegerAttr(workers));

  llvm::DenseMap<Operation *, Value> merged;
  llvm::SmallPtrSet<Operation *, 8> merges;
  for (IterateOp it : iterates) {
    CombineKind kind = *symbolizeCombineKind(it->getAttrOfType<StringAttr>("combine").getValue());
    double identity = identityOf(kind);
    size_t numRescales = 0;
    if (auto rs = it->getAttrOfType<ArrayAttr>("rescale"))
      numRescales = rs.size();
    SmallVector<IterateOp> deps;
    for (size_t k = 0; k < numRescales; ++k) {
      auto dep = it.getInputs()[1 + 2 * k].getDefiningOp<IterateOp>();
      if (!dep || !merged.count(dep))
        return it.emitError("cascade-split-kv: rescale input #")
               << k << " is not an earlier iterate's prev";
      deps.push_back(dep);
    }
    // A sum's init would be added once per worker: move it to the merge.
    Value init;
    if (kind == CombineKind::sum && it.getInit()) {
      init = it.getInit();
      it.getInitMutable().clear();
    }

    SmallVector<Value> inputs{it.getFinal()};
    for (IterateOp d : deps) {
      inputs.push_back(d.getFinal());
      inputs.push_back(merged[d]);
    }
    SmallVector<StringRef> kept = getRanks(it.getFinal());
    llvm::erase(kept, "m2");
    Location loc = it.getLoc();
    b.setInsertionPointAfter(it);
    EinsumOp m = createEinsum(b, loc, b.getF32Type(), (it.getName() + "_merged").str(), kept,
                              kind, {"m2"}, inputs, Value(), init);
    Block *body = &m.getBody().front();
    Value x = body->getArgument(4);
    Value res = x;
    if (numRescales) {
      Value exponent = rescaleExponent(it);
      if (!exponent)
        return it.emitError("cascade-split-kv: a rescaling iterate whose body is not "
                            "prev == identity ? l : combine(prev * exp(t), l)");
      // The iterate's arguments b h i j, prev, l, (r.prev, r.cur)...; the
      // merge's b h i j, R_w, (r_w, r_merged)...
      Block *from = &it.getBody().front();
      IRMapping map;
      for (unsigned a = 0; a < 4; ++a)
        map.map(from->getArgument(a), body->getArgument(a));
      for (size_t k = 0; k < numRescales; ++k) {
        map.map(from->getArgument(6 + 2 * k), body->getArgument(5 + 2 * k));
        map.map(from->getArgument(7 + 2 * k), body->getArgument(6 + 2 * k));
      }
      Value t = cloneChain(b, exponent, map);
      if (!t)
        return it.emitError("cascade-split-kv: the rescale exponent reads prev or l");
      Value scaled = arith::MulFOp::create(b, loc, x, math::ExpOp::create(b, loc, t));
      Value id = f32Const(b, loc, identity);
      Value isId = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x, id);
      res = arith::SelectOp::create(b, loc, isId, id, scaled);
    }
    YieldOp::create(b, loc, res);
    merged[it] = m.getResult();
    merges.insert(m);
    it.getFinal().replaceUsesWithIf(m.getResult(), [&](OpOperand &use) {
      return !merges.contains(use.getOwner());
    });
  }
  return success();
}

struct SplitKVPass : public cascade::impl::CascadeSplitKVBase<SplitKVPass> {
  using CascadeSplitKVBase::CascadeSplitKVBase;
  void runOnOperation() override {
    if (workers <= 1)
      return;
    getOperation()->walk([&](CascadeOp c) {
      if (failed(splitOne(c, workers)))
        signalPassFailure();
    });
  }
};
} // namespace

std::unique_ptr<Pass> cascade::createSplitKVPass(int64_t workers) {
  CascadeSplitKVOptions opts;
  opts.workers = workers;
  return std::make_unique<SplitKVPass>(opts);
}
