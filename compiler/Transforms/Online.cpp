//===- Online.cpp - cascade-online: iterative construction over m1 --------===//
//
// FuseMax's iterative construction. On a partitioned cascade, each reduction
// X [kept] = red [m1, m0] (...) becomes
//
//   LX [m1, kept] = red [m0] (inputs reading cur) keep KEEP
//   RX = cascade.iterate [m1, kept] over "m1" (LX, r.prev, r.cur, ...)
//          { prev == identity ? l : combine(prev * exp(sum c * (r.cur - r.prev)), l) }
//
// where r ranges over the earlier iterated reductions that X's body reads
// through a factor exp(c * r) (found by RescaleAnalysis below; c a constant,
// or a value of the row such as 1 / T for a param T, which the iterate's body
// computes again). Streaming
// maps on the way (SN) are cloned to read r's cur; row-level consumers read
// RX's final. A reduction whose body is not rescalable stays a full reduction
// over [m1, m0] (one more pass, still correct).
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringSet.h"

#include <cmath>

namespace cascade {
#define GEN_PASS_DEF_CASCADEONLINE
#include "compiler/Transforms/Passes.h.inc"
} // namespace cascade

using namespace mlir;
using namespace cascade;

namespace {

//===----------------------------------------------------------------------===//
// Rescale analysis: how a scalar depends on an iterated reduction r
//===----------------------------------------------------------------------===//

/// Whether `v`, a value of a map or iterate body, is the same for every key
/// of a row: built only from b, h, i (the body's arguments 0..2), constants,
/// params, sizes and tensor reads (at such indices) by arith / math ops. Such
/// a value can be cloned into any other body of the cascade (emitCoef).
bool isRowInvariant(Value v) {
  if (auto arg = dyn_cast<BlockArgument>(v))
    return arg.getArgNumber() < 3;
  Operation *op = v.getDefiningOp();
  if (!op || op->getNumRegions() != 0 || op->getNumResults() != 1)
    return false;
  StringRef dialect = op->getDialect() ? op->getDialect()->getNamespace() : "";
  StringRef name = op->getName().getStringRef();
  if (dialect != "arith" && dialect != "math" &&
      !llvm::is_contained({"attn.get_param", "attn.size", "attn.get_scale", "attn.floordiv",
                           "attn.floormod", "attn.load"}, name))
    return false;
  return llvm::all_of(op->getOperands(), isRowInvariant);
}

/// Whether two row-invariant values (possibly of different bodies) compute
/// the same thing.
bool sameRowValue(Value a, Value b) {
  if (a == b)
    return true;
  auto argA = dyn_cast<BlockArgument>(a), argB = dyn_cast<BlockArgument>(b);
  if (argA || argB)
    return argA && argB && argA.getArgNumber() == argB.getArgNumber();
  Operation *x = a.getDefiningOp(), *y = b.getDefiningOp();
  if (x->getName() != y->getName() || x->getAttrDictionary() != y->getAttrDictionary() ||
      x->getNumOperands() != y->getNumOperands() || a.getType() != b.getType())
    return false;
  for (auto [u, w] : llvm::zip(x->getOperands(), y->getOperands()))
    if (!sameRowValue(u, w))
      return false;
  return true;
}

/// A factor's coefficient: k * prod t^e over row-invariant values t of f32
/// (e = +1 or -1), e.g. 2, or 1 / T for a param T.
struct Coef {
  double k = 0;
  SmallVector<std::pair<Value, int>> terms;

