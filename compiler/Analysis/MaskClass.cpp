//===- MaskClass.cpp - interval classification of mask tiles --------------===//
#include "compiler/Analysis/MaskClass.h"

#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace mlir;
using namespace cascade;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
using Instr = MaskClassifier::Instr;

/// x * y with 0 * inf = 0 (an exact zero times anything is zero).
double mulSat(double x, double y) { return (x == 0 || y == 0) ? 0 : x * y; }

Interval hull(std::initializer_list<double> vs) {
  Interval r{kInf, -kInf};
  for (double v : vs) {
    if (std::isnan(v))
      return Interval::unknown();
    r.lo = std::min(r.lo, v);
    r.hi = std::max(r.hi, v);
  }
  return r;
}

bool bounded(Interval x) { return std::isfinite(x.lo) && std::isfinite(x.hi); }

Interval boolOf(bool canBeFalse, bool canBeTrue) {
  return {canBeFalse ? 0.0 : 1.0, canBeTrue ? 1.0 : 0.0};
}

/// floor(x / y) over boxes with y of one sign (monotone in each argument:
/// the extremes are at the corners).
Interval floorDiv(Interval x, Interval y) {
  if (!(y.lo > 0 || y.hi < 0))
    return Interval::unknown();
  auto fd = [](double a, double b) {
    if (std::isinf(a) && std::isinf(b))
      return std::nan("");
    if (std::isinf(b))
      return a == 0 ? 0.0 : ((a > 0) == (b > 0) ? 0.0 : -1.0);
    return std::floor(a / b);
  };
  return hull({fd(x.lo, y.lo), fd(x.lo, y.hi), fd(x.hi, y.lo), fd(x.hi, y.hi)});
}

/// x - y * floor(x / y) (sign of y).
Interval floorMod(Interval x, Interval y) {
  if (y.lo > 0) {
    if (y.isPoint() && bounded(x) && bounded(y) &&
        std::floor(x.lo / y.lo) == std::floor(x.hi / y.lo)) {
      double base = y.lo * std::floor(x.lo / y.lo);
      return {x.lo - base, x.hi - base};
    }
    if (x.lo >= 0 && x.hi < y.lo)
      return x;
    return {0, y.hi - 1};
  }
  if (y.hi < 0)
    return {y.lo + 1, 0};
  return Interval::unknown();
}

/// Truncating division (arith.divsi), conservative.
Interval truncDiv(Interval x, Interval y) {
  if (!(y.lo > 0 || y.hi < 0))
    return Interval::unknown();
  auto td = [](double a, double b) {
    if (std::isinf(a) && std::isinf(b))
      return std::nan("");
    return std::trunc(a / b);
  };
  return hull({td(x.lo, y.lo), td(x.lo, y.hi), td(x.hi, y.lo), td(x.hi, y.hi)});
}

Interval absOf(Interval x) {
  if (x.lo >= 0)
    return x;
  if (x.hi <= 0)
    return {-x.hi, -x.lo};
  return {0, std::max(-x.lo, x.hi)};
}

/// Comparison a < b (strict) or a <= b over intervals.
Interval less(Interval a, Interval b, bool strict) {
  bool alwaysTrue = strict ? a.hi < b.lo : a.hi <= b.lo;
  bool alwaysFalse = strict ? a.lo >= b.hi : a.lo > b.hi;
  return boolOf(!alwaysTrue, !alwaysFalse);
}

Interval equal(Interval a, Interval b) {
  if (a.isPoint() && b.isPoint() && a.lo == b.lo && std::isfinite(a.lo))
    return Interval::point(1);
  if (a.hi < b.lo || b.hi < a.lo)
    return Interval::point(0);
  return Interval::boolean();
}

bool isFalse(Interval x) { return x.isPoint() && x.lo == 0; }
bool isOne(Interval x) { return x.lo == 1 && x.hi == 1; }
} // namespace

Interval Interval::unknown() { return {-kInf, kInf}; }

const char *cascade::tileClassName(TileClass c) {
  switch (c) {
  case TileClass::Empty: return "empty";
  case TileClass::Full: return "full";
  case TileClass::Partial: return "partial";
  }
  return "?";
}

