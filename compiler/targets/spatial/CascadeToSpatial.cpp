//===- CascadeToSpatial.cpp - cascade -> spatial.program ------------------===//
//
// Binds every Einsum of a partitioned cascade to the 2D or the 1D array of a
// FuseMax-style accelerator. The rules (docs/spatial.md):
//  - An Einsum whose iteration space holds a key point (m0) and a row is
//    per-point work: on the 2D array (FuseMax binding), or on the 2D array
//    only if it is a matrix product (FLAT binding: QK over e, AV with V).
//    Extent tile_e when it reduces over e, tile_f when it has f, else tile.
//  - A cascade.iterate over m1 is per-row state on the 1D array; a rescaled
//    iterate (R' = R * exp(c (r_cur - r_prev)) + local) splits into the
//    shared factor PR (sub + exp), the rescale (a MAC) and the accumulation
//    (an add), FuseMax's PRM, SPD/SPNV and RD/RNV.
//  - Row-level Einsums without key rank (AV = RNV / RD, LSE) run once per p1
//    tile on the 1D array (spatial.tile_end).
//  - Actions per point are counted from the map action: ops that depend only
//    on b, h and constants are hoisted (free); a sum whose body is a product
//    is one MAC per point; `S = c * QK` with a uniform c is folded into Q.
//  - Stages (FuseMax's waterfall): 2D work not depending on an iterate in
//    stage 0, with the 1D accumulations of the previous epoch and the tile
//    ends; max iterates in stage 1; 2D work after the running max and the
//    shared factors and row rescales in stage 2; f-wide 2D work and rescales
//    in stage 3. The FLAT binding puts everything in stage 0 (its operators
//    overlap across row blocks).
//  - Passes: an Einsum over a key rank that reads a full reduction over the
//    key rank starts a new pass.
//
//===----------------------------------------------------------------------===//
#include "compiler/targets/spatial/CascadeToSpatial.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"
#include "dialects/spatial/SpatialDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringSet.h"

#include <cmath>

namespace spatial {
#define GEN_PASS_DEF_CASCADETOSPATIAL
#include "compiler/targets/spatial/Passes.h.inc"
} // namespace spatial

using namespace mlir;

namespace {

/// PE actions of one point.
struct Actions {
  double mac = 0, add = 0, max = 0, div = 0, exp = 0;

