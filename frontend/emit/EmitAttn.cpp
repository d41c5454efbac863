//===- EmitAttn.cpp - checked AST -> attn dialect -------------------------===//
//
// Walks a Sema-checked module and builds one `attn.variant` per variant. Each
// statement becomes an op whose region computes the statement's expression
// from the block arguments (b, h, i, j : i64) with arith / math / attn ops.
//
// Lowering decisions (the contract with the cascade lowering and the
// interpreters):
//  - Values: integers i64, floats f32, booleans i1. An integer operand of a
//    float operation is converted with arith.sitofp; math built-ins convert
//    an integer argument to f32. A value whose Sema type differs from the
//    natural type of its op is converted to the Sema type.
//  - Integer `/` and `%` are attn.floordiv / attn.floormod (Python floor
//    semantics; x / 0 = x % 0 = 0 at run time, a literal 0 is a Sema error).
//  - Float `%` is Python's floor modulo: r = remf(a, b); r + b when r != 0
//    and r, b have different signs. a % 0.0 is NaN (Python raises);
//    a % inf is a for a >= 0 and inf for a < 0, as in Python.
//  - Comparisons are ordered (olt ole ogt oge oeq) except `!=`, which is
//    `une` so that `a != b` is exactly `!(a == b)` (true when either is NaN).
//  - `let`s are emitted inline where used, once per region (memoised); so are
//    sizes, params, `scale`, `qk`, `dot(q, k)` and `q[d]` / `k[d]`.
//  - In a custom norm, an assignment is an SSA value of the norm block;
//    `max_j/min_j/sum_j(E)` is an attn.reduce_j whose region computes E and
//    may use values of the enclosing block: a per-key value used there means
//    that value at each reduced key.
//
//===----------------------------------------------------------------------===//
#include "frontend/emit/EmitAttn.h"

#include "dialects/attn/AttnDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <optional>

using namespace mlir;

namespace attn {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::OpKind;
using ast::RefKind;

/// Names of the index variables, in RefKind::IndexVar order (kept local so the
/// emitter does not depend on the front end's tables).
constexpr const char *kIndexVarNames[] = {"b", "h", "i", "j"};

/// Builds the attn dialect for one module. Errors (which mean that Sema let
/// something through) are reported as MLIR diagnostics at the AST location.
class Emitter {
public:
  Emitter(MLIRContext &ctx, const ast::Module &module)
      : ctx(ctx), b(&ctx), module(module),
        fileName(StringAttr::get(&ctx, module.fileName)) {}

  OwningOpRef<ModuleOp> run(StringRef only);

private:
  /// Values that may be reused within one region (and the regions it holds):
  /// lets, sizes, params, scale, qk, dot. Key: (RefKind, refIndex).
  using Scope = llvm::DenseMap<std::pair<int, int>, Value>;

  Location loc(const ast::SourceRange &r) {
    return FileLineColLoc::get(fileName, r.begin.line, r.begin.col);
  }
  Type i1() { return b.getI1Type(); }
  Type i64() { return b.getI64Type(); }
  Type f32() { return b.getF32Type(); }
  Type toMlir(ast::Type t) {
    switch (t) {
    case ast::Type::Bool: return i1();
    case ast::Type::Int: return i64();
    case ast::Type::Float: return f32();
    case ast::Type::Unknown: break;
    }
    return nullptr;
  }
  Type declType(ast::DeclType t) {
    switch (t) {
    case ast::DeclType::I32: return b.getI32Type();
    case ast::DeclType::F32: return f32();
    case ast::DeclType::Bool: return i1();
    }
    return nullptr;
  }

  /// Reports an internal inconsistency at `l`; returns a null Value.
  Value fail(Location l, const Twine &msg) {
    mlir::emitError(l) << msg;
    hadError = true;
    return nullptr;
  }

  // Declarations and statements.
  LogicalResult emitVariant(const ast::Variant &v);
  TypedAttr paramDefault(const ast::ParamDecl &p);
  template <typename OpT>
  LogicalResult emitStmt(const ast::SingleStmt &stmt, Type yieldTy);
  LogicalResult emitNorm(const ast::NormSpec &norm);

  /// Creates the single block of `region` with the given argument types,
  /// sets the insertion point into it and opens a scope.
  Block *beginRegion(Region &region, TypeRange argTypes, Location l);
  /// Yields `v` converted to `ty`, closes the scope opened by beginRegion.
  LogicalResult endRegion(Value v, Type ty, Location l);