llvm::Expected<MaskClassifier> MaskClassifier::build(Block &body) {
  auto fail = [](const char *msg) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
  };
  if (body.getNumArguments() < 4)
    return fail("a mask body takes b, h, i, j");
  if (body.empty() || body.back().getNumOperands() != 1 ||
      !body.back().getOperand(0).getType().isInteger(1))
    return fail("a mask body must end by yielding one i1");
  MaskClassifier mc;
  llvm::DenseMap<Value, int> slot;
  auto add = [&](Instr in) {
    mc.program.push_back(std::move(in));
    return static_cast<int>(mc.program.size() - 1);
  };
  for (unsigned k = 0; k < body.getNumArguments(); ++k) {
    // b, h, i, j; further arguments (einsum inputs) are unknown.
    if (k < 4)
      slot[body.getArgument(k)] = add({Instr::Arg, {}, double(k), ""});
    else
      slot[body.getArgument(k)] =
          add({body.getArgument(k).getType().isInteger(1) ? Instr::Unknown1 : Instr::Unknown,
               {}, 0, ""});
  }
  auto get = [&](Value v) -> int {
    auto it = slot.find(v);
    if (it != slot.end())
      return it->second;
    return add({v.getType().isInteger(1) ? Instr::Unknown1 : Instr::Unknown, {}, 0, ""});
  };
  for (Operation &op : body.without_terminator()) {
    if (op.getNumResults() != 1)
      continue;
    Value res = op.getResult(0);
    SmallVector<int> ops;
    for (Value o : op.getOperands())
      ops.push_back(get(o));
    std::vector<int> operands(ops.begin(), ops.end());
    Instr in{res.getType().isInteger(1) ? Instr::Unknown1 : Instr::Unknown, operands, 0, ""};
    auto setKind = [&](Instr::Kind k) { in.kind = k; };
    llvm::TypeSwitch<Operation *>(&op)
        .Case([&](arith::ConstantOp c) {
          if (auto i = dyn_cast<IntegerAttr>(c.getValue())) {
            in.kind = Instr::Const;
            in.value = i.getType().isInteger(1) ? double(i.getValue().getBoolValue())
                                                 : double(i.getInt());
          } else if (auto f = dyn_cast<FloatAttr>(c.getValue())) {
            in.kind = Instr::Const;
            in.value = f.getValueAsDouble();
          }
        })
        .Case([&](attn::GetParamOp p) {
          in.kind = Instr::Param;
          in.name = p.getParam().str();
        })
        .Case([&](attn::SizeOp s) {
          in.kind = Instr::Size;
          in.name = attn::stringifySizeKind(s.getSize()).str();
        })
        .Case([&](attn::LoadOp l) {
          in.kind = Instr::Load;
          in.name = l.getTensor().str();
        })
        .Case([&](attn::FloorDivOp) { setKind(Instr::FloorDiv); })
        .Case([&](attn::FloorModOp) { setKind(Instr::FloorMod); })
        .Case([&](arith::FloorDivSIOp) { setKind(Instr::FloorDiv); })
        .Case([&](arith::DivSIOp) { setKind(Instr::TruncDiv); })
        .Case([&](arith::RemSIOp) { setKind(Instr::TruncRem); })
        .Case([&](arith::AddIOp) { setKind(Instr::AddI); })
        .Case([&](arith::SubIOp) { setKind(Instr::SubI); })
        .Case([&](arith::MulIOp) { setKind(Instr::MulI); })
        .Case([&](arith::MinSIOp) { setKind(Instr::MinI); })
        .Case([&](arith::MaxSIOp) { setKind(Instr::MaxI); })
        .Case([&](math::AbsIOp) { setKind(Instr::AbsI); })
        .Case([&](arith::AddFOp) { setKind(Instr::AddF); })
        .Case([&](arith::SubFOp) { setKind(Instr::SubF); })
        .Case([&](arith::MulFOp) { setKind(Instr::MulF); })
        .Case([&](arith::DivFOp) { setKind(Instr::DivF); })
        .Case([&](arith::MinimumFOp) { setKind(Instr::MinF); })
        .Case([&](arith::MaximumFOp) { setKind(Instr::MaxF); })
        .Case([&](arith::MinNumFOp) { setKind(Instr::MinF); })
        .Case([&](arith::MaxNumFOp) { setKind(Instr::MaxF); })
        .Case([&](math::AbsFOp) { setKind(Instr::AbsF); })
        .Case([&](arith::NegFOp) { setKind(Instr::NegF); })
        .Case([&](math::ExpOp) { setKind(Instr::Exp); })
        .Case([&](math::TanhOp) { setKind(Instr::Tanh); })
        .Case([&](arith::ExtSIOp) { setKind(Instr::Cast); })
        .Case([&](arith::SIToFPOp) { setKind(Instr::Cast); })
        .Case([&](arith::ExtFOp) { setKind(Instr::Cast); })
        .Case([&](arith::TruncFOp) { setKind(Instr::Cast); })
        .Case([&](arith::IndexCastOp) { setKind(Instr::Cast); })
        .Case([&](arith::ExtUIOp e) {
          if (e.getIn().getType().isInteger(1))
            setKind(Instr::Cast);
        })
        .Case([&](arith::SelectOp) { setKind(Instr::Select); })
        .Case([&](arith::AndIOp a) {
          if (a.getType().isInteger(1))
            setKind(Instr::And);
        })
        .Case([&](arith::OrIOp o) {
          if (o.getType().isInteger(1))
            setKind(Instr::Or);
        })
        .Case([&](arith::XOrIOp x) {
          if (x.getType().isInteger(1))
            setKind(Instr::Xor);
        })
        .Case([&](arith::CmpIOp c) {
          using P = arith::CmpIPredicate;
          switch (c.getPredicate()) {
          case P::slt: setKind(Instr::CmpLT); break;
          case P::sle: setKind(Instr::CmpLE); break;
          case P::sgt: setKind(Instr::CmpGT); break;
          case P::sge: setKind(Instr::CmpGE); break;
          case P::eq: setKind(Instr::CmpEQ); break;
          case P::ne: setKind(Instr::CmpNE); break;
          default: break; // unsigned: unknown
          }
        })
        .Case([&](arith::CmpFOp c) {
          using P = arith::CmpFPredicate;
          switch (c.getPredicate()) {
          case P::OLT: case P::ULT: setKind(Instr::CmpLT); break;
          case P::OLE: case P::ULE: setKind(Instr::CmpLE); break;
          case P::OGT: case P::UGT: setKind(Instr::CmpGT); break;
          case P::OGE: case P::UGE: setKind(Instr::CmpGE); break;
          case P::OEQ: case P::UEQ: setKind(Instr::CmpEQ); break;
          case P::ONE: case P::UNE: setKind(Instr::CmpNE); break;
          default: break;
          }
        })
        .Default([](Operation *) {});
    slot[res] = add(std::move(in));
  }
  mc.result = get(body.back().getOperand(0));
  return mc;
}

