//===- BodyInliner.cpp - inline an Einsum body at one point ---------------===//
#include "compiler/targets/common/BodyInliner.h"

#include "attn/attn.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;

namespace attn {

namespace {

/// When a body uses a value: a disjunction of conjunctions of i1 body values
/// (each true or false), LANGUAGE.md's lazy `&&`, `||` and `?:`. No term:
/// never used; an empty term: always.
using GuardTerm = SmallVector<std::pair<Value, bool>, 4>;
using ReadGuard = SmallVector<GuardTerm, 4>;

constexpr size_t kMaxGuardTerms = 4, kMaxGuardLiterals = 4;

bool always(const ReadGuard &g) {
  return llvm::any_of(g, [](const GuardTerm &t) { return t.empty(); });
}

/// into := into or x. Past kMaxGuardTerms terms, always (a wider guard only
/// checks reads more eagerly).
void orInto(ReadGuard &into, const ReadGuard &x) {
  if (always(into))
    return;
  if (always(x)) {
    into.assign(1, GuardTerm{});
    return;
  }
  for (const GuardTerm &t : x)
    if (!llvm::is_contained(into, t))
      into.push_back(t);
  if (into.size() > kMaxGuardTerms)
    into.assign(1, GuardTerm{});
}

/// g and (cond == positive); a term of kMaxGuardLiterals drops its oldest
/// literal (wider, as above), keeping the innermost conditions (`c1 ? (c2 ?
/// t[j] : ..) : ..` reaches t[j] with c2 added last), which are the ones
/// that usually guard a read.
ReadGuard andWith(ReadGuard g, Value cond, bool positive) {
  for (GuardTerm &t : g) {
    if (t.size() >= kMaxGuardLiterals)
      t.erase(t.begin());
    t.push_back({cond, positive});
  }
  return g;
}

/// The guards of the tensor reads of `blk` that are not always used: the
/// direct reference evaluates `c ? x : y`'s x only where c holds, `x && y`'s
/// y only where x does and `x || y`'s y only where x does not, so a read there
/// is out of range only where its guard holds (it reads element 0 elsewhere,
/// and the value is not used).
llvm::DenseMap<Operation *, ReadGuard> readGuards(Block &blk) {
  llvm::DenseMap<Operation *, ReadGuard> need;
  auto give = [&](Value v, const ReadGuard &g) {
    if (Operation *def = v.getDefiningOp(); def && def->getBlock() == &blk)
      orInto(need[def], g);
  };
  for (Value v : blk.getTerminator()->getOperands())
    give(v, ReadGuard{GuardTerm{}});
  // Values used inside an op's regions (none today): always.
  for (Operation &op : blk.without_terminator())
    for (Region &r : op.getRegions())
      r.walk([&](Operation *inner) {
        for (Value v : inner->getOperands())
          give(v, ReadGuard{GuardTerm{}});
      });
  llvm::DenseMap<Operation *, ReadGuard> out;
  for (Operation &op : llvm::reverse(blk.without_terminator())) {
    auto it = need.find(&op);
    ReadGuard n = it == need.end() ? ReadGuard{} : it->second;
    if (isa<attn::LoadOp>(op) && !always(n))
      out[&op] = n;
    if (n.empty())
      continue;
    if (auto sel = dyn_cast<arith::SelectOp>(op)) {
      give(sel.getCondition(), n);
      give(sel.getTrueValue(), andWith(n, sel.getCondition(), true));
      give(sel.getFalseValue(), andWith(n, sel.getCondition(), false));
    } else if (isa<arith::AndIOp, arith::OrIOp>(op) && op.getResult(0).getType().isInteger(1)) {
      give(op.getOperand(0), n);
      give(op.getOperand(1), andWith(n, op.getOperand(0), isa<arith::AndIOp>(op)));
    } else {
      for (Value v : op.getOperands())
        give(v, n);
    }
  }
  return out;
}

/// Declaration `name` among the variant's declarations of kind Decl (params
/// or tensors), and its position there: its slot in the argument block's
/// arrays.
template <typename Decl>
std::pair<int64_t, Decl> declarationOf(attn::VariantOp variant, StringRef name) {
  int64_t k = 0;
  for (Operation &d : variant.getBody().front()) {
    if (auto decl = dyn_cast<Decl>(d)) {
      if (decl.getSymName() == name)
        return {k, decl};
      ++k;
    }
  }
  return {k, Decl()};
}

/// Emits the arith / llvm ops one attn op of a body stands for.
struct AttnOpLowering {
  attn::VariantOp variant;
  OpBuilder &b;
  Location loc;
  const BodyContext &ctx;
  Type ptrTy;
  /// Reads whose range check waits for their guard (inlineBody): each one's
  /// "out of range at a real point" bit, flagged once the guard is known.
  const llvm::DenseMap<Operation *, ReadGuard> *guards = nullptr;
  SmallVector<std::pair<Operation *, Value>> deferredChecks;