  // Expressions.
  Value emit(const Expr &e);
  Value emitNatural(const Expr &e);
  Value emitName(const Expr &e);
  Value emitIndex(const Expr &e);
  Value emitUnary(const Expr &e);
  Value emitBinary(const Expr &e);
  Value emitCall(const Expr &e);
  Value emitBuiltin(const Expr &e, ArrayRef<Value> args);
  Value emitRowReduce(const Expr &e);
  Value emitSumD(const Expr &e);

  Value cast(Value v, Type to, Location l);
  Type commonType(ArrayRef<Value> vs);
  Value constF(double v, Location l) {
    return arith::ConstantOp::create(b, l, b.getF32FloatAttr(static_cast<float>(v)));
  }
  Value constI(int64_t v, Location l) {
    return arith::ConstantOp::create(b, l, b.getI64IntegerAttr(v));
  }
  Value minOf(Value x, Value y, Location l);
  Value maxOf(Value x, Value y, Location l);
  Value floatMod(Value x, Value y, Location l);

  /// Looks `key` up from the innermost scope outwards.
  Value lookup(std::pair<int, int> key) {
    for (auto it = scopes.rbegin(); it != scopes.rend(); ++it)
      if (auto found = it->find(key); found != it->end())
        return found->second;
    return nullptr;
  }
  /// Whether `v` is held by a scope (and so may be used again).
  bool isCached(Value v) {
    for (const Scope &scope : scopes)
      for (const auto &entry : scope)
        if (entry.second == v)
          return true;
    return false;
  }
  /// Returns the cached value for `key`, or builds it with `make` and caches
  /// it in the innermost scope.
  template <typename Fn> Value cached(std::pair<int, int> key, Fn make) {
    if (Value v = lookup(key))
      return v;
    Value v = make();
    if (v)
      scopes.back()[key] = v;
    return v;
  }

  MLIRContext &ctx;
  OpBuilder b;
  const ast::Module &module;
  StringAttr fileName;
  bool hadError = false;

