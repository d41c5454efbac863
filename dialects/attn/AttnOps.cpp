//===- AttnOps.cpp - attn dialect op verifiers and helpers ----------------===//
#include "dialects/attn/AttnDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace attn;

namespace {
/// Checks that `region`'s single block takes `numIdx` i64 indices followed by
/// `extra` and ends in an attn.yield of one value of type `yieldTy`.
LogicalResult verifyStmtRegion(Operation *op, Region &region, unsigned numIdx,
                               ArrayRef<Type> extra, Type yieldTy) {
  if (region.empty())
    return op->emitOpError("expects a non-empty region");
  Block &block = region.front();
  unsigned want = numIdx + extra.size();
  if (block.getNumArguments() != want)
    return op->emitOpError("region expects ") << want << " arguments, got "
                                              << block.getNumArguments();
  auto i64 = IntegerType::get(op->getContext(), 64);
  for (unsigned k = 0; k < want; ++k) {
    Type expected = k < numIdx ? Type(i64) : extra[k - numIdx];
    if (block.getArgument(k).getType() != expected)
      return op->emitOpError("region argument #")
             << k << " must be " << expected << ", got "
             << block.getArgument(k).getType();
  }
  auto yield = dyn_cast<YieldOp>(block.getTerminator());
  if (!yield)
    return op->emitOpError("region must end in attn.yield");
  if (yield.getValues().size() != 1 ||
      yield.getValues().front().getType() != yieldTy)
    return op->emitOpError("region must yield one value of type ") << yieldTy;
  return success();
}

template <typename StmtT> StmtT findStmt(VariantOp v) {
  for (Operation &op : v.getBody().front())
    if (auto s = dyn_cast<StmtT>(op))
      return s;
  return nullptr;
}

bool isTypeOf(Type t, unsigned intWidth) {
  auto it = dyn_cast<IntegerType>(t);
  return it && it.getWidth() == intWidth;
}
} // namespace

//===----------------------------------------------------------------------===//
// VariantOp
//===----------------------------------------------------------------------===//

ScoreOp VariantOp::getScore() { return findStmt<ScoreOp>(*this); }
BiasOp VariantOp::getBias() { return findStmt<BiasOp>(*this); }
MaskOp VariantOp::getMask() { return findStmt<MaskOp>(*this); }
ScaleOp VariantOp::getScaleStmt() { return findStmt<ScaleOp>(*this); }
NormOp VariantOp::getNorm() { return findStmt<NormOp>(*this); }

