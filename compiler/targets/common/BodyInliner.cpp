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

/// The position of declaration `name` among the variant's declarations of
/// kind Decl (params or tensors): its slot in the argument block's arrays.
template <typename Decl>
int64_t declarationIndex(attn::VariantOp variant, StringRef name) {
  int64_t k = 0;
  for (Operation &d : variant.getBody().front()) {
    if (auto decl = dyn_cast<Decl>(d)) {
      if (decl.getSymName() == name)
        break;
      ++k;
    }
  }
  return k;
}

/// Emits the arith / llvm ops one attn op of a body stands for.
struct AttnOpLowering {
  attn::VariantOp variant;
  OpBuilder &b;
  Location loc;
  const BodyContext &ctx;
  Type ptrTy;

  Value cI64(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 64); }
  Value cIndex(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value gep(Value base, Type elem, Value offset) {
    return LLVM::GEPOp::create(b, loc, ptrTy, elem, base, ValueRange{offset});
  }
  Value loadWord(Value base, int64_t k) {
    // Tensor descriptors and params are read-only during a launch: invariant
    // loads, which LLVM hoists out of a kernel's key loop.
    return LLVM::LoadOp::create(b, loc, b.getI64Type(), gep(base, b.getI64Type(), cI64(k)),
                                /*alignment=*/8, /*isVolatile=*/false, /*isNonTemporal=*/false,
                                /*isInvariant=*/true);
  }
  Value convert(Operation *op, IRMapping &map);
};

} // namespace

Value AttnOpLowering::convert(Operation *op, IRMapping &map) {
  auto i64 = b.getI64Type();
  if (auto s = dyn_cast<attn::SizeOp>(op)) {
    return ctx.sizes->lookup(attn::stringifySizeKind(s.getSize()));
  }
  if (auto p = dyn_cast<attn::GetParamOp>(op)) {
    int64_t k = declarationIndex<attn::ParamOp>(variant, p.getParam());
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
    int64_t k = declarationIndex<attn::TensorOp>(variant, l.getTensor());
    constexpr int64_t kWords = sizeof(attn_tensor) / 8;
    Value base = gep(ctx.tensorsPtr, i64, cI64(k * kWords));
    Value data = LLVM::LoadOp::create(b, loc, ptrTy, base, /*alignment=*/8, /*isVolatile=*/false,
                                      /*isNonTemporal=*/false, /*isInvariant=*/true);
    Value offset = cI64(0);
    Value inRange = arith::ConstantIntOp::create(b, loc, 1, 1);
    unsigned dim = 0;
    for (Value ix : l.getIndices()) {
      Value v = map.lookup(ix);
      Value extent = loadWord(base, 2 + dim);
      Value stride = loadWord(base, 2 + ATTN_MAX_RANK + dim);
      Value ge0 = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, v, cI64(0));
      Value ltE = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, v, extent);
      Value ok = arith::AndIOp::create(b, loc, ge0, ltE);
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
    Value bad = arith::ExtUIOp::create(b, loc, b.getI32Type(), badAt);
    Value prev = memref::LoadOp::create(b, loc, ctx.errorFlag, ValueRange{cIndex(0)});
    memref::StoreOp::create(b, loc, arith::OrIOp::create(b, loc, prev, bad), ctx.errorFlag,
                            ValueRange{cIndex(0)});
    if (l.getType().isF32())
      return LLVM::LoadOp::create(b, loc, b.getF32Type(), gep(data, b.getF32Type(), offset));
    Value v32 = LLVM::LoadOp::create(b, loc, b.getI32Type(), gep(data, b.getI32Type(), offset));
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

Value lowerAttnOp(attn::VariantOp variant, OpBuilder &b, Location loc, const BodyContext &ctx,
                  Operation *op, IRMapping &map) {
  AttnOpLowering lower{variant, b, loc, ctx, LLVM::LLVMPointerType::get(b.getContext())};
  return lower.convert(op, map);
}

Value inlineBody(attn::VariantOp variant, OpBuilder &b, Location loc, const BodyContext &ctx,
                 Region &body, Value i, Value j, ValueRange leading, ArrayRef<Value> inputs) {
  AttnOpLowering lower{variant, b, loc, ctx, LLVM::LLVMPointerType::get(b.getContext())};
  Block &blk = body.front();
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
    if (op.getDialect() && op.getDialect()->getNamespace() == "attn") {
      Value v = lower.convert(&op, map);
      if (!v) {
        op.emitError("kernel: cannot lower ") << op.getName();
        return nullptr;
      }
      map.map(op.getResult(0), v);
      continue;
    }
    b.clone(op, map);
  }
  return map.lookup(cast<cascade::YieldOp>(blk.getTerminator()).getValue());
}

} // namespace attn
