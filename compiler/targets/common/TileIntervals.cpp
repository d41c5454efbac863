//===- TileIntervals.cpp - a keep predicate's class over a tile, in IR ----===//
#include "compiler/targets/common/TileIntervals.h"

#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/DenseMap.h"

using namespace mlir;

namespace attn {
namespace {

/// [lo, hi] of an integer or i1 value; points have lo == hi (the same SSA
/// value). A null lo means unknown.
struct Range {
  Value lo, hi;
  bool known() const { return bool(lo); }
  bool point() const { return lo && lo == hi; }
};

class Emitter {
public:
  Emitter(VariantOp variant, OpBuilder &b, Location loc, const BodyContext &ctx)
      : variant(variant), b(b), loc(loc), ctx(ctx) {}

  Range rangeOf(Operation *op);
  llvm::DenseMap<Value, Range> ranges;

private:
  Value minS(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value maxS(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value notI(Value x) {
    return arith::XOrIOp::create(b, loc, x, arith::ConstantIntOp::create(b, loc, 1, 1));
  }
  Value sel(Value c, Value x, Value y) { return arith::SelectOp::create(b, loc, c, x, y); }
  /// The range of `x <pred> y` for integers.
  Range compare(arith::CmpIPredicate p, Range x, Range y);

  VariantOp variant;
  OpBuilder &b;
  Location loc;
  const BodyContext &ctx;
};

Range Emitter::compare(arith::CmpIPredicate p, Range x, Range y) {
  using P = arith::CmpIPredicate;
  // Bounds are ordered as numbers: i1 bounds (false < true) unsigned, since
  // a signed i1 true is -1.
  bool isBool = x.lo.getType().isInteger(1);
  P lt = isBool ? P::ult : P::slt, le = isBool ? P::ule : P::sle;
  switch (p) {
  case P::sle: return {cmp(le, x.hi, y.lo), cmp(le, x.lo, y.hi)};
  case P::slt: return {cmp(lt, x.hi, y.lo), cmp(lt, x.lo, y.hi)};
  case P::sge: return compare(P::sle, y, x);
  case P::sgt: return compare(P::slt, y, x);
  case P::eq: {
    Value same = arith::AndIOp::create(
        b, loc, arith::AndIOp::create(b, loc, cmp(P::eq, x.lo, x.hi), cmp(P::eq, y.lo, y.hi)),
        cmp(P::eq, x.lo, y.lo));
    Value apart = arith::OrIOp::create(b, loc, cmp(lt, x.hi, y.lo), cmp(lt, y.hi, x.lo));
    return {same, notI(apart)};
  }
  case P::ne: {
    Range e = compare(P::eq, x, y);
    return {notI(e.hi), notI(e.lo)};
  }
  default: return {};
  }
}

Range Emitter::rangeOf(Operation *op) {
  auto in = [&](unsigned k) { return ranges.lookup(op->getOperand(k)); };
  for (Value v : op->getOperands())
    if (!ranges.lookup(v).known())
      return {};
  // Points in, point out: the op itself on the values.
  if (llvm::all_of(op->getOperands(), [&](Value v) { return ranges.lookup(v).point(); }) &&
      op->getNumResults() == 1) {
    IRMapping map;
    for (Value v : op->getOperands())
      map.map(v, ranges.lookup(v).lo);
    Value r;
    if (op->getDialect() && op->getDialect()->getNamespace() == "attn")
      r = lowerAttnOp(variant, b, loc, ctx, op, map);
    else
      r = b.clone(*op, map)->getResult(0);
    return r ? Range{r, r} : Range{};
  }
  if (!op->getResult(0).getType().isIntOrIndex())
    return {};
  if (isa<arith::AddIOp>(op))
    return {arith::AddIOp::create(b, loc, in(0).lo, in(1).lo),
            arith::AddIOp::create(b, loc, in(0).hi, in(1).hi)};
  if (isa<arith::SubIOp>(op))
    return {arith::SubIOp::create(b, loc, in(0).lo, in(1).hi),
            arith::SubIOp::create(b, loc, in(0).hi, in(1).lo)};
  if (isa<arith::MulIOp>(op)) {
    Range x = in(0), y = in(1);
    Value p[4] = {arith::MulIOp::create(b, loc, x.lo, y.lo), arith::MulIOp::create(b, loc, x.lo, y.hi),
                  arith::MulIOp::create(b, loc, x.hi, y.lo), arith::MulIOp::create(b, loc, x.hi, y.hi)};
    return {minS(minS(p[0], p[1]), minS(p[2], p[3])), maxS(maxS(p[0], p[1]), maxS(p[2], p[3]))};
  }
  if (isa<arith::MinSIOp>(op))
    return {minS(in(0).lo, in(1).lo), minS(in(0).hi, in(1).hi)};
  if (isa<arith::MaxSIOp>(op))
    return {maxS(in(0).lo, in(1).lo), maxS(in(0).hi, in(1).hi)};
  if (isa<math::AbsIOp>(op)) {
    Range x = in(0);
    Value zero = arith::ConstantIntOp::create(b, loc, x.lo.getType(), 0);
    Value negLo = arith::SubIOp::create(b, loc, zero, x.lo);
    Value negHi = arith::SubIOp::create(b, loc, zero, x.hi);
    Value nonNeg = cmp(arith::CmpIPredicate::sge, x.lo, zero);
    Value nonPos = cmp(arith::CmpIPredicate::sle, x.hi, zero);
    return {sel(nonNeg, x.lo, sel(nonPos, negHi, zero)),
            sel(nonNeg, x.hi, sel(nonPos, negLo, maxS(negLo, x.hi)))};
  }
  if (isa<arith::ExtUIOp, arith::ExtSIOp>(op) && op->getOperand(0).getType().isInteger(1)) {
    Type t = op->getResult(0).getType();
    return {arith::ExtUIOp::create(b, loc, t, in(0).lo), arith::ExtUIOp::create(b, loc, t, in(0).hi)};
  }
  if (auto c = dyn_cast<arith::CmpIOp>(op))
    return compare(c.getPredicate(), in(0), in(1));
  if (isa<arith::AndIOp>(op) && op->getResult(0).getType().isInteger(1))
    return {arith::AndIOp::create(b, loc, in(0).lo, in(1).lo),
            arith::AndIOp::create(b, loc, in(0).hi, in(1).hi)};
  if (isa<arith::OrIOp>(op) && op->getResult(0).getType().isInteger(1))
    return {arith::OrIOp::create(b, loc, in(0).lo, in(1).lo),
            arith::OrIOp::create(b, loc, in(0).hi, in(1).hi)};
  if (isa<arith::XOrIOp>(op) && op->getResult(0).getType().isInteger(1)) {
    // x ^ y over {lo..hi}: known only when one side is a point.
    Range x = in(0), y = in(1);
    if (!x.point() && !y.point())
      return {};
    if (!y.point())
      std::swap(x, y);
    Value flip = y.lo;
    return {sel(flip, notI(x.hi), x.lo), sel(flip, notI(x.lo), x.hi)};
  }
  if (isa<arith::SelectOp>(op)) {
    Range c = in(0), x = in(1), y = in(2);
    Value lo = sel(c.lo, x.lo, sel(notI(c.hi), y.lo, minS(x.lo, y.lo)));
    Value hi = sel(c.lo, x.hi, sel(notI(c.hi), y.hi, maxS(x.hi, y.hi)));
    if (op->getResult(0).getType().isInteger(1)) {
      lo = sel(c.lo, x.lo, sel(notI(c.hi), y.lo, arith::AndIOp::create(b, loc, x.lo, y.lo)));
      hi = sel(c.lo, x.hi, sel(notI(c.hi), y.hi, arith::OrIOp::create(b, loc, x.hi, y.hi)));
    }
    return {lo, hi};
  }
  if (isa<attn::FloorDivOp, attn::FloorModOp>(op) && in(1).point()) {
    // Monotone in the dividend for a positive divisor; else unknown bounds
    // (the whole i64 range, which no comparison with an index decides).
    Range x = in(0);
    Value k = in(1).lo;
    Value zero = arith::ConstantIntOp::create(b, loc, 0, 64);
    Value pos = cmp(arith::CmpIPredicate::sgt, k, zero);
    Value safe = sel(pos, k, arith::ConstantIntOp::create(b, loc, 1, 64));
    Value qlo = arith::FloorDivSIOp::create(b, loc, x.lo, safe);
    Value qhi = arith::FloorDivSIOp::create(b, loc, x.hi, safe);
    Value minV = arith::ConstantIntOp::create(b, loc, std::numeric_limits<int64_t>::min() / 4, 64);
    Value maxV = arith::ConstantIntOp::create(b, loc, std::numeric_limits<int64_t>::max() / 4, 64);
    if (isa<attn::FloorDivOp>(op))
      return {sel(pos, qlo, minV), sel(pos, qhi, maxV)};
    // x mod k: [x.lo mod k, x.hi mod k] when both lie in one period, else [0, k - 1].
    Value same = cmp(arith::CmpIPredicate::eq, qlo, qhi);
    Value rlo = arith::SubIOp::create(b, loc, x.lo, arith::MulIOp::create(b, loc, qlo, safe));
    Value rhi = arith::SubIOp::create(b, loc, x.hi, arith::MulIOp::create(b, loc, qhi, safe));
    Value km1 = arith::SubIOp::create(b, loc, safe, arith::ConstantIntOp::create(b, loc, 1, 64));
    return {sel(pos, sel(same, rlo, zero), minV), sel(pos, sel(same, rhi, km1), maxV)};
  }
  return {};
}

} // namespace

TileClassValues emitTileClass(VariantOp variant, OpBuilder &b, Location loc, const BodyContext &ctx,
                              Region &keepBody, Value iLo, Value iHi, Value jLo, Value jHi) {
  Block &blk = keepBody.front();
  Emitter e(variant, b, loc, ctx);
  e.ranges[blk.getArgument(0)] = {ctx.bIdx, ctx.bIdx};
  e.ranges[blk.getArgument(1)] = {ctx.hIdx, ctx.hIdx};
  e.ranges[blk.getArgument(2)] = {iLo, iHi};
  e.ranges[blk.getArgument(3)] = {jLo, jHi};
  // A guarded read may be out of range where its guard fails: its value is
  // not evaluated here (unknown), only at points where it is used.
  llvm::SmallPtrSet<Operation *, 4> guarded = guardedTensorReads(keepBody);
  for (Operation &op : blk.without_terminator()) {
    Range r = op.getNumResults() == 1 && !guarded.contains(&op) ? e.rangeOf(&op) : Range{};
    // An unknown predicate is {false, true}: a conjunction with it can
    // still be empty and a disjunction full.
    if (!r.known() && op.getNumResults() == 1 && op.getResult(0).getType().isInteger(1))
      r = {arith::ConstantIntOp::create(b, loc, 0, 1), arith::ConstantIntOp::create(b, loc, 1, 1)};
    if (r.known())
      e.ranges[op.getResult(0)] = r;
  }
  Range kept = e.ranges.lookup(cast<cascade::YieldOp>(blk.getTerminator()).getValue());
  Value f = arith::ConstantIntOp::create(b, loc, 0, 1);
  if (!kept.known())
    return {f, f};
  return {kept.lo, arith::XOrIOp::create(b, loc, kept.hi, arith::ConstantIntOp::create(b, loc, 1, 1))};
}

std::pair<Value, Value> emitKeyTileRange(OpBuilder &b, Location loc, Value numTiles, int64_t tileKeys,
                                         Value skv, llvm::function_ref<Value(Value, Value)> emptyOf) {
  Type i64 = b.getI64Type();
  auto c = [&](int64_t v) { return Value(arith::ConstantIntOp::create(b, loc, v, 64)); };
  Value one = c(1), keys = c(tileKeys);
  Value lastKey = arith::SubIOp::create(b, loc, skv, one);
  auto search = [&](Value lo0, Value hi0, bool leading) {
    auto loop = scf::WhileOp::create(b, loc, TypeRange{i64, i64}, ValueRange{lo0, hi0});
    OpBuilder::InsertionGuard guard(b);
    Block *before = b.createBlock(&loop.getBefore(), {}, {i64, i64}, {loc, loc});
    scf::ConditionOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, before->getArgument(0),
                              before->getArgument(1)),
        before->getArguments());
    Block *after = b.createBlock(&loop.getAfter(), {}, {i64, i64}, {loc, loc});
    Value lo = after->getArgument(0), hi = after->getArgument(1);
    Value lo2, hi2;
    if (leading) {
      // The largest k with keys [0, k * tileKeys) empty (lo always is one).
      Value mid = arith::DivSIOp::create(
          b, loc, arith::AddIOp::create(b, loc, arith::AddIOp::create(b, loc, lo, hi), one), c(2));
      Value j1 = arith::MinSIOp::create(
          b, loc, arith::SubIOp::create(b, loc, arith::MulIOp::create(b, loc, mid, keys), one),
          lastKey);
      Value empty = emptyOf(c(0), j1);
      lo2 = arith::SelectOp::create(b, loc, empty, mid, lo);
      hi2 = arith::SelectOp::create(b, loc, empty, hi, arith::SubIOp::create(b, loc, mid, one));
    } else {
      // The smallest e with keys [e * tileKeys, skv) empty (hi always is one).
      Value mid = arith::DivSIOp::create(b, loc, arith::AddIOp::create(b, loc, lo, hi), c(2));
      Value empty = emptyOf(arith::MulIOp::create(b, loc, mid, keys), lastKey);
      lo2 = arith::SelectOp::create(b, loc, empty, lo, arith::AddIOp::create(b, loc, mid, one));
      hi2 = arith::SelectOp::create(b, loc, empty, mid, hi);
    }
    scf::YieldOp::create(b, loc, ValueRange{lo2, hi2});
    return loop.getResult(0);
  };
  Value start = search(c(0), numTiles, /*leading=*/true);
  Value end = search(start, numTiles, /*leading=*/false);
  return {start, end};
}

Value emitFirstTileFrom(OpBuilder &b, Location loc, Value first, Value step, Value start) {
  auto c = [&](int64_t v) { return Value(arith::ConstantIntOp::create(b, loc, v, 64)); };
  Value behind = arith::MaxSIOp::create(b, loc, arith::SubIOp::create(b, loc, start, first), c(0));
  Value rounds = arith::DivSIOp::create(
      b, loc, arith::AddIOp::create(b, loc, behind, arith::SubIOp::create(b, loc, step, c(1))), step);
  return arith::AddIOp::create(b, loc, first, arith::MulIOp::create(b, loc, rounds, step));
}

} // namespace attn