  Value cI64(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 64); }
  Value cIndex(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value gep(Value base, Type elem, Value offset) {
    return LLVM::GEPOp::create(b, loc, base.getType(), elem, base, ValueRange{offset});
  }
  /// The extent of dimension `dim` of tensor `decl`: its declaration (a
  /// literal or a size of the call), which the launchers check every extra
  /// tensor's shape against (LaunchChecks.cpp), so a size seeds the 32-bit
  /// index narrowing; the descriptor's word only for a size the kernel lacks.
  Value extentOf(attn::TensorOp decl, unsigned dim, Value base) {
    Attribute d = decl.getDims()[dim];
    if (auto n = dyn_cast<IntegerAttr>(d))
      return cI64(n.getInt());
    if (ctx.sizes)
      if (auto it = ctx.sizes->find(cast<StringAttr>(d).getValue()); it != ctx.sizes->end())
        return it->second;
    return loadWord(base, 2 + dim);
  }
  Value loadWord(Value base, int64_t k) {
    // Tensor descriptors and params are read-only during a launch: invariant
    // loads, which LLVM hoists out of a kernel's key loop.
    return LLVM::LoadOp::create(b, loc, b.getI64Type(), gep(base, b.getI64Type(), cI64(k)),
                                /*alignment=*/8, /*isVolatile=*/false, /*isNonTemporal=*/false,
                                /*isInvariant=*/true);
  }
  Value convert(Operation *op, IRMapping &map);

  /// ORs `badAt` (i1) into the error flag.
  void flag(Value badAt) {
    Value bad = arith::ExtUIOp::create(b, loc, b.getI32Type(), badAt);
    Value prev = memref::LoadOp::create(b, loc, ctx.errorFlag, ValueRange{cIndex(0)});
    memref::StoreOp::create(b, loc, arith::OrIOp::create(b, loc, prev, bad), ctx.errorFlag,
                            ValueRange{cIndex(0)});
  }

  /// The deferred checks, once every value of the body is in `map`: a read
  /// is out of range only where its guard holds.
  void flagDeferred(IRMapping &map) {
    if (deferredChecks.empty())
      return;
    Value t = arith::ConstantIntOp::create(b, loc, 1, 1);
    for (auto [op, badAt] : deferredChecks) {
      Value any;
      for (const auto &term : guards->lookup(op)) {
        Value all = t;
        for (auto [cond, positive] : term) {
          Value c = map.lookupOrNull(cond);
          if (!c) // not a value of this body: the literal is dropped (a wider guard)
            continue;
          if (!positive)
            c = arith::XOrIOp::create(b, loc, c, t);
          all = arith::AndIOp::create(b, loc, all, c);
        }
        any = any ? arith::OrIOp::create(b, loc, any, all).getResult() : all;
      }
      if (any) // no term: the read's value is never used
        flag(arith::AndIOp::create(b, loc, badAt, any));
    }
    deferredChecks.clear();
  }
};

} // namespace

Value AttnOpLowering::convert(Operation *op, IRMapping &map) {
  auto i64 = b.getI64Type();
  if (auto s = dyn_cast<attn::SizeOp>(op)) {
    return ctx.sizes->lookup(attn::stringifySizeKind(s.getSize()));
  }
  if (auto p = dyn_cast<attn::GetParamOp>(op)) {
    int64_t k = declarationOf<attn::ParamOp>(variant, p.getParam()).first;
    Value raw = LLVM::LoadOp::create(b, loc, b.getF64Type(),
                                     gep(ctx.paramsPtr, b.getF64Type(), cI64(k)), /*alignment=*/8,
                                     /*isVolatile=*/false, /*isNonTemporal=*/false,
                                     /*isInvariant=*/true);
    Type t = p.getType();
    if (t.isF32())
      return arith::TruncFOp::create(b, loc, b.getF32Type(), raw);
    if (t.isInteger(1))
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, raw,
                                   arith::ConstantFloatOp::create(b, loc, b.getF64Type(), APFloat(0.0)));
    // An i32 param is integral and within i32 (the launcher checks): its
    // i64 value is sign-extended from i32, which NarrowIndices reads.
    for (Operation &d : variant.getBody().front())
      if (auto decl = dyn_cast<attn::ParamOp>(d); decl && decl.getSymName() == p.getParam() &&
                                                  decl.getType().isInteger(32))
        return arith::ExtSIOp::create(b, loc, i64,
                                      arith::FPToSIOp::create(b, loc, b.getI32Type(), raw));
    return arith::FPToSIOp::create(b, loc, i64, raw);
  }
  if (auto l = dyn_cast<attn::LoadOp>(op)) {
    // attn_tensor: word 0 data, word 1 dtype+rank, words 2.. shape, 10.. strides.
    auto [k, decl] = declarationOf<attn::TensorOp>(variant, l.getTensor());
    constexpr int64_t kWords = sizeof(attn_tensor) / 8;
    Value base = gep(ctx.tensorsPtr, i64, cI64(k * kWords));
    Value data = LLVM::LoadOp::create(b, loc, ptrTy, base, /*alignment=*/8, /*isVolatile=*/false,
                                      /*isNonTemporal=*/false, /*isInvariant=*/true);
    Value offset = cI64(0);
    Value inRange = arith::ConstantIntOp::create(b, loc, 1, 1);
    unsigned dim = 0;
    for (Value ix : l.getIndices()) {
      Value v = map.lookup(ix);
      Value extent = extentOf(decl, dim, base);
      Value stride = loadWord(base, 2 + ATTN_MAX_RANK + dim);
      // 0 <= v < extent as one unsigned compare (extent >= 0).
      Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, v, extent);
      inRange = arith::AndIOp::create(b, loc, inRange, ok);
      Value safe = arith::SelectOp::create(b, loc, ok, v, cI64(0));
      offset = arith::AddIOp::create(b, loc, offset, arith::MulIOp::create(b, loc, safe, stride));
      ++dim;
    }
    // Record an out-of-range read at a real point (the kernel returns it as a
    // status); padding points past Skv read element 0 silently.
    Value badAt = arith::XOrIOp::create(b, loc, inRange, arith::ConstantIntOp::create(b, loc, 1, 1));
    if (ctx.pointValid)
      badAt = arith::AndIOp::create(b, loc, badAt, ctx.pointValid);
    if (guards && guards->count(op))
      deferredChecks.push_back({op, badAt});
    else
      flag(badAt);
    auto element = [&](Type t) -> Value {
      return LLVM::LoadOp::create(b, loc, t, gep(data, t, offset), /*alignment=*/4,
                                  /*isVolatile=*/false, /*isNonTemporal=*/false,
                                  /*isInvariant=*/false);
    };
    if (l.getType().isF32())
      return element(b.getF32Type());
    Value v32 = element(b.getI32Type());
    return arith::ExtSIOp::create(b, loc, i64, v32);
  }
  if (isa<attn::FloorDivOp, attn::FloorModOp>(op)) {
    Value lhs = map.lookup(op->getOperand(0)), rhs = map.lookup(op->getOperand(1));
    // x / 0 and x % 0 are 0 (docs/language.md); x / -1 is -x wrapping
    // (INT64_MIN / -1 overflows the hardware division) and x % -1 is 0, as
    // the interpreter and the float64 reference compute them.
    Value zero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, rhs, cI64(0));
    Value minusOne = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, rhs, cI64(-1));
    Value safe = arith::SelectOp::create(b, loc, arith::OrIOp::create(b, loc, zero, minusOne),
                                         cI64(1), rhs);
    Value q = arith::FloorDivSIOp::create(b, loc, lhs, safe);
    Value r = arith::SelectOp::create(b, loc, minusOne, arith::SubIOp::create(b, loc, cI64(0), lhs), q);
    if (isa<attn::FloorModOp>(op))
      r = arith::SubIOp::create(b, loc, lhs, arith::MulIOp::create(b, loc, q, safe));
    return arith::SelectOp::create(b, loc, zero, cI64(0), r);
  }
  return nullptr;
}