  // The variant and statement being emitted.
  const ast::Variant *variant = nullptr;
  bool inScoreStmt = false;
  bool inScaleStmt = false;
  SmallVector<Value, 4> indexArgs; ///< b h i j (b h i in a sink)
  Value headIndex;                 ///< d, inside attn.sum_d
  Value normScore;                 ///< s, inside a custom norm
  SmallVector<Value> normLocals;   ///< custom-norm assignments so far
  SmallVector<Scope, 4> scopes;
  llvm::SmallPtrSet<const ast::LetDecl *, 4> letsInProgress;
};

//===----------------------------------------------------------------------===//
// Module, variants, statements
//===----------------------------------------------------------------------===//

OwningOpRef<ModuleOp> Emitter::run(StringRef only) {
  ctx.loadDialect<AttnDialect, arith::ArithDialect, math::MathDialect>();
  auto fileLoc = FileLineColLoc::get(fileName, 1, 1);
  OwningOpRef<ModuleOp> result = ModuleOp::create(fileLoc);
  b.setInsertionPointToEnd(result->getBody());
  bool found = only.empty();
  for (const ast::Variant &v : module.variants) {
    if (!only.empty() && v.name != only)
      continue;
    found = true;
    if (mlir::failed(emitVariant(v)))
      return nullptr;
    b.setInsertionPointToEnd(result->getBody());
  }
  if (!found)
    return nullptr;
  if (hadError || mlir::failed(mlir::verify(*result))) {
    mlir::emitError(fileLoc)
        << "internal error: the attn IR emitted for this file does not "
           "verify (a compiler bug); the IR follows on stderr";
    result->print(llvm::errs(), OpPrintingFlags().printGenericOpForm());
    return nullptr;
  }
  return result;
}

LogicalResult Emitter::emitVariant(const ast::Variant &v) {
  variant = &v;
  auto op = VariantOp::create(b, loc(v.loc), v.name);
  b.setInsertionPointToEnd(&op.getBody().emplaceBlock());

  for (const ast::ParamDecl &p : v.params) {
    TypedAttr def;
    if (p.defaultValue) {
      def = paramDefault(p);
      if (!def)
        return failure();
    }
    ParamOp::create(b, loc(p.loc), p.name, declType(p.type), def);
  }
  for (const ast::TensorDecl &t : v.tensors) {
    SmallVector<Attribute> dims;
    for (const ast::TensorDim &d : t.dims) {
      if (!d.sizeName.empty())
        dims.push_back(b.getStringAttr(d.sizeName));
      else
        dims.push_back(b.getI64IntegerAttr(d.extent));
    }
    TensorOp::create(b, loc(t.loc), b.getStringAttr(t.name),
                     TypeAttr::get(declType(t.elemType)), b.getArrayAttr(dims));
  }
  if (v.score) {
    inScoreStmt = true;
    LogicalResult r = emitStmt<ScoreOp>(*v.score, f32());
    inScoreStmt = false;
    if (mlir::failed(r))
      return failure();
  }
  if (v.bias && mlir::failed(emitStmt<BiasOp>(*v.bias, f32())))
    return failure();
  if (v.mask && mlir::failed(emitStmt<MaskOp>(*v.mask, i1())))
    return failure();
  if (v.scale) {
    inScaleStmt = true;
    LogicalResult r = emitStmt<ScaleOp>(*v.scale, f32());
    inScaleStmt = false;
    if (mlir::failed(r))
      return failure();
  }
  if (v.norm && mlir::failed(emitNorm(*v.norm)))
    return failure();
  return success(!hadError);
}

/// Evaluates a constant expression (literals, unary minus/not, + - * /) as a
/// double; `isFloat` says whether a float took part.
static std::optional<double> constEval(const Expr &e, bool &isFloat) {
  switch (e.kind) {
  case ExprKind::IntLit:
  case ExprKind::BoolLit:
    return static_cast<double>(e.ival);
  case ExprKind::FloatLit:
    isFloat = true;
    return e.fval;
  case ExprKind::Unary: {
    auto x = constEval(*e.args[0], isFloat);
    if (!x)
      return std::nullopt;
    if (e.op == OpKind::Neg)
      return -*x;
    if (e.op == OpKind::Not)
      return *x == 0.0 ? 1.0 : 0.0;
    return std::nullopt;
  }
  case ExprKind::Binary: {
    auto x = constEval(*e.args[0], isFloat);
    auto y = constEval(*e.args[1], isFloat);
    if (!x || !y)
      return std::nullopt;
    switch (e.op) {
    case OpKind::Add: return *x + *y;
    case OpKind::Sub: return *x - *y;
    case OpKind::Mul: return *x * *y;
    case OpKind::Div:
      if (*y == 0.0)
        return std::nullopt;
      return isFloat ? *x / *y : std::floor(*x / *y);
    default: return std::nullopt;
    }
  }
  default:
    return std::nullopt;
  }
}

TypedAttr Emitter::paramDefault(const ast::ParamDecl &p) {
  bool isFloat = false;
  std::optional<double> v = constEval(*p.defaultValue, isFloat);
  Location l = loc(p.defaultValue->loc);
  if (!v) {
    fail(l, "default value of param '" + p.name + "' is not a constant");
    return nullptr;
  }
  switch (p.type) {
  case ast::DeclType::F32:
    return b.getF32FloatAttr(static_cast<float>(*v));
  case ast::DeclType::I32:
    if (*v != std::floor(*v) || *v < -2147483648.0 || *v > 2147483647.0) {
      fail(l, "default value of i32 param '" + p.name + "' is not an i32");
      return nullptr;
    }
    return b.getI32IntegerAttr(static_cast<int32_t>(*v));
  case ast::DeclType::Bool:
    return b.getBoolAttr(*v != 0.0);
  }
  return nullptr;
}

Block *Emitter::beginRegion(Region &region, TypeRange argTypes, Location l) {
  Block &block = region.emplaceBlock();
  for (Type t : argTypes)
    block.addArgument(t, l);
  b.setInsertionPointToEnd(&block);
  scopes.emplace_back();
  return &block;
}

LogicalResult Emitter::endRegion(Value v, Type ty, Location l) {
  scopes.pop_back();
  if (!v)
    return failure();
  Value y = cast(v, ty, l);
  if (!y)
    return failure();
  YieldOp::create(b, l, ValueRange{y});
  return success();
}

template <typename OpT>
LogicalResult Emitter::emitStmt(const ast::SingleStmt &stmt, Type yieldTy) {
  OpBuilder::InsertionGuard guard(b);
  Location l = loc(stmt.loc);
  auto op = OpT::create(b, l);
  Block *block = beginRegion(op.getBody(), {i64(), i64(), i64(), i64()}, l);
  indexArgs.assign(block->getArguments().begin(), block->getArguments().end());
  Value v = emit(*stmt.value);
  if (v && yieldTy == i1() && v.getType() != i1()) {
    fail(loc(stmt.value->loc), "mask must be a boolean expression");
    v = nullptr;
  }
  LogicalResult r = endRegion(v, yieldTy, loc(stmt.value->loc));
  indexArgs.clear();
  return r;
}

static NormKind toNormKind(ast::NormKind k) {
  switch (k) {
  case ast::NormKind::Softmax: return NormKind::softmax;
  case ast::NormKind::Sigmoid: return NormKind::sigmoid;
  case ast::NormKind::Relu: return NormKind::relu;
  case ast::NormKind::Relu2: return NormKind::relu2;
  case ast::NormKind::Softplus: return NormKind::softplus;
  case ast::NormKind::Linear: return NormKind::linear;
  case ast::NormKind::None: return NormKind::none;
  case ast::NormKind::Custom: return NormKind::custom;
  }
  return NormKind::softmax;
}

LogicalResult Emitter::emitNorm(const ast::NormSpec &norm) {
  OpBuilder::InsertionGuard guard(b);
  Location l = loc(norm.loc);
  auto op = NormOp::create(b, l, toNormKind(norm.kind));
  if (norm.kind == ast::NormKind::Softmax && norm.sink) {
    Block *block = beginRegion(op.getBody(), {i64(), i64(), i64()}, l);
    indexArgs.assign(block->getArguments().begin(), block->getArguments().end());
    Value v = emit(*norm.sink);
    LogicalResult r = endRegion(v, f32(), loc(norm.sink->loc));
    indexArgs.clear();
    return r;
  }
  if (norm.kind != ast::NormKind::Custom)
    return success();

  Block *block =
      beginRegion(op.getBody(), {i64(), i64(), i64(), i64(), f32()}, l);
  indexArgs.assign(block->getArguments().begin(),
                   block->getArguments().begin() + 4);
  normScore = block->getArgument(4);
  normLocals.clear();
  Value w;
  Location wLoc = l;
  for (const ast::NormAssign &a : norm.custom) {
    Value v = emit(*a.value);
    if (!v)
      break;
    // `m = max_j(...)`: the NameLoc names the reduction's Einsum (`M`) in the cascade.
    if (auto r = v.getDefiningOp<ReduceJOp>())
      r->setLoc(NameLoc::get(b.getStringAttr(a.name), r->getLoc()));
    normLocals.push_back(v);
    if (a.name == "w") {
      w = v;
      wLoc = loc(a.loc);
    }
  }
  if (!hadError && !w)
    fail(l, "custom norm does not define 'w'");
  LogicalResult r = endRegion(hadError ? Value() : w, f32(), wLoc);
  indexArgs.clear();
  normScore = nullptr;
  normLocals.clear();
  return r;
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

Value Emitter::cast(Value v, Type to, Location l) {
  if (!v || !to || v.getType() == to)
    return v;
  Type from = v.getType();
  if (from == i64() && to == f32()) {
    // A promoted integer literal becomes a float literal.
    if (auto c = v.getDefiningOp<arith::ConstantOp>()) {
      Value f = constF(static_cast<double>(
                           llvm::cast<IntegerAttr>(c.getValue()).getInt()),
                       c.getLoc());
      if (v.use_empty() && !isCached(v))
        c.erase();
      return f;
    }
    return arith::SIToFPOp::create(b, l, to, v);
  }
  if (from == i1() && to == f32())
    return arith::UIToFPOp::create(b, l, to, v);
  if (from == i1() && to == i64())
    return arith::ExtUIOp::create(b, l, to, v);
  if (from == f32() && to == i64())
    return arith::FPToSIOp::create(b, l, to, v);
  if (from == i64() && to == i1())
    return arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, v, constI(0, l));
  if (from == f32() && to == i1())
    return arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNE, v, constF(0, l));
  std::string msg;
  llvm::raw_string_ostream os(msg);
  os << "cannot convert " << from << " to " << to;
  return fail(l, msg);
}

