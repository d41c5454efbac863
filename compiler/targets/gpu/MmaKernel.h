//===- MmaKernel.h - online cascade -> tensor-core GPU kernel ---*- C++ -*-===//
//
// The GPU's fast mapping of a 1-pass (online) cascade, FlashAttention
// style: a block of 8 warps (two warpgroups) owns 128 query rows of one
// (b, h); each warp keeps its 16 rows' Q fragments and every row state (the
// iterates) in registers, K and V tiles (128 keys up to tier 128,
// attn_gpu_mma_key_tile) are staged in shared memory by TMA or cp.async two
// stages deep (the next tile loads while one is computed), QK
// and the PV contraction run on the tensor cores (bf16 / fp16 in, fp32
// accumulate: wgmma per warpgroup on sm_90a, else ldmatrix + mma.sync
// m16n8k16 per warp; both give each warp the same fragment layout) and every
// other Einsum of the cascade is inlined per fragment element with its
// (i, j), so the variant's score, bias, mask and norm are fused between the
// two matmuls. Key tiles the mask empties for the whole block are skipped:
// classed by interval arithmetic, or, for masks that read tensors, by a
// `_classes` kernel that runs first and leaves a table of tile classes
// (attn/gpu.h); partial tiles of index masks are voted on.
//
// Cascades of another shape (several passes, reductions over the head rank,
// f32 inputs) are not mapped here; the GPU target then uses TileKernel's
// one-thread-per-row kernel.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_GPU_MMAKERNEL_H
#define ATTNC_COMPILER_TARGETS_GPU_MMAKERNEL_H

#include "attn/gpu.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"

#include <string>