LogicalResult VariantOp::verify() {
  llvm::StringMap<Operation *> seen;
  for (Operation &op : getBody().front()) {
    // Lowerings of the variant (e.g. its cascade.cascade) live beside its
    // declarations so that their regions can keep reading params and tensors.
    if (op.getDialect() != (*this)->getDialect())
      continue;
    if (!isa<ParamOp, TensorOp, ScoreOp, BiasOp, MaskOp, ScaleOp, NormOp>(op))
      return op.emitOpError("is not allowed directly inside attn.variant");
    if (isa<ParamOp, TensorOp>(op))
      continue;
    StringRef name = op.getName().getStringRef();
    auto [it, inserted] = seen.try_emplace(name, &op);
    if (!inserted)
      return op.emitOpError("appears more than once in variant @")
             << getSymName();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Declarations
//===----------------------------------------------------------------------===//

Type ParamOp::getValueType() {
  Type t = getType();
  if (isTypeOf(t, 32))
    return IntegerType::get(getContext(), 64);
  return t;
}

LogicalResult ParamOp::verify() {
  Type t = getType();
  if (!(isTypeOf(t, 32) || isTypeOf(t, 1) || t.isF32()))
    return emitOpError("type must be i32, f32 or i1, got ") << t;
  if (auto def = getDefaultValueAttr()) {
    if (def.getType() != t)
      return emitOpError("default value type ")
             << def.getType() << " does not match param type " << t;
    if (!isa<IntegerAttr, FloatAttr>(def))
      return emitOpError("default value must be an integer or float attribute");
  }
  return success();
}

LogicalResult TensorOp::verify() {
  Type t = getElementType();
  if (!(isTypeOf(t, 32) || t.isF32()))
    return emitOpError("element type must be i32 or f32, got ") << t;
  if (getDims().empty())
    return emitOpError("must have at least one dimension");
  for (Attribute d : getDims()) {
    if (auto s = dyn_cast<StringAttr>(d)) {
      if (!symbolizeSizeKind(s.getValue()))
        return emitOpError("unknown size name '") << s.getValue()
               << "' (expected B, H, Hkv, Sq, Skv or D)";
    } else if (auto n = dyn_cast<IntegerAttr>(d)) {
      if (n.getInt() <= 0)
        return emitOpError("literal dimension must be positive, got ")
               << n.getInt();
    } else {
      return emitOpError("dimension must be a size name or an integer");
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Statements
//===----------------------------------------------------------------------===//

LogicalResult ScoreOp::verify() {
  return verifyStmtRegion(*this, getBody(), 4, {}, Float32Type::get(getContext()));
}
LogicalResult BiasOp::verify() {
  return verifyStmtRegion(*this, getBody(), 4, {}, Float32Type::get(getContext()));
}
LogicalResult MaskOp::verify() {
  return verifyStmtRegion(*this, getBody(), 4, {}, IntegerType::get(getContext(), 1));
}
LogicalResult ScaleOp::verify() {
  return verifyStmtRegion(*this, getBody(), 4, {}, Float32Type::get(getContext()));
}

LogicalResult NormOp::verify() {
  Type f32 = Float32Type::get(getContext());
  switch (getKind()) {
  case NormKind::softmax:
    if (getBody().empty())
      return success();
    return verifyStmtRegion(*this, getBody(), 3, {}, f32);
  case NormKind::custom:
    return verifyStmtRegion(*this, getBody(), 4, {f32}, f32);
  default:
    if (!getBody().empty())
      return emitOpError("norm '") << stringifyNormKind(getKind())
                                   << "' takes no region";
    return success();
  }
}

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

namespace {
/// Returns the closest ancestor of type T, or null.
template <typename T> T ancestor(Operation *op) {
  return op->getParentOfType<T>();
}
} // namespace

LogicalResult GetScaleOp::verify() {
  if (ancestor<ScaleOp>(*this))
    return emitOpError("cannot be used inside the scale statement itself");
  return success();
}

LogicalResult QKOp::verify() {
  if (!ancestor<ScoreOp>(*this))
    return emitOpError("may only appear inside attn.score");
  return success();
}

LogicalResult DotOp::verify() {
  if (!ancestor<ScoreOp>(*this))
    return emitOpError("may only appear inside attn.score");
  return success();
}

LogicalResult SumDOp::verify() {
  if (!ancestor<ScoreOp>(*this))
    return emitOpError("may only appear inside attn.score");
  return verifyStmtRegion(*this, getBody(), 1, {}, Float32Type::get(getContext()));
}

LogicalResult QElemOp::verify() {
  if (!ancestor<SumDOp>(*this))
    return emitOpError("may only appear inside attn.sum_d");
  return success();
}

LogicalResult KElemOp::verify() {
  if (!ancestor<SumDOp>(*this))
    return emitOpError("may only appear inside attn.sum_d");
  return success();
}

LogicalResult ReduceJOp::verify() {
  auto norm = ancestor<NormOp>(*this);
  if (!norm || norm.getKind() != NormKind::custom)
    return emitOpError("may only appear inside a custom attn.norm");
  return verifyStmtRegion(*this, getBody(), 0, {}, Float32Type::get(getContext()));
}

LogicalResult GetParamOp::verifySymbolUses(SymbolTableCollection &tables) {
  auto variant = (*this)->getParentOfType<VariantOp>();
  if (!variant)
    return emitOpError("must be inside an attn.variant");
  auto param = tables.lookupSymbolIn<ParamOp>(variant, getParamAttr());
  if (!param)
    return emitOpError("'") << getParam() << "' is not a param of variant @"
                            << variant.getSymName();
  if (param.getValueType() != getType())
    return emitOpError("result type ")
           << getType() << " does not match param type "
           << param.getValueType();
  return success();
}

LogicalResult LoadOp::verifySymbolUses(SymbolTableCollection &tables) {
  auto variant = (*this)->getParentOfType<VariantOp>();
  if (!variant)
    return emitOpError("must be inside an attn.variant");
  auto tensor = tables.lookupSymbolIn<TensorOp>(variant, getTensorAttr());
  if (!tensor)
    return emitOpError("'") << getTensor() << "' is not a tensor of variant @"
                            << variant.getSymName();
  if (tensor.getDims().size() != getIndices().size())
    return emitOpError("tensor '")
           << getTensor() << "' has rank " << tensor.getDims().size() << ", got "
           << getIndices().size() << " indices";
  Type elem = tensor.getElementType();
  Type want = isTypeOf(elem, 32) ? Type(IntegerType::get(getContext(), 64)) : elem;
  if (want != getType())
    return emitOpError("result type ") << getType() << " does not match "
                                       << want;
  return success();
}

LogicalResult GetParamOp::verify() {
  if (!(*this)->getParentOfType<VariantOp>())
    return emitOpError("must be inside an attn.variant");
  return success();
}

LogicalResult LoadOp::verify() {
  if (!(*this)->getParentOfType<VariantOp>())
    return emitOpError("must be inside an attn.variant");
  return success();
}

//===----------------------------------------------------------------------===//
// Folders
//===----------------------------------------------------------------------===//

namespace {
/// Python-style floor division and modulo on int64 (x / 0 = x % 0 = 0).
int64_t floorDiv(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  if (b == -1) // avoid INT64_MIN / -1 overflow: wrap like two's complement
    return static_cast<int64_t>(0 - static_cast<uint64_t>(a));
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    --q;
  return q;
}
int64_t floorMod(int64_t a, int64_t b) {
  if (b == 0 || b == -1)
    return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

template <typename Fn>
OpFoldResult foldIntBinary(Type type, Attribute lhs, Attribute rhs, Fn fn) {
  auto l = dyn_cast_or_null<IntegerAttr>(lhs);
  auto r = dyn_cast_or_null<IntegerAttr>(rhs);
  if (!l || !r)
    return {};
  return IntegerAttr::get(type, fn(l.getInt(), r.getInt()));
}
} // namespace

OpFoldResult FloorDivOp::fold(FoldAdaptor adaptor) {
  if (auto r = dyn_cast_or_null<IntegerAttr>(adaptor.getRhs()); r && r.getInt() == 1)
    return getLhs();
  return foldIntBinary(getType(), adaptor.getLhs(), adaptor.getRhs(), floorDiv);
}

OpFoldResult FloorModOp::fold(FoldAdaptor adaptor) {
  return foldIntBinary(getType(), adaptor.getLhs(), adaptor.getRhs(), floorMod);
}

//===----------------------------------------------------------------------===//
// Printed names: block arguments %b %h %i %j (%s, %d), results %qk %H ...
//===----------------------------------------------------------------------===//

namespace {
void nameBlockArgs(Region &region, OpAsmSetValueNameFn setNameFn,
                   ArrayRef<const char *> names) {
  if (region.empty())
    return;
  Block &block = region.front();
  for (auto [arg, name] : llvm::zip(block.getArguments(), names))
    setNameFn(arg, name);
}
constexpr const char *kBHIJ[] = {"b", "h", "i", "j"};
} // namespace

void ScoreOp::getAsmBlockArgumentNames(Region &region, OpAsmSetValueNameFn fn) {
  nameBlockArgs(region, fn, kBHIJ);
}
void BiasOp::getAsmBlockArgumentNames(Region &region, OpAsmSetValueNameFn fn) {
  nameBlockArgs(region, fn, kBHIJ);
}
void MaskOp::getAsmBlockArgumentNames(Region &region, OpAsmSetValueNameFn fn) {
  nameBlockArgs(region, fn, kBHIJ);
}
void ScaleOp::getAsmBlockArgumentNames(Region &region, OpAsmSetValueNameFn fn) {
  nameBlockArgs(region, fn, kBHIJ);
}
void NormOp::getAsmBlockArgumentNames(Region &region, OpAsmSetValueNameFn fn) {
  static constexpr const char *kNormArgs[] = {"b", "h", "i", "j", "s"};
  nameBlockArgs(region, fn, kNormArgs);
}
void SumDOp::getAsmBlockArgumentNames(Region &region, OpAsmSetValueNameFn fn) {
  static constexpr const char *kD[] = {"d"};
  nameBlockArgs(region, fn, kD);
}

void SizeOp::getAsmResultNames(OpAsmSetValueNameFn fn) {
  fn(getResult(), stringifySizeKind(getSize()));
}
void GetScaleOp::getAsmResultNames(OpAsmSetValueNameFn fn) {
  fn(getResult(), "scale");
}
void GetParamOp::getAsmResultNames(OpAsmSetValueNameFn fn) {
  fn(getResult(), getParam());
}
void LoadOp::getAsmResultNames(OpAsmSetValueNameFn fn) {
  fn(getResult(), getTensor());
}
void QKOp::getAsmResultNames(OpAsmSetValueNameFn fn) { fn(getResult(), "qk"); }
void DotOp::getAsmResultNames(OpAsmSetValueNameFn fn) { fn(getResult(), "dot"); }
void SumDOp::getAsmResultNames(OpAsmSetValueNameFn fn) {
  fn(getResult(), "sum_d");
}
void QElemOp::getAsmResultNames(OpAsmSetValueNameFn fn) { fn(getResult(), "q"); }
void KElemOp::getAsmResultNames(OpAsmSetValueNameFn fn) { fn(getResult(), "k"); }
void ReduceJOp::getAsmResultNames(OpAsmSetValueNameFn fn) {
  fn(getResult(), (stringifyReduceKind(getKind()) + "_j").str());
}

#define GET_OP_CLASSES
#include "dialects/attn/AttnOps.cpp.inc"