  bool isConstant() const { return terms.empty(); }
  bool sameTerms(const Coef &o) const {
    if (terms.size() != o.terms.size())
      return false;
    SmallVector<bool> used(o.terms.size(), false);
    for (auto &[v, e] : terms) {
      bool found = false;
      for (auto [n, t] : llvm::enumerate(o.terms))
        if (!used[n] && t.second == e && sameRowValue(t.first, v)) {
          used[n] = found = true;
          break;
        }
      if (!found)
        return false;
    }
    return true;
  }
  bool operator==(const Coef &o) const { return k == o.k && sameTerms(o); }
  Coef scaled(double f) const {
    Coef c = *this;
    c.k *= f;
    return c;
  }
  /// This coefficient times t^e (a term t^-e already there cancels).
  Coef times(Value t, int e) const {
    Coef c = *this;
    for (auto it = c.terms.begin(); it != c.terms.end(); ++it)
      if (it->second == -e && sameRowValue(it->first, t)) {
        c.terms.erase(it);
        return c;
      }
    c.terms.push_back({t, e});
    return c;
  }
  /// The sum of two coefficients, when their terms agree.
  static std::optional<Coef> add(const Coef &x, const Coef &y, double sign) {
    if (!x.sameTerms(y))
      return std::nullopt;
    Coef c = x;
    c.k = x.k + sign * y.k;
    return c;
  }
};

/// Emits the f32 value of `c` in the body `dst` at `b`'s insertion point:
/// each term's ops cloned from its body, whose b, h, i become dst's.
Value emitCoef(OpBuilder &b, Location loc, Block *dst, const Coef &c) {
  IRMapping map;
  Value v = f32Const(b, loc, c.k);
  for (auto [t, e] : c.terms) {
    for (unsigned a = 0; a < 3; ++a)
      map.map(t.getParentBlock()->getArgument(a), dst->getArgument(a));
    Value x = cloneChain(b, t, map);
    v = e > 0 ? arith::MulFOp::create(b, loc, v, x).getResult()
              : arith::DivFOp::create(b, loc, v, x).getResult();
  }
  return v;
}

/// The dependence of a scalar on r: none (Free; Zero is the constant 0, which
/// has every factor), additive `a * r + g` (Lin), multiplicative
/// `exp(c * r) * g` (Scl), or anything else (Bad). g never depends on r; the
/// coefficient (a or c) is the same for every key of a row.
struct Factor {
  enum Kind { Free, Zero, Lin, Scl, Bad } kind = Free;
  Coef c;

  static Factor free() { return {Free, {}}; }
  static Factor bad() { return {Bad, {}}; }
  static Factor lin(const Coef &a) { return a.k == 0 ? free() : Factor{Lin, a}; }
  static Factor lin(double a) { return lin(Coef{a, {}}); }
  static Factor scl(const Coef &c) { return c.k == 0 ? free() : Factor{Scl, c}; }
  bool isFree() const { return kind == Free || kind == Zero; }
};

/// Analyses scalars of map actions with respect to one iterated reduction
/// `r` (identified by the fiber its consumers read).
class RescaleAnalysis {
public:
  explicit RescaleAnalysis(Value r) : r(r) {}

  /// The factor of the value `op`'s body yields, with its inputs' factors.
  Factor ofBody(Operation *op, ValueRange inputs) {
    Block &block = op->getRegion(0).front();
    unsigned lead = block.getNumArguments() - inputs.size();
    llvm::DenseMap<Value, Factor> f;
    for (auto [k, in] : llvm::enumerate(inputs))
      f[block.getArgument(lead + k)] = ofFiber(in);
    for (Operation &o : block) {
      if (auto y = dyn_cast<YieldOp>(o))
        return lookup(f, y.getValue());
      if (o.getNumResults() == 1) {
        f[o.getResult(0)] = ofOp(o, f);
        continue;
      }
      // Ops of several results are not understood: any dependence is Bad.
      bool touches = llvm::any_of(o.getOperands(), [&](Value v) { return !lookup(f, v).isFree(); });
      for (Value res : o.getResults())
        f[res] = touches ? Factor::bad() : Factor::free();
    }
    return Factor::bad();
  }

  /// The factor of every scalar of a fiber.
  Factor ofFiber(Value fiber) {
    if (fiber == r)
      return Factor::lin(1);
    auto e = fiber.getDefiningOp<EinsumOp>();
    if (!e || e.getReduce())
      return Factor::free();
    auto it = memo.find(e);
    if (it != memo.end())
      return it->second;
    Factor result = ofBody(e, e.getInputs());
    memo[e] = result;
    return result;
  }

private:
  static Factor lookup(llvm::DenseMap<Value, Factor> &f, Value v) {
    auto it = f.find(v);
    return it == f.end() ? Factor::free() : it->second;
  }