Type Emitter::commonType(ArrayRef<Value> vs) {
  bool anyF = false, anyI = false;
  for (Value v : vs) {
    anyF |= v.getType() == f32();
    anyI |= v.getType() == i64();
  }
  return anyF ? f32() : anyI ? i64() : i1();
}

Value Emitter::emit(const Expr &e) {
  Value v = emitNatural(e);
  if (!v)
    return nullptr;
  if (e.type == ast::Type::Unknown)
    return v;
  return cast(v, toMlir(e.type), loc(e.loc));
}

Value Emitter::emitNatural(const Expr &e) {
  Location l = loc(e.loc);
  switch (e.kind) {
  case ExprKind::IntLit:
    return constI(e.ival, l);
  case ExprKind::FloatLit:
    return constF(e.fval, l);
  case ExprKind::BoolLit:
    return arith::ConstantOp::create(b, l, b.getBoolAttr(e.ival != 0));
  case ExprKind::Name:
    return emitName(e);
  case ExprKind::Index:
    return emitIndex(e);
  case ExprKind::Unary:
    return emitUnary(e);
  case ExprKind::Binary:
    return emitBinary(e);
  case ExprKind::Ternary: {
    Value c = cast(emit(*e.args[0]), i1(), l);
    Value x = emit(*e.args[1]);
    Value y = emit(*e.args[2]);
    if (!c || !x || !y)
      return nullptr;
    Type t = e.type != ast::Type::Unknown ? toMlir(e.type) : commonType({x, y});
    x = cast(x, t, l);
    y = cast(y, t, l);
    if (!x || !y)
      return nullptr;
    return arith::SelectOp::create(b, l, c, x, y);
  }
  case ExprKind::Call:
    return emitCall(e);
  case ExprKind::SumD:
    return emitSumD(e);
  }
  return fail(l, "unknown expression kind");
}

