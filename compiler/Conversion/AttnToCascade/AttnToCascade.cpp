//===- AttnToCascade.cpp - attn statements -> canonical Einsum cascade ----===//
//
// Builds, for each attn.variant, the canonical cascade of docs/cascade.md. The
// statements' regions are not copied wholesale: each Einsum's body is built by
// materialising exactly the values its result needs (a backward slice cloned
// with an IRMapping), with the attn values that become Einsums (`qk`, `dot`,
// `sum_d`, `reduce_j`) replaced by the body's block arguments and
// `get_scale` inlined. Inputs a body does not read are pruned afterwards.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/AttnToCascade/AttnToCascade.h"

#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringSet.h"

#include <optional>

namespace attn {
#define GEN_PASS_DEF_ATTNTOCASCADEPASS
#include "compiler/Conversion/AttnToCascade/Passes.h.inc"
} // namespace attn

using namespace mlir;

namespace {

/// The attn values a map action's body stands in for with its block
/// arguments (or with computation inlined into it).
struct BodyEnv {
  /// The unscaled QK block argument, when the body reads QK.
  Value qk;
  /// attn.sum_d op -> its QKD<n> block argument.
  DenseMap<Operation *, Value> sumD;
  /// attn.reduce_j op -> its reduction's block argument.
  DenseMap<Operation *, Value> reductions;
  /// Inside a QKD<n> body: the q and k block arguments.
  Value q, k;
  /// The body's block (b, h, i, j are its first four arguments).
  Block *block = nullptr;
  /// The scale, once materialised in this body.
  Value scale;
};

class VariantLowering;

/// Clones into a map action the slice of source IR that a value needs.
class Materializer {
public:
  Materializer(OpBuilder &b, VariantLowering &lowering, BodyEnv &env)
      : b(b), lowering(lowering), env(env) {}

  /// Makes `from` (a source block argument) read as `to` in the body.
  void map(Value from, Value to) { mapping.map(from, to); }
  /// Maps the first `n` arguments of `src` to b, h, i, j (and s) of the body.
  void mapArgs(Block &src, unsigned n) {
    for (unsigned a = 0; a < n && a < src.getNumArguments(); ++a)
      mapping.map(src.getArgument(a), env.block->getArgument(a));
  }
  /// The body's copy of `v`, built on demand; null on failure (reported).
  Value get(Value v);

private:
  std::optional<Value> special(Operation *op);

  OpBuilder &b;
  VariantLowering &lowering;
  BodyEnv &env;
  IRMapping mapping;
};

/// Lowers one variant.
class VariantLowering {
public:
  explicit VariantLowering(attn::VariantOp variant)
      : variant(variant), ctx(variant.getContext()),
        f32(Float32Type::get(ctx)), i1(IntegerType::get(ctx, 1)),
        i64(IntegerType::get(ctx, 64)),
        fiberF32(cascade::FiberType::get(ctx, f32)),
        fiberI1(cascade::FiberType::get(ctx, i1)) {}

  LogicalResult run();
  /// The scale (the scale statement, or 1/sqrt(D)) inside a body.
  Value scaleIn(OpBuilder &b, BodyEnv &env);
  /// The custom norm being lowered, for error notes.
  attn::NormOp norm;

private:
  using BodyFn = llvm::function_ref<Value(OpBuilder &, BodyEnv &)>;