llvm::Expected<MaskClassifier> MaskClassifier::forVariant(Operation *variant) {
  Block *body = nullptr;
  variant->walk([&](cascade::EinsumOp e) {
    if (!body && e.getName() == "KEEP")
      body = &e.getBody().front();
  });
  if (!body)
    variant->walk([&](attn::MaskOp m) {
      if (!body)
        body = &m.getBody().front();
    });
  if (body)
    return build(*body);
  MaskClassifier all;
  all.program.push_back({Instr::Const, {}, 1, ""});
  all.result = 0;
  return all;
}

Interval MaskClassifier::evaluate(const Tile &t, const MaskEnv &env) const {
  std::vector<Interval> v(program.size(), Interval::unknown());
  auto sizeOr = [&](const char *name) -> std::optional<int64_t> {
    auto it = env.sizes.find(name);
    if (it == env.sizes.end())
      return std::nullopt;
    return it->second;
  };
  auto rangeOf = [&](std::optional<int64_t> exact, const char *size) -> Interval {
    if (exact)
      return Interval::point(double(*exact));
    if (auto n = sizeOr(size))
      return {0, double(*n - 1)};
    return {0, kInf};
  };
  for (size_t k = 0; k < program.size(); ++k) {
    const Instr &in = program[k];
    auto a = [&](int n) { return v[in.operands[n]]; };
    Interval r = Interval::unknown();
    switch (in.kind) {
    case Instr::Arg:
      switch (int(in.value)) {
      case 0: r = rangeOf(t.b, "B"); break;
      case 1: r = rangeOf(t.h, "H"); break;
      case 2: r = {double(t.i0), double(t.i1 - 1)}; break;
      default: r = {double(t.j0), double(t.j1 - 1)}; break;
      }
      break;
    case Instr::Const: r = Interval::point(in.value); break;
    case Instr::Param: {
      auto it = env.params.find(in.name);
      if (it != env.params.end())
        r = Interval::point(it->second);
      break;
    }
    case Instr::Size:
      if (auto n = sizeOr(in.name.c_str()))
        r = Interval::point(double(*n));
      break;
    case Instr::Load:
      if (env.tensorRange) {
        std::vector<Interval> idx;
        for (size_t o = 0; o < in.operands.size(); ++o)
          idx.push_back(a(o));
        if (std::optional<Interval> got = env.tensorRange(in.name, idx))
          r = *got;
      }
      break;
    case Instr::Unknown: break;
    case Instr::Unknown1: r = Interval::boolean(); break;
    case Instr::AddI: case Instr::AddF:
      r = hull({a(0).lo + a(1).lo, a(0).hi + a(1).hi});
      break;
    case Instr::SubI: case Instr::SubF:
      r = hull({a(0).lo - a(1).hi, a(0).hi - a(1).lo});
      break;
    case Instr::MulI: case Instr::MulF:
      r = hull({mulSat(a(0).lo, a(1).lo), mulSat(a(0).lo, a(1).hi), mulSat(a(0).hi, a(1).lo),
                mulSat(a(0).hi, a(1).hi)});
      break;
    case Instr::DivF:
      if (a(1).lo > 0 || a(1).hi < 0)
        r = hull({a(0).lo / a(1).lo, a(0).lo / a(1).hi, a(0).hi / a(1).lo,
                  a(0).hi / a(1).hi});
      break;
    case Instr::FloorDiv: r = floorDiv(a(0), a(1)); break;
    case Instr::FloorMod: r = floorMod(a(0), a(1)); break;
    case Instr::TruncDiv: r = truncDiv(a(0), a(1)); break;
    case Instr::TruncRem: {
      double m = std::max(std::fabs(a(1).lo), std::fabs(a(1).hi)) - 1;
      if (a(0).lo >= 0)
        r = {0, std::min(m, a(0).hi)};
      else if (a(0).hi <= 0)
        r = {std::max(-m, a(0).lo), 0};
      else
        r = {-m, m};
      break;
    }
    case Instr::MinI: case Instr::MinF:
      r = {std::min(a(0).lo, a(1).lo), std::min(a(0).hi, a(1).hi)};
      break;
    case Instr::MaxI: case Instr::MaxF:
      r = {std::max(a(0).lo, a(1).lo), std::max(a(0).hi, a(1).hi)};
      break;
    case Instr::AbsI: case Instr::AbsF: r = absOf(a(0)); break;
    case Instr::NegI: case Instr::NegF: r = {-a(0).hi, -a(0).lo}; break;
    case Instr::Exp: r = {std::exp(a(0).lo), std::exp(a(0).hi)}; break;
    case Instr::Tanh: r = {std::tanh(a(0).lo), std::tanh(a(0).hi)}; break;
    case Instr::Cast: r = a(0); break;
    case Instr::CmpLT: r = less(a(0), a(1), true); break;
    case Instr::CmpLE: r = less(a(0), a(1), false); break;
    case Instr::CmpGT: r = less(a(1), a(0), true); break;
    case Instr::CmpGE: r = less(a(1), a(0), false); break;
    case Instr::CmpEQ: r = equal(a(0), a(1)); break;
    case Instr::CmpNE: {
      Interval e = equal(a(0), a(1));
      r = {1 - e.hi, 1 - e.lo};
      break;
    }
    case Instr::And:
      r = {std::min(a(0).lo, a(1).lo), std::min(a(0).hi, a(1).hi)};
      break;
    case Instr::Or:
      r = {std::max(a(0).lo, a(1).lo), std::max(a(0).hi, a(1).hi)};
      break;
    case Instr::Xor:
      // x ^ false = x; x ^ true = !x (the front end's `!`).
      if (isFalse(a(1)) || isFalse(a(0)))
        r = isFalse(a(1)) ? a(0) : a(1);
      else if (isOne(a(1)) || isOne(a(0))) {
        Interval x = isOne(a(1)) ? a(0) : a(1);
        r = {1 - x.hi, 1 - x.lo};
      } else
        r = Interval::boolean();
      break;
    case Instr::Select:
      if (isOne(a(0)))
        r = a(1);
      else if (isFalse(a(0)))
        r = a(2);
      else
        r = {std::min(a(1).lo, a(2).lo), std::max(a(1).hi, a(2).hi)};
      break;
    }
    if (std::isnan(r.lo) || std::isnan(r.hi) || r.lo > r.hi)
      r = Interval::unknown();
    v[k] = r;
  }
  Interval res = v[result];
  // An i1 result: clamp an unknown to {0, 1}.
  return {std::max(res.lo, 0.0), std::min(res.hi, 1.0)};
}

TileClass MaskClassifier::classify(const Tile &t, const MaskEnv &env) const {
  if (t.i1 <= t.i0 || t.j1 <= t.j0)
    return TileClass::Empty;
  Interval r = evaluate(t, env);
  if (r.hi < 1)
    return TileClass::Empty;
  if (r.lo >= 1)
    return TileClass::Full;
  return TileClass::Partial;
}