Value Emitter::emitName(const Expr &e) {
  Location l = loc(e.loc);
  std::pair<int, int> key{static_cast<int>(e.ref), e.refIndex};
  switch (e.ref) {
  case RefKind::IndexVar:
    if (e.refIndex < 0 || e.refIndex >= static_cast<int>(indexArgs.size()))
      return fail(l, Twine("index '") +
                         (e.refIndex >= 0 && e.refIndex < 4
                              ? kIndexVarNames[e.refIndex]
                              : "?") +
                         "' is not available here");
    return indexArgs[e.refIndex];
  case RefKind::Size:
    if (e.refIndex < 0 || e.refIndex > 5)
      return fail(l, "bad size reference");
    return cached(key, [&] {
      return SizeOp::create(b, l, static_cast<SizeKind>(e.refIndex)).getResult();
    });
  case RefKind::Scale:
    if (inScaleStmt)
      return fail(l, "'scale' cannot be used in the scale statement");
    return cached(key, [&] { return GetScaleOp::create(b, l).getResult(); });
  case RefKind::QK:
    if (!inScoreStmt)
      return fail(l, "'qk' may only be used in score");
    return cached(key, [&] { return QKOp::create(b, l).getResult(); });
  case RefKind::Param: {
    if (e.refIndex < 0 || e.refIndex >= static_cast<int>(variant->params.size()))
      return fail(l, "bad param reference");
    const ast::ParamDecl &p = variant->params[e.refIndex];
    Type t = p.type == ast::DeclType::F32   ? f32()
             : p.type == ast::DeclType::I32 ? i64()
                                            : i1();
    return cached(key, [&] {
      return GetParamOp::create(b, l, t, p.name).getResult();
    });
  }
  case RefKind::Let: {
    if (e.refIndex < 0 || e.refIndex >= static_cast<int>(variant->lets.size()))
      return fail(l, "bad let reference");
    const ast::LetDecl &let = variant->lets[e.refIndex];
    if (Value v = lookup(key))
      return v;
    if (!letsInProgress.insert(&let).second)
      return fail(l, "let '" + let.name + "' refers to itself");
    Value v = emit(*let.value);
    letsInProgress.erase(&let);
    if (v)
      scopes.back()[key] = v;
    return v;
  }
  case RefKind::HeadIndex:
    if (!headIndex)
      return fail(l, "'" + e.name + "' used outside sum[" + e.name + "]");
    return headIndex;
  case RefKind::NormScore:
    if (!normScore)
      return fail(l, "'s' used outside a custom norm");
    return normScore;
  case RefKind::NormLocal:
    if (e.refIndex < 0 || e.refIndex >= static_cast<int>(normLocals.size()))
      return fail(l, "'" + e.name + "' used before it is assigned");
    return normLocals[e.refIndex];
  default:
    return fail(l, "unresolved name '" + e.name + "'");
  }
}