  /// Creates `NAME [ranks] = red [redRanks] (inputs) keep init { body }` and
  /// prunes the inputs the body does not read. `env` is pre-filled by `setup`
  /// with the block's arguments. Null on failure.
  cascade::EinsumOp einsum(Location loc, StringRef name, ArrayRef<StringRef> ranks,
                           std::optional<cascade::CombineKind> red,
                           ArrayRef<StringRef> redRanks, ValueRange inputs,
                           Value keep, Value init, Type elem,
                           llvm::function_ref<void(BodyEnv &)> setup, BodyFn body);
  cascade::EinsumOp einsum(Location loc, StringRef name, ArrayRef<StringRef> ranks,
                           std::optional<cascade::CombineKind> red,
                           ArrayRef<StringRef> redRanks, ValueRange inputs,
                           Value keep, Value init, BodyFn body) {
    return einsum(loc, name, ranks, red, redRanks, inputs, keep, init, f32,
                  [](BodyEnv &) {}, body);
  }
  /// Lowers the norm: sets `weights` (A) and optionally `lse`.
  LogicalResult lowerNorm(Location loc);
  LogicalResult lowerCustomNorm(Location loc);
  /// A fresh Einsum name derived from a user's name.
  std::string freshName(StringRef base);

  Value constF(OpBuilder &b, double v) {
    return arith::ConstantOp::create(b, variant.getLoc(), f32, b.getF32FloatAttr(v));
  }

