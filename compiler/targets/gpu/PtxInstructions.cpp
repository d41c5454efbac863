//===- PtxInstructions.cpp - Hopper PTX the NVVM dialect does not offer ---===//
#include "compiler/targets/gpu/PtxInstructions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <string>

using namespace mlir;

namespace attn::ptx {

void statement(OpBuilder &b, Location loc, StringRef text, ValueRange operands,
               StringRef constraints) {
  std::string cons = constraints.str();
  cons += cons.empty() ? "~{memory}" : ",~{memory}";
  LLVM::InlineAsmOp::create(b, loc, TypeRange(), operands, text, cons, /*has_side_effects=*/true,
                            false, LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
}

Value asB32(OpBuilder &b, Location loc, Value reg) {
  if (reg.getType().isInteger(32))
    return reg;
  Value v = vector::BitCastOp::create(b, loc, VectorType::get({1}, b.getI32Type()), reg);
  return vector::ExtractOp::create(b, loc, v, ArrayRef<int64_t>{0});
}

Value matrixDescriptor(OpBuilder &b, Location loc, Value addr, int64_t lbo, int64_t sbo,
                       bool swizzle128) {
  // Bits 0-13: address >> 4; 16-29: lbo >> 4; 32-45: sbo >> 4; 62-63: the
  // layout (0 no swizzle, 1 128-byte swizzle).
  auto c64 = [&](int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 64); };
  Value lo = arith::AndIOp::create(b, loc, arith::ShRUIOp::create(b, loc, addr, c64(4)), c64(0x3FFF));
  uint64_t hi = (uint64_t(lbo >> 4) << 16) | (uint64_t(sbo >> 4) << 32) |
                (swizzle128 ? uint64_t(1) << 62 : 0);
  return arith::OrIOp::create(b, loc, lo, c64(int64_t(hi)));
}

SmallVector<Value> wgmma(OpBuilder &b, Location loc, bool f16, int64_t n, int64_t steps,
                         ArrayRef<SmallVector<Value>> aRegs, Value aDesc, Value bDesc,
                         llvm::function_ref<int64_t(int64_t)> aStep,
                         llvm::function_ref<int64_t(int64_t)> bStep, bool transB,
                         ArrayRef<Value> init, Value arriveAfterCommit, bool wait) {
  // Without `init` the first step ignores the accumulators' old values
  // (scale-d false); `init` values are tied to the accumulators.
  auto c64 = [&](int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 64); };
  std::string ty = f16 ? "f16" : "bf16";
  int64_t nOut = n / 2, next = nOut;
  std::string dList = "{", cons;
  for (int64_t i = 0; i < nOut; ++i) {
    dList += (i ? ", $" : "$") + std::to_string(i);
    cons += i ? ",=f" : "=f";
  }
  dList += "}";
  SmallVector<Value> operands;
  for (size_t i = 0; i < init.size(); ++i) {
    operands.push_back(init[i]);
    cons += "," + std::to_string(i);
    ++next;
  }
  int64_t perStep = aRegs.empty() ? 2 : 5;
  std::string zero = "$" + std::to_string(next + perStep * steps);
  std::string text = "{\n.reg .pred p, q;\nsetp.ne.b32 p, " + zero + ", 0;\nsetp.eq.b32 q, " + zero +
                     ", 0;\nwgmma.fence.sync.aligned;\n";
  for (int64_t k = 0; k < steps; ++k) {
    std::string a;
    if (aRegs.empty()) {
      a = "$" + std::to_string(next++);
      operands.push_back(arith::AddIOp::create(b, loc, aDesc, c64(aStep(k) >> 4)));
      cons += ",l";
    } else {
      a = "{";
      for (int r = 0; r < 4; ++r) {
        a += (r ? ", $" : "$") + std::to_string(next++);
        operands.push_back(asB32(b, loc, aRegs[k][r]));
        cons += ",r";
      }
      a += "}";
    }
    std::string d = "$" + std::to_string(next++);
    operands.push_back(arith::AddIOp::create(b, loc, bDesc, c64(bStep(k) >> 4)));
    cons += ",l";
    text += "wgmma.mma_async.sync.aligned.m64n" + std::to_string(n) + "k16.f32." + ty + "." + ty +
            " " + dList + ", " + a + ", " + d + ", " + (k || !init.empty() ? "q" : "p") + ", 1, 1, " +
            (aRegs.empty() ? "0, " : "") + (transB ? "1" : "0") + ";\n";
  }
  operands.push_back(arith::ConstantIntOp::create(b, loc, 0, 32));
  cons += ",r";
  text += "wgmma.commit_group.sync.aligned;\n";
  if (arriveAfterCommit) {
    // After the steps `next` is the zero flag's operand; this one follows.
    text += "bar.arrive $" + std::to_string(next + 1) + ", 256;\n";
    operands.push_back(arriveAfterCommit);
    cons += ",r";
  }
  cons += ",~{memory}";
  if (wait)
    text += "wgmma.wait_group.sync.aligned 0;\n";
  text += "}";
  auto resTy = LLVM::LLVMStructType::getLiteral(b.getContext(),
                                                SmallVector<Type>(nOut, b.getF32Type()));
  auto asmOp = LLVM::InlineAsmOp::create(b, loc, resTy, operands, text, cons,
                                         /*has_side_effects=*/true, /*is_align_stack=*/false,
                                         LLVM::TailCallKind::None, LLVM::AsmDialectAttr(),
                                         ArrayAttr());
  SmallVector<Value> out;
  for (int64_t i = 0; i < nOut; ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, loc, asmOp.getResult(0), ArrayRef<int64_t>{i}));
  return out;
}