Value Emitter::emitIndex(const Expr &e) {
  Location l = loc(e.loc);
  switch (e.ref) {
  case RefKind::Tensor: {
    if (e.refIndex < 0 || e.refIndex >= static_cast<int>(variant->tensors.size()))
      return fail(l, "bad tensor reference");
    const ast::TensorDecl &t = variant->tensors[e.refIndex];
    SmallVector<Value> idx;
    for (const auto &a : e.args) {
      Value v = cast(emit(*a), i64(), loc(a->loc));
      if (!v)
        return nullptr;
      idx.push_back(v);
    }
    Type ty = t.elemType == ast::DeclType::F32 ? f32() : i64();
    return LoadOp::create(b, l, ty, t.name, idx);
  }
  case RefKind::QElem:
  case RefKind::KElem: {
    if (!headIndex)
      return fail(l, "'" + e.name + "[...]' used outside sum[d]");
    if (e.args.size() != 1)
      return fail(l, "'" + e.name + "' takes one index");
    auto make = [&]() -> Value {
      Value d = cast(emit(*e.args[0]), i64(), l);
      if (!d)
        return nullptr;
      if (e.ref == RefKind::QElem)
        return QElemOp::create(b, l, d);
      return KElemOp::create(b, l, d);
    };
    // q[d] / k[d] at the sum's own index are read once per attn.sum_d.
    const Expr &arg = *e.args[0];
    if (arg.kind == ExprKind::Name && arg.ref == RefKind::HeadIndex)
      return cached({static_cast<int>(e.ref), 0}, make);
    return make();
  }
  default:
    return fail(l, "'" + e.name + "' cannot be indexed");
  }
}

Value Emitter::emitUnary(const Expr &e) {
  Location l = loc(e.loc);
  Value x = emit(*e.args[0]);
  if (!x)
    return nullptr;
  if (e.op == OpKind::Not) {
    x = cast(x, i1(), l);
    Value t = arith::ConstantOp::create(b, l, b.getBoolAttr(true));
    return arith::XOrIOp::create(b, l, x, t);
  }
  if (e.op == OpKind::Neg) {
    if (x.getType() == f32())
      return arith::NegFOp::create(b, l, x);
    x = cast(x, i64(), l);
    return arith::SubIOp::create(b, l, constI(0, l), x);
  }
  return fail(l, "bad unary operator");
}

Value Emitter::floatMod(Value x, Value y, Location l) {
  Value zero = constF(0, l);
  Value r = arith::RemFOp::create(b, l, x, y);
  Value nonZero = arith::CmpFOp::create(b, l, arith::CmpFPredicate::ONE, r, zero);
  Value rNeg = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLT, r, zero);
  Value yNeg = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLT, y, zero);
  Value signsDiffer = arith::XOrIOp::create(b, l, rNeg, yNeg);
  Value fix = arith::AndIOp::create(b, l, nonZero, signsDiffer);
  Value shifted = arith::AddFOp::create(b, l, r, y);
  return arith::SelectOp::create(b, l, fix, shifted, r);
}