  static std::optional<double> constValue(Value v) {
    if (auto c = v.getDefiningOp<arith::ConstantOp>())
      if (auto fa = dyn_cast<FloatAttr>(c.getValue()))
        return fa.getValueAsDouble();
    return std::nullopt;
  }

  /// Two factors that a positive rescale keeps together (max, select, +).
  static std::optional<Factor> same(Factor x, Factor y) {
    if (x.kind == Factor::Zero)
      std::swap(x, y);
    if (x.kind == Factor::Scl && (y.kind == Factor::Zero || (y.kind == Factor::Scl && y.c == x.c)))
      return x;
    if (x.kind == Factor::Lin && y.kind == Factor::Lin && x.c == y.c)
      return x;
    return std::nullopt;
  }

  /// A Lin factor times (e = 1) or over (e = -1) the free value v: a
  /// constant scales the coefficient, a row-invariant value joins it.
  static Factor linTimes(const Factor &x, Value v, int e) {
    if (std::optional<double> k = constValue(v)) {
      if (e < 0 && *k == 0)
        return Factor::bad();
      return Factor::lin(x.c.scaled(e > 0 ? *k : 1 / *k));
    }
    if (isRowInvariant(v))
      return Factor::lin(x.c.times(v, e));
    return Factor::bad();
  }

  Factor ofOp(Operation &o, llvm::DenseMap<Value, Factor> &f) {
    if (auto c = dyn_cast<arith::ConstantOp>(o)) {
      std::optional<double> v = constValue(c);
      return v && *v == 0 ? Factor{Factor::Zero, {}} : Factor::free();
    }
    SmallVector<Factor> in;
    for (Value v : o.getOperands())
      in.push_back(lookup(f, v));
    if (llvm::all_of(in, [](const Factor &x) { return x.isFree(); }))
      return Factor::free();
    if (llvm::any_of(in, [](const Factor &x) { return x.kind == Factor::Bad; }))
      return Factor::bad();

    if (isa<arith::AddFOp, arith::SubFOp>(o)) {
      double sign = isa<arith::SubFOp>(o) ? -1 : 1;
      Factor x = in[0], y = in[1];
      if (x.kind != Factor::Scl && y.kind != Factor::Scl &&
          (x.kind == Factor::Lin || y.kind == Factor::Lin)) {
        if (x.kind != Factor::Lin)
          return Factor::lin(y.c.scaled(sign));
        if (y.kind != Factor::Lin)
          return x;
        std::optional<Coef> sum = Coef::add(x.c, y.c, sign);
        return sum ? Factor::lin(*sum) : Factor::bad();
      }
      if (x.kind == Factor::Scl || y.kind == Factor::Scl)
        if (std::optional<Factor> s = same(x, y))
          return *s;
      return Factor::bad();
    }
    if (isa<arith::MulFOp>(o)) {
      Factor x = in[0], y = in[1];
      if (x.kind == Factor::Scl && y.kind == Factor::Scl) {
        std::optional<Coef> sum = Coef::add(x.c, y.c, 1);
        return sum ? Factor::scl(*sum) : Factor::bad();
      }
      if (x.kind == Factor::Scl && y.isFree())
        return x;
      if (y.kind == Factor::Scl && x.isFree())
        return y;
      if (x.kind == Factor::Lin && y.isFree())
        return linTimes(x, o.getOperand(1), 1);
      if (y.kind == Factor::Lin && x.isFree())
        return linTimes(y, o.getOperand(0), 1);
      return Factor::bad();
    }
    if (isa<arith::DivFOp>(o)) {
      Factor x = in[0], y = in[1];
      if (x.kind == Factor::Scl && y.kind == Factor::Scl) {
        std::optional<Coef> diff = Coef::add(x.c, y.c, -1);
        return diff ? Factor::scl(*diff) : Factor::bad();
      }
      if (x.kind == Factor::Scl && y.isFree())
        return x;
      if (y.kind == Factor::Scl && x.isFree())
        return Factor::scl(y.c.scaled(-1));
      if (x.kind == Factor::Lin && y.isFree())
        return linTimes(x, o.getOperand(1), -1);
      return Factor::bad();
    }
    if (isa<arith::NegFOp>(o))
      return in[0].kind == Factor::Lin ? Factor::lin(in[0].c.scaled(-1)) : in[0];
    if (isa<math::ExpOp>(o))
      return in[0].kind == Factor::Lin ? Factor::scl(in[0].c) : Factor::bad();
    if (isa<math::Exp2Op>(o))
      return in[0].kind == Factor::Lin ? Factor::scl(in[0].c.scaled(std::log(2.0))) : Factor::bad();
    if (isa<math::LogOp>(o))
      return in[0].kind == Factor::Scl ? Factor::lin(in[0].c) : Factor::bad();
    if (isa<math::AbsFOp>(o))
      return in[0].kind == Factor::Scl ? in[0] : Factor::bad();
    if (isa<arith::MaximumFOp, arith::MinimumFOp, arith::MaxNumFOp, arith::MinNumFOp>(o)) {
      std::optional<Factor> s = same(in[0], in[1]);
      return s && s->kind == Factor::Scl ? *s : Factor::bad();
    }
    if (isa<arith::SelectOp>(o)) {
      if (!in[0].isFree())
        return Factor::bad();
      if (in[1].isFree() && in[2].isFree())
        return Factor::free();
      std::optional<Factor> s = same(in[1], in[2]);
      return s ? *s : Factor::bad();
    }
    if (isa<arith::CmpFOp>(o))
      return same(in[0], in[1]) ? Factor::free() : Factor::bad();
    return Factor::bad();
  }

