//===- NarrowIndices.cpp - 64-bit index arithmetic done in 32 bits --------===//
#include "compiler/targets/common/NarrowIndices.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/DenseMap.h"

#include <limits>
#include <optional>

using namespace mlir;

namespace attn {

Value assumeIndexRange(OpBuilder &b, Location loc, Value v) {
  Value t = arith::TruncIOp::create(b, loc, b.getIntegerType(29), v);
  return arith::ExtUIOp::create(b, loc, b.getI64Type(), t);
}

Value assumeSignedIndexRange(OpBuilder &b, Location loc, Value v) {
  Value t = arith::TruncIOp::create(b, loc, b.getIntegerType(30), v);
  return arith::ExtSIOp::create(b, loc, b.getI64Type(), t);
}

namespace {

/// An inclusive interval of an i64 value.
struct Range {
  __int128 lo, hi;
};

constexpr __int128 kI32Min = std::numeric_limits<int32_t>::min();
constexpr __int128 kI32Max = std::numeric_limits<int32_t>::max();
constexpr __int128 kI64Min = std::numeric_limits<int64_t>::min();
constexpr __int128 kI64Max = std::numeric_limits<int64_t>::max();

bool fits32(const std::optional<Range> &r) { return r && r->lo >= kI32Min && r->hi <= kI32Max; }

std::optional<int64_t> constantOf(Value v) {
  if (auto c = v.getDefiningOp<arith::ConstantIntOp>())
    return c.value();
  return std::nullopt;
}

/// A positive constant divisor.
std::optional<int64_t> positiveDivisor(Value v) {
  std::optional<int64_t> c = constantOf(v);
  return c && *c > 0 ? c : std::nullopt;
}

__int128 floorDiv(__int128 a, __int128 c) { // c > 0
  __int128 q = a / c;
  return (a % c != 0 && a < 0) ? q - 1 : q;
}

class Narrower {
public:
  std::optional<Range> rangeOf(Value v) {
    if (!v.getType().isInteger(64))
      return std::nullopt;
    auto it = ranges.find(v);
    if (it != ranges.end())
      return it->second;
    std::optional<Range> r = compute(v);
    // Keep within i64 (a wider interval means the op may wrap: unknown).
    if (r && (r->lo < kI64Min || r->hi > kI64Max))
      r = std::nullopt;
    ranges[v] = r;
    return r;
  }

  /// An i32 value equal to `v` modulo 2^32 (so equal to `v` where
  /// fits32(rangeOf(v)) holds; every caller asks for a value of known range).
  /// Add, sub, mul and select commute with truncation, so their operands are
  /// narrowed whatever their ranges; min, max, division and remainder do not,
  /// so they are recomputed in i32 only from operands that fit, and otherwise
  /// truncated from their 64-bit result.
  Value narrow(Value v) {
    auto it = narrowed.find(v);
    if (it != narrowed.end())
      return it->second;
    Operation *def = v.getDefiningOp();
    OpBuilder b(v.getContext());
    Type i32 = b.getI32Type();
    Value out;
    if (auto e = dyn_cast<arith::ExtSIOp>(def)) {
      Value src = e.getIn();
      b.setInsertionPointAfter(def);
      out = src.getType().isInteger(32) ? src
                                        : Value(arith::ExtSIOp::create(b, def->getLoc(), i32, src));
    } else if (auto e = dyn_cast<arith::ExtUIOp>(def)) {
      b.setInsertionPointAfter(def);
      out = arith::ExtUIOp::create(b, def->getLoc(), i32, e.getIn());
    } else if (std::optional<int64_t> c = constantOf(v)) {
      b.setInsertionPointAfter(def);
      // Modulo 2^32 (a constant operand of an add may not fit).
      out = arith::ConstantIntOp::create(b, def->getLoc(), i32,
                                         static_cast<int32_t>(static_cast<uint32_t>(*c)));
    } else if (isa<arith::AddIOp, arith::SubIOp, arith::MulIOp>(def) ||
               (isa<arith::MaxSIOp, arith::MinSIOp, arith::FloorDivSIOp, arith::DivSIOp,
                    arith::RemSIOp>(def) &&
                fits32(rangeOf(def->getOperand(0))) && fits32(rangeOf(def->getOperand(1))))) {
      Value l = narrow(def->getOperand(0)), r = narrow(def->getOperand(1));
      b.setInsertionPointAfter(def);
      Location loc = def->getLoc();
      out = TypeSwitch(def, l, r, b, loc);
    } else if (auto s = dyn_cast<arith::SelectOp>(def)) {
      Value t = narrow(s.getTrueValue()), f = narrow(s.getFalseValue());
      b.setInsertionPointAfter(def);
      out = arith::SelectOp::create(b, def->getLoc(), s.getCondition(), t, f);
    } else {
      b.setInsertionPointAfter(def);
      out = arith::TruncIOp::create(b, def->getLoc(), i32, v);
    }
    narrowed[v] = out;
    return out;
  }

private:
  static Value TypeSwitch(Operation *def, Value l, Value r, OpBuilder &b, Location loc) {
    if (isa<arith::AddIOp>(def))
      return arith::AddIOp::create(b, loc, l, r);
    if (isa<arith::SubIOp>(def))
      return arith::SubIOp::create(b, loc, l, r);
    if (isa<arith::MulIOp>(def))
      return arith::MulIOp::create(b, loc, l, r);
    if (isa<arith::MaxSIOp>(def))
      return arith::MaxSIOp::create(b, loc, l, r);
    if (isa<arith::MinSIOp>(def))
      return arith::MinSIOp::create(b, loc, l, r);
    if (isa<arith::FloorDivSIOp>(def))
      return arith::FloorDivSIOp::create(b, loc, l, r);
    if (isa<arith::DivSIOp>(def))
      return arith::DivSIOp::create(b, loc, l, r);
    return arith::RemSIOp::create(b, loc, l, r);
  }