llvm::SmallPtrSet<Operation *, 4> guardedTensorReads(Region &body) {
  llvm::SmallPtrSet<Operation *, 4> out;
  for (auto &entry : readGuards(body.front()))
    out.insert(entry.first);
  return out;
}

Value lowerAttnOp(attn::VariantOp variant, OpBuilder &b, Location loc, const BodyContext &ctx,
                  Operation *op, IRMapping &map) {
  AttnOpLowering lower{variant, b, loc, ctx, LLVM::LLVMPointerType::get(b.getContext())};
  return lower.convert(op, map);
}

/// Emits one op of a body at the builder's point (its operands in `map`):
/// attn ops lowered, the others cloned. False after reporting an attn op it
/// cannot lower.
static bool emitBodyOp(AttnOpLowering &lower, OpBuilder &b, Operation &op, IRMapping &map) {
  if (op.getDialect() && op.getDialect()->getNamespace() == "attn") {
    Value v = lower.convert(&op, map);
    if (!v) {
      op.emitError("kernel: cannot lower ") << op.getName();
      return false;
    }
    map.map(op.getResult(0), v);
    return true;
  }
  b.clone(op, map);
  return true;
}

Value inlineBody(attn::VariantOp variant, OpBuilder &b, Location loc, const BodyContext &ctx,
                 Region &body, Value i, Value j, ValueRange leading, ArrayRef<Value> inputs,
                 const IRMapping *presets) {
  AttnOpLowering lower{variant, b, loc, ctx, LLVM::LLVMPointerType::get(b.getContext())};
  Block &blk = body.front();
  llvm::DenseMap<Operation *, ReadGuard> guards = readGuards(blk);
  lower.guards = &guards;
  IRMapping map;
  map.map(blk.getArgument(0), ctx.bIdx);
  map.map(blk.getArgument(1), ctx.hIdx);
  map.map(blk.getArgument(2), i);
  map.map(blk.getArgument(3), j);
  unsigned k = 4;
  for (Value v : leading)
    map.map(blk.getArgument(k++), v);
  for (Value v : inputs)
    map.map(blk.getArgument(k++), v);
  for (Operation &op : blk.without_terminator()) {
    if (presets && op.getNumResults() == 1 && presets->contains(op.getResult(0))) {
      map.map(op.getResult(0), presets->lookup(op.getResult(0)));
      continue;
    }
    if (!emitBodyOp(lower, b, op, map))
      return nullptr;
  }
  lower.flagDeferred(map);
  return map.lookup(cast<cascade::YieldOp>(blk.getTerminator()).getValue());
}