  attn::VariantOp variant;
  MLIRContext *ctx;
  Type f32, i1, i64, fiberF32, fiberI1;
  OpBuilder builder{variant.getContext()};
  attn::ScaleOp scaleStmt;
  Value Q, K, V, S, keepFiber, weights, lse;
  llvm::StringSet<> taken;
};

//===----------------------------------------------------------------------===//
// Materializer
//===----------------------------------------------------------------------===//

std::optional<Value> Materializer::special(Operation *op) {
  Location loc = op->getLoc();
  if (isa<attn::QKOp>(op)) {
    Value s = lowering.scaleIn(b, env);
    if (!s || !env.qk)
      return Value();
    return arith::MulFOp::create(b, loc, s, env.qk).getResult();
  }
  if (isa<attn::DotOp>(op)) {
    if (!env.qk)
      emitError(loc, "internal: dot(q, k) without a QK input");
    return env.qk;
  }
  if (isa<attn::GetScaleOp>(op))
    return lowering.scaleIn(b, env);
  if (isa<attn::SumDOp>(op)) {
    Value v = env.sumD.lookup(op);
    if (!v)
      emitError(loc, "'sum[d](...)' can only be lowered inside the score");
    return v;
  }
  if (isa<attn::QElemOp>(op) || isa<attn::KElemOp>(op)) {
    Value v = isa<attn::QElemOp>(op) ? env.q : env.k;
    if (!v)
      emitError(loc, "'q[d]' and 'k[d]' can only be lowered inside 'sum[d](...)'");
    return v;
  }
  if (isa<attn::ReduceJOp>(op)) {
    Value v = env.reductions.lookup(op);
    if (!v) {
      InFlightDiagnostic d = emitError(loc, "custom norm: cannot lower this row reduction here "
                                            "(it is used before it is complete)");
      if (lowering.norm)
        d.attachNote(lowering.norm.getLoc()) << "in this norm";
    }
    return v;
  }
  return std::nullopt;
}

/// The position of `op` in a pre-order walk of its statement, so that a slice
/// is cloned in the order the user wrote it.
static unsigned sourceOrder(Operation *op, DenseMap<Operation *, unsigned> &order) {
  auto it = order.find(op);
  if (it != order.end())
    return it->second;
  Operation *root = op;
  while (root->getParentOp() && !isa<attn::VariantOp>(root->getParentOp()))
    root = root->getParentOp();
  unsigned n = order.size();
  root->walk<WalkOrder::PreOrder>([&](Operation *o) { order.try_emplace(o, n++); });
  return order.lookup(op);
}

Value Materializer::get(Value v) {
  if (Value m = mapping.lookupOrNull(v))
    return m;
  // Collect the backward slice of `v` that is not materialised yet.
  llvm::SetVector<Operation *> slice;
  SmallVector<Value> work = {v};
  while (!work.empty()) {
    Value x = work.pop_back_val();
    if (mapping.contains(x))
      continue;
    Operation *op = x.getDefiningOp();
    if (!op) {
      Operation *owner = cast<BlockArgument>(x).getOwner()->getParentOp();
      InFlightDiagnostic d =
          emitError(owner->getLoc(), "cannot lower a use of argument #")
          << cast<BlockArgument>(x).getArgNumber() << " of '" << owner->getName()
          << "' in a cascade map action";
      if (lowering.norm)
        d.attachNote(lowering.norm.getLoc()) << "in this norm";
      return {};
    }
    if (!slice.insert(op))
      continue;
    // attn values that become block arguments need none of their operands.
    if (isa<attn::QKOp, attn::DotOp, attn::GetScaleOp, attn::SumDOp, attn::QElemOp,
            attn::KElemOp, attn::ReduceJOp>(op))
      continue;
    if (op->getNumRegions()) {
      if (isa<attn::AttnDialect>(op->getDialect())) {
        emitError(op->getLoc(), "cannot lower '") << op->getName()
                                                  << "' into a cascade map action";
        return {};
      }
      llvm::SetVector<Value> above;
      getUsedValuesDefinedAbove(op->getRegions(), above);
      work.append(above.begin(), above.end());
    }
    work.append(op->operand_begin(), op->operand_end());
  }
  // Clone it in source order (definitions precede uses in a pre-order walk).
  SmallVector<Operation *> ops(slice.begin(), slice.end());
  DenseMap<Operation *, unsigned> order;
  for (Operation *op : ops)
    sourceOrder(op, order);
  llvm::sort(ops, [&](Operation *a, Operation *b) { return order[a] < order[b]; });
  for (Operation *op : ops) {
    if (std::optional<Value> s = special(op)) {
      if (!*s)
        return {};
      mapping.map(op->getResult(0), *s);
      continue;
    }
    b.clone(*op, mapping);
  }
  return mapping.lookup(v);
}

//===----------------------------------------------------------------------===//
// VariantLowering
//===----------------------------------------------------------------------===//

Value VariantLowering::scaleIn(OpBuilder &b, BodyEnv &env) {
  if (env.scale)
    return env.scale;
  if (scaleStmt) {
    Materializer m(b, *this, env);
    Block &src = scaleStmt.getBody().front();
    m.mapArgs(src, 4);
    env.scale = m.get(src.getTerminator()->getOperand(0));
    return env.scale;
  }
  Location loc = variant.getLoc();
  Value d = attn::SizeOp::create(b, loc, attn::SizeKind::D);
  Value df = arith::SIToFPOp::create(b, loc, f32, d);
  env.scale = math::RsqrtOp::create(b, loc, df);
  return env.scale;
}

std::string VariantLowering::freshName(StringRef base) {
  std::string name = base.upper();
  if (name.empty())
    name = "R";
  while (taken.contains(name))
    name += "_";
  taken.insert(name);
  return name;
}

cascade::EinsumOp VariantLowering::einsum(
    Location loc, StringRef name, ArrayRef<StringRef> ranks,
    std::optional<cascade::CombineKind> red, ArrayRef<StringRef> redRanks,
    ValueRange inputs, Value keep, Value init, Type elem,
    llvm::function_ref<void(BodyEnv &)> setup, BodyFn body) {
  OpBuilder &b = builder;
  taken.insert(name);
  auto op = cascade::EinsumOp::create(
      b, loc, cascade::FiberType::get(ctx, elem), name, cascade::rankAttr(ctx, ranks),
      red ? cascade::CombineKindAttr::get(ctx, *red) : cascade::CombineKindAttr(),
      cascade::rankAttr(ctx, redRanks), inputs, keep, init);
  Block &block = op.getBody().emplaceBlock();
  SmallVector<Type> argTypes(4, i64);
  for (Value in : inputs)
    argTypes.push_back(cast<cascade::FiberType>(in.getType()).getElementType());
  block.addArguments(argTypes, SmallVector<Location>(argTypes.size(), loc));
  BodyEnv env;
  env.block = &block;
  setup(env);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&block);
    Value result = body(b, env);
    if (!result)
      return nullptr;
    cascade::YieldOp::create(b, loc, result);
  }
  // Only the values a body actually uses are inputs.
  for (int k = static_cast<int>(inputs.size()) - 1; k >= 0; --k) {
    if (!block.getArgument(4 + k).use_empty())
      continue;
    block.eraseArgument(4 + k);
    op.getInputsMutable().erase(k);
  }
  return op;
}