  DictionaryAttr toAttr(MLIRContext *ctx) const {
    SmallVector<NamedAttribute> attrs;
    auto f64 = Float64Type::get(ctx);
    auto put = [&](const char *n, double v) {
      if (v > 0)
        attrs.push_back(NamedAttribute(StringAttr::get(ctx, n), FloatAttr::get(f64, v)));
    };
    put("add", add);
    put("div", div);
    put("exp", exp);
    put("mac", mac);
    put("max", max);
    return DictionaryAttr::get(ctx, attrs);
  }
};

enum class Action { None, Mac, Add, Max, Div, Exp };

Action classify(Operation *op) {
  if (isa<arith::ConstantOp>(op))
    return Action::None;
  if (isa<arith::MulFOp, arith::MulIOp, math::FmaOp>(op))
    return Action::Mac;
  if (isa<arith::MaximumFOp, arith::MinimumFOp, arith::MaxNumFOp, arith::MinNumFOp,
          arith::MaxSIOp, arith::MinSIOp>(op))
    return Action::Max;
  StringRef name = op->getName().getStringRef();
  if (isa<arith::DivFOp, arith::RemFOp, arith::DivSIOp, arith::RemSIOp, arith::FloorDivSIOp,
          arith::CeilDivSIOp>(op) ||
      name == "attn.floordiv" || name == "attn.floormod")
    return Action::Div;
  if (op->getDialect() && op->getDialect()->getNamespace() == "math" && !isa<math::AbsFOp>(op))
    return Action::Exp;
  return Action::Add; // compares, selects, logic, casts, loads: one action each
}

void addAction(Actions &a, Action k) {
  switch (k) {
  case Action::None: break;
  case Action::Mac: a.mac += 1; break;
  case Action::Add: a.add += 1; break;
  case Action::Max: a.max += 1; break;
  case Action::Div: a.div += 1; break;
  case Action::Exp: a.exp += 1; break;
  }
}

/// Values of `block` that depend only on b, h and constants (computed once
/// per call, not per point).
llvm::DenseSet<Value> uniformValues(Block &block) {
  llvm::DenseSet<Value> uniform;
  uniform.insert(block.getArgument(0));
  uniform.insert(block.getArgument(1));
  for (Operation &op : block.without_terminator())
    if (op.getNumRegions() == 0 &&
        llvm::all_of(op.getOperands(), [&](Value v) { return uniform.contains(v); }))
      for (Value r : op.getResults())
        uniform.insert(r);
  return uniform;
}

/// Counts the per-point actions of a map action. With `prevArg`, a select on
/// `prev == constant` (an iterate's first-step guard) is control, not work.
/// With `wide` (block arguments of inputs over a head rank), only the ops
/// that depend on one of them are counted, or with `narrow` only the others.
Actions bodyActions(Block &block, int prevArg = -1,
                    const llvm::DenseSet<Value> *wide = nullptr, bool narrow = false) {
  llvm::DenseSet<Value> uniform = uniformValues(block);
  llvm::DenseSet<Operation *> skip;
  if (prevArg >= 0)
    for (Operation &op : block.without_terminator())
      if (auto sel = dyn_cast<arith::SelectOp>(op))
        if (auto cmp = sel.getCondition().getDefiningOp<arith::CmpFOp>())
          if (llvm::is_contained(cmp->getOperands(), block.getArgument(prevArg))) {
            skip.insert(sel);
            skip.insert(cmp);
          }
  llvm::DenseSet<Value> dependsWide;
  if (wide)
    dependsWide.insert(wide->begin(), wide->end());
  Actions a;
  for (Operation &op : block.without_terminator()) {
    bool isWide = llvm::any_of(op.getOperands(), [&](Value v) { return dependsWide.contains(v); });
    if (isWide)
      for (Value r : op.getResults())
        dependsWide.insert(r);
    if (skip.contains(&op) || (op.getNumResults() && uniform.contains(op.getResult(0))))
      continue;
    if (wide && isWide == narrow)
      continue;
    addAction(a, classify(&op));
  }
  return a;
}

bool isKeyPoint(StringRef r) { return r == "m" || r == "m0"; }
bool isRow(StringRef r) { return r == "p" || r == "p0" || r == "p1"; }

/// One binding, before the program is built.
struct Bind {
  std::string name, array, extent, einsum;
  Actions actions;
  int64_t stage = 0, pass = 1;
  bool state = false, partialOnly = false, tileEnd = false;
  std::string note;
};

/// The mapping of one cascade.
class Mapper {
public:
  Mapper(cascade::CascadeOp cascade, const spatial::MappingOptions &options)
      : cascade(cascade), options(options) {}

  LogicalResult run() {
    for (Operation &op : cascade.getBody().front())
      if (isa<cascade::IterateOp>(op))
        online = true;
    binding = options.binding == "auto" ? (online ? "fusemax" : "flat") : options.binding;
    if (binding != "fusemax" && binding != "flat")
      return cascade.emitError("cascade-to-spatial: unknown binding '") << binding << "'";
    auto parts = cascade.getPartitionsAttr();
    auto mTile = parts ? dyn_cast_or_null<IntegerAttr>(parts.get("m")) : IntegerAttr();
    if (!mTile)
      return cascade.emitError(
          "cascade-to-spatial needs a partitioned key rank (run cascade-partition first)");
    m0 = mTile.getInt();
    if (cascade.getSplitAttr())
      return cascade.emitError("cascade-to-spatial does not map split-KV cascades");
    for (Operation &op : cascade.getBody().front())
      if (failed(visit(op)))
        return failure();
    return success();
  }

  cascade::CascadeOp cascade;
  const spatial::MappingOptions &options;
  bool online = false;
  std::string binding;
  int64_t m0 = 0;
  int64_t passes = 1;
  std::vector<Bind> binds;

private:
  llvm::DenseMap<Value, int64_t> passOf;
  llvm::DenseSet<Value> fullKey;     ///< results of full reductions over the key rank
  llvm::DenseSet<Value> afterIterate; ///< values depending on an iterate's result
  llvm::DenseSet<Value> staticValue;  ///< known without data (kept count, no mask)
  llvm::DenseSet<Value> matmulOverE;  ///< results of sums over e (QK)
  llvm::StringSet<> sharedFactors;

  int64_t passFor(ValueRange inputs, bool iteratesKey) {
    int64_t p = 1;
    for (Value in : inputs)
      p = std::max(p, passOf.lookup(in) + (iteratesKey && fullKey.contains(in) ? 1 : 0));
    return p;
  }

  bool dependsOnIterate(ValueRange inputs) {
    return llvm::any_of(inputs, [&](Value v) { return afterIterate.contains(v); });
  }

