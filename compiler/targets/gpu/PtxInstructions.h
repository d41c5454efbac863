//===- PtxInstructions.h - Hopper PTX the NVVM dialect does not offer -*- C++ -*-===//
//
// The tensor-core kernels (MmaKernel.cpp) use a few sm_90 instructions in
// forms that the NVVM dialect does not model (a wgmma whose A operand is in
// registers and whose accumulators start from given values; mbarrier waits
// as a try_wait loop; cp.async arriving on an mbarrier). They are emitted here
// as inline PTX (llvm.inline_asm), each with its operand constraints, so that
// the kernel builder reads as the algorithm.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_GPU_PTXINSTRUCTIONS_H
#define ATTNC_COMPILER_TARGETS_GPU_PTXINSTRUCTIONS_H

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace attn::ptx {

/// An asm statement with side effects and a memory clobber.
void statement(mlir::OpBuilder &b, mlir::Location loc, llvm::StringRef text,
               mlir::ValueRange operands, llvm::StringRef constraints);

/// A pair of 16-bit values (vector<2xbf16 | f16> or i32) as one b32 register.
mlir::Value asB32(mlir::OpBuilder &b, mlir::Location loc, mlir::Value reg);

/// The shared-memory matrix descriptor of wgmma for a tile at shared byte
/// address `addr` (i64): leading / stride byte offsets `lbo` / `sbo`, no
/// swizzle or the 128-byte swizzle.
mlir::Value matrixDescriptor(mlir::OpBuilder &b, mlir::Location loc, mlir::Value addr, int64_t lbo,
                             int64_t sbo, bool swizzle128);

/// D[64 x n] (f32) = sum over k < steps of A_k B_k, by the calling warpgroup
/// (`f16`: fp16 inputs, else bf16). A_k is 4 b32 registers of this warp's 16
/// rows (aRegs[k]) or, when aRegs is empty, a K-major tile at descriptor
/// aDesc + aStep(k) bytes; B_k is at descriptor bDesc + bStep(k) bytes,
/// N-major when `transB`. The accumulators start at zero, or at `init` (n / 2
/// values). One statement: fence, the steps, commit, (with `arriveAfterCommit`,
/// an i32 named-barrier id: `bar.arrive id, 256` once the MMAs are issued),
/// wait. Returns this thread's n / 2 accumulators. Without `wait` the MMAs
/// are left in flight: the results are only handed to wgmmaWait.
llvm::SmallVector<mlir::Value> wgmma(mlir::OpBuilder &b, mlir::Location loc, bool f16, int64_t n,
                                     int64_t steps, llvm::ArrayRef<llvm::SmallVector<mlir::Value>> aRegs,
                                     mlir::Value aDesc, mlir::Value bDesc,
                                     llvm::function_ref<int64_t(int64_t)> aStep,
                                     llvm::function_ref<int64_t(int64_t)> bStep, bool transB,
                                     llvm::ArrayRef<mlir::Value> init,
                                     mlir::Value arriveAfterCommit = {}, bool wait = true);

/// `wgmma.wait_group pending`: waits until at most `pending` of this
/// warpgroup's committed MMA groups are in flight; `values` (f32, the
/// accumulators of an MMA issued without its wait, whose group is then
/// done) come back as the registers the MMAs wrote.
llvm::SmallVector<mlir::Value> wgmmaWait(mlir::OpBuilder &b, mlir::Location loc, int64_t pending,
                                         llvm::ArrayRef<mlir::Value> values);

/// Named barriers (ids 1..15; id 0 is the block's gpu.barrier) of `threads`
/// threads: bar.sync waits for them, bar.arrive counts this warp without
/// waiting (i32 id).
void namedBarrierSync(mlir::OpBuilder &b, mlir::Location loc, mlir::Value id, int64_t threads);
void namedBarrierArrive(mlir::OpBuilder &b, mlir::Location loc, mlir::Value id, int64_t threads);
/// bar.red.or on a named barrier (the NVVM dialect's reduction barrier takes
/// id 0 only): 1 (i32) when `flag` (i32) is non-zero in any of the `threads`
/// threads that meet there, else 0.
mlir::Value namedBarrierAny(mlir::OpBuilder &b, mlir::Location loc, mlir::Value id, int64_t threads,
                            mlir::Value flag);

/// mbarrier operations on a shared byte address (i64).
void mbarrierInit(mlir::OpBuilder &b, mlir::Location loc, mlir::Value addr, mlir::Value count);
/// Orders the inits before other threads' (and the copy engine's) arrivals.
void mbarrierInitFence(mlir::OpBuilder &b, mlir::Location loc);
/// Waits until the phase of parity `parity` (i64, 0 or 1) has completed.
void mbarrierWait(mlir::OpBuilder &b, mlir::Location loc, mlir::Value addr, mlir::Value parity);
void mbarrierArrive(mlir::OpBuilder &b, mlir::Location loc, mlir::Value addr);
/// The barrier gets one arrival when this thread's cp.async copies so far
/// have landed (the arrival is not counted in advance: .noinc).
void cpAsyncArrive(mlir::OpBuilder &b, mlir::Location loc, mlir::Value addr);
/// Orders this thread's view of shared memory written through the generic
/// proxy (cp.async) before async-proxy reads (wgmma).
void fenceProxyAsync(mlir::OpBuilder &b, mlir::Location loc);

/// The barrier gets one arrival and expects `bytes` (i32) more transaction
/// bytes (the tensor copies that complete on it).
void mbarrierArriveExpectTx(mlir::OpBuilder &b, mlir::Location loc, mlir::Value addr,
                            mlir::Value bytes);
/// Makes a tensor map that the host wrote into global memory (generic
/// address `map`, i64) visible to the tensor copies of this thread.
void fenceTensorMapAcquire(mlir::OpBuilder &b, mlir::Location loc, mlir::Value map);
/// A 4-D tile of the tensor map `map` (generic address, i64) at coordinates
/// `coords` (4 x i32, innermost first) into shared memory at byte address
/// `dst` (i64), completing `bytes` on the barrier at `mbar` (i64): the tensor
/// copy engine (TMA), issued by one thread.
void tensorTileLoad(mlir::OpBuilder &b, mlir::Location loc, mlir::Value dst, mlir::Value map,
                    mlir::ValueRange coords, mlir::Value mbar);

} // namespace attn::ptx

#endif