namespace attn {
class VariantOp;

/// How a variant maps onto the tensor-core kernels, the choices that attnc's
/// --gpu-* flags make: one struct that the driver's options, GpuCompileOptions
/// and MmaKernelOptions share (no field-by-field copies between them).
struct MmaMapping {
  /// Visit only the key tiles between the first and last span that the
  /// mask's interval arithmetic cannot show empty for the block's rows
  /// (false: every tile, each classified on its own).
  bool tileRange = true;
  /// The two warpgroups of a block take turns on the tensor cores, as
  /// FlashAttention-3's ping-pong: one issues its PV of tile t and QK of
  /// tile t + 1 while the other computes its softmax (named barriers 1 and
  /// 2). Where the loads come from other threads than the consumers (a
  /// producer kernel, whose key loop has no block-wide barrier); inert in
  /// the others. Session 18 (H100, with the producer): full +3..6%,
  /// sigmoid_attn +6..11%, the masked variants 0..+10% but document.
  bool pingPong = true;
  /// With the ping-pong: the PV of key tile t is issued in the same turn as
  /// the QK of tile t + 1, ahead of it, and the two are waited for after
  /// both (the PV first, its stage released, then the scores): the tensor
  /// cores run the two back to back instead of draining between them while
  /// the warpgroup waits for its PV, releases the stage and loops (the SASS
  /// had WARPGROUP.DEPBAR between every PV and the next QK). Where the
  /// cascade has one PV accumulating into an output iterate, in the
  /// persistent producer kernel (ATTN_GPU_ABI_PAIRED: V's own barriers);
  /// without the ping-pong, inert. Off by default: its first form (one
  /// barrier pair per stage) lost 1..47% on an H100 (session 21), and the
  /// form with V's barriers has not run on a GPU yet.
  bool pairedMma = false;
  /// Partial tiles of a mask are voted on (is any point kept?) by each
  /// warpgroup when it computes them, on its own named barrier, instead of
  /// by the whole block when they are loaded (a block barrier per partial
  /// tile): the pipelined kernels' key loop then has no block barrier.
  /// Masks that read tensors have the tile-class table instead (below), or,
  /// with tileClasses off, keep the block's vote (it saves their loads).
  bool warpgroupVotes = true;
  /// A mask that reads a tensor (interval arithmetic leaves its tiles
  /// partial) has its tiles classed by a `_classes` kernel that the launcher
  /// runs first (attn/gpu.h): the key loop skips the empty ones and runs the
  /// full ones without the mask, with no vote.
  bool tileClasses = true;
  /// Partial tiles: the sums after a masked max (a softmax's) read its
  /// masked scores instead of selecting by the keep values, where a warp
  /// vote shows that exact (1); the keep values selected at each sum (0);
  /// the vote's fallback always (2, to test it); kMmaMaskedSumsAuto
  /// (default): 1, or 0 when the mask reads a tensor by key (session 17, H100:
  /// document +3..+13% with 0 and no register cap, where the fast form's
  /// two copies of the sums spilled; causal, prefix_lm, sliding_window
  /// lose 2..11% with 0).
  int maskedSums = -1;
  /// Warpgroup-MMA kernels: the PV of key tile t is issued after the QK of
  /// tile t + 1 and waited for once that tile's P is computed, so the
  /// tensor cores run it during the softmax (FlashAttention-3's
  /// in-warpgroup overlap); three shared-memory stages instead of two.
  /// Where the cascade has one PV accumulating into an output iterate.
  bool overlap = false;
  /// Warpgroup-MMA kernels without the overlap: persistent blocks (one per
  /// SM) that compute (b, h, query tile) items and load the next item's Q
  /// and first K / V tile during the current one: with the producer
  /// warpgroup its producer takes the items from a counter
  /// (ATTN_GPU_ABI_PERSISTENT_PRODUCER), without it they are dealt in rounds
  /// (ATTN_GPU_ABI_PERSISTENT). 1 on, 0 off, kMmaPersistentAuto (default):
  /// on where the producer is (session 20, H100: +3..12% on causal,
  /// prefix_lm, sliding_window at S 512..8192, full +5 / 0 / +3 / -2% at
  /// mha_512 / mha_2048 / gqa_2048 / mha_8192), off without it (session 14:
  /// ABI 6 lost 9-29%).
  int persistent = -1;
  /// Warpgroup-MMA kernels without the overlap and persistence: a third
  /// warpgroup (the producer, its registers lowered by setmaxnreg) loads the
  /// K / V tiles into the two stages while the two consumer warpgroups
  /// (registers raised) compute, as FlashAttention-3's warp specialisation
  /// (ATTN_GPU_ABI_PRODUCER). Three stages were measured slower (session
  /// 15: causal -5..-11%, the L1 left beside 224 KB of shared memory being
  /// one suspect). 1 on, 0 off, kMmaProducerAuto (default): on unless the
  /// mask reads a tensor by key (session 18, H100, with the ping-pong: +0..11%
  /// on every anchor variant but document, -3..4% at S <= 2048; its
  /// uncapped registers matter more: session 17).
  int producer = -1;
  /// Registers per thread of the tensor-core kernel (`.maxnreg`; not the
  /// split, producer or mma.sync kernels): 0 none (ptxas takes up to 255),
  /// N in [kMmaMinRegisters, 255], or kMmaRegistersAuto: kMmaMaskedRegisters for a kernel
  /// of tier 96 or 128 whose cascade has a mask that reads no tensor by key, none
  /// otherwise (tiers 64 and 256 spill more under it, not measured). Session
  /// 15 (H100, d128): 240 made causal +2..8%, prefix_lm +2..5%, document
  /// -0..+8%, sliding_window and alibi_causal -2..+1%, full -1..-3%; 224 was
  /// slower. Session 17: document with the selected sums is faster uncapped.
  int maxRegisters = -1;
};

struct MmaKernelOptions : MmaMapping {
  attn_dtype inputType = ATTN_BF16; ///< ATTN_BF16 or ATTN_F16
  int64_t headDim = 128;            ///< the kernel handles D <= headDim (a multiple of 32, <= 256)
  /// Hopper (sm_90a): QK and PV as warpgroup MMAs (wgmma, B read from shared
  /// memory by the tensor cores) instead of ldmatrix + mma.sync. Split-KV
  /// kernels (one warp per block) always use mma.sync.
  bool wgmma = false;
};
constexpr int kMmaRegistersAuto = -1;
constexpr int kMmaProducerAuto = -1;
constexpr int kMmaPersistentAuto = -1;
constexpr int kMmaMaskedSumsAuto = -1;
constexpr int kMmaMaskedRegisters = 240;
/// The smallest explicit cap: the d256 kernel's accumulators (128 floats of O
/// and 16 of S per thread) need 158 registers for causal (ptxas, session 16),
/// and the d128 kernel's wgmma serialise below about 160.
constexpr int kMmaMinRegisters = 168;

/// Whether `options` allows producer kernels (MmaKernelOptions::producer on
/// or auto, where it applies); MmaBuilder resolves auto per variant.
inline bool mayBeProducerMma(const MmaKernelOptions &options) {
  return options.producer != 0 && options.wgmma && !options.overlap;
}

/// The attribute on each (non-split) tensor-core kernel naming the launch
/// ABI its geometry needs (attn/gpu.h's ATTN_GPU_ABI_*): compileGpuKernels
/// writes the image's ABI marker from it.
constexpr llvm::StringLiteral kGpuAbiAttrName = "attn.gpu_abi";
/// K / V shared-memory stages of the tensor-core kernels `options` builds.
inline int64_t mmaStages(const MmaKernelOptions &options) {
  return options.overlap && options.wgmma ? ATTN_GPU_MMA_OVERLAP_STAGES : ATTN_GPU_MMA_STAGES;
}

/// Whether `options` allows persistent tensor-core kernels (on, or auto
/// where a producer kernel is); MmaBuilder resolves auto per variant.
inline bool mayBePersistentMma(const MmaKernelOptions &options) {
  return options.persistent != 0 && options.wgmma && !options.overlap;
}

/// A head-dimension tier a tensor-core kernel can have: a multiple of 32 up
/// to 256 (attn/gpu.h's attn_gpu_is_tier, the one rule for attnc's --gpu-head-dims, CompilerOptions'
/// gpuHeadDims and buildMmaKernel).
inline bool isMmaHeadDim(int64_t n) { return attn_gpu_is_tier(n) != 0; }

/// Query rows per block and threads per block of every tensor-core kernel.
constexpr int64_t kMmaRowsPerBlock = ATTN_GPU_MMA_ROWS_PER_BLOCK;
constexpr int64_t kMmaThreadsPerBlock = ATTN_GPU_MMA_BLOCK_SIZE;

/// `attn_<variant>_<dtype>_gpu_d<headDim>`.
std::string mmaKernelName(llvm::StringRef variant, attn_dtype inputType, int64_t headDim);

/// Adds the tensor-core kernel of `variant` (holding a partitioned online
/// cascade) to the `gpu.module @attn_kernels` of `target`. Returns true when
/// built; false, with the reason in `*why`, when the cascade's shape is not
/// one this mapping covers (nothing is added); failure after reporting an
/// error on the variant.
mlir::FailureOr<bool> buildMmaKernel(attn::VariantOp variant, mlir::ModuleOp target,
                                     const MmaKernelOptions &options, std::string *why);

/// Whether `variant`'s cascade fits the tensor-core mapping; when not, the
/// reason in `*why` (`attnc --explain` prints it).
bool fitsMmaKernel(attn::VariantOp variant, std::string *why);

/// How the sm_90a tensor-core kernels of `variant` (one that fits) move K / V
/// under `mapping`: a producer warpgroup with the consumers taking turns, or
/// consumers that load, and why (`attnc --explain`); "" when it does not fit.
std::string describeMmaSchedule(attn::VariantOp variant, const MmaMapping &mapping);

} // namespace attn

#endif