  bool onlyFeedsLse(Value v) {
    return !v.use_empty() && llvm::all_of(v.getUsers(), [&](Operation *u) {
      auto out = dyn_cast<cascade::OutputOp>(u);
      return out && out.getLse() == v && out.getAv() != v;
    });
  }

  LogicalResult visit(Operation &op) {
    if (auto in = dyn_cast<cascade::InputOp>(op)) {
      passOf[in.getResult()] = 1;
      return success();
    }
    if (auto e = dyn_cast<cascade::EinsumOp>(op))
      return visitEinsum(e);
    if (auto it = dyn_cast<cascade::IterateOp>(op))
      return visitIterate(it);
    if (isa<cascade::OutputOp>(op))
      return success();
    return op.emitError("cascade-to-spatial: unexpected op");
  }

  LogicalResult visitEinsum(cascade::EinsumOp e) {
    SmallVector<StringRef> ranks = cascade::rankNames(e.getRanks());
    SmallVector<StringRef> red = cascade::rankNames(e.getReduceRanks());
    SmallVector<StringRef> space(ranks);
    space.append(red.begin(), red.end());
    bool keyPoint = llvm::any_of(space, isKeyPoint);
    bool keyTile = llvm::is_contained(space, "m1");
    bool row = llvm::any_of(space, isRow);
    bool hasF = llvm::is_contained(space, "f");
    bool overE = llvm::is_contained(red, "e");
    SmallVector<Value> operands(e.getInputs());
    if (e.getKeep())
      operands.push_back(e.getKeep());
    if (e.getInit())
      operands.push_back(e.getInit());
    Value result = e.getResult();
    int64_t pass = passFor(operands, keyPoint || keyTile);
    passOf[result] = pass;
    if (keyPoint || keyTile)
      passes = std::max(passes, pass);
    if (llvm::any_of(red, [](StringRef r) { return r == "m" || r == "m1"; }))
      fullKey.insert(result);
    bool afterIt = dependsOnIterate(operands);
    if (afterIt)
      afterIterate.insert(result);
    if (overE)
      matmulOverE.insert(result);

    Block &body = e.getBody().front();
    // A count of keys without a mask is known statically.
    if (e.getInputs().empty() && !e.getKeep() && !e.getInit() &&
        uniformValues(body).contains(body.getTerminator()->getOperand(0))) {
      staticValue.insert(result);
      return success();
    }
    if (!operands.empty() &&
        llvm::all_of(operands, [&](Value v) { return staticValue.contains(v); })) {
      staticValue.insert(result);
      return success();
    }
    if (!options.lse && onlyFeedsLse(result))
      return success();

    Bind b;
    b.name = e.getName().str();
    b.einsum = b.name;
    b.pass = pass;
    // Over f, the part of the map action that does not read an f-indexed
    // input (the weight of SN * V) is computed once per point, not per f.
    llvm::DenseSet<Value> fArgs;
    if (keyPoint && hasF)
      for (auto [k, in] : llvm::enumerate(e.getInputs()))
        if (llvm::is_contained(cascade::getRanks(in), "f"))
          fArgs.insert(body.getArgument(4 + k));
    std::optional<Actions> perPoint;
    if (!fArgs.empty()) {
      b.actions = bodyActions(body, -1, &fArgs, /*narrow=*/false);
      Actions w = bodyActions(body, -1, &fArgs, /*narrow=*/true);
      if (w.mac + w.add + w.max + w.div + w.exp > 0)
        perPoint = w;
    } else {
      b.actions = bodyActions(body);
    }
    if (auto kind = e.getReduce()) {
      Value yielded = body.getTerminator()->getOperand(0);
      bool product = yielded.getDefiningOp<arith::MulFOp>() != nullptr;
      if (*kind == cascade::CombineKind::sum && !product)
        b.actions.add += 1;
      else if (*kind != cascade::CombineKind::sum)
        b.actions.max += 1;
    }
    if (!row && !keyPoint && !keyTile)
      return success(); // uniform per (b, h): hoisted
    if (keyPoint) {
      b.extent = overE ? "tile_e" : hasF ? "tile_f" : "tile";
      // S = c * QK with a uniform c: folded into Q as it is loaded.
      if (!e.getReduce() && e.getInputs().size() == 1 &&
          matmulOverE.contains(e.getInputs()[0]) && b.actions.mac == 1 &&
          b.actions.add + b.actions.max + b.actions.div + b.actions.exp == 0) {
        Operation *mul = body.getTerminator()->getOperand(0).getDefiningOp();
        if (mul && isa<arith::MulFOp>(mul) &&
            llvm::is_contained(mul->getOperands(), body.getArgument(4))) {
          b.actions = Actions();
          b.note = "folded into Q";
        }
      }
      bool isI1 = cast<cascade::FiberType>(result.getType()).getElementType().isInteger(1);
      // A mask, or a count of kept keys: only partial tiles evaluate them
      // (the interval analysis decides empty and full tiles).
      b.partialOnly = isI1 || (e.getInputs().empty() && e.getKeep());
      bool matmul = overE || (e.getReduce() && *e.getReduce() == cascade::CombineKind::sum &&
                              llvm::any_of(e.getInputs(), [](Value v) {
                                auto in = v.getDefiningOp<cascade::InputOp>();
                                return in && in.getName() == "V";
                              }));
      b.array = binding == "fusemax" || matmul ? "2d" : "1d";
      if (binding == "fusemax")
        b.stage = !afterIt ? 0 : hasF ? 3 : 2;
      if (perPoint) {
        Bind w = b;
        w.name = b.name + ".w";
        w.extent = "tile";
        w.actions = *perPoint;
        w.array = binding == "fusemax" ? "2d" : "1d";
        w.stage = binding == "fusemax" ? (afterIt ? 2 : 0) : 0;
        binds.push_back(w);
      }
    } else {
      b.array = "1d";
      b.extent = hasF ? "row_f" : "row";
      b.tileEnd = !keyTile;
      b.state = keyTile && e.getReduce().has_value();
      b.stage = 0;
    }
    binds.push_back(b);
    return success();
  }

