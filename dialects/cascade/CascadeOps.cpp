//===- CascadeOps.cpp - cascade op verifiers, rank helpers ----------------===//
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"

#include <limits>

using namespace mlir;
using namespace cascade;

//===----------------------------------------------------------------------===//
// Rank helpers
//===----------------------------------------------------------------------===//

SmallVector<StringRef> cascade::rankNames(ArrayAttr ranks) {
  SmallVector<StringRef> out;
  for (Attribute a : ranks)
    if (auto s = dyn_cast<StringAttr>(a))
      out.push_back(s.getValue());
  return out;
}

ArrayAttr cascade::rankAttr(MLIRContext *ctx, ArrayRef<StringRef> names) {
  SmallVector<Attribute> attrs;
  for (StringRef n : names)
    attrs.push_back(StringAttr::get(ctx, n));
  return ArrayAttr::get(ctx, attrs);
}

SmallVector<StringRef> cascade::getRanks(Value fiber) {
  Operation *def = fiber.getDefiningOp();
  if (!def)
    return {};
  if (auto in = dyn_cast<InputOp>(def))
    return rankNames(in.getRanks());
  if (auto e = dyn_cast<EinsumOp>(def))
    return rankNames(e.getRanks());
  if (auto it = dyn_cast<IterateOp>(def)) {
    SmallVector<StringRef> r = rankNames(it.getRanks());
    if (fiber == it.getFinal())
      llvm::erase(r, it.getOver());
    return r;
  }
  return {};
}

bool cascade::isKeyRank(StringRef rank) {
  return rank == "m" || rank == "m0" || rank == "m1" || rank == "m2";
}

std::string cascade::fiberName(Value fiber) {
  Operation *def = fiber.getDefiningOp();
  if (!def)
    return "";
  if (auto in = dyn_cast<InputOp>(def))
    return in.getName().str();
  if (auto e = dyn_cast<EinsumOp>(def))
    return e.getName().str();
  if (auto it = dyn_cast<IterateOp>(def)) {
    if (fiber == it.getPrev())
      return (it.getName() + "_prev").str();
    if (fiber == it.getFinal())
      return (it.getName() + "_final").str();
    return it.getName().str();
  }
  return "";
}

double cascade::identityOf(CombineKind kind) {
  switch (kind) {
  case CombineKind::max: return -std::numeric_limits<double>::infinity();
  case CombineKind::min: return std::numeric_limits<double>::infinity();
  case CombineKind::sum: return 0.0;
  }
  return 0.0;
}

//===----------------------------------------------------------------------===//
// custom<Ranks>: `[m, p]`
//===----------------------------------------------------------------------===//

static ParseResult parseRanks(OpAsmParser &parser, ArrayAttr &ranks) {
  SmallVector<StringRef> names;
  auto parseOne = [&]() -> ParseResult {
    StringRef name;
    if (parser.parseKeyword(&name))
      return failure();
    names.push_back(name);
    return success();
  };
  if (parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Square, parseOne))
    return failure();
  ranks = rankAttr(parser.getContext(), names);
  return success();
}

static void printRanks(OpAsmPrinter &p, Operation *, ArrayAttr ranks) {
  p << "[";
  llvm::interleaveComma(rankNames(ranks), p);
  p << "]";
}

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

namespace {
LogicalResult verifyRankList(Operation *op, ArrayAttr ranks, StringRef what) {
  llvm::StringSet<> seen;
  for (Attribute a : ranks) {
    auto s = dyn_cast<StringAttr>(a);
    if (!s || s.getValue().empty())
      return op->emitOpError(what) << " must be a list of rank names";
    if (!seen.insert(s.getValue()).second)
      return op->emitOpError(what) << " names rank '" << s.getValue() << "' twice";
  }
  return success();
}

bool isSubset(ArrayRef<StringRef> sub, ArrayRef<StringRef> of) {
  return llvm::all_of(sub, [&](StringRef r) { return llvm::is_contained(of, r); });
}

std::string join(ArrayRef<StringRef> r) {
  std::string s = "[";
  for (size_t k = 0; k < r.size(); ++k)
    s += (k ? ", " : "") + r[k].str();
  return s + "]";
}

/// Checks a map action's block: `b, h, i, j : i64`, then `leading` extra
/// arguments, then one per input of the input's element type; yields `result`.
LogicalResult verifyBody(Operation *op, Region &body, ArrayRef<Type> leading,
                         ValueRange inputs, Type result) {
  Block &block = body.front();
  unsigned want = 4 + leading.size() + inputs.size();
  if (block.getNumArguments() != want)
    return op->emitOpError("body expects ") << want << " arguments (b, h, i, j, "
           << (leading.empty() ? "" : "prev, ") << "one per input), got "
           << block.getNumArguments();
  auto i64 = IntegerType::get(op->getContext(), 64);
  for (unsigned k = 0; k < want; ++k) {
    Type expect;
    if (k < 4)
      expect = i64;
    else if (k < 4 + leading.size())
      expect = leading[k - 4];
    else
      expect = cast<FiberType>(inputs[k - 4 - leading.size()].getType()).getElementType();
    if (block.getArgument(k).getType() != expect)
      return op->emitOpError("body argument #") << k << " must be " << expect
             << ", got " << block.getArgument(k).getType();
  }
  auto yield = dyn_cast<YieldOp>(block.getTerminator());
  if (!yield)
    return op->emitOpError("body must end in cascade.yield");
  if (yield.getValue().getType() != result)
    return op->emitOpError("body yields ") << yield.getValue().getType()
           << " but the result holds " << result;
  return success();
}
} // namespace