Value Emitter::emitBinary(const Expr &e) {
  Location l = loc(e.loc);
  Value x = emit(*e.args[0]);
  Value y = emit(*e.args[1]);
  if (!x || !y)
    return nullptr;
  if (e.op == OpKind::And || e.op == OpKind::Or) {
    x = cast(x, i1(), l);
    y = cast(y, i1(), l);
    if (!x || !y)
      return nullptr;
    if (e.op == OpKind::And)
      return arith::AndIOp::create(b, l, x, y);
    return arith::OrIOp::create(b, l, x, y);
  }
  Type t = commonType({x, y});
  bool isF = t == f32();
  if (!isF && t == i1() &&
      !(e.op == OpKind::Eq || e.op == OpKind::Ne)) {
    // Arithmetic or ordering on booleans: compute on integers.
    t = i64();
  }
  x = cast(x, t, l);
  y = cast(y, t, l);
  if (!x || !y)
    return nullptr;
  using IP = arith::CmpIPredicate;
  using FP = arith::CmpFPredicate;
  auto cmp = [&](IP ip, FP fp) -> Value {
    if (isF)
      return arith::CmpFOp::create(b, l, fp, x, y);
    return arith::CmpIOp::create(b, l, ip, x, y);
  };
  switch (e.op) {
  case OpKind::Add:
    return isF ? Value(arith::AddFOp::create(b, l, x, y))
               : Value(arith::AddIOp::create(b, l, x, y));
  case OpKind::Sub:
    return isF ? Value(arith::SubFOp::create(b, l, x, y))
               : Value(arith::SubIOp::create(b, l, x, y));
  case OpKind::Mul:
    return isF ? Value(arith::MulFOp::create(b, l, x, y))
               : Value(arith::MulIOp::create(b, l, x, y));
  case OpKind::Div:
    return isF ? Value(arith::DivFOp::create(b, l, x, y))
               : Value(FloorDivOp::create(b, l, x, y));
  case OpKind::Mod:
    return isF ? floatMod(x, y, l) : Value(FloorModOp::create(b, l, x, y));
  case OpKind::Lt: return cmp(IP::slt, FP::OLT);
  case OpKind::Le: return cmp(IP::sle, FP::OLE);
  case OpKind::Gt: return cmp(IP::sgt, FP::OGT);
  case OpKind::Ge: return cmp(IP::sge, FP::OGE);
  case OpKind::Eq: return cmp(IP::eq, FP::OEQ);
  case OpKind::Ne: return cmp(IP::ne, FP::UNE);
  default:
    return fail(l, "bad binary operator");
  }
}

Value Emitter::minOf(Value x, Value y, Location l) {
  if (x.getType() == f32())
    return arith::MinimumFOp::create(b, l, x, y);
  return arith::MinSIOp::create(b, l, x, y);
}

Value Emitter::maxOf(Value x, Value y, Location l) {
  if (x.getType() == f32())
    return arith::MaximumFOp::create(b, l, x, y);
  return arith::MaxSIOp::create(b, l, x, y);
}

Value Emitter::emitCall(const Expr &e) {
  Location l = loc(e.loc);
  switch (e.ref) {
  case RefKind::Dot:
    if (!inScoreStmt)
      return fail(l, "'dot(q, k)' may only be used in score");
    return cached({static_cast<int>(RefKind::Dot), 0},
                  [&] { return DotOp::create(b, l).getResult(); });
  case RefKind::RowReduce:
    return emitRowReduce(e);
  case RefKind::Builtin:
  case RefKind::Unresolved: {
    SmallVector<Value, 3> args;
    for (const auto &a : e.args) {
      Value v = emit(*a);
      if (!v)
        return nullptr;
      args.push_back(v);
    }
    return emitBuiltin(e, args);
  }
  default:
    return fail(l, "'" + e.name + "' is not a function");
  }
}