  LogicalResult visitIterate(cascade::IterateOp it) {
    SmallVector<StringRef> ranks = cascade::rankNames(it.getRanks());
    if (it.getOver() != "m1")
      return it.emitError("cascade-to-spatial: iterates must run over m1");
    SmallVector<Value> operands(it.getInputs());
    if (it.getInit())
      operands.push_back(it.getInit());
    int64_t pass = passFor(operands, true);
    passes = std::max(passes, pass);
    for (Value r : {it.getPrev(), it.getCur(), it.getFinal()}) {
      passOf[r] = pass;
      afterIterate.insert(r);
    }
    fullKey.insert(it.getFinal());
    if (!it.getInputs().empty() &&
        llvm::all_of(it.getInputs(), [&](Value v) { return staticValue.contains(v); })) {
      for (Value r : {it.getPrev(), it.getCur(), it.getFinal()})
        staticValue.insert(r);
      return success();
    }
    bool hasF = llvm::is_contained(ranks, "f");
    std::string extent = hasF ? "row_f" : "row";
    std::string name = it.getName().str();
    auto combine = it->getAttrOfType<StringAttr>("combine");
    auto rescale = it->getAttrOfType<ArrayAttr>("rescale");
    if (rescale && !rescale.empty()) {
      // The shared factor exp(c * (r_cur - r_prev)) of each rescaling iterate.
      for (Value in : it.getInputs())
        if (auto src = in.getDefiningOp<cascade::IterateOp>()) {
          std::string factor = "P" + src.getName().str();
          if (!sharedFactors.insert(factor).second)
            continue;
          Bind p;
          p.name = factor;
          p.einsum = src.getName().str();
          p.array = "1d";
          p.extent = "row";
          p.actions.add = 1;
          p.actions.exp = 1;
          for (Attribute c : rescale)
            if (auto f = dyn_cast<FloatAttr>(c); !f || std::fabs(f.getValueAsDouble()) != 1.0)
              p.actions.mac += 1; // c * (r_cur - r_prev); c a row value when not a float
          p.stage = binding == "fusemax" ? 2 : 0;
          p.pass = pass;
          binds.push_back(p);
        }
      Bind s;
      s.name = name + ".rescale";
      s.einsum = name;
      s.array = "1d";
      s.extent = extent;
      s.actions.mac = 1;
      s.stage = binding == "fusemax" ? (hasF ? 3 : 2) : 0;
      s.pass = pass;
      binds.push_back(s);
      Bind a = s;
      a.name = name;
      a.actions = Actions();
      a.actions.add = 1;
      a.stage = 0;
      a.state = true; // the running value, once per row (or row and f)
      binds.push_back(a);
      return success();
    }
    Bind b;
    b.name = name;
    b.einsum = name;
    b.array = "1d";
    b.extent = extent;
    b.actions = bodyActions(it.getBody().front(), /*prevArg=*/4);
    bool isMax = (combine && combine.getValue() == "max") || b.actions.max > 0;
    b.stage = binding == "fusemax" && isMax ? 1 : 0;
    b.pass = pass;
    b.state = true;
    binds.push_back(b);
    return success();
  }
};

} // namespace