/// The reads of an extra tensor in `body` whose indices depend on b, h,
/// constants and the index argument `axis` (2: i, 3: j) only; with
/// `needsAxis`, only those that depend on it.
static SmallVector<Value> readsAlong(Region &body, unsigned axis, bool needsAxis) {
  Block &blk = body.front();
  // Per value: depends on b, h, the axis and constants only; depends on the axis.
  struct Info {
    bool alongOnly = false, ofAxis = false;
  };
  llvm::DenseMap<Value, Info> info;
  for (unsigned a = 0; a < blk.getNumArguments(); ++a)
    info[blk.getArgument(a)] = {a == 0 || a == 1 || a == axis, a == axis};
  // Guarded reads stay in the body, where their guards are known, and so
  // does whatever is computed from them (a read indexed by one).
  llvm::DenseMap<Operation *, ReadGuard> guards = readGuards(blk);
  for (Operation &op : blk.without_terminator()) {
    Info in{op.getNumRegions() == 0 && op.getNumResults() == 1 && !guards.count(&op), false};
    for (Value v : op.getOperands()) {
      auto it = info.find(v);
      in.alongOnly = in.alongOnly && it != info.end() && it->second.alongOnly;
      in.ofAxis = in.ofAxis || (it != info.end() && it->second.ofAxis);
    }
    for (Value r : op.getResults())
      info[r] = in;
  }
  // The reads themselves: what is computed from them (a compare with j, say)
  // costs less per point than a shuffle or a register held across a loop.
  SmallVector<Value> out;
  for (Operation &op : blk.without_terminator()) {
    Info in = info.lookup(op.getResult(0));
    if (isa<attn::LoadOp>(op) && in.alongOnly && (in.ofAxis || !needsAxis))
      out.push_back(op.getResult(0));
  }
  return out;
}

SmallVector<Value> keyTensorReads(Region &body) {
  // A read of b or h alone is the same for every key: rowTensorReads.
  return readsAlong(body, 3, /*needsAxis=*/true);
}

SmallVector<Value> rowTensorReads(Region &body) { return readsAlong(body, 2, /*needsAxis=*/false); }

bool readsOnlyRowsOrKeys(Region &body) {
  size_t reads = 0;
  body.walk([&](attn::LoadOp) { ++reads; });
  return reads == rowTensorReads(body).size() + keyTensorReads(body).size();
}

SmallVector<Value> inlineReads(attn::VariantOp variant, OpBuilder &b, Location loc,
                               const BodyContext &ctx, Region &body, Value i, Value j,
                               ArrayRef<Value> wanted) {
  AttnOpLowering lower{variant, b, loc, ctx, LLVM::LLVMPointerType::get(b.getContext())};
  Block &blk = body.front();
  // The ops `wanted` needs, in body order.
  llvm::SmallPtrSet<Operation *, 16> needed;
  SmallVector<Value> work(wanted.begin(), wanted.end());
  while (!work.empty()) {
    Operation *def = work.pop_back_val().getDefiningOp();
    if (def && def->getBlock() == &blk && needed.insert(def).second)
      work.append(def->operand_begin(), def->operand_end());
  }
  IRMapping map;
  map.map(blk.getArgument(0), ctx.bIdx);
  map.map(blk.getArgument(1), ctx.hIdx);
  if (i)
    map.map(blk.getArgument(2), i);
  if (j)
    map.map(blk.getArgument(3), j);
  for (Operation &op : blk.without_terminator())
    if (needed.contains(&op) && !emitBodyOp(lower, b, op, map))
      return {};
  SmallVector<Value> out;
  for (Value w : wanted)
    out.push_back(map.lookup(w));
  return out;
}

} // namespace attn
