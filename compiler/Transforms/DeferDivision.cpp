//===- DeferDivision.cpp - cascade-defer-division -------------------------===//
//
// A [.., m, p] = (...) { N / D } whose only user is AV = sum[m](A, V) { a * v }
// becomes NV = sum[m](N's inputs, V) { N * v } and AV = (NV, D's inputs)
// { nv / D }, when D depends only on row-level inputs and on b, h, i.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"

namespace cascade {
#define GEN_PASS_DEF_CASCADEDEFERDIVISION
#include "compiler/Transforms/Passes.h.inc"
} // namespace cascade

using namespace mlir;
using namespace cascade;

namespace {

/// The ops of `block` that `root` depends on (in block order) and the block
/// arguments it reads.
struct Cone {
  llvm::SetVector<Operation *> ops;
  llvm::SetVector<BlockArgument> args;
};

/// Collects the backward slice of `root` inside `block`; fails on values
/// defined outside it or on ops with regions.
FailureOr<Cone> coneOf(Value root, Block &block) {
  Cone cone;
  SmallVector<Value> work{root};
  llvm::DenseSet<Value> seen;
  while (!work.empty()) {
    Value v = work.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      if (arg.getOwner() != &block)
        return failure();
      cone.args.insert(arg);
      continue;
    }
    Operation *op = v.getDefiningOp();
    if (op->getBlock() != &block || op->getNumRegions() != 0)
      return failure();
    cone.ops.insert(op);
    for (Value o : op->getOperands())
      work.push_back(o);
  }
  // Block order so that clones see their operands first.
  SmallVector<Operation *> ordered(cone.ops.begin(), cone.ops.end());
  llvm::sort(ordered, [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  cone.ops = llvm::SetVector<Operation *>(ordered.begin(), ordered.end());
  return cone;
}

/// The inputs (operands of `a`) read by the cone, in input order, and maps
/// their block arguments onto `newBlock`'s arguments starting at `firstArg`.
SmallVector<Value> coneInputs(EinsumOp a, const Cone &cone) {
  SmallVector<Value> out;
  for (auto [k, in] : llvm::enumerate(a.getInputs()))
    if (cone.args.contains(a.getBody().front().getArgument(4 + k)))
      out.push_back(in);
  return out;
}

/// Clones the cone into the block at `b`'s insertion point, mapping b, h, i, j
/// and the used input arguments onto `newBlock`'s, and returns the root's clone.
Value cloneCone(OpBuilder &b, EinsumOp a, const Cone &cone, Value root, Block *newBlock,
                unsigned firstArg) {
  IRMapping map;
  Block &old = a.getBody().front();
  for (unsigned k = 0; k < 4; ++k)
    map.map(old.getArgument(k), newBlock->getArgument(k));
  unsigned next = firstArg;
  for (unsigned k = 0; k < a.getInputs().size(); ++k)
    if (cone.args.contains(old.getArgument(4 + k)))
      map.map(old.getArgument(4 + k), newBlock->getArgument(next++));
  for (Operation *op : cone.ops)
    b.clone(*op, map);
  return map.lookup(root);
}

/// Rewrites one AV = sum(A, V) when A = N / D qualifies.
bool deferOne(EinsumOp av) {
  if (!av.getReduce() || *av.getReduce() != CombineKind::sum || av.getInit() ||
      av.getInputs().size() != 2)
    return false;
  auto a = av.getInputs()[0].getDefiningOp<EinsumOp>();
  if (!a || a.getReduce() || !a->hasOneUse())
    return false;
  // AV's body must be a * v.
  Block &avBody = av.getBody().front();
  auto avYield = cast<YieldOp>(avBody.getTerminator());
  auto mul = avYield.getValue().getDefiningOp<arith::MulFOp>();
  if (!mul)
    return false;
  Value aArg = avBody.getArgument(4), vArg = avBody.getArgument(5);
  if (!((mul.getLhs() == aArg && mul.getRhs() == vArg) ||
        (mul.getLhs() == vArg && mul.getRhs() == aArg)))
    return false;
  // A's body must yield N / D.
  Block &aBody = a.getBody().front();
  auto div = cast<YieldOp>(aBody.getTerminator()).getValue().getDefiningOp<arith::DivFOp>();
  if (!div)
    return false;
  FailureOr<Cone> nCone = coneOf(div.getLhs(), aBody);
  FailureOr<Cone> dCone = coneOf(div.getRhs(), aBody);
  if (failed(nCone) || failed(dCone))
    return false;
  for (BlockArgument arg : dCone->args) {
    unsigned k = arg.getArgNumber();
    if (k == 3)
      return false; // j
    if (k >= 4 && !isRowLevel(a.getInputs()[k - 4]))
      return false;
  }

  OpBuilder b(av);
  Location loc = av.getLoc();
  Value v = av.getInputs()[1];
  SmallVector<Value> nvInputs = coneInputs(a, *nCone);
  nvInputs.push_back(v);
  SmallVector<StringRef> ranks = rankNames(av.getRanks());
  SmallVector<StringRef> red = rankNames(av.getReduceRanks());
  EinsumOp nv = createEinsum(b, loc, b.getF32Type(), "NV", ranks, CombineKind::sum, red,
                             nvInputs, av.getKeep());
  Block *nvBlock = &nv.getBody().front();
  Value n = cloneCone(b, a, *nCone, div.getLhs(), nvBlock, 4);
  Value prod = arith::MulFOp::create(b, loc, n, nvBlock->getArguments().back());
  YieldOp::create(b, loc, prod);

  b.setInsertionPoint(av);
  SmallVector<Value> outInputs{nv.getResult()};
  llvm::append_range(outInputs, coneInputs(a, *dCone));
  EinsumOp out = createEinsum(b, loc, b.getF32Type(), av.getName(), ranks, std::nullopt, {},
                              outInputs);
  Block *outBlock = &out.getBody().front();
  Value d = cloneCone(b, a, *dCone, div.getRhs(), outBlock, 5);
  Value q = arith::DivFOp::create(b, loc, outBlock->getArgument(4), d);
  YieldOp::create(b, loc, q);

  av.getResult().replaceAllUsesWith(out.getResult());
  av.erase();
  a.erase();
  return true;
}

struct DeferDivisionPass
    : public cascade::impl::CascadeDeferDivisionBase<DeferDivisionPass> {
  void runOnOperation() override {
    getOperation()->walk([](CascadeOp c) {
      SmallVector<EinsumOp> einsums;
      for (Operation &op : c.getBody().front())
        if (auto e = dyn_cast<EinsumOp>(op))
          einsums.push_back(e);
      bool changed = false;
      for (EinsumOp e : einsums)
        changed |= deferOne(e);
      if (changed)
        eraseDeadOps(c);
    });
  }
};
} // namespace

std::unique_ptr<Pass> cascade::createDeferDivisionPass() {
  return std::make_unique<DeferDivisionPass>();
}