LogicalResult CascadeOp::verify() {
  if (auto parts = getPartitionsAttr())
    for (NamedAttribute na : parts) {
      if (na.getName() != "m" && na.getName() != "p")
        return emitOpError("only ranks m and p are partitioned, got '")
               << na.getName().getValue() << "'";
      auto size = dyn_cast<IntegerAttr>(na.getValue());
      if (!size || size.getInt() <= 0)
        return emitOpError("partition of rank '") << na.getName().getValue()
               << "' must be a positive integer tile size";
    }
  if (auto s = getSplitAttr(); s && s.getInt() <= 0)
    return emitOpError("split must be positive");
  return success();
}

LogicalResult CascadeOp::verifyRegions() {
  Block &block = getBody().front();
  if (block.empty() || !isa<OutputOp>(block.back()))
    return emitOpError("must end in cascade.output");
  // Every fiber is named after the Einsum that produces it: names are unique.
  llvm::StringMap<Operation *> names;
  for (Operation &op : block) {
    StringRef name;
    if (auto in = dyn_cast<InputOp>(op))
      name = in.getName();
    else if (auto e = dyn_cast<EinsumOp>(op))
      name = e.getName();
    else if (auto it = dyn_cast<IterateOp>(op))
      name = it.getName();
    else if (!isa<OutputOp>(op) && op.getDialect() == (*this)->getDialect())
      return op.emitOpError("is not allowed directly inside cascade.cascade");
    if (name.empty())
      continue;
    auto [prev, inserted] = names.try_emplace(name, &op);
    if (!inserted)
      return op.emitOpError("redefines '") << name
             << "': each Einsum of a cascade has its own name";
  }
  return success();
}

LogicalResult OutputOp::verify() {
  auto rowLevel = [&](Value v, StringRef what, bool allowF) -> LogicalResult {
    for (StringRef r : cascade::getRanks(v)) {
      if (isKeyRank(r))
        return emitOpError(what) << " must not have the key rank '" << r << "'";
      if (!allowF && r == "f")
        return emitOpError(what) << " must not have the head-dim rank 'f'";
    }
    return success();
  };
  if (failed(rowLevel(getAv(), "AV", true)) ||
      failed(rowLevel(getKept(), "the kept count", false)))
    return failure();
  if (Value lse = getLse())
    return rowLevel(lse, "LSE", false);
  return success();
}

LogicalResult InputOp::verify() {
  StringRef n = getName();
  if (n != "Q" && n != "K" && n != "V")
    return emitOpError("input must be Q, K or V, got '") << n << "'";
  if (!cast<FiberType>(getType()).getElementType().isF32())
    return emitOpError("inputs are f32 fibers");
  return verifyRankList(*this, getRanks(), "ranks");
}