  Value r;
  llvm::DenseMap<Operation *, Factor> memo;
};

//===----------------------------------------------------------------------===//
// The rewrite
//===----------------------------------------------------------------------===//

/// An iterated reduction, found by the fiber its row-level consumers read.
struct Iterated {
  IterateOp iter;
  /// False when X's init was added after the iterate (its cur lacks the init).
  bool hasCur = true;
};

class OnlineRewriter {
public:
  explicit OnlineRewriter(CascadeOp c) : cascadeOp(c) {}

  void run() {
    SmallVector<EinsumOp> reductions;
    for (Operation &op : cascadeOp.getBody().front())
      if (auto e = dyn_cast<EinsumOp>(op); e && isKeyReduction(e))
        reductions.push_back(e);
    for (EinsumOp x : reductions)
      rewrite(x);
    eraseDeadOps(cascadeOp);
    // A clone reading cur keeps the original's name unless the original
    // (reading final, for a full reduction) survived.
    llvm::StringSet<> names;
    for (Operation &op : cascadeOp.getBody().front())
      if (auto e = dyn_cast<EinsumOp>(op))
        if (!names.insert(e.getName()).second)
          e.setName((e.getName() + "_cur").str());
  }

private:
  static bool isKeyReduction(EinsumOp e) {
    if (!e.getReduce() || hasKeyRank(rankNames(e.getRanks())))
      return false;
    SmallVector<StringRef> red = rankNames(e.getReduceRanks());
    return red.size() == 2 && llvm::is_contained(red, "m1") && llvm::is_contained(red, "m0");
  }

  /// Whether the fiber reads (through maps) an iterated reduction.
  bool readsIterated(Value v) {
    if (iterated.count(v))
      return true;
    auto e = v.getDefiningOp<EinsumOp>();
    if (!e || e.getReduce())
      return false;
    auto it = readsMemo.find(e);
    if (it != readsMemo.end())
      return it->second;
    bool any = false;
    for (Value in : e.getInputs())
      any |= readsIterated(in);
    readsMemo[e] = any;
    return any;
  }