LogicalResult VariantLowering::lowerNorm(Location loc) {
  attn::NormKind kind = norm ? norm.getKind() : attn::NormKind::softmax;
  Location nloc = norm ? norm.getLoc() : loc;
  auto sumOver = cascade::CombineKind::sum;
  auto arg = [](BodyEnv &env, unsigned k) { return env.block->getArgument(4 + k); };

  switch (kind) {
  case attn::NormKind::softmax: {
    Value sink, sinkD;
    if (norm && norm.hasSink()) {
      Block &src = norm.getBody().front();
      auto e = einsum(nloc, "SINK", {"p"}, {}, {}, {}, {}, {},
                      [&](OpBuilder &b, BodyEnv &env) -> Value {
                        Materializer m(b, *this, env);
                        m.mapArgs(src, 3);
                        return m.get(src.getTerminator()->getOperand(0));
                      });
      if (!e)
        return failure();
      sink = e;
    }
    auto gm = einsum(nloc, "GM", {"p"}, cascade::CombineKind::max, {"m"}, {S},
                     keepFiber, sink,
                     [&](OpBuilder &b, BodyEnv &env) -> Value { return arg(env, 0); });
    if (sink) {
      sinkD = einsum(nloc, "SINKD", {"p"}, {}, {}, {sink, gm}, {}, {},
                     [&](OpBuilder &b, BodyEnv &env) -> Value {
                       Value d = arith::SubFOp::create(b, nloc, arg(env, 0), arg(env, 1));
                       return math::ExpOp::create(b, nloc, d);
                     });
    }
    auto sn = einsum(nloc, "SN", {"m", "p"}, {}, {}, {S, gm}, {}, {},
                     [&](OpBuilder &b, BodyEnv &env) -> Value {
                       Value d = arith::SubFOp::create(b, nloc, arg(env, 0), arg(env, 1));
                       return math::ExpOp::create(b, nloc, d);
                     });
    auto sd = einsum(nloc, "SD", {"p"}, sumOver, {"m"}, {sn}, keepFiber, sinkD,
                     [&](OpBuilder &b, BodyEnv &env) -> Value { return arg(env, 0); });
    weights = einsum(nloc, "A", {"m", "p"}, {}, {}, {sn, sd}, {}, {},
                     [&](OpBuilder &b, BodyEnv &env) -> Value {
                       return arith::DivFOp::create(b, nloc, arg(env, 0), arg(env, 1));
                     });
    lse = einsum(nloc, "LSE", {"p"}, {}, {}, {gm, sd}, {}, {},
                 [&](OpBuilder &b, BodyEnv &env) -> Value {
                   Value l = math::LogOp::create(b, nloc, arg(env, 1));
                   return arith::AddFOp::create(b, nloc, arg(env, 0), l);
                 });
    return success();
  }
  case attn::NormKind::linear: {
    auto sd = einsum(nloc, "SD", {"p"}, sumOver, {"m"}, {S}, keepFiber, {},
                     [&](OpBuilder &b, BodyEnv &env) -> Value { return arg(env, 0); });
    weights = einsum(nloc, "A", {"m", "p"}, {}, {}, {S, sd}, {}, {},
                     [&](OpBuilder &b, BodyEnv &env) -> Value {
                       return arith::DivFOp::create(b, nloc, arg(env, 0), arg(env, 1));
                     });
    return success();
  }
  case attn::NormKind::custom:
    return lowerCustomNorm(nloc);
  case attn::NormKind::sigmoid:
  case attn::NormKind::relu:
  case attn::NormKind::relu2:
  case attn::NormKind::softplus:
  case attn::NormKind::none:
    break;
  }
  weights = einsum(nloc, "A", {"m", "p"}, {}, {}, {S}, {}, {},
                   [&](OpBuilder &b, BodyEnv &env) -> Value {
                     Value s = arg(env, 0);
                     switch (kind) {
                     case attn::NormKind::sigmoid: { // 1 / (1 + exp(-s))
                       Value one = constF(b, 1.0);
                       Value e = math::ExpOp::create(b, nloc, arith::NegFOp::create(b, nloc, s));
                       return arith::DivFOp::create(b, nloc, one,
                                                    arith::AddFOp::create(b, nloc, one, e));
                     }
                     case attn::NormKind::relu:
                       return arith::MaximumFOp::create(b, nloc, s, constF(b, 0.0));
                     case attn::NormKind::relu2: {
                       Value r = arith::MaximumFOp::create(b, nloc, s, constF(b, 0.0));
                       return arith::MulFOp::create(b, nloc, r, r);
                     }
                     case attn::NormKind::softplus: { // max(s, 0) + log1p(exp(-|s|))
                       Value pos = arith::MaximumFOp::create(b, nloc, s, constF(b, 0.0));
                       Value na = arith::NegFOp::create(b, nloc, math::AbsFOp::create(b, nloc, s));
                       Value t = math::Log1pOp::create(b, nloc, math::ExpOp::create(b, nloc, na));
                       return arith::AddFOp::create(b, nloc, pos, t);
                     }
                     default:
                       return s;
                     }
                   });
  return success();
}