LogicalResult EinsumOp::verify() {
  if (getName().empty())
    return emitOpError("needs a name");
  if (failed(verifyRankList(*this, getRanks(), "ranks")) ||
      failed(verifyRankList(*this, getReduceRanks(), "reduce ranks")))
    return failure();
  SmallVector<StringRef> out = rankNames(getRanks());
  SmallVector<StringRef> red = rankNames(getReduceRanks());
  for (StringRef r : red)
    if (llvm::is_contained(out, r))
      return emitOpError("rank '") << r << "' is both kept and reduced";
  if (!getReduce() && !red.empty())
    return emitOpError("reduce ranks given without a reduction");
  if (getReduce() && red.empty())
    return emitOpError("a reduction needs at least one reduce rank");
  if (!getReduce() && (getKeep() || getInit()))
    return emitOpError("keep and init need a reduction");
  SmallVector<StringRef> space(out);
  space.append(red.begin(), red.end());
  for (Value in : getInputs()) {
    SmallVector<StringRef> r = cascade::getRanks(in);
    if (!isSubset(r, space))
      return emitOpError("input over ") << join(r)
             << " is not within the iteration space " << join(space);
  }
  if (Value keep = getKeep()) {
    if (!cast<FiberType>(keep.getType()).getElementType().isInteger(1))
      return emitOpError("keep must be a fiber of i1");
    if (!isSubset(cascade::getRanks(keep), space))
      return emitOpError("keep over ") << join(cascade::getRanks(keep))
             << " is not within the iteration space " << join(space);
  }
  if (Value init = getInit())
    if (!isSubset(cascade::getRanks(init), out))
      return emitOpError("init over ") << join(cascade::getRanks(init))
             << " is not within the result ranks " << join(out);
  Type elem = cast<FiberType>(getType()).getElementType();
  if (getReduce() && !elem.isF32())
    return emitOpError("reductions produce f32");
  return verifyBody(*this, getBody(), {}, getInputs(), elem);
}

LogicalResult IterateOp::verify() {
  if (getName().empty())
    return emitOpError("needs a name");
  if (failed(verifyRankList(*this, getRanks(), "ranks")))
    return failure();
  SmallVector<StringRef> ranks = rankNames(getRanks());
  if (!llvm::is_contained(ranks, getOver()))
    return emitOpError("iterative rank '") << getOver() << "' is not among "
           << join(ranks);
  for (Value in : getInputs())
    if (!isSubset(cascade::getRanks(in), ranks))
      return emitOpError("input over ") << join(cascade::getRanks(in))
             << " is not within " << join(ranks);
  SmallVector<StringRef> finalRanks(ranks);
  llvm::erase(finalRanks, getOver());
  if (Value init = getInit())
    if (!isSubset(cascade::getRanks(init), finalRanks))
      return emitOpError("init over ") << join(cascade::getRanks(init))
             << " must not use the iterative rank";
  Type f32 = Float32Type::get(getContext());
  for (Value r : {getPrev(), getCur(), getFinal()})
    if (!cast<FiberType>(r.getType()).getElementType().isF32())
      return emitOpError("iterative results are f32 fibers");
  return verifyBody(*this, getBody(), {f32}, getInputs(), f32);
}

//===----------------------------------------------------------------------===//
// Printed names: results after the Einsum, block arguments after the inputs
//===----------------------------------------------------------------------===//

namespace {
/// Names a map action's block: b, h, i, j, then `leading`, then one name per
/// input (its producer's name in lower case).
void nameBody(Region &region, OpAsmSetValueNameFn setNameFn,
              ArrayRef<StringRef> leading, ValueRange inputs) {
  if (region.empty())
    return;
  Block &block = region.front();
  SmallVector<std::string> names = {"b", "h", "i", "j"};
  for (StringRef l : leading)
    names.push_back(l.str());
  for (Value in : inputs) {
    std::string n = StringRef(fiberName(in)).lower();
    names.push_back(n.empty() ? "x" : n);
  }
  for (auto [arg, name] : llvm::zip(block.getArguments(), names))
    setNameFn(arg, name);
}
} // namespace

void InputOp::getAsmResultNames(OpAsmSetValueNameFn fn) {
  fn(getResult(), getName());
}
void EinsumOp::getAsmResultNames(OpAsmSetValueNameFn fn) {
  fn(getResult(), getName());
}
void EinsumOp::getAsmBlockArgumentNames(Region &region, OpAsmSetValueNameFn fn) {
  nameBody(region, fn, {}, getInputs());
}
void IterateOp::getAsmResultNames(OpAsmSetValueNameFn fn) {
  fn(getPrev(), (getName() + "_prev").str());
  fn(getCur(), getName());
  fn(getFinal(), (getName() + "_final").str());
}
void IterateOp::getAsmBlockArgumentNames(Region &region, OpAsmSetValueNameFn fn) {
  nameBody(region, fn, {"prev"}, getInputs());
}

#define GET_OP_CLASSES
#include "dialects/cascade/CascadeOps.cpp.inc"