  /// Whether every iterated reduction that `v` reads offers its cur.
  bool allHaveCur(Value v) {
    if (auto it = iterated.find(v); it != iterated.end())
      return it->second.hasCur;
    auto e = v.getDefiningOp<EinsumOp>();
    if (!e || e.getReduce())
      return true;
    return llvm::all_of(e.getInputs(), [&](Value in) { return allHaveCur(in); });
  }

  /// The iterated reductions `v` reads through maps.
  void collectDeps(Value v, llvm::SetVector<Value> &deps) {
    if (iterated.count(v)) {
      deps.insert(v);
      return;
    }
    auto e = v.getDefiningOp<EinsumOp>();
    if (!e || e.getReduce())
      return;
    for (Value in : e.getInputs())
      collectDeps(in, deps);
  }

  /// `v` as seen during the m1 step: iterated reductions give their cur,
  /// maps reading them are cloned (over m1 as well) before `before`.
  Value curVersion(Value v, Operation *before) {
    if (auto it = iterated.find(v); it != iterated.end())
      return it->second.iter.getCur();
    if (!readsIterated(v))
      return v;
    auto e = v.getDefiningOp<EinsumOp>();
    if (auto it = curClones.find(e); it != curClones.end())
      return it->second;
    SmallVector<Value> inputs;
    for (Value in : e.getInputs())
      inputs.push_back(curVersion(in, before));
    SmallVector<StringRef> ranks = rankNames(e.getRanks());
    if (!llvm::is_contained(ranks, "m1"))
      ranks.insert(ranks.begin(), "m1");
    OpBuilder b(before);
    EinsumOp clone = createEinsum(b, e.getLoc(), cast<FiberType>(e.getType()).getElementType(),
                                  e.getName(), ranks, std::nullopt, {}, inputs);
    cloneBody(e, clone);
    curClones[e] = clone.getResult();
    return clone.getResult();
  }

  /// Replaces `to`'s (empty, freshly made) body by a copy of `from`'s.
  static void cloneBody(Operation *from, Operation *to) {
    Region &dst = to->getRegion(0);
    dst.getBlocks().clear();
    IRMapping map;
    from->getRegion(0).cloneInto(&dst, map);
  }