SmallVector<Value> wgmmaWait(OpBuilder &b, Location loc, int64_t pending, ArrayRef<Value> values) {
  // Every value is an output tied to its input: the reads after the wait
  // see the registers the MMAs wrote, none is read or moved before it.
  std::string cons;
  for (size_t i = 0; i < values.size(); ++i)
    cons += (i ? ",=f" : "=f");
  for (size_t i = 0; i < values.size(); ++i)
    cons += "," + std::to_string(i);
  cons += ",~{memory}";
  auto resTy = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(values.size(), b.getF32Type()));
  auto asmOp = LLVM::InlineAsmOp::create(
      b, loc, resTy, values, "wgmma.wait_group.sync.aligned " + std::to_string(pending) + ";", cons,
      /*has_side_effects=*/true, /*is_align_stack=*/false, LLVM::TailCallKind::None,
      LLVM::AsmDialectAttr(), ArrayAttr());
  SmallVector<Value> out;
  for (size_t i = 0; i < values.size(); ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, loc, asmOp.getResult(0), ArrayRef<int64_t>{int64_t(i)}));
  return out;
}

void mbarrierInit(OpBuilder &b, Location loc, Value addr, Value count) {
  statement(b, loc, "mbarrier.init.shared::cta.b64 [$0], $1;", ValueRange{addr, count}, "l,r");
}

void namedBarrierSync(OpBuilder &b, Location loc, Value id, int64_t threads) {
  statement(b, loc, "bar.sync $0, " + std::to_string(threads) + ";", ValueRange{id}, "r");
}

void namedBarrierArrive(OpBuilder &b, Location loc, Value id, int64_t threads) {
  statement(b, loc, "bar.arrive $0, " + std::to_string(threads) + ";", ValueRange{id}, "r");
}

Value namedBarrierAny(OpBuilder &b, Location loc, Value id, int64_t threads, Value flag) {
  std::string text = "{\n.reg .pred p, q;\nsetp.ne.b32 q, $2, 0;\nbar.red.or.pred p, $1, " +
                     std::to_string(threads) + ", q;\nselp.b32 $0, 1, 0, p;\n}";
  auto asmOp = LLVM::InlineAsmOp::create(b, loc, b.getI32Type(), ValueRange{id, flag}, text,
                                         "=r,r,r,~{memory}", /*has_side_effects=*/true, false,
                                         LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
  return asmOp.getResult(0);
}

void mbarrierInitFence(OpBuilder &b, Location loc) {
  statement(b, loc, "fence.mbarrier_init.release.cluster;", ValueRange(), "");
}

void mbarrierWait(OpBuilder &b, Location loc, Value addr, Value parity) {
  statement(b, loc,
            "{\n.reg .pred P1;\nWAIT:\nmbarrier.try_wait.parity.shared::cta.b64 P1, [$0], $1;\n"
            "@!P1 bra WAIT;\n}",
            ValueRange{addr, arith::TruncIOp::create(b, loc, b.getI32Type(), parity)}, "l,r");
}

void mbarrierArrive(OpBuilder &b, Location loc, Value addr) {
  statement(b, loc, "mbarrier.arrive.shared::cta.b64 _, [$0];", ValueRange{addr}, "l");
}

void cpAsyncArrive(OpBuilder &b, Location loc, Value addr) {
  statement(b, loc, "cp.async.mbarrier.arrive.noinc.shared::cta.b64 [$0];", ValueRange{addr}, "l");
}

void fenceProxyAsync(OpBuilder &b, Location loc) {
  statement(b, loc, "fence.proxy.async.shared::cta;", ValueRange(), "");
}

void mbarrierArriveExpectTx(OpBuilder &b, Location loc, Value addr, Value bytes) {
  statement(b, loc, "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;", ValueRange{addr, bytes},
            "l,r");
}

void fenceTensorMapAcquire(OpBuilder &b, Location loc, Value map) {
  // The host copied the map (cuMemcpyHtoDAsync): system scope.
  statement(b, loc, "fence.proxy.tensormap::generic.acquire.sys [$0], 128;", ValueRange{map}, "l");
}

void tensorTileLoad(OpBuilder &b, Location loc, Value dst, Value map, ValueRange coords, Value mbar) {
  SmallVector<Value> operands{dst, map};
  operands.append(coords.begin(), coords.end());
  operands.push_back(mbar);
  statement(b, loc,
            "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes "
            "[$0], [$1, {$2, $3, $4, $5}], [$6];",
            operands, "l,l,r,r,r,r,l");
}

} // namespace attn::ptx
