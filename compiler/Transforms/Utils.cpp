//===- Utils.cpp - helpers shared by the cascade rewrites -----------------===//
#include "compiler/Transforms/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;

namespace cascade {

bool hasKeyRank(ArrayRef<StringRef> ranks) { return llvm::any_of(ranks, [](StringRef r) { return isKeyRank(r); }); }

bool isRowLevel(Value fiber) { return !hasKeyRank(getRanks(fiber)); }

static Block *makeBody(OpBuilder &b, Location loc, Region &region, ArrayRef<Type> leading,
                       ValueRange inputs) {
  Block *block = new Block();
  region.push_back(block);
  Type i64 = b.getI64Type();
  for (int k = 0; k < 4; ++k)
    block->addArgument(i64, loc);
  for (Type t : leading)
    block->addArgument(t, loc);
  for (Value in : inputs)
    block->addArgument(cast<FiberType>(in.getType()).getElementType(), loc);
  b.setInsertionPointToStart(block);
  return block;
}

EinsumOp createEinsum(OpBuilder &b, Location loc, Type elem, StringRef name,
                      ArrayRef<StringRef> ranks, std::optional<CombineKind> reduce,
                      ArrayRef<StringRef> reduceRanks, ValueRange inputs, Value keep,
                      Value init) {
  MLIRContext *ctx = b.getContext();
  CombineKindAttr kind = reduce ? CombineKindAttr::get(ctx, *reduce) : CombineKindAttr();
  auto op = EinsumOp::create(b, loc, FiberType::get(ctx, elem), name, rankAttr(ctx, ranks), kind,
                             rankAttr(ctx, reduceRanks), inputs, keep, init);
  makeBody(b, loc, op.getBody(), {}, inputs);
  return op;
}

IterateOp createIterate(OpBuilder &b, Location loc, StringRef name, ArrayRef<StringRef> ranks,
                        StringRef over, double identity, ValueRange inputs, Value init) {
  MLIRContext *ctx = b.getContext();
  Type f = FiberType::get(ctx, b.getF32Type());
  auto op = IterateOp::create(b, loc, f, f, f, b.getStringAttr(name), rankAttr(ctx, ranks),
                              b.getStringAttr(over), b.getF64FloatAttr(identity), inputs, init);
  makeBody(b, loc, op.getBody(), {b.getF32Type()}, inputs);
  return op;
}

SmallVector<StringRef> splitRank(ArrayRef<StringRef> ranks, StringRef from,
                                 ArrayRef<StringRef> to) {
  SmallVector<StringRef> out;
  for (StringRef r : ranks) {
    if (r == from)
      out.append(to.begin(), to.end());
    else
      out.push_back(r);
  }
  return out;
}

void eraseDeadOps(CascadeOp c) {
  Block &block = c.getBody().front();
  bool changed = true;
  while (changed) {
    changed = false;
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(block))) {
      if (!isa<InputOp, EinsumOp, IterateOp>(op) || !op.use_empty())
        continue;
      op.erase();
      changed = true;
    }
  }
  // Dead scalar ops inside the bodies (e.g. a denominator left behind).
  c.walk([](Block *body) {
    if (!isa<EinsumOp, IterateOp>(body->getParentOp()))
      return;
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(*body)))
      if (op.use_empty() && !op.hasTrait<OpTrait::IsTerminator>() && isMemoryEffectFree(&op) &&
          op.getNumRegions() == 0)
        op.erase();
  });
}

Value cloneChain(OpBuilder &b, Value v, IRMapping &map) {
  llvm::SmallPtrSet<Operation *, 16> needed;
  SmallVector<Value> work{v};
  while (!work.empty()) {
    Value x = work.pop_back_val();
    if (map.contains(x))
      continue;
    Operation *op = x.getDefiningOp();
    if (!op)
      return {};
    if (needed.insert(op).second)
      llvm::append_range(work, op->getOperands());
  }
  for (Operation &op : *v.getParentBlock())
    if (needed.contains(&op))
      b.clone(op, map);
  return map.lookup(v);
}

Value f32Const(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(static_cast<float>(v)));
}

} // namespace cascade