/// The user's name of a row reduction: a `name` attribute, else a NameLoc.
static std::string reductionName(attn::ReduceJOp r) {
  if (auto n = r->getAttrOfType<StringAttr>("name"))
    return n.getValue().str();
  if (auto n = dyn_cast<NameLoc>(r.getLoc()))
    return n.getName().getValue().str();
  return "";
}

LogicalResult VariantLowering::lowerCustomNorm(Location loc) {
  Block &src = norm.getBody().front();
  // Each attn.reduce_j (inner ones first) becomes a reduction over m.
  SmallVector<attn::ReduceJOp> reds;
  norm.walk([&](attn::ReduceJOp r) { reds.push_back(r); });
  SmallVector<Value> done;
  for (size_t n = 0; n < reds.size(); ++n) {
    attn::ReduceJOp r = reds[n];
    std::string user = reductionName(r);
    std::string name =
        freshName(user.empty() ? (attn::stringifyReduceKind(r.getKind()) + Twine(n)).str()
                               : user);
    SmallVector<Value> inputs = {S};
    inputs.append(done.begin(), done.end());
    cascade::CombineKind kind = cascade::CombineKind::sum;
    switch (r.getKind()) {
    case attn::ReduceKind::max: kind = cascade::CombineKind::max; break;
    case attn::ReduceKind::min: kind = cascade::CombineKind::min; break;
    case attn::ReduceKind::sum: kind = cascade::CombineKind::sum; break;
    }
    auto setup = [&](BodyEnv &env) {
      for (auto [l, prev] : llvm::enumerate(ArrayRef(reds).take_front(n)))
        env.reductions[prev] = env.block->getArgument(5 + l);
    };
    auto e = einsum(r.getLoc(), name, {"p"}, kind, {"m"}, inputs, keepFiber, {}, f32, setup,
                    [&](OpBuilder &b, BodyEnv &env) -> Value {
                      Materializer m(b, *this, env);
                      m.mapArgs(src, 5);
                      return m.get(r.getBody().front().getTerminator()->getOperand(0));
                    });
    if (!e)
      return failure();
    done.push_back(e);
  }
  SmallVector<Value> inputs = {S};
  inputs.append(done.begin(), done.end());
  auto setup = [&](BodyEnv &env) {
    for (auto [l, r] : llvm::enumerate(reds))
      env.reductions[r] = env.block->getArgument(5 + l);
  };
  auto a = einsum(loc, "A", {"m", "p"}, {}, {}, inputs, {}, {}, f32, setup,
                  [&](OpBuilder &b, BodyEnv &env) -> Value {
                    Materializer m(b, *this, env);
                    m.mapArgs(src, 5);
                    return m.get(src.getTerminator()->getOperand(0));
                  });
  if (!a)
    return failure();
  weights = a;
  return success();
}