Value Emitter::emitBuiltin(const Expr &e, ArrayRef<Value> args) {
  Location l = loc(e.loc);
  StringRef name = e.name;
  auto arity = [&](size_t n) {
    if (args.size() == n)
      return true;
    fail(l, "'" + name + "' expects " + Twine(n) + " arguments, got " +
                Twine(args.size()));
    return false;
  };
  auto asNum = [&](Value v) { return v.getType() == i1() ? cast(v, i64(), l) : v; };

  if (name == "min" || name == "max") {
    if (args.size() < 2)
      return fail(l, "'" + name + "' expects at least 2 arguments");
    Type t = commonType(args);
    if (t == i1())
      t = i64();
    Value acc = cast(args[0], t, l);
    for (Value a : args.drop_front()) {
      Value c = cast(a, t, l);
      if (!acc || !c)
        return nullptr;
      acc = name == "min" ? minOf(acc, c, l) : maxOf(acc, c, l);
    }
    return acc;
  }
  if (name == "clamp") {
    if (!arity(3))
      return nullptr;
    Type t = commonType(args);
    if (t == i1())
      t = i64();
    Value x = cast(args[0], t, l), lo = cast(args[1], t, l),
          hi = cast(args[2], t, l);
    if (!x || !lo || !hi)
      return nullptr;
    return minOf(maxOf(x, lo, l), hi, l);
  }
  if (name == "select") {
    if (!arity(3))
      return nullptr;
    Value c = cast(args[0], i1(), l);
    Type t = commonType(args.drop_front());
    Value x = cast(args[1], t, l), y = cast(args[2], t, l);
    if (!c || !x || !y)
      return nullptr;
    return arith::SelectOp::create(b, l, c, x, y);
  }
  if (!arity(1))
    return nullptr;
  Value x = asNum(args[0]);
  if (!x)
    return nullptr;
  if (name == "abs") {
    if (x.getType() == f32())
      return math::AbsFOp::create(b, l, x);
    return math::AbsIOp::create(b, l, x);
  }
  if (name == "relu") {
    Value zero = x.getType() == f32() ? constF(0, l) : constI(0, l);
    return maxOf(x, zero, l);
  }
  if (name == "floor" || name == "ceil") {
    if (x.getType() == i64())
      return x;
    if (name == "floor")
      return math::FloorOp::create(b, l, x);
    return math::CeilOp::create(b, l, x);
  }
  // Everything else is a float function.
  x = cast(x, f32(), l);
  if (!x)
    return nullptr;
  if (name == "exp") return math::ExpOp::create(b, l, x);
  if (name == "exp2") return math::Exp2Op::create(b, l, x);
  if (name == "log") return math::LogOp::create(b, l, x);
  if (name == "log2") return math::Log2Op::create(b, l, x);
  if (name == "sqrt") return math::SqrtOp::create(b, l, x);
  if (name == "rsqrt") return math::RsqrtOp::create(b, l, x);
  if (name == "tanh") return math::TanhOp::create(b, l, x);
  if (name == "sigmoid") {
    // 1 / (1 + exp(-x))
    Value one = constF(1, l);
    Value ex = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, x));
    return arith::DivFOp::create(b, l, one, arith::AddFOp::create(b, l, one, ex));
  }
  if (name == "softplus") {
    // max(x, 0) + log1p(exp(-|x|)): never overflows.
    Value pos = arith::MaximumFOp::create(b, l, x, constF(0, l));
    Value negAbs = arith::NegFOp::create(b, l, math::AbsFOp::create(b, l, x));
    Value tail = math::Log1pOp::create(b, l, math::ExpOp::create(b, l, negAbs));
    return arith::AddFOp::create(b, l, pos, tail);
  }
  return fail(l, "unknown function '" + name + "'");
}

Value Emitter::emitRowReduce(const Expr &e) {
  Location l = loc(e.loc);
  if (!normScore)
    return fail(l, "'" + e.name + "' used outside a custom norm");
  std::optional<ReduceKind> kind = llvm::StringSwitch<std::optional<ReduceKind>>(e.name)
                                       .Case("max_j", ReduceKind::max)
                                       .Case("min_j", ReduceKind::min)
                                       .Case("sum_j", ReduceKind::sum)
                                       .Default(std::nullopt);
  if (!kind)
    return fail(l, "unknown row reduction '" + e.name + "'");
  if (e.args.size() != 1)
    return fail(l, "'" + e.name + "' expects 1 argument");
  auto op = ReduceJOp::create(b, l, *kind);
  {
    OpBuilder::InsertionGuard guard(b);
    beginRegion(op.getBody(), {}, l);
    Value v = emit(*e.args[0]);
    if (mlir::failed(endRegion(v, f32(), loc(e.args[0]->loc))))
      return nullptr;
  }
  return op.getResult();
}

Value Emitter::emitSumD(const Expr &e) {
  Location l = loc(e.loc);
  if (!inScoreStmt)
    return fail(l, "'sum[" + e.name + "]' may only be used in score");
  if (headIndex)
    return fail(l, "nested 'sum[...]' is not supported");
  if (e.args.size() != 1)
    return fail(l, "'sum[" + e.name + "]' expects 1 argument");
  auto op = SumDOp::create(b, l);
  {
    OpBuilder::InsertionGuard guard(b);
    Block *block = beginRegion(op.getBody(), {i64()}, l);
    headIndex = block->getArgument(0);
    Value v = emit(*e.args[0]);
    headIndex = nullptr;
    if (mlir::failed(endRegion(v, f32(), loc(e.args[0]->loc))))
      return nullptr;
  }
  return op.getResult();
}

} // namespace

OwningOpRef<ModuleOp> emitAttnModule(MLIRContext &ctx, const ast::Module &module,
                                     llvm::StringRef only) {
  return Emitter(ctx, module).run(only);
}

} // namespace attn