  void rewrite(EinsumOp x) {
    CombineKind kind = *x.getReduce();
    double identity = identityOf(kind);
    // Which earlier iterated reductions the body reads, and their factors.
    llvm::SetVector<Value> deps;
    for (Value in : x.getInputs())
      collectDeps(in, deps);
    SmallVector<std::pair<Value, Coef>> rescale;
    for (Value r : deps) {
      RescaleAnalysis analysis(r);
      Factor f = analysis.ofBody(x, x.getInputs());
      if (f.kind == Factor::Bad || f.kind == Factor::Lin || !iterated[r].hasCur)
        return; // not rescalable: stays a full reduction over [m1, m0]
      if (f.kind == Factor::Scl)
        rescale.push_back({r, f.c});
    }
    if (Value keep = x.getKeep(); keep && readsIterated(keep))
      return;
    for (Value in : x.getInputs())
      if (!allHaveCur(in))
        return;
    Value init = x.getInit();
    bool postInit = init && (!rescale.empty() || readsIterated(init));

    Location loc = x.getLoc();
    SmallVector<Value> localInputs;
    for (Value in : x.getInputs())
      localInputs.push_back(curVersion(in, x));
    OpBuilder b(x);
    SmallVector<StringRef> kept = rankNames(x.getRanks());
    SmallVector<StringRef> stepRanks{"m1"};
    stepRanks.append(kept.begin(), kept.end());
    std::string name = x.getName().str();
    EinsumOp local = createEinsum(b, loc, b.getF32Type(), "L" + name, stepRanks, kind, {"m0"},
                                  localInputs, x.getKeep());
    cloneBody(x, local);

    b.setInsertionPoint(x);
    SmallVector<Value> iterInputs{local.getResult()};
    for (auto [r, c] : rescale) {
      IterateOp ri = iterated[r].iter;
      iterInputs.push_back(ri.getPrev());
      iterInputs.push_back(ri.getCur());
    }
    IterateOp iter = createIterate(b, loc, "R" + name, stepRanks, "m1", identity, iterInputs,
                                   postInit ? Value() : init);
    Block *body = &iter.getBody().front();
    Value prev = body->getArgument(4), l = body->getArgument(5);
    Value res;
    if (rescale.empty()) {
      res = combine(b, loc, kind, prev, l);
    } else {
      Value t;
      for (auto [k, rc] : llvm::enumerate(rescale)) {
        Value d = arith::SubFOp::create(b, loc, body->getArgument(7 + 2 * k),
                                        body->getArgument(6 + 2 * k));
        if (!rc.second.isConstant())
          d = arith::MulFOp::create(b, loc, emitCoef(b, loc, body, rc.second), d);
        else if (rc.second.k != 1)
          d = arith::MulFOp::create(b, loc, f32Const(b, loc, rc.second.k), d);
        t = t ? arith::AddFOp::create(b, loc, t, d).getResult() : d;
      }
      Value scale = math::ExpOp::create(b, loc, t);
      Value scaled = arith::MulFOp::create(b, loc, prev, scale);
      Value comb = combine(b, loc, kind, scaled, l);
      Value isId = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, prev,
                                         f32Const(b, loc, identity));
      res = arith::SelectOp::create(b, loc, isId, l, comb);
    }
    YieldOp::create(b, loc, res);
    // Rescale metadata (docs/cascade.md): c_k, or unit where c_k is a row
    // value that the body computes.
    iter->setAttr("combine", b.getStringAttr(stringifyCombineKind(kind)));
    if (!rescale.empty()) {
      SmallVector<Attribute> cs;
      for (auto &rc : rescale)
        cs.push_back(rc.second.isConstant() ? Attribute(b.getF64FloatAttr(rc.second.k))
                                            : Attribute(b.getUnitAttr()));
      iter->setAttr("rescale", b.getArrayAttr(cs));
    }

    b.setInsertionPoint(x);
    Value finalVal = iter.getFinal();
    if (postInit) {
      EinsumOp post = createEinsum(b, loc, b.getF32Type(), name, kept, std::nullopt, {},
                                   ValueRange{finalVal, init});
      Block *pb = &post.getBody().front();
      YieldOp::create(b, loc, combine(b, loc, kind, pb->getArgument(4), pb->getArgument(5)));
      finalVal = post.getResult();
    }
    x.getResult().replaceAllUsesWith(finalVal);
    x.erase();
    iterated[finalVal] = {iter, !postInit};
  }

  static Value combine(OpBuilder &b, Location loc, CombineKind kind, Value x, Value y) {
    switch (kind) {
    case CombineKind::max: return arith::MaximumFOp::create(b, loc, x, y);
    case CombineKind::min: return arith::MinimumFOp::create(b, loc, x, y);
    case CombineKind::sum: return arith::AddFOp::create(b, loc, x, y);
    }
    return {};
  }

  CascadeOp cascadeOp;
  llvm::DenseMap<Value, Iterated> iterated;
  llvm::DenseMap<Operation *, bool> readsMemo;
  llvm::DenseMap<Operation *, Value> curClones;
};

struct OnlinePass : public cascade::impl::CascadeOnlineBase<OnlinePass> {
  void runOnOperation() override {
    getOperation()->walk([&](CascadeOp c) {
      auto parts = c.getPartitionsAttr();
      if (!parts || !parts.get("m")) {
        c.emitError("cascade-online needs a partitioned cascade (run "
                    "cascade-partition{m-tile=T} first)");
        return signalPassFailure();
      }
      OnlineRewriter(c).run();
    });
  }
};
} // namespace

std::unique_ptr<Pass> cascade::createOnlinePass() { return std::make_unique<OnlinePass>(); }