LogicalResult VariantLowering::run() {
  Block &vb = variant.getBody().front();
  if (llvm::any_of(vb, [](Operation &op) { return isa<cascade::CascadeOp>(op); }))
    return success();
  attn::ScoreOp score = variant.getScore();
  attn::BiasOp bias = variant.getBias();
  attn::MaskOp mask = variant.getMask();
  scaleStmt = variant.getScaleStmt();
  norm = variant.getNorm();
  Location loc = variant.getLoc();
  // The canonical names, and NV which cascade-defer-division introduces.
  for (StringRef n : {"Q", "K", "V", "QK", "S", "KEEP", "GM", "SN", "SD", "A", "AV", "LSE",
                      "KN", "SINK", "SINKD", "NV"})
    taken.insert(n);

  OpBuilder &b = builder;
  b.setInsertionPointToEnd(&vb);
  auto casc = cascade::CascadeOp::create(b, loc, DictionaryAttr(), IntegerAttr());
  Block *cb = &casc.getBody().emplaceBlock();
  b.setInsertionPointToStart(cb);
  auto fail = [&]() {
    casc.erase();
    return failure();
  };

  Q = cascade::InputOp::create(b, loc, fiberF32, "Q", cascade::rankAttr(ctx, {"p", "e"}));
  K = cascade::InputOp::create(b, loc, fiberF32, "K", cascade::rankAttr(ctx, {"m", "e"}));
  V = cascade::InputOp::create(b, loc, fiberF32, "V", cascade::rankAttr(ctx, {"m", "f"}));
  auto arg = [](BodyEnv &env, unsigned k) { return env.block->getArgument(4 + k); };

  // QK: the unscaled dot product, when the score reads it.
  bool usesQK = !score;
  SmallVector<attn::SumDOp> sumDs;
  if (score) {
    score.walk([&](Operation *op) {
      if (isa<attn::QKOp, attn::DotOp>(op))
        usesQK = true;
      if (auto s = dyn_cast<attn::SumDOp>(op))
        sumDs.push_back(s);
    });
  }
  Value qk;
  if (usesQK)
    qk = einsum(loc, "QK", {"m", "p"}, cascade::CombineKind::sum, {"e"}, {Q, K}, {}, {},
                [&](OpBuilder &b, BodyEnv &env) -> Value {
                  return arith::MulFOp::create(b, loc, arg(env, 0), arg(env, 1));
                });

  // QKD<n>: one Einsum per sum[d](...).
  SmallVector<Value> qkd;
  for (size_t n = 0; n < sumDs.size(); ++n) {
    attn::SumDOp sd = sumDs[n];
    std::string name = ("QKD" + Twine(n)).str();
    auto e = einsum(sd.getLoc(), name, {"m", "p"}, cascade::CombineKind::sum, {"e"}, {Q, K},
                    {}, {}, f32,
                    [&](BodyEnv &env) {
                      env.q = env.block->getArgument(4);
                      env.k = env.block->getArgument(5);
                    },
                    [&](OpBuilder &b, BodyEnv &env) -> Value {
                      Materializer m(b, *this, env);
                      // The summand may read b, h, i, j (the score's).
                      m.mapArgs(score.getBody().front(), 4);
                      return m.get(sd.getBody().front().getTerminator()->getOperand(0));
                    });
    if (!e)
      return fail();
    qkd.push_back(e);
  }

  // S: score + bias.
  SmallVector<Value> sInputs;
  if (qk)
    sInputs.push_back(qk);
  sInputs.append(qkd.begin(), qkd.end());
  auto sEinsum = einsum(
      score ? score.getLoc() : loc, "S", {"m", "p"}, {}, {}, sInputs, {}, {}, f32,
      [&](BodyEnv &env) {
        unsigned k = 4;
        if (qk)
          env.qk = env.block->getArgument(k++);
        for (attn::SumDOp sd : sumDs)
          env.sumD[sd] = env.block->getArgument(k++);
      },
      [&](OpBuilder &b, BodyEnv &env) -> Value {
        Value s;
        if (score) {
          Materializer m(b, *this, env);
          Block &src = score.getBody().front();
          m.mapArgs(src, 4);
          s = m.get(src.getTerminator()->getOperand(0));
        } else {
          Value sc = scaleIn(b, env);
          s = sc ? arith::MulFOp::create(b, loc, sc, env.qk).getResult() : Value();
        }
        if (!s || !bias)
          return s;
        Materializer m(b, *this, env);
        Block &src = bias.getBody().front();
        m.mapArgs(src, 4);
        Value bv = m.get(src.getTerminator()->getOperand(0));
        return bv ? arith::AddFOp::create(b, bias.getLoc(), s, bv).getResult() : Value();
      });
  if (!sEinsum)
    return fail();
  S = sEinsum;

  // KEEP: the mask.
  if (mask) {
    auto e = einsum(mask.getLoc(), "KEEP", {"m", "p"}, {}, {}, {}, {}, {}, i1,
                    [](BodyEnv &) {},
                    [&](OpBuilder &b, BodyEnv &env) -> Value {
                      Materializer m(b, *this, env);
                      Block &src = mask.getBody().front();
                      m.mapArgs(src, 4);
                      return m.get(src.getTerminator()->getOperand(0));
                    });
    if (!e)
      return fail();
    keepFiber = e;
  }

  if (failed(lowerNorm(loc)) || !weights)
    return fail();

  auto av = einsum(loc, "AV", {"p", "f"}, cascade::CombineKind::sum, {"m"}, {weights, V},
                   keepFiber, {}, [&](OpBuilder &b, BodyEnv &env) -> Value {
                     return arith::MulFOp::create(b, loc, arg(env, 0), arg(env, 1));
                   });
  auto kn = einsum(loc, "KN", {"p"}, cascade::CombineKind::sum, {"m"}, {}, keepFiber, {},
                   [&](OpBuilder &b, BodyEnv &) -> Value { return constF(b, 1.0); });
  cascade::OutputOp::create(b, loc, av, lse, kn);

  // Drop what nothing reads (Q and K when the score ignores them, ...).
  bool changed = true;
  while (changed) {
    changed = false;
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(*cb)))
      if (isa<cascade::InputOp, cascade::EinsumOp>(op) && op.use_empty()) {
        op.erase();
        changed = true;
      }
  }

  for (Operation *stmt : {score.getOperation(), bias.getOperation(), mask.getOperation(),
                          scaleStmt.getOperation(), norm.getOperation()})
    if (stmt)
      stmt->erase();
  return success();
}

struct AttnToCascadePass : attn::impl::AttnToCascadePassBase<AttnToCascadePass> {
  void runOnOperation() override {
    SmallVector<attn::VariantOp> variants;
    getOperation().walk([&](attn::VariantOp v) { variants.push_back(v); });
    bool ok = true;
    for (attn::VariantOp v : variants)
      ok &= succeeded(attn::convertVariantToCascade(v));
    if (!ok)
      signalPassFailure();
  }
};

} // namespace

LogicalResult attn::convertVariantToCascade(VariantOp variant) {
  return VariantLowering(variant).run();
}