FailureOr<spatial::ProgramOp> spatial::mapVariant(Operation *variant,
                                                  const MappingOptions &options) {
  cascade::CascadeOp cascadeOp;
  for (Region &region : variant->getRegions())
    for (Operation &op : region.getOps())
      if (auto c = dyn_cast<cascade::CascadeOp>(op))
        cascadeOp = c;
  if (!cascadeOp)
    return variant->emitError("cascade-to-spatial: the variant has no cascade.cascade");
  Mapper mapper(cascadeOp, options);
  if (failed(mapper.run()))
    return failure();

  // Replace a previous program.
  for (Region &region : variant->getRegions())
    for (Operation &op : llvm::make_early_inc_range(region.getOps()))
      if (isa<ProgramOp>(op))
        op.erase();

  MLIRContext *ctx = variant->getContext();
  ctx->getOrLoadDialect<SpatialDialect>();
  OpBuilder b(ctx);
  b.setInsertionPointAfter(cascadeOp);
  Location loc = cascadeOp.getLoc();
  SmallVector<Attribute> order;
  for (const char *r : {"p2", "m1", "p1", "p0", "m0"})
    order.push_back(b.getStringAttr(r));
  auto program = ProgramOp::create(
      b, loc, b.getStringAttr(mapper.binding), b.getI64IntegerAttr(mapper.passes),
      b.getBoolAttr(options.pipelined), b.getBoolAttr(options.interleave),
      b.getI64IntegerAttr(options.p0), b.getI64IntegerAttr(mapper.m0), b.getArrayAttr(order));
  Block *body = b.createBlock(&program.getBody());
  b.setInsertionPointToEnd(body);
  StreamOp::create(b, loc, b.getStringAttr("Q"), b.getStringAttr("load"), b.getStringAttr("p1"));
  StreamOp::create(b, loc, b.getStringAttr("K"), b.getStringAttr("load"), b.getStringAttr("m1"));
  StreamOp::create(b, loc, b.getStringAttr("V"), b.getStringAttr("load"), b.getStringAttr("m1"));
  if (mapper.passes > 1)
    StreamOp::create(b, loc, b.getStringAttr("scores"), b.getStringAttr("keep"),
                     b.getStringAttr("pass"));
  auto epoch = EpochOp::create(b, loc);
  Block *epochBody = b.createBlock(&epoch.getBody());
  b.setInsertionPointAfter(epoch);
  auto tileEnd = TileEndOp::create(b, loc);
  Block *endBody = b.createBlock(&tileEnd.getBody());
  b.setInsertionPointAfter(tileEnd);
  StreamOp::create(b, loc, b.getStringAttr("O"), b.getStringAttr("store"), b.getStringAttr("p1"));

  for (const Bind &bind : mapper.binds) {
    b.setInsertionPointToEnd(bind.tileEnd ? endBody : epochBody);
    auto op = BindOp::create(b, loc, b.getStringAttr(bind.name), b.getStringAttr(bind.array),
                             b.getStringAttr(bind.extent), bind.actions.toAttr(ctx),
                             b.getI64IntegerAttr(bind.stage), b.getI64IntegerAttr(bind.pass),
                             b.getStringAttr(bind.einsum),
                             bind.state ? b.getUnitAttr() : UnitAttr(),
                             bind.partialOnly ? b.getUnitAttr() : UnitAttr());
    if (!bind.note.empty())
      op->setAttr("note", b.getStringAttr(bind.note));
  }
  return program;
}

namespace {
struct CascadeToSpatialPass
    : spatial::impl::CascadeToSpatialBase<CascadeToSpatialPass> {
  using CascadeToSpatialBase::CascadeToSpatialBase;

  void runOnOperation() override {
    spatial::MappingOptions o;
    o.binding = binding;
    o.p0 = p0;
    o.pipelined = pipelined;
    o.interleave = interleave;
    o.lse = lse;
    bool failed = false;
    getOperation()->walk([&](attn::VariantOp variant) {
      if (mlir::failed(spatial::mapVariant(variant, o)))
        failed = true;
    });
    if (failed)
      signalPassFailure();
  }
};
} // namespace