  std::optional<Range> compute(Value v) {
    Operation *def = v.getDefiningOp();
    if (!def)
      return std::nullopt;
    if (std::optional<int64_t> c = constantOf(v))
      return Range{*c, *c};
    if (auto e = dyn_cast<arith::ExtSIOp>(def)) {
      unsigned w = e.getIn().getType().getIntOrFloatBitWidth();
      if (w > 32)
        return std::nullopt;
      return Range{-(__int128(1) << (w - 1)), (__int128(1) << (w - 1)) - 1};
    }
    if (auto e = dyn_cast<arith::ExtUIOp>(def)) {
      unsigned w = e.getIn().getType().getIntOrFloatBitWidth();
      if (w >= 32)
        return std::nullopt;
      return Range{0, (__int128(1) << w) - 1};
    }
    if (auto s = dyn_cast<arith::SelectOp>(def)) {
      auto t = rangeOf(s.getTrueValue()), f = rangeOf(s.getFalseValue());
      if (!t || !f)
        return std::nullopt;
      return Range{std::min(t->lo, f->lo), std::max(t->hi, f->hi)};
    }
    if (def->getNumOperands() != 2)
      return std::nullopt;
    Value lhs = def->getOperand(0), rhs = def->getOperand(1);
    if (isa<arith::FloorDivSIOp, arith::DivSIOp, arith::RemSIOp>(def)) {
      std::optional<int64_t> c = positiveDivisor(rhs);
      auto a = rangeOf(lhs);
      if (!c || !a)
        return std::nullopt;
      if (isa<arith::FloorDivSIOp>(def))
        return Range{floorDiv(a->lo, *c), floorDiv(a->hi, *c)};
      if (isa<arith::DivSIOp>(def))
        return Range{a->lo / *c, a->hi / *c}; // truncation is monotonic
      // remsi: the sign of the dividend.
      return Range{a->lo < 0 ? -(*c - 1) : 0, a->hi > 0 ? *c - 1 : 0};
    }
    auto a = rangeOf(lhs), c = rangeOf(rhs);
    if (!a || !c)
      return std::nullopt;
    if (isa<arith::AddIOp>(def))
      return Range{a->lo + c->lo, a->hi + c->hi};
    if (isa<arith::SubIOp>(def))
      return Range{a->lo - c->hi, a->hi - c->lo};
    if (isa<arith::MaxSIOp>(def))
      return Range{std::max(a->lo, c->lo), std::max(a->hi, c->hi)};
    if (isa<arith::MinSIOp>(def))
      return Range{std::min(a->lo, c->lo), std::min(a->hi, c->hi)};
    if (isa<arith::MulIOp>(def)) {
      // Both within i64, so each product fits in 128 bits.
      __int128 p[4] = {a->lo * c->lo, a->lo * c->hi, a->hi * c->lo, a->hi * c->hi};
      return Range{std::min({p[0], p[1], p[2], p[3]}), std::max({p[0], p[1], p[2], p[3]})};
    }
    return std::nullopt;
  }

  llvm::DenseMap<Value, std::optional<Range>> ranges;
  llvm::DenseMap<Value, Value> narrowed;
};

/// Every predicate: truncation to i32 keeps the order of values that fit in
/// i32, signed and unsigned (a negative value sign-extended to i64 and one
/// truncated to i32 both lie above every non-negative one, unsigned).
bool narrowablePredicate(arith::CmpIPredicate p) {
  switch (p) {
  case arith::CmpIPredicate::eq:
  case arith::CmpIPredicate::ne:
  case arith::CmpIPredicate::slt:
  case arith::CmpIPredicate::sle:
  case arith::CmpIPredicate::sgt:
  case arith::CmpIPredicate::sge:
  case arith::CmpIPredicate::ult:
  case arith::CmpIPredicate::ule:
  case arith::CmpIPredicate::ugt:
  case arith::CmpIPredicate::uge:
    return true;
  default:
    return false;
  }
}

} // namespace

unsigned narrowIndexArithmetic(Operation *root) {
  SmallVector<Operation *> roots;
  root->walk([&](Operation *op) {
    if (auto c = dyn_cast<arith::CmpIOp>(op)) {
      if (c.getLhs().getType().isInteger(64) && narrowablePredicate(c.getPredicate()))
        roots.push_back(op);
    } else if (auto s = dyn_cast<arith::SIToFPOp>(op)) {
      if (s.getIn().getType().isInteger(64))
        roots.push_back(op);
    }
  });
  Narrower n;
  unsigned count = 0;
  for (Operation *op : roots) {
    if (auto c = dyn_cast<arith::CmpIOp>(op)) {
      if (!fits32(n.rangeOf(c.getLhs())) || !fits32(n.rangeOf(c.getRhs())))
        continue;
      Value l = n.narrow(c.getLhs()), r = n.narrow(c.getRhs());
      OpBuilder b(op);
      Value cmp = arith::CmpIOp::create(b, op->getLoc(), c.getPredicate(), l, r);
      c.getResult().replaceAllUsesWith(cmp);
      op->erase();
      ++count;
      continue;
    }
    auto s = cast<arith::SIToFPOp>(op);
    if (!fits32(n.rangeOf(s.getIn())))
      continue;
    Value x = n.narrow(s.getIn());
    OpBuilder b(op);
    Value f = arith::SIToFPOp::create(b, op->getLoc(), s.getType(), x);
    s.getResult().replaceAllUsesWith(f);
    op->erase();
    ++count;
  }
  return count;
}

} // namespace attn
