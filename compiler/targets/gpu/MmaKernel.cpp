//===- MmaKernel.cpp - online cascade -> tensor-core GPU kernel -----------===//
//
// Value layout (PTX ISA, mma.m16n8k16): in a warp, lane = 4 * g + t. A
// [16 x 8] accumulator tile gives lane (g, t) the elements (g, 2t), (g, 2t+1),
// (g+8, 2t), (g+8, 2t+1). Every fiber of the cascade is held in registers in
// one of three shapes, all over the warp's 16 rows:
//   Row  [p]          2 values: rows g and g + 8 (a row's 4 lanes agree)
//   Elem [m0, p]      4 * keyTile / 8 values: the score tile's accumulator
//   O    [p, f]       4 * headDim / 8 values: the output accumulator
// A map is inlined per value with that value's (i, j); a reduction over m0
// reduces a thread's values, then the 4 lanes of a row with two shuffles.
// wgmma's m64nNk16 accumulators give each warp of a warpgroup the same layout
// for its 16 of the 64 rows, and its register A operand is mma's A fragment:
// the two MMA forms share everything but the QK / PV emission and the
// shared-memory layout of the tiles (tileOffset).
//
//===----------------------------------------------------------------------===//
#include "compiler/targets/gpu/MmaKernel.h"
#include "compiler/targets/gpu/PtxInstructions.h"
#include "compiler/targets/common/BodyInliner.h"
#include "compiler/targets/common/NarrowIndices.h"
#include "compiler/targets/common/TileIntervals.h"
#include "compiler/targets/common/TileKernel.h"

#include "attn/gpu.h"
#include "attn/kernel.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/ScopeExit.h"

#include <limits>
#include <tuple>

using namespace mlir;

namespace attn {

std::string mmaKernelName(StringRef variant, attn_dtype inputType, int64_t headDim) {
  return tileKernelName(variant, inputType, KernelTarget::Gpu) + "_d" + std::to_string(headDim);
}

namespace {

enum class Shape { Row, Elem, O };
/// Where a fiber's value is available: before the key loop, in it, after it.
enum class Phase { Pre, Loop, Post };

enum class Kind { Input, QK, Elem, Row, RowReduce, PV, IterRow, IterO, Pre, Post, PostO, Merge };

/// Split-KV partial states: per (row, chunk), kSplitRowSlots floats for the
/// [p] iterates, then headDim floats per [p, f] iterate.
constexpr int64_t kSplitRowSlots = ATTN_GPU_SPLIT_ROW_SLOTS,
                  kSplitOIterates = ATTN_GPU_SPLIT_O_ITERATES;


/// The bytes of the tile-class table (attn/gpu.h).
constexpr int64_t kTileEmpty = 0, kTilePartial = 1, kTileFull = 2;

/// True if `op` has one input and its body yields it as it is (block arg 4):
/// a reduction of its input alone.
bool yieldsItsInput(cascade::EinsumOp op) {
  Block &blk = op.getBody().front();
  return op.getInputs().size() == 1 &&
         cast<cascade::YieldOp>(blk.getTerminator()).getValue() == blk.getArgument(4);
}

/// True if `body` yields the product of its two inputs (block args 4 and 5).
bool isPlainProduct(Region &body) {
  Block &blk = body.front();
  if (blk.getNumArguments() != 6 || !llvm::hasSingleElement(blk.without_terminator()))
    return false;
  auto mul = dyn_cast<arith::MulFOp>(blk.front());
  if (!mul)
    return false;
  Value a = mul.getLhs(), c = mul.getRhs();
  Value x = blk.getArgument(4), y = blk.getArgument(5);
  return ((a == x && c == y) || (a == y && c == x)) &&
         cast<cascade::YieldOp>(blk.getTerminator()).getValue() == mul.getResult();
}

/// True if `body` yields X * arg(k) where X does not depend on block
/// argument k (so the body at arg(k) = 1 is X, exactly).
bool isLinearIn(Region &body, unsigned k) {
  Block &blk = body.front();
  Value arg = blk.getArgument(k);
  auto mul = cast<cascade::YieldOp>(blk.getTerminator()).getValue().getDefiningOp<arith::MulFOp>();
  if (!mul || (mul.getLhs() == arg) == (mul.getRhs() == arg))
    return false;
  // arg has no other use.
  return llvm::all_of(arg.getUsers(), [&](Operation *u) { return u == mul; }) &&
         llvm::count(mul->getOperands(), arg) == 1;
}

bool rankSetIs(ArrayRef<StringRef> ranks, std::initializer_list<StringRef> allowed,
               std::initializer_list<StringRef> required) {
  for (StringRef r : ranks)
    if (!llvm::is_contained(allowed, r))
      return false;
  for (StringRef r : required)
    if (!llvm::is_contained(ranks, r))
      return false;
  return true;
}

class MmaBuilder {
public:
  MmaBuilder(VariantOp variant, cascade::CascadeOp cas, ModuleOp target,
             const MmaKernelOptions &options)
      : variant(variant), cas(cas), target(target), options(options),
        b(variant.getContext()), loc(variant.getLoc()), hd(options.headDim),
        bc(attn_gpu_mma_key_tile(options.headDim)) {}

  /// Checks the cascade's shape; false with the reason when not covered.
  bool classify(std::string &why);
  /// The mask plan (keepFiber, indexOnlyKeep, keepReadsByKey, ...): from the
  /// cascade alone, before anything is emitted.
  void planMask();
  /// The deferred PV's form (overlapPV, pairedPV; after wantsPersistent).
  void planDeferredPV();
  /// Whether the kernel pairs its MMAs (after planMask: decides the
  /// producer, persistence and the deferred PV as build does).
  bool pairsMma() {
    producer = wantsProducer();
    persistent = wantsPersistent();
    planDeferredPV();
    return pairedPV;
  }
  /// Whether the (non-split) kernel has a producer warpgroup: the options'
  /// choice, auto resolved by the mask plan.
  bool wantsProducer() const;
  /// Whether the kernel is persistent (after wantsProducer: auto follows it).
  bool wantsPersistent() const;
  LogicalResult build();
  /// The merge kernel of a split cascade: one thread per output element
  /// combines the chunks' states and writes o (and lse, from f = 0).
  LogicalResult buildMerge();
  /// The tile-class kernel (usesClassTable(), attn/gpu.h): one block per
  /// (b, query tile, key tile) evaluates the mask at every point of the tile
  /// that interval arithmetic leaves partial and writes the tile's class
  /// for each head the mask reads (h = 0 only when it reads none).
  LogicalResult buildClasses();
  bool isSplit() const { return split; }
  /// Masks that read a tensor (document masks): interval arithmetic leaves
  /// every tile in range partial, so the kernel reads the tiles' classes
  /// from the table that its `_classes` kernel wrote (no vote, no per-point
  /// mask on empty or full tiles). Not in a split kernel, whose rows span
  /// the heads of a group.
  bool usesClassTable() const {
    return options.tileClasses && keepReadsTensor && classified && !split;
  }
  /// A split kernel is one warp (16 rows) per block: decode has few rows, and
  /// many small blocks keep more key chunks in flight.
  int64_t threads() const { return split ? ATTN_GPU_SPLIT_BLOCK_SIZE : kMmaThreadsPerBlock; }
  int64_t rowsPerBlock() const { return split ? ATTN_GPU_SPLIT_ROWS_PER_BLOCK : kMmaRowsPerBlock; }
  /// Shared-memory stages of the K / V tiles (attn/gpu.h): three with
  /// MmaKernelOptions::overlap (a tile's V is read until the next tile's
  /// softmax is done), else two; a split kernel has one.
  int64_t stages() const {
    return split ? ATTN_GPU_SPLIT_STAGES : mmaStages(options);
  }
  /// Tile rows padded by 8 elements (attn_gpu_tile_bytes): for ldmatrix,
  /// and in the two-stage layout of ABI 4; three stages fit only unpadded.
  bool padded() const { return !useWgmma() || stages() < ATTN_GPU_MMA_OVERLAP_STAGES; }
  int64_t tileBytes() const { return attn_gpu_tile_bytes(bc, hd, padded()); }
  /// Warpgroup MMAs (a split kernel's block is one warp, not a warpgroup).
  bool useWgmma() const { return options.wgmma && !split; }
  Value partialAt(Value head, Value row, Value chunkIdx, Value slot);
  void writePartials(ArrayRef<cascade::IterateOp> iterates);
  /// ORs the error flag into the launch's (ATTN_ARG_GPU_ERROR).
  void reportErrors();

private:
  // --- constants and conversions ---------------------------------------------
  Value cIdx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value cI64(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 64); }
  Value cI32(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 32); }
  Value cF32(double v) {
    return arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat((float)v));
  }
  Value toIdx(Value v) { return arith::IndexCastOp::create(b, loc, b.getIndexType(), v); }
  Value toI64(Value v) { return arith::IndexCastOp::create(b, loc, b.getI64Type(), v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value slt(Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, y);
  }
  Value notI(Value x) { return arith::XOrIOp::create(b, loc, x, arith::ConstantIntOp::create(b, loc, 1, 1)); }
  Value andI(Value x, Value y) {
    if (matchPattern(x, m_One()))
      return y;
    if (matchPattern(y, m_One()))
      return x;
    return arith::AndIOp::create(b, loc, x, y);
  }
  Value gep(Value base, Type elem, Value offset) {
    return LLVM::GEPOp::create(b, loc, base.getType(), elem, base, ValueRange{offset});
  }
  /// A word of the argument block, which no kernel writes: invariant loads,
  /// so that LLVM hoists them out of the key loop and merges repeats (else
  /// every tile waits for the copies' strides from L2 again).
  Value argWord(int64_t k) {
    return LLVM::LoadOp::create(b, loc, b.getI64Type(), gep(args, b.getI64Type(), cI64(k)), 8,
                                /*isVolatile=*/false, /*isNonTemporal=*/false, /*isInvariant=*/true);
  }
  Value argPtr(int64_t k) {
    return LLVM::LoadOp::create(b, loc, ptrTy, gep(args, ptrTy, cI64(k)), 8, /*isVolatile=*/false,
                                /*isNonTemporal=*/false, /*isInvariant=*/true);
  }
  /// A global-memory view of a generic pointer (ld.global / st.global).
  Value toGlobal(Value p) {
    return LLVM::AddrSpaceCastOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext(), 1), p);
  }

  // --- pieces ------------------------------------------------------------------
  Shape shapeOf(Value fiber) { return shape.lookup(fiber); }
  /// Value `k` of `fiber` as seen from a point of shape `at`.
  Value valueAt(Value fiber, unsigned k, Shape at);
  /// Row half (0: row g, 1: row g + 8) of value k of a shape.
  static unsigned halfOf(unsigned k) { return (k % 4) / 2; }
  unsigned countOf(Shape s) {
    return s == Shape::Row ? 2 : s == Shape::Elem ? unsigned(bc / 8 * 4) : unsigned(hd / 8 * 4);
  }
  /// Key position of Elem value k in key tile `kt`.
  Value keyOf(unsigned k, Value kt);
  /// Inlines `body` at row half `half` and key `j` (-1: no key rank); reads
  /// of extra tensors are range-checked only at real points (row < Sq and
  /// j < Skv).
  Value inline_(Region &body, unsigned half, Value j, ValueRange leading, ArrayRef<Value> inputs,
                const IRMapping *presets = nullptr);
  void emitMap(cascade::EinsumOp op, Value kt);
  void emitRowReduce(cascade::EinsumOp op, Value kt);
  void emitQK(cascade::EinsumOp op);
  void emitPV(cascade::EinsumOp op, Value kt);
  void emitIterate(cascade::IterateOp op);
  void emitOp(Operation *op, Value kt);
  /// Copies rows [row0, row0 + nRows) of head `head` of a [B, H, S, D]
  /// input (strides at argument word `strideWord`) into shared memory at
  /// element `dst`, zero past `limit` rows and D (cp.async when `fast`, else
  /// element by element).
  void copyRows(Value base, int64_t strideWord, Value head, Value row0, int64_t nRows, Value limit,
                Value dst, Value fast);
  /// Copies key tile kt of K (which 0) or V (1) into shared-memory stage
  /// `stage`.
  void loadTile(int which, Value stage, Value kt, Value fast);
  /// i1: a [B, H, S, D] input's layout allows 16-byte copies.
  Value vectorCopyOk(int64_t strideWord, Value ptr);
  /// Issues the loads of tile kt into `stage` when `want`: K and V as two
  /// cp.async groups (committed either way, so that every thread counts the
  /// same groups).
  void issueLoads(Value want, Value kt, Value stage, Value fast);
  /// Pipelined: when `want`, waits until stage issued % S is free (its
  /// empty barrier), copies tile kt into it and has the copies arrive on its
  /// full barrier. Returns issued + want.
  Value issueTile(Value want, Value kt, Value issued, Value fast);
  /// The shared address of full[stage] (which 0) or empty[stage] (1).
  Value barrierAddr(int which, Value stage);
  /// The parity to wait for on a barrier's use `use` (i64, counted from 0):
  /// a full barrier's phase `use`, and the empty one's of use - 1 (a fresh
  /// barrier passes parity 1 at once).
  Value fullParity(Value use) { return arith::AndIOp::create(b, loc, use, cI64(1)); }
  Value emptyParity(Value use) { return arith::XOrIOp::create(b, loc, fullParity(use), cI64(1)); }
  /// After a full barrier's wait, when the copies were cp.async (not TMA):
  /// they wrote through the generic proxy, wgmma reads through the async
  /// proxy (TMA writes through it).
  void fenceCopiesForWgmma() {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(scf::IfOp::create(b, loc, notI(tma), false).thenBlock());
    ptx::fenceProxyAsync(b, loc);
  }
  /// Thread 0 initialises the stages' barriers (every thread arrives on
  /// each empty barrier; on a full one every thread's copies, or with TMA
  /// thread 0's expect_tx), then a block barrier.
  void initBarriers();
  /// TMA loads (attn/gpu.h): a swizzled tile kernel's K / V tiles come from
  /// the tensor maps of the argument block when the launcher passed them.
  bool tmaCapable() const { return swizzled(); }
  /// Thread 0 of a TMA kernel waits until stage `stage` is free (`parity`),
  /// then copies tile kt of K and V into it with the tensor copy engine,
  /// completing on its full barrier.
  void issueTensorCopies(Value kt, Value stage, Value parity);
  /// Element offset of (row, head column) in a tile of `rows` rows: rows
  /// padded by 8 for ldmatrix; for wgmma 128-byte swizzled (swizzled()) or
  /// core matrices (8 rows x 16 bytes, contiguous; along the head
  /// dimension, then along the rows).
  Value tileOffset(Value row, Value col, int64_t rows);
  /// wgmma operands 128-byte swizzled: rows of 64 elements (128 bytes) per
  /// half of the head dimension, 16-byte chunk c of row r at c ^ (r % 8);
  /// else (hd not a multiple of 64) core matrices without swizzle.
  bool swizzled() const { return useWgmma() && hd % 64 == 0; }
  /// Element offset of tile `which` (0 K, 1 V) of stage `stage`.
  Value stageOffset(Value stage, int which);
  /// Points ks / vs (ldmatrix) or kDesc / vDesc (wgmma) at a stage.
  void selectStage(Value stage);
  /// The wgmma shared-memory descriptor of a core-matrix tile at element
  /// offset `offset`: leading / stride byte offsets `lbo` / `sbo`.
  Value descriptor(Value offset, int64_t lbo, int64_t sbo, bool swizzle128 = false);
  /// The [p, f] iterate that the PV contraction `pv` can accumulate into:
  /// pv's only use, with a body prev' = h(prev, ...) + x in its input x = pv
  /// (yield add(A, x), or select(c, x, add(A, x)) as the online rescale
  /// writes it), its other inputs computed before pv. The MMA then starts
  /// from h (the body at x = 0) instead of zero: no separate accumulator.
  cascade::IterateOp accumulatingIterate(cascade::EinsumOp pv);
  /// True if `it` (an accumulatingIterate of pv) is the online rescale
  /// select(prev == 0, x, prev * G + x) with G a map of row values: then
  /// h(prev) = prev * G wherever G is finite.
  bool isRescale(cascade::IterateOp it, Value pv);
  /// i1: key tile kt is in range and some point of the block's rows in it is
  /// kept (its tile class, then a block vote on a partial tile).
  Value tileWanted(Value kt, Value numTiles);
  /// Whether any point of tile `kt` is kept for the rows of the threads that
  /// meet at the barrier: `barrierId` (i32) a named barrier of `count`
  /// threads, null: the whole block (a bar.red.or on barrier 0). The keep
  /// values it computes are its own (vals / emitted are left as they were).
  Value voteAny(Value kt, Value barrierId, int64_t count);
  /// i1: interval arithmetic does not show key tile kt empty for this
  /// warpgroup's rows (classified masks; uniform in the warpgroup, so no
  /// vote and no barrier; a tile it leaves partial is computed even when
  /// none of its points is kept, which costs time, not correctness).
  Value warpgroupMayKeep(Value kt);
  /// i1: the OR / AND of i1 `v` over the block (bar.red on barrier 0).
  Value blockReduce(Value v, NVVM::BarrierReduction kind);
  /// Partial tiles are voted on by each warpgroup when it computes them
  /// (named barrier 3 + warpgroup) instead of by the block when they are
  /// loaded: no block barrier in the key loop, so the warpgroups drift (the
  /// pipelined tensor-core kernels; a split kernel's block is one warp).
  /// Not when the mask reads a tensor: its intervals leave every tile in
  /// range partial, and the block's vote at load time saves loading the
  /// empty ones (document masks: -8..-13% with per-warpgroup votes, while
  /// index-only masks gain 4-6%; session 5, docs/performance.md).
  bool votesPerWarpgroup() const {
    return options.warpgroupVotes && useWgmma() && stages() > 1 && threads() == 256 &&
           !keepReadsTensor;
  }
  /// Whether the block votes (a block barrier) on a mask's partial tiles when
  /// it loads them: a mask of indices and params without per-warpgroup votes
  /// or a class table, in a kernel whose consumers load (tileWanted).
  bool blockVotesOnPartialTiles() const {
    return indexOnlyKeep && !votesPerWarpgroup() && !usesClassTable() && !producer;
  }
  bool keepReadsTensor = false; ///< the keep predicate's body has an attn.load
  /// ... and one that is not by row alone (document's doc[b, j]; prefix_lm's
  /// prefix_len[b] is by row).
  bool keepReadsByKey = false;
  /// MmaKernelOptions::maskedSums with its auto resolved: the selected sums
  /// for a mask that reads by key (session 17: the fast form's two copies
  /// of the sums spilled in document's kernel).
  int maskedSums() const {
    return options.maskedSums != kMmaMaskedSumsAuto ? options.maskedSums : keepReadsByKey ? 0 : 1;
  }
  bool keepReadsHead = false;   ///< the keep predicate's body reads h
  /// usesClassTable(): the table (global uint8_t *), and its extents: key
  /// tiles and query tiles (i64).
  Value classTable, numKeyTiles, numQueryTiles;
  /// The class of key tile kt for the block's rows: from the table
  /// (usesClassTable()), else intervalClass.
  TileClassValues tileClass(Value kt);
  /// The class interval arithmetic gives key tile kt (never full or empty
  /// when not `classified`).
  TileClassValues intervalClass(Value kt);
  /// usesClassTable(): the table's byte of key tile kt (i8) for the block.
  Value tableByte(Value kt);
  /// The table's (b, h) row: b * H + h when the mask reads h, else b.
  Value tableHead() { return keepReadsHead ? add(mul(bIdx, sizes["H"]), hIdx) : bIdx; }
  /// usesClassTable(): [first, last + 1) of the tiles in [start, end) that
  /// the table does not class empty ([start, start) when none): the key
  /// loop then does not step through the empty tiles before and after
  /// (a document's), each a dependent load of its byte.
  std::pair<Value, Value> tableRange(Value start, Value end);
  /// The class of keys [j0, j1] (inclusive) for the block's rows.
  TileClassValues keyRangeClass(Value j0, Value j1);
  /// The class of keys [j0, j1] (inclusive) for the nRows packed rows from
  /// row0 (rows are (query, head) pairs in a split kernel).
  TileClassValues rowsKeyClass(Value row0, int64_t nRows, Value j0, Value j1);
  /// The class of key tile kt for the nRows packed rows from row0.
  TileClassValues tileKeyClass(Value kt, Value row0, int64_t nRows);
  /// [start, end): the key tiles outside of which interval arithmetic finds
  /// the keys [0, start * bc) and [end * bc, Skv) empty for the block's
  /// rows (two binary searches over spans of tiles; sound whatever the mask,
  /// since only spans classified empty are left out). [0, numTiles) when the
  /// mask is not classified.
  std::pair<Value, Value> tileRange(Value numTiles);
  /// The index-only score maps of tile kt, the keep values all true when
  /// `fullTile`.
  void emitKeepValues(Value kt, bool fullTile);
  /// Partial tiles of a mask of indices and params (no tensor read): the
  /// keep values are computed at their first masked user, after the QK,
  /// not at the tile's start (where they were held across the QK's wait,
  /// 64 predicates that ptxas packs into bits of general registers).
  void emitKeepFor(Value kt);
  bool lazyKeep = false, keepAtFirstUse = false;
  /// A mask that reads tensors by key alone (a document mask's doc[b, j],
  /// keyTensorReads): each lane reads bc / 32 keys' values once per tile
  /// and every lane gets its keys' values by shuffles, instead of every
  /// lane reading its 2 * bc / 8 keys with their range checks (a third of
  /// a masked tile's instructions). Not in split kernels (rows of several
  /// heads).
  bool canStageKeyReads();
  void stageKeyReads(Value kt);
  /// The staged values of Elem value k's key, as presets of the keep body.
  IRMapping keyReadsOf(unsigned k);
  bool stageKeys = false;
  /// Masked scores: a max over m0 with a keep, whose body is its Elem input
  /// S, selects S to -inf where a point is dropped (keyValid && keep false).
  /// A map E of S and rows whose users are all sums with that keep, each
  /// zero at E = 0 (the exponentials of a softmax), is then computed from
  /// the masked S, with the rows' -inf read as 0: E(-inf, rows) is 0 at the
  /// dropped points, so the sums need no select and the 64 keep predicates
  /// are not held from the max to the sums (ptxas packs them into bits of
  /// general registers and tests them one by one, a quarter of a masked
  /// tile's instructions). Exact: the warp takes this path only when every
  /// row's E(-inf, rows') is 0 and a row that keeps a point has no -inf row
  /// value; else the keep values are recomputed (from copies of their
  /// inputs that the compilers cannot merge with the first) and selected.
  struct MaskedScores {
    Value fiber, keep;
    SmallVector<Value> vals;
    Value anyKept[2];
  };
  std::optional<MaskedScores> masked;
  /// Fibers whose values are 0 where their keep drops the point.
  llvm::DenseMap<Value, Value> zeroWhereDropped;
  bool canEmitMasked(cascade::EinsumOp op);
  void emitMaskedMap(cascade::EinsumOp op, Value kt);
  /// The point-valid values (keyValid && keep) of tile kt, recomputed.
  SmallVector<Value> recomputeValid(Value kt);
  SmallVector<Value> keyReads;                         ///< body values
  /// Reads of extra tensors by row alone (rowTensorReads: `doc[b, i]`,
  /// `prefix_len[b]`) in the bodies the key loop inlines, made once before
  /// the loop, per row half: presets of every inline of those bodies, so
  /// that a tile reads no such tensor and a mask whose other reads are
  /// shared per key (or none) computes its keep values lazily.
  llvm::DenseMap<Region *, IRMapping> rowReads[2];
  void emitRowReads();
  SmallVector<SmallVector<Value>> stagedKeyReads;      ///< per (r, c): this lane's reads
  llvm::DenseMap<unsigned, SmallVector<Value>> sharedKeyReads; ///< per (nt, c): shuffled
  Value packPair(Value lo, Value hi);
  Value toReg(Value pair);
  SmallVector<Value> ldmatrix(Value smem, Value row, Value col, bool transpose);
  Value mma(ArrayRef<Value> a, ArrayRef<Value> bFrag, ArrayRef<Value> c, SmallVector<Value> &out);
  void emitOutput(cascade::OutputOp out);
  /// The sizes and q_offset of the argument block.
  void loadSizes();
  /// o, lse, params and tensors from the argument block, and the error flag
  /// (zero) that tensor reads OR into.
  void loadOutputsAndFlag();
  /// i1: the caller passed an lse.
  Value lseWanted();
  /// Output element (row, f) of this (b, h): v, or 0 on a row with no kept key.
  void storeO(Value row, Value f, Value kept, Value v) { storeOElement(row, f, outValue(kept, v)); }
  /// Output element (row, f) of this (b, h): v, already of the output type.
  void storeOElement(Value row, Value f, Value v);
  /// An output value as stored: v in the input type, or 0 on a row with no kept key.
  Value outValue(Value kept, Value v) {
    return arith::TruncFOp::create(b, loc, elemTy, arith::SelectOp::create(b, loc, kept, v, cF32(0)));
  }
  /// The lse of a row: v, or -inf on a row with no kept key.
  void storeLse(Value row, Value kept, Value v);
  void lowerFastMath(gpu::GPUFuncOp fn);
  /// x * log2(e) for ex2.approx, distributed over x = a - c so that LLVM
  /// forms one fma per element.
  Value timesLog2E(Value x);
  bool dependsOnLoad(Value fiber);

  VariantOp variant;
  cascade::CascadeOp cas;
  ModuleOp target;
  MmaKernelOptions options;
  OpBuilder b;
  Location loc;
  int64_t hd, bc; ///< head dim tier, keys per tile
  Type ptrTy, elemTy;

  llvm::DenseMap<Operation *, Kind> kindOf;
  llvm::DenseMap<Value, Shape> shape;
  llvm::DenseMap<Value, Phase> phase;
  /// The registers of each fiber (countOf(shape) values).
  llvm::DenseMap<Value, SmallVector<Value>> vals;
  llvm::DenseSet<Operation *> emitted;
  Value qIn, kIn, vIn;

  // Values of the kernel's entry (bIdx, hIdx, hkIdx: the item's, setItem).
  Value args, tid, lane, g, t, bIdx, hIdx, hkIdx, skv, sq, dDim, qOff, errorFlag;
  bool split = false;
  Value numChunks, chunk; ///< split: W and this block's chunk
  Value kPtr, vPtr, qPtr, oPtr, lsePtr, paramsPtr, tensorsPtr, ks, vs, kDesc, vDesc;
  Value qt;       ///< the item's query tile (setItem; a one-item block's from its grid x)
  Value warp;     ///< this thread's warp in the block
  /// Ping-pong (MmaKernelOptions::pingPong): the named barrier this
  /// warpgroup waits on before its PV (1 + warpgroup, i32) and the one it
  /// arrives on once its QK is issued (2 - warpgroup); null when off.
  Value turnMine, turnOther;
  /// This thread's warpgroup in the block (i32).
  Value warpgroupI32() {
    return arith::IndexCastOp::create(b, loc, b.getI32Type(),
                                      arith::DivUIOp::create(b, loc, warp, cIdx(4)));
  }
  /// votesPerWarpgroup(): this warpgroup's named barrier for its votes
  /// (3 + warpgroup, i32); null otherwise.
  Value wgVoteId;
  /// MmaKernelOptions::overlap in effect: the PV of a tile is issued after
  /// the QK of the next tile the warpgroup computes and waited for once that
  /// tile's P is computed, so the tensor cores run it during the softmax
  /// (FlashAttention-3's in-warpgroup overlap). The key loop then carries
  /// the output iterate as C = h(O) without the last PV, that PV's A
  /// fragments (P) and the stage of its V; each thread arrives on a stage's
  /// empty barrier when that PV is done.
  bool overlapPV = false;
  /// MmaMapping::pairedMma in effect (with the ping-pong): the PV of a tile
  /// is deferred as with overlapPV, but issued in the next tile's turn
  /// ahead of its QK and waited for before its softmax (wgmma groups
  /// complete in order: the PV, its stage released, then the scores); the
  /// turn is taken at the end of a tile as before, and the last PV is
  /// issued after the loop (emitLoopEnd) before the warpgroup leaves its turns.
  bool pairedPV = false;
  /// Either form of the deferred PV (the states it carries, its release).
  bool deferPV() const { return overlapPV || pairedPV; }
  /// The deferred PV's loop states (P zeros, no stage held) after `init`'s
  /// iterates; pvState set.
  void appendDeferredStates(SmallVector<Value> &init);
  cascade::EinsumOp pvOp;       ///< deferPV(): the PV Einsum
  cascade::IterateOp pvInto;    ///< ... the output iterate it accumulates into
  unsigned pvState = 0;         ///< ... where pvInto's values start among the loop's states
  SmallVector<Value> carriedP;  ///< the deferred PV's A fragments (i32; zeros: none)
  /// Registers of a tile's P as PV's A fragments (4 per 16 keys).
  int64_t pRegs() const { return bc / 16 * 4; }
  /// The held PV's tile (i64; -1: none): overlapPV its stage, pairedPV its
  /// count among the loaded tiles (heldStageIdx, heldUse: stage and use).
  Value heldStage;
  Value heldStageIdx() {
    return toIdx(pairedPV ? Value(arith::RemSIOp::create(b, loc, heldStage, cI64(stages()))) : heldStage);
  }
  Value heldUse() { return arith::DivSIOp::create(b, loc, heldStage, cI64(stages())); }
  /// pairedPV: the stage's V tile has its own full and empty barriers
  /// (barrierAddr 2 and 3; ATTN_GPU_ABI_PAIRED), released a tile after its K.
  int64_t vBarriers() const { return pairedPV ? 2 * stages() : 0; }
  /// Waits for the held PV's V tile (pairedPV: its own full barrier).
  void waitHeldV() {
    if (pairedPV)
      ptx::mbarrierWait(b, loc, barrierAddr(2, heldStageIdx()), fullParity(heldUse()));
  }
  /// Arrives on the held PV's V tile's empty barrier (pairedPV) or its
  /// stage's (overlapPV): the PV is done.
  void releaseHeldV() { ptx::mbarrierArrive(b, loc, barrierAddr(pairedPV ? 3 : 1, heldStageIdx())); }
  Value curStage;               ///< the stage of the tile being computed
  SmallVector<Value> inFlightO; ///< accumulators of the PV issued after this tile's QK
  SmallVector<Value> nextP;     ///< this tile's P, for the next tile
  /// The deferred PV: C (pvInto's prev) + P V, V in stage `vStage` (index),
  /// left in flight unless `wait`.
  SmallVector<Value> issueDeferredPV(Value vStage, bool wait);
  /// The stage whose V the deferred PV reads: the held one, or (none held,
  /// P zero) the current tile's, which is loaded.
  Value deferredStage() {
    Value none = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, heldStage, cI64(0));
    return arith::SelectOp::create(b, loc, none, curStage, toIdx(heldStage));
  }
  /// i1: a deferred PV is held (heldStage >= 0).
  Value holding() {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, heldStage, cI64(0));
  }
  /// Arrives on the held stage's empty barrier (the deferred PV is done).
  void releaseHeld();
  /// O: C + P V waited for when a PV is held, else C (a branch that yields
  /// waited values, so no accumulator in flight crosses it); with `release`
  /// the held stage's empty barrier gets this thread's arrival.
  SmallVector<Value> finishDeferredPV(bool release);
  /// The V operand's descriptor of a stage (wgmma).
  Value vDescAt(Value stage);
  Value qDesc;    ///< wgmma: this warpgroup's Q rows in shared memory
  Value kMap, vMap; ///< tmaCapable(): the tensor maps' addresses (i64, 0: none)
  Value tma;      ///< i1: K / V tiles come by TMA (false unless tmaCapable())
  /// A producer kernel that can take Q by TMA (ATTN_ARG_Q_TMAP): the
  /// producer's issuing thread copies each consumer warpgroup's 64 rows,
  /// completing on that warpgroup's full Q barrier (qFullAddr), instead of
  /// the consumers' cp.async copies and their barrier.
  bool qByTma() const { return producer && tmaCapable(); }
  Value qMap; ///< qByTma(): Q's tensor map (i64, 0: none)
  Value qTma; ///< qByTma(): i1, qMap is not 0
  /// The Q barriers after the stages' (8 bytes each): a producer kernel's
  /// full barrier per consumer warpgroup and Q buffer (with TMA; always in a
  /// persistent one), then (persistent) each buffer's empty barrier and its
  /// item slot (itemSlot).
  int64_t qBarriers() const {
    return !producer ? 0 : persistent ? 4 * qBuffers() : (tmaCapable() ? 2 : 0);
  }
  Value qFullAddr(Value buf, Value w) {
    return barrierAddr(0, add(cIdx(2 * stages()), add(mul(toIdx(buf), cIdx(2)), toIdx(w))));
  }
  Value qEmptyAddr(Value buf) { return barrierAddr(0, add(cIdx(2 * stages() + 2 * qBuffers()), toIdx(buf))); }
  /// A persistent producer kernel's item slot of Q buffer `buf` (an i32 in
  /// 8 bytes after the empty barriers): the item that the producer took for
  /// the buffer's round, or -1 when none was left.
  Value itemSlot(Value buf) {
    return LLVM::IntToPtrOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext(), 3),
                                    barrierAddr(0, add(cIdx(2 * stages() + 3 * qBuffers()), toIdx(buf))));
  }
  Value loadItemSlot(Value buf) { return LLVM::LoadOp::create(b, loc, b.getI32Type(), itemSlot(buf), 4); }
  /// The producer's issuing thread: Q's two 64-row boxes per 64 columns of
  /// the item into buffer `buf`, onto its full barriers.
  void issueQTensorCopies(Value buf);
  Value smem;     ///< the dynamic shared memory (memref<?xi8>)
  Value smemPtr;  ///< its start aligned to 1024 bytes, as an LLVM shared pointer
  Value smemShift; ///< bytes from smem's start to smemPtr
  /// The mask plan: the keep fiber when every masked Einsum has the same one,
  /// whether it depends on indices and params only, and whether interval
  /// arithmetic classifies its tiles.
  Value keepFiber;
  cascade::EinsumOp keepOp;
  bool indexOnlyKeep = false, classified = false;
  Value rows[2], absI[2];
  Value blockRow0; ///< the block's first row (query or, split, (query, head) pair)
  /// The head of each row half: hIdx, or in a split kernel (which packs the
  /// query heads of one KV head into its rows) that row's head.
  Value headOf[2];
  /// Query heads per KV head packed into a split kernel's rows (1 otherwise).
  Value group;
  llvm::StringMap<Value> sizes;
  SmallVector<SmallVector<Value>> qFrag; ///< per 16-wide head chunk: 4 registers
  Value rowValid[2];
  /// True while emitting the copy of the tile body for tiles whose keys are
  /// all below Skv: keyValid() is then a constant, and the per-key range
  /// tests (a 64-bit compare and a select per score) fold away.
  bool keysInRange = false;
  /// i1: key j is a real key (j < Skv).
  Value keyValid(Value j) {
    return keysInRange ? Value(arith::ConstantIntOp::create(b, loc, 1, 1)) : slt(j, skv);
  }

  // --- items: the (b, h, query tile) a block computes ---------------------------
  /// A persistent kernel (wantsPersistent): a block per SM computes items in
  /// rounds; during an item it loads the next item's Q (into the other of
  /// two Q buffers) and, during the item's last tile, the next item's first
  /// K / V tile, so a block's start (the loads' latency, the tile range)
  /// overlaps the previous item's work.
  bool persistent = false;
  int64_t qBuffers() const { return persistent ? 2 : 1; }

  // --- the producer warpgroup (mayBeProducerMma; auto resolved in build()) -----
  /// A third warpgroup (threads 256..383) loads the K / V tiles: TMA from
  /// its first thread, else cp.async from all 128 (arriving on the full
  /// barriers); warpgroups 0 and 1 (the consumers) compute and never issue a
  /// load but Q's. Their registers are split by setmaxnreg (the block starts
  /// at 65536 / 384 per thread).
  bool producer = false;
  /// Threads per block: the consumers' (threads()) and the producer's.
  int64_t blockThreads() const { return producer ? ATTN_GPU_MMA_PRODUCER_BLOCK_SIZE : threads(); }
  /// Threads that arrive on a full barrier with their cp.async copies.
  int64_t loaderThreads() const { return producer ? blockThreads() - threads() : threads(); }
  /// The thread that issues the TMA copies (and acquires the tensor maps).
  int64_t issuerTid() const { return producer ? threads() : 0; }
  /// The code being emitted is the producer's (it issues the K / V loads);
  /// false in a producer kernel's consumers, whose pipeline only counts.
  bool issuesLoads = true;
  /// copyRows spreads its copies over copyThreads threads, this one being
  /// copyTid (the block's, or the producer's 128).
  Value copyTid;
  int64_t copyThreads = 0;
  /// The consumers meet (named barrier kConsumerBarrier of threads() threads
  /// in a producer kernel; else the block barrier).
  void consumerSync();
  static constexpr int kConsumerBarrier = 5;
  /// A persistent producer kernel's producer threads meet on it to read the
  /// item their issuer took (takeItem).
  static constexpr int kTicketBarrier = 6;
  /// The ping-pong's start before a key loop (warpgroup 1 waits for its
  /// first turn) where it applies: warpgroup 1's i1, else null; endTurns
  /// after the loop (warpgroup 0's last arrival).
  /// A persistent producer kernel's items pass the turns on: `afterItem`
  /// (i1) makes warpgroup 0 wait at the start for warpgroup 1's arrival at
  /// the end of the previous item, given where `beforeItem` (warpgroup 1's
  /// i1, built where only warpgroup 1 runs: another item follows) holds, so
  /// that warpgroup 0's next arrivals cannot meet its own last one on a
  /// barrier before warpgroup 1's last wait there.
  /// Whether the warpgroups take turns (the ping-pong; beginTurns) with
  /// `ahead` tiles of look-ahead.
  bool takesTurns(int64_t ahead) const {
    return options.pingPong && useWgmma() && stages() > 1 && (ahead >= 2 || producer) &&
           !blockVotesOnPartialTiles() && threads() == 256 && !overlapPV;
  }
  Value beginTurns(Value afterItem = Value());
  void endTurns(Value wg1, llvm::function_ref<Value()> beforeItem = nullptr);
  /// setmaxnreg's registers per thread: 2 x 128 x 240 + 128 x 24 = 64512,
  /// the block's pool (ptxas gives a 384-thread block 168 per thread; a
  /// split asking for more, 240 / 32, waits in setmaxnreg.inc for ever:
  /// session 15). FlashAttention-3's split for two consumers; the producer
  /// spills around its cp.async copies (a path without TMA), and the
  /// consumers at 224 or 232 were no faster (session 15).
  static constexpr int kConsumerRegisters = 240, kProducerRegisters = 24;
  static_assert(kMmaThreadsPerBlock * kConsumerRegisters +
                        (ATTN_GPU_MMA_PRODUCER_BLOCK_SIZE - kMmaThreadsPerBlock) * kProducerRegisters <=
                    65536 / ATTN_GPU_MMA_PRODUCER_BLOCK_SIZE / 8 * 8 * ATTN_GPU_MMA_PRODUCER_BLOCK_SIZE,
                "the split must fit the block's register pool, or setmaxnreg.inc waits for ever");
  /// The item's values: query tile, head, batch, KV head, first row, and the
  /// thread's rows (setItem); a copy to compute another item's.
  struct ItemIds {
    Value qt, h, b, hk, row0, rows[2], headOf[2], absI[2], rowValid[2];
  };
  /// The item's values from its query tile, head, batch (and KV head, when
  /// known: else h / (H / Hkv)).
  void setItem(Value qtV, Value hV, Value bV, Value hkV = Value());
  ItemIds saveItem() const;
  void restoreItem(const ItemIds &s);
  /// The key tiles an item visits: [first, numTiles) by the step; `want`:
  /// its first tile is loaded.
  struct ItemRange {
    Value first, numTiles, want;
  };
  ItemRange itemRange();
  /// The producer warpgroup's key loop: the tiles of `r` it wants, each
  /// into the next stage once the consumers freed it.
  void emitProducer(const ItemRange &r);
  /// The producer warpgroup's part: its registers lowered, copyTid /
  /// copyThreads its own, then `loads(true)` with K / V by TMA in the threads
  /// where `tmaThreads` (i1) holds when the launcher gave the maps, else
  /// `loads(false)` (cp.async) in all its threads.
  void emitProducerRole(Value tmaThreads, llvm::function_ref<void(bool withTma)> loads);
  /// The producer's loop over the tiles of `r` (in the consumers' order, the
  /// wanted ones issued): the issued count after them, from `issued`.
  Value emitProducerTiles(const ItemRange &r, Value issued);
  /// i1: the range's first tile is loaded (tileWanted without a table read).
  Value firstWanted(const ItemRange &r);
  /// A persistent block's load of the next item's first tile: given the
  /// issued count and whether to load, the new count (emitPersistentItems).
  using NextIssue = llvm::function_ref<Value(Value issued, Value when)>;
  /// A persistent block's item values, set again at the top of each tile
  /// (from the stash, so that they are not held across the key loop).
  std::function<void()> reloadItem;
  /// ceil(Sq / rows per block) (i64): a one-item kernel's grid x.
  Value queryTileCount() {
    return arith::DivSIOp::create(b, loc, add(sq, cI64(rowsPerBlock() - 1)), cI64(rowsPerBlock()));
  }
  /// Element offset of Q buffer `buf` in shared memory.
  Value qSmem(Value buf);
  /// The item's Q: copies into buffer `buf` (wgmma) or fragments in registers.
  void emitQ(Value buf);
  /// qDesc for the warpgroup's rows of buffer `buf` (wgmma).
  void selectQ(Value buf);
  /// Pre ops and row reads of the item; the iterates' initial values.
  SmallVector<Value> emitItemStart();
  /// The key loop of the item: iterates (and overlap state) in the first
  /// numStates values of `init`, then (pipelined) the tiles-ahead flags,
  /// issued, computed and, with `next`, whether its first tile is loaded.
  scf::ForOp emitKeyLoop(Value firstTile, Value numTiles, ArrayRef<Value> init, unsigned numStates,
                         std::optional<NextIssue> next);
  /// Post ops and the output (or a split's partial states) of the item.
  /// After the key loop: the iterates' final values from its results (and
  /// the deferred PV, issued and waited for).
  void emitLoopEnd(scf::ForOp loop);
  /// The item's Post Einsums and its output (after emitLoopEnd).
  void emitItemEnd();
  /// The rounds of a persistent kernel.
  void emitPersistentItems();
  /// A persistent kernel's items: block p of G takes them in rounds (attn/gpu.h).
  struct ItemSchedule {
    Value nQt, heads, perTile, numItems, blocks, p, numRounds; ///< i32
    /// (b, h) pairs per group (i32), or null: see itemSchedule.
    Value headGroup;
  };
  /// The items' order: with `grouped` (ABI 10's tickets), groups of headGroup (b, h)
  /// pairs whose K and V fit kL2Bytes, each group's items heaviest query
  /// tile first (so the blocks that run at once share their K / V in L2);
  /// else ABI 6's (every pair's last query tile first).
  ItemSchedule itemSchedule(bool grouped = false);
  /// The L2 bytes a group of (b, h) pairs' K and V may take (an H100 has 50 MB).
  static constexpr int64_t kL2Bytes = 24 << 20;
  /// Round r's item (i32) and whether it exists.
  std::pair<Value, Value> itemOf(const ItemSchedule &s, Value r);
  /// setItem of item i (i32).
  void setItemAt(const ItemSchedule &s, Value i);
  /// The rounds of a persistent producer kernel (persistent && producer,
  /// ABI 10): in each round r the producer warpgroup takes the next item of
  /// the launch's ticket counter (takeItem: a block that finishes early takes
  /// more), writes it into the item slot of Q buffer r % 2 (once its empty
  /// barrier says the consumers are done with the item two rounds back),
  /// loads its Q into the buffer (its full barriers) and its K / V tiles; the
  /// consumers read the slot once the full barrier passes, -1 ending them.
  void emitProducerItems();
  /// The producer's item of round r for Q buffer `buf` (i32, -1: none left),
  /// read by its `participants` threads: the issuer (i1) takes a ticket and writes
  /// it into the slot; the block whose ticket is the last of the launch resets
  /// the counter for the next launch on the stream (attn/gpu.h).
  Value takeItem(const ItemSchedule &s, Value buf, Value issuer, int64_t participants);
  /// A persistent kernel's per-thread stash (volatile local memory, so that
  /// neither LLVM nor ptxas keeps its values in registers): i32 slots.
  Value stash;
  enum StashSlot : int64_t {
    kItemQt,                                      ///< the item, decoded: query tile,
    kNextItem, kNextFirst, kNextTiles, kNextWant, ///< (the next item: index, range, first loaded)
    kItemH, kItemB, kItemHk,                      ///< head, batch, KV head
    kItemQBuf,                                    ///< (persistent producer) its Q buffer
    kStashSlots
  };
  void stashStore(int64_t slot, Value v32) {
    LLVM::StoreOp::create(b, loc, v32, gep(stash, b.getI32Type(), cI64(slot)), 4, /*isVolatile=*/true);
  }
  Value stashLoad(int64_t slot) {
    return LLVM::LoadOp::create(b, loc, b.getI32Type(), gep(stash, b.getI32Type(), cI64(slot)), 4,
                                /*isVolatile=*/true);
  }
  Value group0;   ///< H / Hkv
  Value allTiles; ///< key tiles of Skv
  Value fast;     ///< i1: K / V tiles move as 16-byte vectors
  int64_t ahead = 1; ///< tiles loaded ahead of the one computed
  SmallVector<cascade::IterateOp> iterates;
  /// Where the output tile is staged in shared memory when its stores are
  /// element-wise (element offset; null: 0). A persistent kernel's is the
  /// item's Q buffer: the next item's K / V tile may be loading into a stage.
  Value oStage;
  /// The Q buffer in which the item's output is staged (16-byte stores; null:
  /// 0): a persistent producer kernel's item's own (the producer may be
  /// loading the next item's Q into the other).
  Value outQBuf;
};

bool MmaBuilder::classify(std::string &why) {
  auto fail = [&](Operation *op, const Twine &msg) {
    why = (op ? ("'" + cascade::fiberName(op->getResult(0)) + "': ") : std::string()) + msg.str();
    return false;
  };
  auto isRow = [&](Value v) { return shape.count(v) && shape[v] == Shape::Row; };
  // In a split cascade (cascade-split-kv) m2 is the block's chunk: the loop
  // part is the same as without it; the merges over m2 run in the merge kernel.
  split = cas.getSplitAttr() != nullptr;
  bc = split ? attn_gpu_split_key_tile(hd) : attn_gpu_mma_key_tile(hd);
  auto ranksOf = [&](ArrayAttr a) {
    SmallVector<StringRef> r = cascade::rankNames(a);
    llvm::erase(r, StringRef("m2"));
    return r;
  };
  unsigned rowIters = 0, oIters = 0;
  for (Operation &o : cas.getBody().front()) {
    Operation *op = &o;
    if (auto in = dyn_cast<cascade::InputOp>(op)) {
      kindOf[op] = Kind::Input;
      if (in.getName() == "Q") qIn = in; else if (in.getName() == "K") kIn = in;
      else if (in.getName() == "V") vIn = in;
      continue;
    }
    if (isa<cascade::OutputOp>(op))
      continue;
    if (auto it = dyn_cast<cascade::IterateOp>(op)) {
      SmallVector<StringRef> r = ranksOf(it.getRanks());
      if (it.getOver() != "m1")
        return fail(op, "iterates over " + it.getOver());
      Shape s;
      if (rankSetIs(r, {"m1", "p"}, {"m1"}))
        s = Shape::Row;
      else if (rankSetIs(r, {"m1", "p", "f"}, {"m1", "p", "f"}) && r.back() == "f")
        s = Shape::O;
      else
        return fail(op, "an iterate over these ranks");
      for (Value in : it.getInputs()) {
        if (!shape.count(in) || phase[in] == Phase::Post || (s == Shape::Row && !isRow(in)))
          return fail(op, "an iterate input of another shape");
      }
      if (Value init = it.getInit())
        if (s == Shape::O || !isRow(init) || phase[init] != Phase::Pre)
          return fail(op, "an iterate initial value");
      kindOf[op] = s == Shape::Row ? Kind::IterRow : Kind::IterO;
      (s == Shape::Row ? rowIters : oIters)++;
      if (split && (rowIters > kSplitRowSlots || oIters > kSplitOIterates))
        return fail(op, "more iterates than a split-KV state holds");
      for (Value v : {it.getPrev(), it.getCur()}) {
        shape[v] = s;
        phase[v] = Phase::Loop;
      }
      shape[it.getFinal()] = s;
      phase[it.getFinal()] = Phase::Post;
      continue;
    }
    auto e = dyn_cast<cascade::EinsumOp>(op);
    if (!e)
      return fail(nullptr, "an op the mapping does not know");
    SmallVector<StringRef> r = ranksOf(e.getRanks());
    SmallVector<StringRef> red = cascade::rankNames(e.getReduceRanks());
    Value res = e.getResult();
    auto inputsOk = [&](std::initializer_list<Shape> shapes, bool allowPost, bool allowLoop) {
      for (Value in : e.getInputs()) {
        if (!shape.count(in) || !llvm::is_contained(shapes, shape[in]))
          return false;
        if ((!allowPost && phase[in] == Phase::Post) || (!allowLoop && phase[in] == Phase::Loop))
          return false;
      }
      return true;
    };
    if (split && red.size() == 1 && red[0] == "m2") {
      // A merge of the chunks' states: rows or output values after the loop.
      bool o = llvm::is_contained(r, "f");
      if (e.getInit() || e.getKeep() || !rankSetIs(r, {"p", "f"}, {}) ||
          !inputsOk({Shape::Row, Shape::O}, true, false) ||
          (!o && !inputsOk({Shape::Row}, true, false)))
        return fail(op, "a split-KV merge of another form");
      kindOf[op] = Kind::Merge;
      shape[res] = o ? Shape::O : Shape::Row;
      phase[res] = Phase::Post;
      continue;
    }
    if (!red.empty()) {
      if (red.size() != 1)
        return fail(op, "a reduction over several ranks");
      if (red[0] == "e") {
        auto ins = e.getInputs();
        if (ins.size() != 2 || !rankSetIs(r, {"m1", "m0", "p"}, {"m1", "m0", "p"}) ||
            e.getReduce() != cascade::CombineKind::sum || e.getKeep() || e.getInit() ||
            !isPlainProduct(e.getBody()) ||
            !((ins[0] == qIn && ins[1] == kIn) || (ins[0] == kIn && ins[1] == qIn)))
          return fail(op, "a head-rank contraction other than Q K");
        kindOf[op] = Kind::QK;
        shape[res] = Shape::Elem;
        phase[res] = Phase::Loop;
        continue;
      }
      if (red[0] != "m0")
        return fail(op, "a reduction over " + red[0]);
      if (llvm::is_contained(r, "f")) {
        // sum over m0 of P * V, P a map of score-tile and row values.
        auto ins = e.getInputs();
        if (!rankSetIs(r, {"m1", "p", "f"}, {"m1", "p", "f"}) || r.back() != "f" ||
            e.getReduce() != cascade::CombineKind::sum || e.getInit() ||
            llvm::count(ins, vIn) != 1 || !isLinearIn(e.getBody(), 4 + llvm::find(ins, vIn) - ins.begin()))
          return fail(op, "a value contraction of another form");
        for (Value in : ins)
          if (in != vIn && (!shape.count(in) || shape[in] == Shape::O || phase[in] != Phase::Loop))
            return fail(op, "a value contraction of another form");
        if (Value keep = e.getKeep(); keep && (!shape.count(keep) || shape[keep] != Shape::Elem))
          return fail(op, "a keep of another shape");
        kindOf[op] = Kind::PV;
        shape[res] = Shape::O;
        phase[res] = Phase::Loop;
        continue;
      }
      if (!rankSetIs(r, {"m1", "p"}, {"m1"}) || !inputsOk({Shape::Elem, Shape::Row}, false, true))
        return fail(op, "a key reduction of another form");
      if (Value keep = e.getKeep(); keep && (!shape.count(keep) || shape[keep] != Shape::Elem))
        return fail(op, "a keep of another shape");
      if (Value init = e.getInit(); init && (!isRow(init) || phase[init] == Phase::Post))
        return fail(op, "a reduction initial value");
      kindOf[op] = Kind::RowReduce;
      shape[res] = Shape::Row;
      phase[res] = Phase::Loop;
      continue;
    }
    if (llvm::is_contained(r, "e"))
      return fail(op, "a map over the head rank e");
    if (llvm::is_contained(r, "m0")) {
      if (!rankSetIs(r, {"m1", "m0", "p"}, {"m0"}) ||
          !inputsOk({Shape::Elem, Shape::Row}, false, true))
        return fail(op, "a score map of another form");
      kindOf[op] = Kind::Elem;
      shape[res] = Shape::Elem;
      phase[res] = Phase::Loop;
    } else if (llvm::is_contained(r, "f")) {
      if (!rankSetIs(r, {"p", "f"}, {"f"}) || r.back() != "f" ||
          !inputsOk({Shape::O, Shape::Row}, true, false))
        return fail(op, "an output map of another form");
      kindOf[op] = Kind::PostO;
      shape[res] = Shape::O;
      phase[res] = Phase::Post;
    } else if (llvm::is_contained(r, "m1")) {
      if (!rankSetIs(r, {"m1", "p"}, {}) || !inputsOk({Shape::Row}, false, true))
        return fail(op, "a per-tile row map of another form");
      kindOf[op] = Kind::Row;
      shape[res] = Shape::Row;
      phase[res] = Phase::Loop;
    } else {
      if (!inputsOk({Shape::Row}, true, false))
        return fail(op, "a row map of another form");
      bool post = llvm::any_of(e.getInputs(), [&](Value in) { return phase[in] == Phase::Post; });
      kindOf[op] = post ? Kind::Post : Kind::Pre;
      shape[res] = Shape::Row;
      phase[res] = post ? Phase::Post : Phase::Pre;
    }
  }
  if (!qIn || !kIn || !vIn)
    return fail(nullptr, "the cascade lacks Q, K or V");
  auto out = cast<cascade::OutputOp>(cas.getBody().front().getTerminator());
  if (shapeOf(out.getAv()) != Shape::O || phase[out.getAv()] != Phase::Post)
    return fail(nullptr, "an output of another form");
  for (Value v : {out.getLse(), out.getKept()})
    if (v && (!isRow(v) || phase[v] == Phase::Loop))
      return fail(nullptr, "an output of another form");
  return true;
}

Value MmaBuilder::valueAt(Value fiber, unsigned k, Shape at) {
  auto found = vals.find(fiber);
  assert(found != vals.end() && !found->second.empty() && "a fiber read before it is computed");
  SmallVector<Value> &v = found->second;
  Shape s = shapeOf(fiber);
  if (s == at)
    return v[k];
  assert(s == Shape::Row && "only rows broadcast");
  return v[halfOf(k)];
}

Value MmaBuilder::keyOf(unsigned k, Value kt) {
  unsigned nt = k / 4, c = k % 4;
  // j = kt * bc + nt * 8 + 2t + (c & 1), below 2^29 (attn/gpu.h); the
  // constant outside the seed (splitConstantOffsets peels it).
  return add(assumeIndexRange(b, loc, add(mul(kt, cI64(bc)), mul(t, cI64(2)))),
             cI64(nt * 8 + (c & 1)));
}

Value MmaBuilder::inline_(Region &body, unsigned half, Value j, ValueRange leading,
                          ArrayRef<Value> inputs, const IRMapping *presets) {
  Value valid = rowValid[half];
  if (j.getDefiningOp<arith::ConstantOp>() == nullptr)
    valid = andI(valid, keyValid(j));
  BodyContext ctx{bIdx, headOf[half], paramsPtr, tensorsPtr, errorFlag, valid, &sizes};
  IRMapping merged;
  if (auto found = rowReads[half].find(&body); found != rowReads[half].end()) {
    if (presets) {
      merged = found->second;
      for (auto [from, to] : presets->getValueMap())
        merged.map(from, to);
      presets = &merged;
    } else {
      presets = &found->second;
    }
  }
  Value v = inlineBody(variant, b, loc, ctx, body, absI[half], j, leading, inputs, presets);
  return v ? v : cF32(0);
}

void MmaBuilder::emitRowReads() {
  // Guarded by the row (and Skv > 0): a padding row, or a row with no key,
  // reads nothing that a point would not.
  Value anyKey = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, skv, cI64(0));
  for (Operation &op : cas.getBody().front()) {
    auto e = dyn_cast<cascade::EinsumOp>(op);
    Kind k = kindOf.lookup(&op);
    if (!e || k == Kind::Pre || k == Kind::Post || k == Kind::PostO)
      continue;
    SmallVector<Value> reads = rowTensorReads(e.getBody());
    if (reads.empty())
      continue;
    for (unsigned h = 0; h < 2; ++h) {
      BodyContext ctx{bIdx, headOf[h], paramsPtr, tensorsPtr, errorFlag, andI(rowValid[h], anyKey),
                      &sizes};
      SmallVector<Value> v = inlineReads(variant, b, loc, ctx, e.getBody(), absI[h], Value(), reads);
      if (v.empty())
        continue;
      IRMapping &m = rowReads[h][&e.getBody()];
      for (auto [read, value] : llvm::zip(reads, v))
        m.map(read, value);
    }
  }
}

void MmaBuilder::emitMap(cascade::EinsumOp op, Value kt) {
  Shape s = shapeOf(op.getResult());
  SmallVector<Value> &out = vals[op.getResult()];
  bool shared = op == keepOp && !stagedKeyReads.empty();
  IRMapping presets;
  for (unsigned k = 0, n = countOf(s); k < n; ++k) {
    SmallVector<Value> ins;
    for (Value in : op.getInputs())
      ins.push_back(valueAt(in, k, s));
    Value j = s == Shape::Elem ? keyOf(k, kt) : cI64(-1);
    if (shared)
      presets = keyReadsOf(k);
    out.push_back(inline_(op.getBody(), halfOf(k), j, {}, ins, shared ? &presets : nullptr));
  }
}

bool MmaBuilder::canStageKeyReads() {
  if (!keepOp || split || bc % 64 != 0)
    return false;
  keyReads = keyTensorReads(keepOp.getBody());
  return !keyReads.empty();
}

void MmaBuilder::stageKeyReads(Value kt) {
  // Lane 4a + t reads keys 8 (a + 8r) + 2t + c (r < bc / 64, c < 2): the
  // pair that lanes t of key group nt = a + 8r hold, so a shuffle from lane
  // 4 (nt % 8) + t gives every lane its keys' values.
  Value a = toI64(arith::DivUIOp::create(b, loc, lane, cIdx(4)));
  stagedKeyReads.clear();
  for (int64_t r = 0; r < bc / 64; ++r)
    for (int64_t c = 0; c < 2; ++c) {
      Value j = add(add(mul(kt, cI64(bc)), mul(t, cI64(2))), add(mul(a, cI64(8)), cI64(64 * r + c)));
      BodyContext ctx{bIdx, hIdx, paramsPtr, tensorsPtr, errorFlag, keyValid(j), &sizes};
      SmallVector<Value> v = inlineReads(variant, b, loc, ctx, keepOp.getBody(), Value(), j, keyReads);
      if (v.empty())
        v.assign(keyReads.size(), Value());
      stagedKeyReads.push_back(v);
    }
  sharedKeyReads.clear();
}

/// For an i64 extended from an i32: `f` of that i32, extended the same way;
/// null for any other value.
static Value throughI32(OpBuilder &b, Location loc, Value v,
                        llvm::function_ref<Value(Value)> f) {
  if (auto ext = v.getDefiningOp<arith::ExtSIOp>(); ext && ext.getIn().getType().isInteger(32))
    return arith::ExtSIOp::create(b, loc, v.getType(), f(ext.getIn()));
  if (auto ext = v.getDefiningOp<arith::ExtUIOp>(); ext && ext.getIn().getType().isInteger(32))
    return arith::ExtUIOp::create(b, loc, v.getType(), f(ext.getIn()));
  return Value();
}

IRMapping MmaBuilder::keyReadsOf(unsigned k) {
  unsigned nt = k / 4, c = k % 2;
  auto &cached = sharedKeyReads[nt * 2 + c];
  if (cached.empty()) {
    Value src = arith::IndexCastOp::create(
        b, loc, b.getI32Type(), arith::AddIOp::create(b, loc, cIdx(4 * (nt % 8)), arith::RemUIOp::create(b, loc, lane, cIdx(4))));
    auto shfl = [&](Value v32) {
      return gpu::ShuffleOp::create(b, loc, v32, src, cI32(32), gpu::ShuffleMode::IDX).getShuffleResult();
    };
    // A read is an i32 element extended to i64, or an f32 (BodyInliner);
    // a value of another form stays unshared (null: the body reads it).
    for (Value v : stagedKeyReads[(nt / 8) * 2 + c])
      cached.push_back(!v ? Value() : v.getType().isF32() ? shfl(v) : throughI32(b, loc, v, shfl));
  }
  IRMapping m;
  for (auto [body, v] : llvm::zip(keyReads, cached))
    if (v)
      m.map(body, v);
  return m;
}

/// Combines two partial values of a reduction.
static Value combine(OpBuilder &b, Location loc, cascade::CombineKind kind, Value x, Value y) {
  switch (kind) {
  case cascade::CombineKind::max: return arith::MaximumFOp::create(b, loc, x, y);
  case cascade::CombineKind::min: return arith::MinimumFOp::create(b, loc, x, y);
  case cascade::CombineKind::sum: return arith::AddFOp::create(b, loc, x, y);
  }
  return y;
}

/// A row's value reduced over the 4 lanes that hold its keys (lanes 4g + t).
static Value acrossRowLanes(OpBuilder &b, Location loc, cascade::CombineKind kind, Value acc) {
  for (int64_t off : {1, 2}) {
    Value offset = arith::ConstantIntOp::create(b, loc, off, 32);
    Value width = arith::ConstantIntOp::create(b, loc, 32, 32);
    auto sh = gpu::ShuffleOp::create(b, loc, acc, offset, width, gpu::ShuffleMode::XOR);
    acc = combine(b, loc, kind, acc, sh.getShuffleResult());
  }
  return acc;
}

void MmaBuilder::emitRowReduce(cascade::EinsumOp op, Value kt) {
  cascade::CombineKind kind = *op.getReduce();
  Block &blk = op.getBody().front();
  auto ins0 = op.getInputs();
  // Its input is already 0 where the keep drops a point (emitMaskedMap).
  bool preMasked = op.getKeep() && kind == cascade::CombineKind::sum && yieldsItsInput(op) &&
                   zeroWhereDropped.lookup(ins0[0]) == op.getKeep();
  if (op.getKeep() && !preMasked)
    emitKeepFor(kt);
  Value identity = cF32(cascade::identityOf(kind));
  bool recordMasked = kind == cascade::CombineKind::max && op.getKeep() && yieldsItsInput(op) &&
                      shapeOf(ins0[0]) == Shape::Elem;
  // A count of kept keys (the sum of 1 over the kept points): a popcount of
  // the keep bits, taken while they are computed (a sum of 64 selects is
  // what ptxas schedules late, keeping the predicates packed in bits of
  // general registers through the tile).
  if (Value keep = op.getKeep(); keep && ins0.empty() && kind == cascade::CombineKind::sum &&
                                 !op.getInit() && !preMasked) {
    Value y = cast<cascade::YieldOp>(blk.getTerminator()).getValue();
    if (matchPattern(y, m_OneFloat()) && countOf(Shape::Elem) / 2 <= 32) {
      emitKeepFor(kt);
      Value bits[2] = {cI32(0), cI32(0)};
      unsigned pos[2] = {0, 0};
      for (unsigned k = 0, n = countOf(Shape::Elem); k < n; ++k) {
        Value valid = andI(keyValid(keyOf(k, kt)), valueAt(keep, k, Shape::Elem));
        unsigned h = halfOf(k);
        Value bit = arith::ShLIOp::create(b, loc, arith::ExtUIOp::create(b, loc, b.getI32Type(), valid),
                                          cI32(pos[h]++));
        bits[h] = arith::OrIOp::create(b, loc, bits[h], bit);
      }
      SmallVector<Value> &out = vals[op.getResult()];
      for (unsigned h = 0; h < 2; ++h)
        out.push_back(acrossRowLanes(
            b, loc, kind,
            arith::UIToFPOp::create(b, loc, b.getF32Type(), math::CtPopOp::create(b, loc, bits[h]))));
      return;
    }
  }
  MaskedScores ms;
  Value no = arith::ConstantIntOp::create(b, loc, 0, 1);
  ms.anyKept[0] = ms.anyKept[1] = no;
  bool anyMasked = false;
  SmallVector<Value> terms[2];
  for (unsigned k = 0, n = countOf(Shape::Elem); k < n; ++k) {
    SmallVector<Value> ins;
    for (Value in : op.getInputs())
      ins.push_back(valueAt(in, k, Shape::Elem));
    Value j = keyOf(k, kt);
    Value valid = keyValid(j);
    Value v = inline_(op.getBody(), halfOf(k), j, {}, ins);
    if (Value keep = op.getKeep(); keep && !preMasked)
      valid = andI(valid, valueAt(keep, k, Shape::Elem));
    if (!preMasked && !matchPattern(valid, m_One())) {
      v = arith::SelectOp::create(b, loc, valid, v, identity);
      anyMasked = true;
    }
    if (recordMasked) {
      ms.vals.push_back(v);
      ms.anyKept[halfOf(k)] = arith::OrIOp::create(b, loc, ms.anyKept[halfOf(k)], valid);
    }
    terms[halfOf(k)].push_back(v);
  }
  if (recordMasked && anyMasked) {
    ms.fiber = ins0[0];
    ms.keep = op.getKeep();
    masked = std::move(ms);
  }
  // Reductions of the keep alone (the count of kept keys that zeroes a row
  // with none) now, while its values are at hand, not after the PV.
  if (Value keep = op.getKeep(); keep && !preMasked)
    for (Operation &o : cas.getBody().front())
      if (auto e = dyn_cast<cascade::EinsumOp>(o);
          e && kindOf.lookup(&o) == Kind::RowReduce && e.getKeep() == keep &&
          e.getInputs().empty() && !e.getInit() && !emitted.contains(&o))
        emitOp(&o, kt);
  // A thread's values combine as a tree (depth log2 n instead of a chain of
  // n dependent max / add instructions).
  Value acc[2];
  for (unsigned h = 0; h < 2; ++h) {
    SmallVector<Value> level = terms[h];
    while (level.size() > 1) {
      SmallVector<Value> next;
      for (size_t i = 0; i + 1 < level.size(); i += 2)
        next.push_back(combine(b, loc, kind, level[i], level[i + 1]));
      if (level.size() % 2)
        next.push_back(level.back());
      level = std::move(next);
    }
    acc[h] = level.empty() ? identity : level.front();
  }
  SmallVector<Value> &out = vals[op.getResult()];
  for (unsigned h = 0; h < 2; ++h) {
    acc[h] = acrossRowLanes(b, loc, kind, acc[h]);
    if (Value init = op.getInit())
      acc[h] = combine(b, loc, kind, valueAt(init, h, Shape::Row), acc[h]);
    out.push_back(acc[h]);
  }
}

Value MmaBuilder::toReg(Value pair) {
  // nvvm.mma.sync takes bf16 pairs as i32 and f16 pairs as vector<2xf16>.
  if (options.inputType == ATTN_F16)
    return pair;
  Value v = vector::BitCastOp::create(b, loc, VectorType::get({1}, b.getI32Type()), pair);
  return vector::ExtractOp::create(b, loc, v, ArrayRef<int64_t>{0});
}

Value MmaBuilder::packPair(Value lo, Value hi) {
  auto v2f = VectorType::get({2}, b.getF32Type());
  Value v = vector::FromElementsOp::create(b, loc, v2f, ValueRange{lo, hi});
  return toReg(arith::TruncFOp::create(b, loc, VectorType::get({2}, elemTy), v));
}

SmallVector<Value> MmaBuilder::ldmatrix(Value smem, Value row, Value col, bool transpose) {
  auto ty = VectorType::get({4, 2}, elemTy);
  Value m = nvgpu::LdMatrixOp::create(b, loc, ty, smem, ValueRange{row, col},
                                      b.getBoolAttr(transpose), b.getI32IntegerAttr(4));
  SmallVector<Value> regs;
  for (int64_t r = 0; r < 4; ++r) {
    regs.push_back(toReg(vector::ExtractOp::create(b, loc, m, ArrayRef<int64_t>{r})));
  }
  return regs;
}

Value MmaBuilder::mma(ArrayRef<Value> a, ArrayRef<Value> bFrag, ArrayRef<Value> c,
                      SmallVector<Value> &out) {
  auto f32 = b.getF32Type();
  auto resTy = LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  NVVM::MMATypes mt = options.inputType == ATTN_F16 ? NVVM::MMATypes::f16 : NVVM::MMATypes::bf16;
  Value r = NVVM::MmaOp::create(b, loc, resTy, a, bFrag, c, ArrayRef<int64_t>{16, 8, 16},
                                std::nullopt, std::nullopt,
                                std::array<NVVM::MMATypes, 2>{mt, mt},
                                std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                                                NVVM::MMALayout::col});
  out.clear();
  for (int64_t k = 0; k < 4; ++k)
    out.push_back(LLVM::ExtractValueOp::create(b, loc, r, ArrayRef<int64_t>{k}));
  return r;
}

void MmaBuilder::emitQK(cascade::EinsumOp op) {
  SmallVector<Value> &out = vals[op.getResult()];
  if (useWgmma()) {
    // A = Q, B = the K tile, both K-major; a k step of 16 head columns is
    // 32 bytes on in a swizzled row (the next 64 columns: the next half),
    // or two core matrices (256 bytes).
    auto step = [&](int64_t rows) {
      return [this, rows](int64_t k) {
        return swizzled() ? (k % 4) * 32 + (k / 4) * rows * 128 : k * 256;
      };
    };
    auto issueQK = [&](bool wait) {
      return ptx::wgmma(b, loc, options.inputType == ATTN_F16, bc, hd / 16, {}, qDesc, kDesc,
                        step(rowsPerBlock()), step(bc), /*transB=*/false, {}, turnOther, wait);
    };
    if (pairedPV) {
      // The held PV (the previous tile's) first, then this QK, in this
      // warpgroup's turn; the PV's stage is released once it is done,
      // before the scores are waited for.
      SmallVector<Value> c = vals[pvInto.getPrev()];
      SmallVector<Type> types(c.size(), b.getF32Type());
      types.append(SmallVector<Type>(bc / 2, b.getF32Type()));
      auto ifHeld = scf::IfOp::create(b, loc, types, holding(), true);
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(ifHeld.thenBlock());
        waitHeldV();
        SmallVector<Value> o = issueDeferredPV(heldStageIdx(), /*wait=*/false);
        SmallVector<Value> sc = issueQK(/*wait=*/false);
        o = ptx::wgmmaWait(b, loc, 1, o);
        releaseHeldV();
        o.append(ptx::wgmmaWait(b, loc, 0, sc));
        scf::YieldOp::create(b, loc, o);
        b.setInsertionPointToStart(ifHeld.elseBlock());
        SmallVector<Value> none(c);
        none.append(issueQK(/*wait=*/true));
        scf::YieldOp::create(b, loc, none);
      }
      ptx::mbarrierArrive(b, loc, barrierAddr(1, curStage)); // this tile's K is read
      vals[pvInto.getPrev()].assign(ifHeld.getResults().begin(), ifHeld.getResults().begin() + c.size());
      vals[op.getResult()].assign(ifHeld.getResults().begin() + c.size(), ifHeld.getResults().end());
      return;
    }
    out = issueQK(/*wait=*/!overlapPV);
    if (overlapPV) {
      // The previous tile's PV goes to the tensor cores behind this QK; the
      // scores are waited for alone (wgmma groups complete in order).
      inFlightO = issueDeferredPV(deferredStage(), /*wait=*/false);
      out = ptx::wgmmaWait(b, loc, 1, out);
    }
    return;
  }
  Value zero = cF32(0);
  Value l8 = arith::RemUIOp::create(b, loc, lane, cIdx(8));
  Value l8x8 = mul(arith::DivUIOp::create(b, loc, lane, cIdx(8)), cIdx(8));
  for (int64_t nt = 0; nt < bc / 8; ++nt) {
    SmallVector<Value> acc = {zero, zero, zero, zero};
    Value row = add(l8, cIdx(nt * 8));
    for (int64_t kc2 = 0; kc2 < hd / 32; ++kc2) {
      SmallVector<Value> r = ldmatrix(ks, row, add(l8x8, cIdx(kc2 * 32)), false);
      mma(qFrag[2 * kc2], {r[0], r[1]}, acc, acc);
      mma(qFrag[2 * kc2 + 1], {r[2], r[3]}, acc, acc);
    }
    out.append(acc);
  }
}

void MmaBuilder::emitPV(cascade::EinsumOp op, Value kt) {
  // P: the body at v = 1 (it is P * v), masked (keep, key < Skv) to 0, packed
  // as mma A fragments per 16 keys.
  bool preMasked = false;
  if (Value keep = op.getKeep(); keep && isPlainProduct(op.getBody()) && op.getInputs().size() == 2)
    for (Value in : op.getInputs())
      preMasked = preMasked || (in != vIn && zeroWhereDropped.lookup(in) == keep);
  if (op.getKeep() && !preMasked)
    emitKeepFor(kt);
  SmallVector<Value> p;
  for (unsigned k = 0, n = countOf(Shape::Elem); k < n; ++k) {
    Value j = keyOf(k, kt);
    SmallVector<Value> ins;
    for (Value in : op.getInputs())
      ins.push_back(in == vIn ? cF32(1) : valueAt(in, k, Shape::Elem));
    Value x = inline_(op.getBody(), halfOf(k), j, {}, ins);
    if (preMasked) { // P = E * 1, already 0 where dropped
      p.push_back(x);
      continue;
    }
    Value valid = keyValid(j);
    if (Value keep = op.getKeep())
      valid = andI(valid, valueAt(keep, k, Shape::Elem));
    p.push_back(arith::SelectOp::create(b, loc, valid, x, cF32(0)));
  }
  SmallVector<SmallVector<Value>> aFrag;
  for (int64_t kk = 0; kk < bc / 16; ++kk) {
    unsigned n0 = 2 * kk * 4, n1 = (2 * kk + 1) * 4;
    aFrag.push_back({packPair(p[n0], p[n0 + 1]), packPair(p[n0 + 2], p[n0 + 3]),
                     packPair(p[n1], p[n1 + 1]), packPair(p[n1 + 2], p[n1 + 3])});
  }
  if (stages() == 1) {
    // V was loaded while the scores were computed.
    NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);
    gpu::BarrierOp::create(b, loc);
  }
  // The accumulators start at zero, or at the iterate's h(prev) when the
  // iterate is prev' = h(prev) + PV (the online rescale of the output).
  cascade::IterateOp into = accumulatingIterate(op);
  SmallVector<Value> init;
  bool deferred = deferPV() && op == pvOp;
  if (deferred) {
    // This tile's P waits for the next tile's QK; the previous tile's PV,
    // issued after this tile's QK (paired: before it, and waited for
    // there), is done by now: its stage is free.
    nextP.clear();
    for (auto &frag : aFrag)
      for (Value r : frag)
        nextP.push_back(ptx::asB32(b, loc, r));
    if (overlapPV) {
      vals[into.getPrev()] = ptx::wgmmaWait(b, loc, 0, inFlightO);
      releaseHeld();
    }
  }
  if (into) {
    SmallVector<Value> prev = vals[into.getPrev()];
    unsigned n = countOf(Shape::O);
    auto inputsAt = [&](unsigned k) {
      SmallVector<Value> ins;
      for (Value in : into.getInputs())
        ins.push_back(in == op.getResult() ? cF32(0) : valueAt(in, k, Shape::O));
      return ins;
    };
    auto bodyAtZero = [&] {
      SmallVector<Value> h;
      for (unsigned k = 0; k < n; ++k)
        h.push_back(inline_(into.getBody(), halfOf(k), cI64(-1), ValueRange{prev[k]}, inputsAt(k)));
      return h;
    };
    if (isRescale(into, op.getResult())) {
      // G per row (the body at prev = 1, x = 0); h = prev * G, one multiply,
      // unless a row's G is not finite (then the body itself).
      Value g[2];
      Value finite = arith::ConstantIntOp::create(b, loc, 1, 1);
      for (unsigned half = 0; half < 2; ++half) {
        g[half] = inline_(into.getBody(), half, cI64(-1), ValueRange{cF32(1)}, inputsAt(2 * half));
        finite = andI(finite, arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT,
                                                    math::AbsFOp::create(b, loc, g[half]),
                                                    cF32(std::numeric_limits<double>::infinity())));
      }
      // When G is exactly 1 on every row of the warp (no row's state moved,
      // as on most tiles once the maxima settle), h(prev) = prev: the warp
      // skips its multiplies (a vote, so that the branch is uniform).
      Value ones = arith::ConstantIntOp::create(b, loc, 1, 1);
      for (unsigned half = 0; half < 2; ++half)
        ones = andI(ones, arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, g[half], cF32(1)));
      Value allOnes = NVVM::VoteSyncOp::create(b, loc, b.getI1Type(), cI32(-1), ones,
                                               NVVM::VoteSyncKind::all);
      SmallVector<Type> types(n, b.getF32Type());
      auto ifOnes = scf::IfOp::create(b, loc, types, allOnes, true);
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(ifOnes.thenBlock());
        scf::YieldOp::create(b, loc, prev);
        b.setInsertionPointToStart(ifOnes.elseBlock());
        auto ifFinite = scf::IfOp::create(b, loc, types, finite, true);
        scf::YieldOp::create(b, loc, ifFinite.getResults());
        b.setInsertionPointToStart(ifFinite.thenBlock());
        SmallVector<Value> h;
        for (unsigned k = 0; k < n; ++k)
          h.push_back(arith::MulFOp::create(b, loc, prev[k], g[halfOf(k)]));
        scf::YieldOp::create(b, loc, h);
        b.setInsertionPointToStart(ifFinite.elseBlock());
        scf::YieldOp::create(b, loc, bodyAtZero());
      }
      init.assign(ifOnes.getResults().begin(), ifOnes.getResults().end());
    } else {
      init = bodyAtZero();
    }
    emitted.insert(into.getOperation());
  }
  Value result = into ? into.getCur() : op.getResult();
  if (deferred) {
    vals[result] = init; // C = h(O); O = C + P V once the next tile issues it
    if (pairedPV && turnMine) // the turn in which that PV and the next QK go
      ptx::namedBarrierSync(b, loc, turnMine, 256);
    return;
  }
  if (useWgmma()) {
    // B = the V tile, N-major; a k step of 16 keys is two 8-key groups
    // (2 * 1024 bytes swizzled, else 2 * hd * 16 bytes) on.
    auto step = [this](int64_t k) { return k * 2 * (swizzled() ? 1024 : hd * 16); };
    if (turnMine) // the other warpgroup has issued its QK: our turn
      ptx::namedBarrierSync(b, loc, turnMine, 256);
    vals[result] = ptx::wgmma(b, loc, options.inputType == ATTN_F16, hd, bc / 16, aFrag, Value(), vDesc,
                              step, step, /*transB=*/true, init);
    return;
  }
  // ldmatrix.trans of V [keys, f]: lane's matrix mi = lane / 8 is keys
  // 8 * (mi & 1) and head columns 8 * (mi >> 1) of the 16 x 16 block.
  Value mi = arith::DivUIOp::create(b, loc, lane, cIdx(8));
  Value r8 = arith::RemUIOp::create(b, loc, lane, cIdx(8));
  Value rowOff = add(r8, mul(arith::RemUIOp::create(b, loc, mi, cIdx(2)), cIdx(8)));
  Value colOff = mul(arith::DivUIOp::create(b, loc, mi, cIdx(2)), cIdx(8));
  SmallVector<Value> &out = vals[result];
  out.assign(countOf(Shape::O), Value());
  Value zero = cF32(0);
  for (int64_t nf2 = 0; nf2 < hd / 16; ++nf2) {
    SmallVector<Value> acc0 = {zero, zero, zero, zero}, acc1 = acc0;
    if (into)
      for (int64_t c = 0; c < 4; ++c) {
        acc0[c] = init[(2 * nf2) * 4 + c];
        acc1[c] = init[(2 * nf2 + 1) * 4 + c];
      }
    for (int64_t kk = 0; kk < bc / 16; ++kk) {
      SmallVector<Value> r = ldmatrix(vs, add(rowOff, cIdx(kk * 16)), add(colOff, cIdx(nf2 * 16)), true);
      mma(aFrag[kk], {r[0], r[1]}, acc0, acc0);
      mma(aFrag[kk], {r[2], r[3]}, acc1, acc1);
    }
    for (int64_t c = 0; c < 4; ++c) {
      out[(2 * nf2) * 4 + c] = acc0[c];
      out[(2 * nf2 + 1) * 4 + c] = acc1[c];
    }
  }
}

cascade::IterateOp MmaBuilder::accumulatingIterate(cascade::EinsumOp pv) {
  Value r = pv.getResult();
  if (!r.hasOneUse())
    return {};
  auto it = dyn_cast<cascade::IterateOp>(*r.getUsers().begin());
  if (!it || kindOf.lookup(it) != Kind::IterO)
    return {};
  auto ins = it.getInputs();
  if (llvm::count(ins, r) != 1)
    return {};
  for (Value in : ins)
    if (in != r)
      if (Operation *def = in.getDefiningOp(); def && def->getBlock() == pv->getBlock() &&
                                               !def->isBeforeInBlock(pv))
        return {};
  Block &blk = it.getBody().front();
  Value x = blk.getArgument(5 + (llvm::find(ins, r) - ins.begin()));
  Value y = cast<cascade::YieldOp>(blk.getTerminator()).getValue();
  auto sel = y.getDefiningOp<arith::SelectOp>();
  auto addOp = (sel ? sel.getFalseValue() : y).getDefiningOp<arith::AddFOp>();
  if (!addOp || (addOp.getLhs() == x) == (addOp.getRhs() == x))
    return {};
  if (sel && (sel.getTrueValue() != x || sel.getCondition() == x))
    return {};
  // x feeds only the add (and the select's true value); the add only the
  // select (or the yield), so neither A nor c depends on x.
  for (OpOperand &u : x.getUses())
    if (u.getOwner() != addOp.getOperation() &&
        !(sel && u.getOwner() == sel.getOperation() && u.getOperandNumber() == 1))
      return {};
  if (!addOp->hasOneUse())
    return {};
  return it;
}

bool MmaBuilder::isRescale(cascade::IterateOp it, Value pv) {
  for (Value in : it.getInputs())
    if (in != pv && shapeOf(in) != Shape::Row)
      return false;
  Block &blk = it.getBody().front();
  Value prev = blk.getArgument(4);
  Value y = cast<cascade::YieldOp>(blk.getTerminator()).getValue();
  auto sel = y.getDefiningOp<arith::SelectOp>();
  if (!sel)
    return false;
  auto cmp = sel.getCondition().getDefiningOp<arith::CmpFOp>();
  auto addOp = sel.getFalseValue().getDefiningOp<arith::AddFOp>();
  if (!cmp || !addOp || cmp.getPredicate() != arith::CmpFPredicate::OEQ)
    return false;
  auto isZero = [](Value v) {
    auto c = v.getDefiningOp<arith::ConstantFloatOp>();
    return c && c.value().isZero();
  };
  if (!((cmp.getLhs() == prev && isZero(cmp.getRhs())) || (cmp.getRhs() == prev && isZero(cmp.getLhs()))))
    return false;
  arith::MulFOp mulOp;
  for (Value a : {addOp.getLhs(), addOp.getRhs()})
    if (auto m = a.getDefiningOp<arith::MulFOp>())
      mulOp = m;
  if (!mulOp || (mulOp.getLhs() == prev) == (mulOp.getRhs() == prev))
    return false;
  // prev feeds only the comparison and the product.
  for (Operation *u : prev.getUsers())
    if (u != cmp.getOperation() && u != mulOp.getOperation())
      return false;
  return true;
}

void MmaBuilder::emitIterate(cascade::IterateOp op) {
  Shape s = shapeOf(op.getCur());
  SmallVector<Value> &prev = vals[op.getPrev()];
  SmallVector<Value> cur;
  for (unsigned k = 0, n = countOf(s); k < n; ++k) {
    SmallVector<Value> ins;
    for (Value in : op.getInputs())
      ins.push_back(valueAt(in, k, s));
    cur.push_back(inline_(op.getBody(), halfOf(k), cI64(-1), ValueRange{prev[k]}, ins));
  }
  vals[op.getCur()] = cur;
}

void MmaBuilder::emitOp(Operation *op, Value kt) {
  if (lazyKeep && op == keepOp.getOperation())
    return; // emitKeepFor, at its users
  if (!emitted.insert(op).second)
    return;
  if (kindOf[op] == Kind::Elem)
    if (auto e = cast<cascade::EinsumOp>(op); canEmitMasked(e))
      return emitMaskedMap(e, kt);
  switch (kindOf[op]) {
  case Kind::Elem:
  case Kind::Row:
  case Kind::Pre:
  case Kind::Post:
  case Kind::PostO: emitMap(cast<cascade::EinsumOp>(op), kt); break;
  case Kind::RowReduce: emitRowReduce(cast<cascade::EinsumOp>(op), kt); break;
  case Kind::QK: emitQK(cast<cascade::EinsumOp>(op)); break;
  case Kind::PV: emitPV(cast<cascade::EinsumOp>(op), kt); break;
  case Kind::IterRow:
  case Kind::IterO: emitIterate(cast<cascade::IterateOp>(op)); break;
  case Kind::Input:
  case Kind::Merge: break; // merge kernel only
  }
}

/// True if the fiber's value needs the K / V tile (it depends on QK or PV).
bool MmaBuilder::dependsOnLoad(Value fiber) {
  Operation *op = fiber.getDefiningOp();
  if (!op || isa<cascade::InputOp>(op))
    return false;
  Kind k = kindOf.lookup(op);
  if (k == Kind::QK || k == Kind::PV || k == Kind::IterRow || k == Kind::IterO ||
      k == Kind::RowReduce)
    return true;
  for (Value in : op->getOperands())
    if (dependsOnLoad(in))
      return true;
  return false;
}

Value MmaBuilder::tileOffset(Value row, Value col, int64_t rows) {
  if (!useWgmma())
    return add(mul(row, cIdx(hd + 8)), col);
  if (swizzled()) {
    // Half h of the head dimension: rows x 64 elements; chunk c of row r at
    // (c ^ (r % 8)) * 8.
    Value half = arith::DivUIOp::create(b, loc, col, cIdx(64));
    Value c = arith::DivUIOp::create(b, loc, arith::RemUIOp::create(b, loc, col, cIdx(64)), cIdx(8));
    Value sw = arith::XOrIOp::create(b, loc, c, arith::RemUIOp::create(b, loc, row, cIdx(8)));
    return add(add(mul(half, cIdx(rows * 64)), mul(row, cIdx(64))),
               add(mul(sw, cIdx(8)), arith::RemUIOp::create(b, loc, col, cIdx(8))));
  }
  // Core matrix (row / 8, col / 8) at ((row / 8) * hd / 8 + col / 8) * 64.
  auto div = [&](Value v, int64_t d) { return Value(arith::DivUIOp::create(b, loc, v, cIdx(d))); };
  auto rem = [&](Value v, int64_t d) { return Value(arith::RemUIOp::create(b, loc, v, cIdx(d))); };
  return add(add(mul(div(row, 8), cIdx(8 * hd)), mul(div(col, 8), cIdx(64))),
             add(mul(rem(row, 8), cIdx(8)), rem(col, 8)));
}

Value MmaBuilder::stageOffset(Value stage, int which) {
  return mul(add(mul(stage, cIdx(2)), cIdx(which)), cIdx(tileBytes() / 2));
}

void MmaBuilder::loadTile(int which, Value stage, Value kt, Value fast) {
  copyRows(which ? vPtr : kPtr, which ? ATTN_ARG_V_STRIDES : ATTN_ARG_K_STRIDES, hkIdx,
           mul(kt, cI64(bc)), bc, skv, stageOffset(stage, which), fast);
}

Value MmaBuilder::vectorCopyOk(int64_t strideWord, Value ptr) {
  auto isZero = [&](Value v, int64_t m) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                 arith::RemSIOp::create(b, loc, v, cI64(m)), cI64(0));
  };
  Value ok = isZero(dDim, 8);
  for (int64_t k = 0; k < 3; ++k)
    ok = andI(ok, isZero(argWord(strideWord + k), 8));
  ok = andI(ok, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, argWord(strideWord + 3), cI64(1)));
  return andI(ok, isZero(LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), ptr), 16));
}

void MmaBuilder::copyRows(Value base, int64_t strideWord, Value head, Value row0, int64_t nRows,
                          Value limit, Value dst, Value fast) {
  Value sb = argWord(strideWord), sh = argWord(strideWord + 1), ss = argWord(strideWord + 2),
        sd = argWord(strideWord + 3);
  Value rowBase = add(mul(bIdx, sb), mul(head, sh));
  auto ifFast = scf::IfOp::create(b, loc, fast, /*withElseRegion=*/true);
  {
    // 16-byte chunks (8 elements of one row), spread over the threads:
    // consecutive threads take consecutive chunks of a row (128 contiguous
    // bytes read; a swizzled row is a 128-byte store), or, with the
    // unswizzled core-matrix layout, the 8 rows of a core matrix (one
    // contiguous 128-byte store, 64 bytes of a row read).
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifFast.thenBlock());
    // The source offset split into the tile's part and the thread's (row *
    // stride + column); with few copies per thread they are unrolled and
    // LLVM hoists the thread's parts out of the key loop (a split kernel's
    // one warp makes 32 copies per tile: a loop).
    int64_t chunks = hd / 8, total = nRows * chunks;
    int64_t slots = (total + copyThreads - 1) / copyThreads;
    bool unroll = slots <= 8 && !producer; // the producer keeps few registers
    Value tilePart = add(rowBase, mul(row0, ss));
    for (int64_t slot = 0; slot < (unroll ? slots : 1); ++slot) {
      OpBuilder::InsertionGuard slotGuard(b);
      Value idx = add(copyTid, cIdx(slot * copyThreads));
      if (!unroll) {
        auto loop = scf::ForOp::create(b, loc, cIdx(0), cIdx(slots), cIdx(1));
        b.setInsertionPointToStart(loop.getBody());
        idx = add(copyTid, mul(loop.getInductionVar(), cIdx(copyThreads)));
      }
      if (total % copyThreads && (!unroll || (slot + 1) * copyThreads > total)) {
        auto inTile = scf::IfOp::create(
            b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, idx, cIdx(total)), false);
        b.setInsertionPointToStart(inTile.thenBlock());
      }
      Value row, col;
      if (useWgmma() && !swizzled()) {
        Value r8 = arith::RemUIOp::create(b, loc, idx, cIdx(8));
        Value c = arith::RemUIOp::create(b, loc, arith::DivUIOp::create(b, loc, idx, cIdx(8)), cIdx(chunks));
        row = add(mul(arith::DivUIOp::create(b, loc, idx, cIdx(8 * chunks)), cIdx(8)), r8);
        col = mul(c, cIdx(8));
      } else {
        row = arith::DivUIOp::create(b, loc, idx, cIdx(chunks));
        col = mul(arith::RemUIOp::create(b, loc, idx, cIdx(chunks)), cIdx(8));
      }
      Value r = add(row0, toI64(row));
      Value ok = andI(slt(r, limit), slt(toI64(col), dDim));
      // cp.async of 16 bytes, zero-filled (source size 0) past the limit and D.
      Value off = arith::SelectOp::create(
          b, loc, ok, add(tilePart, add(mul(toI64(row), ss), toI64(col))), cI64(0));
      Value to = gep(smemPtr, elemTy, toI64(add(dst, tileOffset(row, col, nRows))));
      Value srcSize = arith::SelectOp::create(b, loc, ok, cI32(16), cI32(0));
      NVVM::CpAsyncOp::create(b, loc, to, gep(base, elemTy, off), b.getI32IntegerAttr(16),
                              NVVM::LoadCacheModifierKindAttr::get(b.getContext(),
                                                                   NVVM::LoadCacheModifierKind::CG),
                              srcSize);
    }
  }
  {
    // Any strides: one element at a time.
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifFast.elseBlock());
    auto loop = scf::ForOp::create(b, loc, cIdx(0), cIdx(nRows * hd / copyThreads), cIdx(1));
    b.setInsertionPointToStart(loop.getBody());
    Value idx = add(copyTid, mul(loop.getInductionVar(), cIdx(copyThreads)));
    Value row = arith::DivUIOp::create(b, loc, idx, cIdx(hd));
    Value col = arith::RemUIOp::create(b, loc, idx, cIdx(hd));
    Value r = add(row0, toI64(row));
    Value ok = andI(slt(r, limit), slt(toI64(col), dDim));
    auto ifOk = scf::IfOp::create(b, loc, TypeRange{elemTy}, ok, true);
    b.setInsertionPointToStart(ifOk.thenBlock());
    Value off = add(rowBase, add(mul(r, ss), mul(toI64(col), sd)));
    scf::YieldOp::create(b, loc, Value(LLVM::LoadOp::create(b, loc, elemTy, gep(base, elemTy, off), 2)));
    b.setInsertionPointToStart(ifOk.elseBlock());
    scf::YieldOp::create(b, loc, Value(arith::ConstantFloatOp::create(
                                     b, loc, cast<FloatType>(elemTy), APFloat::getZero(cast<FloatType>(elemTy).getFloatSemantics()))));
    b.setInsertionPointAfter(ifOk);
    LLVM::StoreOp::create(b, loc, ifOk.getResult(0), gep(smemPtr, elemTy, toI64(add(dst, tileOffset(row, col, nRows)))), 2);
  }
}

void MmaBuilder::issueLoads(Value want, Value kt, Value stage, Value fast) {
  for (int which = 0; which < 2; ++which) {
    auto ifWant = scf::IfOp::create(b, loc, want, false);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifWant.thenBlock());
      loadTile(which, stage, kt, fast);
    }
    NVVM::CpAsyncCommitGroupOp::create(b, loc);
  }
}

Value MmaBuilder::barrierAddr(int which, Value stage) {
  // After the stages and (not in a split kernel, whose launch has no Q rows) Q.
  int64_t base = attn_gpu_barrier_offset(bc, hd, stages(), split ? 0 : rowsPerBlock() * qBuffers(), padded());
  // V's own barriers (pairedPV) after the Q barriers and item slots.
  int64_t first = which < 2 ? which * stages() : 2 * stages() + qBarriers() + (which - 2) * stages();
  Value off = add(cI64(base + first * 8), mul(toI64(stage), cI64(8)));
  return add(LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), smemPtr), off);
}

void MmaBuilder::initBarriers() {
  auto first = scf::IfOp::create(b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, cIdx(0)),
                                 false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(first.thenBlock());
    for (int which = 0; which < (pairedPV ? 4 : 2); ++which)
      for (int64_t st = 0; st < stages(); ++st)
        ptx::mbarrierInit(b, loc, barrierAddr(which, cIdx(st)),
                          which % 2 == 0 ? Value(arith::SelectOp::create(b, loc, tma, cI32(1),
                                                                        cI32(2 * loaderThreads())))
                                         : cI32(threads()));
    if (persistent && producer) {
      // Full: the issuer's expect_tx, or every producer thread's cp.async
      // and plain arrivals; empty: every consumer thread.
      for (int64_t buf = 0; buf < qBuffers(); ++buf) {
        for (int64_t w = 0; w < 2; ++w)
          ptx::mbarrierInit(b, loc, qFullAddr(cI64(buf), cIdx(w)),
                            arith::SelectOp::create(b, loc, tma, cI32(1), cI32(2 * loaderThreads())));
        ptx::mbarrierInit(b, loc, qEmptyAddr(cI64(buf)), cI32(threads()));
      }
    } else if (qByTma()) {
      for (int64_t w = 0; w < 2; ++w)
        ptx::mbarrierInit(b, loc, qFullAddr(cI64(0), cIdx(w)), cI32(1));
    }
    ptx::mbarrierInitFence(b, loc);
  }
  gpu::BarrierOp::create(b, loc);
}

Value MmaBuilder::issueTile(Value want, Value kt, Value issued, Value fast) {
  if (!issuesLoads) // a producer kernel's consumers: the producer loads it
    return arith::SelectOp::create(b, loc, want, add(issued, cI64(1)), issued);
  auto ifWant = scf::IfOp::create(b, loc, want, false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifWant.thenBlock());
    Value stage = toIdx(arith::RemSIOp::create(b, loc, issued, cI64(stages())));
    Value use = arith::DivSIOp::create(b, loc, issued, cI64(stages()));
    // Its previous tile (use - 1) was read by every thread: parity of use - 1
    // (a fresh barrier passes parity 1 at once).
    Value parity = emptyParity(use);
    auto ifTma = scf::IfOp::create(b, loc, tma, /*withElseRegion=*/true);
    b.setInsertionPointToStart(ifTma.thenBlock());
    issueTensorCopies(kt, stage, parity);
    b.setInsertionPointToStart(ifTma.elseBlock());
    // Full counts two arrivals per loader: cp.async.mbarrier.arrive's, once
    // its cp.async copies land, and a plain one that releases the element-wise
    // copies' plain stores (where strides rule cp.async out) to the other
    // threads that read them. pairedPV: K and V each on their own barriers.
    for (int which = 0; which < 2; ++which) {
      int full = pairedPV ? 2 * which : 0;
      if (which == 0 || pairedPV)
        ptx::mbarrierWait(b, loc, barrierAddr(full + 1, stage), parity);
      loadTile(which, stage, kt, fast);
      if (which == 1 || pairedPV) {
        ptx::cpAsyncArrive(b, loc, barrierAddr(full, stage));
        ptx::mbarrierArrive(b, loc, barrierAddr(full, stage));
      }
    }
  }
  return arith::SelectOp::create(b, loc, want, add(issued, cI64(1)), issued);
}

void MmaBuilder::issueTensorCopies(Value kt, Value stage, Value parity) {
  if (!tmaCapable())
    return;
  auto first = scf::IfOp::create(
      b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, cIdx(issuerTid())), false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(first.thenBlock());
  auto i32 = [&](Value v) { return Value(arith::TruncIOp::create(b, loc, b.getI32Type(), v)); };
  Value base = LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), smemPtr);
  Value full;
  for (int which = 0; which < 2; ++which) {
    // Whole boxes count, also where they reach past Skv or D (zero filled).
    // pairedPV: V waits for its own empty barrier and lands on its own full one.
    if (which == 0 || pairedPV) {
      int at = pairedPV ? 2 * which : 0;
      ptx::mbarrierWait(b, loc, barrierAddr(at + 1, stage), parity);
      full = barrierAddr(at, stage);
      ptx::mbarrierArriveExpectTx(b, loc, full, cI32((pairedPV ? 1 : 2) * bc * hd * 2));
    }
    for (int64_t half = 0; half < hd / 64; ++half) {
      // Half `half` of the head dimension: bc rows of 128 bytes, the
      // 128-byte swizzle of tileOffset.
      Value dst = add(base, mul(toI64(add(stageOffset(stage, which), cIdx(half * bc * 64))), cI64(2)));
      ptx::tensorTileLoad(b, loc, dst, which ? vMap : kMap,
                          ValueRange{cI32(half * 64), i32(mul(kt, cI64(bc))), i32(hkIdx), i32(bIdx)}, full);
    }
  }
}

void MmaBuilder::issueQTensorCopies(Value buf) {
  auto i32 = [&](Value v) { return Value(arith::TruncIOp::create(b, loc, b.getI32Type(), v)); };
  Value base = LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), smemPtr);
  int64_t rows = rowsPerBlock() / 2;
  for (int64_t w = 0; w < 2; ++w) {
    // Whole boxes count, also where they reach past Sq or D (zero filled).
    Value full = qFullAddr(buf, cIdx(w));
    ptx::mbarrierArriveExpectTx(b, loc, full, cI32(rows * hd * 2));
    for (int64_t half = 0; half < hd / 64; ++half) {
      // tileOffset's layout of the block's rows: half `half` of the head
      // dimension is rowsPerBlock() rows of 128 bytes, warpgroup w's 64 rows
      // of it 64 x 128 bytes from its start (selectQ).
      Value dst = add(base, mul(toI64(add(qSmem(buf), cIdx(half * rowsPerBlock() * 64 + w * rows * 64))),
                                cI64(2)));
      ptx::tensorTileLoad(b, loc, dst, qMap,
                          ValueRange{cI32(half * 64), i32(add(blockRow0, cI64(w * rows))), i32(hIdx), i32(bIdx)},
                          full);
    }
  }
}

void MmaBuilder::selectStage(Value stage) {
  if (swizzled()) {
    // K: K-major, 8-row groups 1024 bytes apart; V: N-major over the head
    // dimension, 8-key groups 1024 bytes apart, 64-column halves
    // bc * 128 bytes apart.
    kDesc = descriptor(stageOffset(stage, 0), /*lbo=*/16, /*sbo=*/1024, /*swizzle128=*/true);
    vDesc = vDescAt(stage);
    return;
  }
  if (useWgmma()) {
    // K: K-major (core matrices along the head dimension 128 bytes apart,
    // 8-key groups hd * 16 bytes apart); V: N-major over the head dimension
    // (8-column groups 128 bytes apart, 8-key groups hd * 16 bytes apart).
    kDesc = descriptor(stageOffset(stage, 0), /*lbo=*/128, /*sbo=*/hd * 16);
    vDesc = vDescAt(stage);
    return;
  }
  auto wg = gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto tileTy = MemRefType::get({bc, hd + 8}, elemTy, MemRefLayoutAttrInterface(), wg);
  ks = memref::ViewOp::create(b, loc, tileTy, smem, add(smemShift, mul(stageOffset(stage, 0), cIdx(2))),
                              ValueRange{});
  vs = memref::ViewOp::create(b, loc, tileTy, smem, add(smemShift, mul(stageOffset(stage, 1), cIdx(2))),
                              ValueRange{});
}

Value MmaBuilder::vDescAt(Value stage) {
  return swizzled() ? descriptor(stageOffset(stage, 1), /*lbo=*/bc * 128, /*sbo=*/1024, /*swizzle128=*/true)
                    : descriptor(stageOffset(stage, 1), /*lbo=*/hd * 16, /*sbo=*/128);
}

SmallVector<Value> MmaBuilder::issueDeferredPV(Value vStage, bool wait) {
  SmallVector<SmallVector<Value>> aFrag;
  for (size_t k = 0; k < carriedP.size(); k += 4)
    aFrag.push_back(SmallVector<Value>(carriedP.begin() + k, carriedP.begin() + k + 4));
  Value desc = vDescAt(vStage);
  auto step = [this](int64_t k) { return k * 2 * (swizzled() ? 1024 : hd * 16); };
  SmallVector<Value> out = ptx::wgmma(b, loc, options.inputType == ATTN_F16, hd, bc / 16, aFrag, Value(),
                                      desc, step, step, /*transB=*/true, vals[pvInto.getPrev()],
                                      Value(), wait);
  return out;
}

SmallVector<Value> MmaBuilder::finishDeferredPV(bool release) {
  SmallVector<Value> &c = vals[pvInto.getPrev()];
  SmallVector<Type> types(c.size(), b.getF32Type());
  auto ifHeld = scf::IfOp::create(b, loc, types, holding(), true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifHeld.thenBlock());
  waitHeldV();
  SmallVector<Value> o = issueDeferredPV(heldStageIdx(), /*wait=*/true);
  if (release)
    releaseHeldV();
  scf::YieldOp::create(b, loc, o);
  b.setInsertionPointToStart(ifHeld.elseBlock());
  scf::YieldOp::create(b, loc, c);
  return SmallVector<Value>(ifHeld.getResults());
}

void MmaBuilder::releaseHeld() {
  auto ifHeld = scf::IfOp::create(b, loc, holding(), false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifHeld.thenBlock());
  releaseHeldV();
}

Value MmaBuilder::descriptor(Value offset, int64_t lbo, int64_t sbo, bool swizzle128) {
  Value addr = add(toI64(LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), smemPtr)),
                   mul(toI64(offset), cI64(2)));
  return ptx::matrixDescriptor(b, loc, addr, lbo, sbo, swizzle128);
}

void MmaBuilder::loadSizes() {
  static const char *kSizes[] = {"B", "H", "Hkv", "Sq", "Skv", "D"};
  // Each below 2^29 (attn/gpu.h): seeds of narrowIndexArithmetic.
  for (int k = 0; k < 6; ++k)
    sizes[kSizes[k]] = assumeIndexRange(b, loc, argWord(ATTN_ARG_B + k));
  sq = sizes["Sq"];
  skv = sizes["Skv"];
  dDim = sizes["D"];
  qOff = argWord(ATTN_ARG_QOFFSET);
}

void MmaBuilder::loadOutputsAndFlag() {
  oPtr = toGlobal(argPtr(ATTN_ARG_O));
  lsePtr = argPtr(ATTN_ARG_LSE);
  paramsPtr = argPtr(ATTN_ARG_PARAMS);
  tensorsPtr = argPtr(ATTN_ARG_TENSORS);
  errorFlag = memref::AllocaOp::create(b, loc, MemRefType::get({1}, b.getI32Type()));
  memref::StoreOp::create(b, loc, cI32(0), errorFlag, ValueRange{cIdx(0)});
}

Value MmaBuilder::lseWanted() {
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                               LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), lsePtr), cI64(0));
}

void MmaBuilder::storeOElement(Value row, Value f, Value v) {
  Value off = add(add(mul(bIdx, argWord(ATTN_ARG_O_STRIDES)), mul(hIdx, argWord(ATTN_ARG_O_STRIDES + 1))),
                  add(mul(row, argWord(ATTN_ARG_O_STRIDES + 2)), mul(f, argWord(ATTN_ARG_O_STRIDES + 3))));
  LLVM::StoreOp::create(b, loc, v, gep(oPtr, elemTy, off), 2);
}

void MmaBuilder::storeLse(Value row, Value kept, Value v) {
  Value off = add(add(mul(bIdx, argWord(ATTN_ARG_LSE_STRIDES)), mul(hIdx, argWord(ATTN_ARG_LSE_STRIDES + 1))),
                  mul(row, argWord(ATTN_ARG_LSE_STRIDES + 2)));
  v = arith::SelectOp::create(b, loc, kept, v, cF32(-std::numeric_limits<double>::infinity()));
  LLVM::StoreOp::create(b, loc, v, gep(lsePtr, b.getF32Type(), off), 4);
}

void MmaBuilder::emitOutput(cascade::OutputOp out) {
  Value kept = out.getKept();
  Value any[2];
  for (unsigned h = 0; h < 2; ++h)
    any[h] = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, valueAt(kept, h, Shape::Row),
                                   cF32(0));
  Value av = out.getAv();
  // A thread's O values come in pairs of adjacent columns (t * 2 + 8c, + 1)
  // of one row: when o's columns are contiguous, D is even and every row
  // starts 4-byte aligned, each pair is one 4-byte store from a per-row base
  // (the element-wise path computes a 64-bit offset per value and stores 2
  // bytes; it was most of a block's fixed cost: 16 us per block at causal
  // mha_128, ncu's stall samples mostly in the epilogue).
  Value os[4];
  for (int i = 0; i < 4; ++i)
    os[i] = argWord(ATTN_ARG_O_STRIDES + i);
  // Bit 0 of each: an odd stride or D, or o's address not 4-byte aligned.
  Value odd = arith::ShRUIOp::create(b, loc, LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), oPtr),
                                     cI64(1));
  for (Value v : {os[0], os[1], os[2], dDim})
    odd = arith::OrIOp::create(b, loc, odd, v);
  Value paired = andI(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, os[3], cI64(1)),
                      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                            arith::AndIOp::create(b, loc, odd, cI64(1)), cI64(0)));
  // Rows of 16-byte chunks (o 16-byte aligned, strides and D multiples of 8
  // elements, columns contiguous): each warpgroup stages its 64 rows in its
  // own rows of Q's shared memory (Q's layout: 16-byte chunks swizzled or in
  // core matrices, so the pairs' writes meet no bank conflict; its QKs are
  // done) and stores them as 16-byte chunks, 16 threads per 256 bytes of a
  // row, instead of 4-byte pairs (8 rows x 16 bytes per store instruction:
  // ncu had a short block's stalls at the epilogue's stores).
  Value chunked;
  if (useWgmma()) {
    Value ragged = arith::ShRUIOp::create(b, loc, LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), oPtr), cI64(1));
    for (Value v : {os[0], os[1], os[2], dDim})
      ragged = arith::OrIOp::create(b, loc, ragged, v);
    chunked = andI(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, os[3], cI64(1)),
                   arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                         arith::AndIOp::create(b, loc, ragged, cI64(7)), cI64(0)));
  }
  auto ifChunked = chunked ? scf::IfOp::create(b, loc, chunked, true) : scf::IfOp();
  if (ifChunked) {
    b.setInsertionPointToStart(ifChunked.thenBlock());
    Value wg = toI64(arith::DivUIOp::create(b, loc, warp, cIdx(4)));
    Value q0 = toI64(qSmem(outQBuf ? outQBuf : cI64(0)));
    auto pairTy = VectorType::get({2}, elemTy);
    for (unsigned k = 0, n = countOf(Shape::O); k < n; k += 2) {
      unsigned h = halfOf(k);
      Value f = add(mul(t, cI64(2)), cI64((k / 4) * 8));
      Value local = add(mul(toI64(warp), cI64(16)), add(g, cI64(8 * h)));
      SmallVector<Value> pair;
      for (unsigned e = 0; e < 2; ++e)
        pair.push_back(outValue(any[h], valueAt(av, k + e, Shape::O)));
      LLVM::StoreOp::create(b, loc, vector::FromElementsOp::create(b, loc, pairTy, pair),
                            gep(smemPtr, elemTy, add(q0, toI64(tileOffset(toIdx(local), toIdx(f), rowsPerBlock())))), 4);
    }
    ptx::namedBarrierSync(b, loc, arith::AddIOp::create(b, loc, cI32(3), warpgroupI32()), 128);
    auto vec = VectorType::get({4}, b.getI32Type());
    Value mine = toI64(arith::RemUIOp::create(b, loc, tid, cIdx(128)));
    Value rowBase = add(add(mul(bIdx, os[0]), mul(hIdx, os[1])), mul(add(blockRow0, mul(wg, cI64(64))), os[2]));
    int64_t perRow = hd / 8, chunks = 64 * perRow;
    for (int64_t m = 0; m < chunks; m += 128) {
      Value c = add(mine, cI64(m));
      Value r = arith::DivUIOp::create(b, loc, c, cI64(perRow));
      Value col = mul(arith::RemUIOp::create(b, loc, c, cI64(perRow)), cI64(8));
      Value row = add(blockRow0, add(mul(wg, cI64(64)), r));
      auto ifOk = scf::IfOp::create(b, loc, andI(slt(row, sq), slt(col, dDim)), false);
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(ifOk.thenBlock());
      Value at = add(q0, toI64(tileOffset(toIdx(add(mul(wg, cI64(64)), r)), toIdx(col), rowsPerBlock())));
      Value v = LLVM::LoadOp::create(b, loc, vec, gep(smemPtr, elemTy, at), 16);
      LLVM::StoreOp::create(b, loc, v, gep(oPtr, elemTy, add(rowBase, add(mul(r, os[2]), col))), 16);
    }
    // The other paths in the else branch; the lse after both.
    b.setInsertionPointToStart(ifChunked.elseBlock());
  }
  auto ifPaired = scf::IfOp::create(b, loc, paired, true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifPaired.thenBlock());
    auto pairTy = VectorType::get({2}, elemTy);
    Value rowPtr[2];
    for (unsigned h = 0; h < 2; ++h)
      rowPtr[h] = gep(oPtr, elemTy, add(add(mul(bIdx, os[0]), mul(hIdx, os[1])), mul(rows[h], os[2])));
    for (unsigned k = 0, n = countOf(Shape::O); k < n; k += 2) {
      unsigned h = halfOf(k);
      Value f = add(mul(t, cI64(2)), cI64((k / 4) * 8));
      auto ifOk = scf::IfOp::create(b, loc, andI(rowValid[h], slt(f, dDim)), false);
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(ifOk.thenBlock());
      SmallVector<Value> pair;
      for (unsigned e = 0; e < 2; ++e)
        pair.push_back(outValue(any[h], valueAt(av, k + e, Shape::O)));
      LLVM::StoreOp::create(b, loc, vector::FromElementsOp::create(b, loc, pairTy, pair),
                            gep(rowPtr[h], elemTy, f), 4);
    }
    // Any other o (strided columns, odd D or strides, o unaligned): the
    // block's tile of O goes to shared memory, row-major from its start
    // (the K / V stages and Q, which no thread reads once both warpgroups
    // have left the key loop: Q alone holds 128 x N elements), and the
    // threads store it element by element in a loop. A store per value,
    // unrolled, was a third of the d128 kernel's code: ptxas took 0.91 s
    // on causal's d128 kernel with it, 0.75 s without.
    b.setInsertionPointToStart(ifPaired.elseBlock());
    assert(rowsPerBlock() * hd * 2 <=
               attn_gpu_barrier_offset(bc, hd, stages(), rowsPerBlock(), padded()) &&
           "the staged O lies below the mbarriers");
    NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);
    consumerSync();
    Value staged = oStage ? toI64(oStage) : cI64(0);
    for (unsigned k = 0, n = countOf(Shape::O); k < n; ++k) {
      unsigned h = halfOf(k);
      Value f = add(mul(t, cI64(2)), cI64((k / 4) * 8 + (k & 1)));
      Value local = add(mul(toI64(warp), cI64(16)), add(g, cI64(8 * h)));
      LLVM::StoreOp::create(b, loc, outValue(any[h], valueAt(av, k, Shape::O)),
                            gep(smemPtr, elemTy, add(staged, add(mul(local, cI64(hd)), f))), 2);
    }
    consumerSync();
    auto each = scf::ForOp::create(b, loc, tid, cIdx(rowsPerBlock() * hd), cIdx(threads()));
    OpBuilder::InsertionGuard inner(b);
    b.setInsertionPointToStart(each.getBody());
    Value e = toI64(each.getInductionVar());
    Value row = add(blockRow0, arith::DivUIOp::create(b, loc, e, cI64(hd)));
    Value f = arith::RemUIOp::create(b, loc, e, cI64(hd));
    auto ifOk = scf::IfOp::create(b, loc, andI(slt(row, sq), slt(f, dDim)), false);
    b.setInsertionPointToStart(ifOk.thenBlock());
    Value v = LLVM::LoadOp::create(b, loc, elemTy, gep(smemPtr, elemTy, add(staged, e)), 2);
    storeOElement(row, f, v);
  }
  if (ifChunked)
    b.setInsertionPointAfter(ifChunked);
  if (Value lse = out.getLse()) {
    Value t0 = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, t, cI64(0));
    for (unsigned h = 0; h < 2; ++h) {
      auto ifOk = scf::IfOp::create(b, loc, andI(andI(lseWanted(), t0), slt(rows[h], sq)), false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifOk.thenBlock());
      storeLse(rows[h], any[h], valueAt(lse, h, Shape::Row));
    }
  }
}

/// The integer constant that `v` is, if any.
static std::optional<int64_t> intConstant(Value v) {
  APInt c;
  if (matchPattern(v, m_ConstantInt(&c)))
    return c.getSExtValue();
  return std::nullopt;
}

/// sitofp(x + c) -> sitofp(x) + c, for the constant offsets of a key within
/// its tile (j = the tile's base + c): a bias such as slope * (i - j) then
/// converts i - base once per row and adds c in f32, instead of a 64-bit
/// subtract and a 64-bit integer-to-float conversion (a quarter-rate
/// instruction, on the pipe that also runs ex2) per score. Exact while the
/// values are below 2^24; larger ones round as a float sum would.
static void splitConstantOffsets(gpu::GPUFuncOp fn) {
  SmallVector<arith::SIToFPOp> convs;
  fn.walk([&](arith::SIToFPOp op) {
    if (op.getType().isF32() && op.getIn().getType().isInteger(64))
      convs.push_back(op);
  });
  for (arith::SIToFPOp op : convs) {
    OpBuilder b(op);
    Location loc = op.getLoc();
    Value v = op.getIn();
    int64_t offset = 0;
    auto addConst = [](Value x) -> std::optional<std::pair<Value, int64_t>> {
      auto add = x.getDefiningOp<arith::AddIOp>();
      if (!add)
        return std::nullopt;
      for (int k = 0; k < 2; ++k)
        if (std::optional<int64_t> c = intConstant(add->getOperand(k)))
          return std::make_pair(add->getOperand(1 - k), *c);
      return std::nullopt;
    };
    constexpr int64_t kExact = int64_t(1) << 24; // integers exact in f32
    auto big = [&](int64_t c) { return c <= -kExact || c >= kExact; };
    for (int guard = 0; guard < 8 && !big(offset); ++guard) {
      if (auto xc = addConst(v)) {
        if (big(xc->second))
          break;
        v = xc->first;
        offset += xc->second;
        continue;
      }
      auto sub = v.getDefiningOp<arith::SubIOp>();
      if (!sub)
        break;
      auto lhs = addConst(sub.getLhs()), rhs = addConst(sub.getRhs());
      if ((lhs && big(lhs->second)) || (rhs && big(rhs->second)))
        break;
      if (auto xc = rhs) {
        v = arith::SubIOp::create(b, loc, sub.getLhs(), xc->first);
        offset -= xc->second;
        continue;
      }
      if (auto xc = lhs) {
        v = arith::SubIOp::create(b, loc, xc->first, sub.getRhs());
        offset += xc->second;
        continue;
      }
      break;
    }
    if (offset == 0 || big(offset))
      continue;
    Value f = arith::SIToFPOp::create(b, loc, op.getType(), v);
    Value c = arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(float(offset)));
    op.getResult().replaceAllUsesWith(arith::AddFOp::create(b, loc, f, c).getResult());
    op.erase();
  }
}

/// exp(x) -> ex2.approx(x * log2(e)), exp2(x) -> ex2.approx(x) and
/// tanh(x) -> tanh.approx(x): one MUFU instruction each instead of
/// libdevice's or a polynomial's sequence (relative errors about 2^-22 and
/// 2^-11, below the bf16 / fp16 rounding of the output). x / y ->
/// div.full.f32 (2 ulp): IEEE division's slow path is a subroutine call, and
/// ptxas was seen to reuse a live wgmma A-operand register across such calls
/// in the key loop (wrong results); no call is left there.
void MmaBuilder::lowerFastMath(gpu::GPUFuncOp fn) {
  splitConstantOffsets(fn);
  // Keys and sizes lie in [0, 2^29), query positions in [-2^29, 2^29) (the
  // launcher runs these kernels only then, attn/gpu.h), i32 params in i32: masks compare, and biases
  // convert, in i32 where the values fit.
  narrowIndexArithmetic(fn);
  // a * b + c may become one fma (contract): the inlined bodies' scale,
  // shift and the online rescale of the output are mostly such pairs.
  fn.walk([&](arith::ArithFastMathInterface op) {
    auto flags = op.getFastMathFlagsAttr();
    auto f = flags ? flags.getValue() : arith::FastMathFlags::none;
    op->setAttr(op.getFastMathAttrName(),
                arith::FastMathFlagsAttr::get(b.getContext(), f | arith::FastMathFlags::contract));
  });
  SmallVector<Operation *> ops;
  fn.walk([&](Operation *op) {
    if (isa<math::ExpOp, math::Exp2Op, math::TanhOp, arith::DivFOp>(op) &&
        op->getResult(0).getType().isF32())
      ops.push_back(op);
  });
  for (Operation *op : ops) {
    b.setInsertionPoint(op);
    if (isa<arith::DivFOp>(op)) {
      auto asmOp = LLVM::InlineAsmOp::create(
          b, loc, b.getF32Type(), op->getOperands(), "div.full.f32 $0, $1, $2;", "=f,f,f",
          /*has_side_effects=*/false, /*is_align_stack=*/false, LLVM::TailCallKind::None,
          LLVM::AsmDialectAttr(), ArrayAttr());
      op->getResult(0).replaceAllUsesWith(asmOp.getResult(0));
      op->erase();
      continue;
    }
    Value x = op->getOperand(0);
    if (isa<math::ExpOp>(op))
      x = timesLog2E(x);
    const char *text = isa<math::TanhOp>(op) ? "tanh.approx.f32 $0, $1;" : "ex2.approx.ftz.f32 $0, $1;";
    auto asmOp = LLVM::InlineAsmOp::create(
        b, loc, b.getF32Type(), ValueRange{x}, text, "=f,f",
        /*has_side_effects=*/false, /*is_align_stack=*/false, LLVM::TailCallKind::None,
        LLVM::AsmDialectAttr(), ArrayAttr());
    op->getResult(0).replaceAllUsesWith(asmOp.getResult(0));
    op->erase();
  }
}

Value MmaBuilder::timesLog2E(Value x) {
  constexpr double kLog2E = 1.4426950408889634;
  auto contract = arith::FastMathFlagsAttr::get(b.getContext(), arith::FastMathFlags::contract);
  auto sub = x.getDefiningOp<arith::SubFOp>();
  if (!sub)
    return arith::MulFOp::create(b, loc, x, cF32(kLog2E));
  // (a - c) * log2(e) = a * log2(e) - c * log2(e): one fma per element, the
  // c term once per row (a score minus its row's maximum).
  Value aL = arith::MulFOp::create(b, loc, sub.getLhs(), cF32(kLog2E), contract);
  Value cL = arith::MulFOp::create(b, loc, sub.getRhs(), cF32(kLog2E), contract);
  return arith::SubFOp::create(b, loc, aL, cL, contract);
}

TileClassValues MmaBuilder::tileClass(Value kt) {
  if (!usesClassTable())
    return intervalClass(kt);
  Value cls = tableByte(kt);
  auto is = [&](int64_t v) {
    return Value(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, cls,
                                       arith::ConstantIntOp::create(b, loc, v, 8)));
  };
  return {is(kTileFull), is(kTileEmpty)};
}

Value MmaBuilder::tableByte(Value kt) {
  // Tiles ahead of the range (the pipeline's look-ahead) read the last one.
  Value k = arith::MinSIOp::create(b, loc, kt, arith::SubIOp::create(b, loc, numKeyTiles, cI64(1)));
  Value at = add(mul(add(mul(tableHead(), numQueryTiles), qt), numKeyTiles), k);
  return LLVM::LoadOp::create(b, loc, b.getI8Type(), gep(classTable, b.getI8Type(), at), 1,
                              /*isVolatile=*/false, /*isNonTemporal=*/false, /*isInvariant=*/true);
}

std::pair<Value, Value> MmaBuilder::tableRange(Value start, Value end) {
  // Lane l reads tiles start + l, start + l + 32, ...; every warp does so
  // (the bytes are the same for the block), so no barrier or shared memory.
  Type i32 = b.getI32Type();
  Value none = cI32(std::numeric_limits<int32_t>::max());
  auto loop = scf::ForOp::create(b, loc, toIdx(add(start, toI64(lane))), toIdx(end), cIdx(32),
                                 ValueRange{none, cI32(-1)});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value k = toI64(loop.getInductionVar());
    Value k32 = arith::TruncIOp::create(b, loc, i32, k);
    Value kept = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, tableByte(k),
                                       arith::ConstantIntOp::create(b, loc, kTileEmpty, 8));
    Value lo = loop.getRegionIterArgs()[0], hi = loop.getRegionIterArgs()[1];
    scf::YieldOp::create(
        b, loc,
        ValueRange{arith::SelectOp::create(b, loc, kept, arith::MinSIOp::create(b, loc, lo, k32), lo),
                   arith::SelectOp::create(b, loc, kept, arith::MaxSIOp::create(b, loc, hi, k32), hi)});
  }
  Value all = cI32(-1);
  Value lo = NVVM::ReduxOp::create(b, loc, i32, loop.getResult(0), NVVM::ReduxKind::MIN, all);
  Value hi = NVVM::ReduxOp::create(b, loc, i32, loop.getResult(1), NVVM::ReduxKind::MAX, all);
  Value any = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, lo, none);
  Value first = arith::SelectOp::create(b, loc, any, arith::ExtSIOp::create(b, loc, b.getI64Type(), lo), start);
  Value last = arith::SelectOp::create(
      b, loc, any, add(arith::ExtSIOp::create(b, loc, b.getI64Type(), hi), cI64(1)), start);
  return {first, last};
}

TileClassValues MmaBuilder::intervalClass(Value kt) {
  Value no = arith::ConstantIntOp::create(b, loc, 0, 1);
  if (!classified)
    return {no, no};
  return tileKeyClass(kt, mul(qt, cI64(rowsPerBlock())), rowsPerBlock());
}

TileClassValues MmaBuilder::tileKeyClass(Value kt, Value row0, int64_t nRows) {
  Value j0 = mul(kt, cI64(bc));
  return rowsKeyClass(row0, nRows, j0,
                      arith::MinSIOp::create(b, loc, add(j0, cI64(bc - 1)),
                                             arith::SubIOp::create(b, loc, skv, cI64(1))));
}

std::pair<Value, Value> MmaBuilder::tileRange(Value numTiles) {
  if (!classified || !options.tileRange)
    return {cI64(0), numTiles};
  return emitKeyTileRange(b, loc, numTiles, bc, skv,
                          [&](Value j0, Value j1) { return keyRangeClass(j0, j1).empty; });
}

Value MmaBuilder::warpgroupMayKeep(Value kt) {
  Value row0 = add(mul(qt, cI64(rowsPerBlock())),
                   mul(toI64(arith::DivUIOp::create(b, loc, warp, cIdx(4))), cI64(64)));
  Value empty = tileKeyClass(kt, row0, 64).empty;
  return notI(empty);
}

TileClassValues MmaBuilder::keyRangeClass(Value j0, Value j1) {
  return rowsKeyClass(mul(qt, cI64(rowsPerBlock())), rowsPerBlock(), j0, j1);
}

TileClassValues MmaBuilder::rowsKeyClass(Value row0, int64_t nRows, Value j0, Value j1) {
  // Packed rows are (query, head) pairs.
  Value i0 = add(qOff, arith::DivSIOp::create(b, loc, row0, group));
  Value last = arith::MinSIOp::create(
      b, loc, arith::DivSIOp::create(b, loc, add(row0, cI64(nRows - 1)), group),
      arith::SubIOp::create(b, loc, sq, cI64(1)));
  BodyContext ctx{bIdx, hIdx, paramsPtr, tensorsPtr, errorFlag, Value(), &sizes};
  return emitTileClass(variant, b, loc, ctx, keepOp.getBody(), i0, add(qOff, last), j0, j1);
}

void MmaBuilder::emitKeepValues(Value kt, bool fullTile) {
  for (Operation &op : cas.getBody().front()) {
    if (kindOf.lookup(&op) != Kind::Elem || dependsOnLoad(op.getResult(0)))
      continue;
    if (fullTile && &op == keepOp.getOperation()) {
      // A full tile keeps every point: constants, which fold the masks away.
      vals[keepFiber].assign(countOf(Shape::Elem), arith::ConstantIntOp::create(b, loc, 1, 1));
      emitted.insert(&op);
      continue;
    }
    emitOp(&op, kt);
  }
}

bool MmaBuilder::canEmitMasked(cascade::EinsumOp op) {
  if (!masked || op->getNumResults() != 1 || maskedSums() == 0)
    return false;
  bool hasS = false;
  for (Value in : op.getInputs()) {
    if (in == masked->fiber)
      hasS = true;
    else if (shapeOf(in) != Shape::Row)
      return false;
  }
  Block &blk = op.getBody().front();
  if (!hasS || llvm::count(op.getInputs(), masked->fiber) != 1 || !blk.getArgument(3).use_empty())
    return false;
  Value e = op.getResult();
  if (e.use_empty())
    return false;
  for (Operation *user : e.getUsers()) {
    auto r = dyn_cast<cascade::EinsumOp>(user);
    if (!r || r.getKeep() != masked->keep || r.getReduce() != cascade::CombineKind::sum ||
        r.getInit())
      return false;
    if (kindOf.lookup(user) == Kind::RowReduce) {
      if (!yieldsItsInput(r))
        return false;
    } else if (kindOf.lookup(user) == Kind::PV) {
      if (r.getInputs().size() != 2 || !isPlainProduct(r.getBody()))
        return false;
    } else {
      return false;
    }
  }
  return true;
}

void MmaBuilder::emitMaskedMap(cascade::EinsumOp op, Value kt) {
  Value negInf = cF32(-std::numeric_limits<double>::infinity());
  Value yes = arith::ConstantIntOp::create(b, loc, 1, 1);
  // Per row half: the row inputs, with -inf read as 0, and whether none is -inf.
  SmallVector<Value> rowsSafe[2], rowsAsIs[2];
  Value noNegInf[2] = {yes, yes};
  for (unsigned h = 0; h < 2; ++h)
    for (Value in : op.getInputs()) {
      if (in == masked->fiber)
        continue;
      Value r = valueAt(in, 2 * h, Shape::Elem);
      Value isNegInf = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, r, negInf);
      rowsAsIs[h].push_back(r);
      rowsSafe[h].push_back(arith::SelectOp::create(b, loc, isNegInf, cF32(0), r));
      noNegInf[h] = andI(noNegInf[h], arith::XOrIOp::create(b, loc, isNegInf, yes));
    }
  auto inputsAt = [&](Value s, unsigned h, bool safe) {
    SmallVector<Value> ins;
    unsigned r = 0;
    for (Value in : op.getInputs())
      ins.push_back(in == masked->fiber ? s : (safe ? rowsSafe[h] : rowsAsIs[h])[r++]);
    return ins;
  };
  // The warp's rows all drop to exactly 0 and keep no point at a -inf row.
  Value ok = yes;
  for (unsigned h = 0; h < 2; ++h) {
    Value z = inline_(op.getBody(), h, cI64(-1), {}, inputsAt(negInf, h, true));
    Value zero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, z, cF32(0));
    Value rowOk = arith::OrIOp::create(b, loc, arith::XOrIOp::create(b, loc, masked->anyKept[h], yes),
                                       noNegInf[h]);
    ok = andI(ok, andI(zero, rowOk));
  }
  if (maskedSums() == 2)
    ok = arith::ConstantIntOp::create(b, loc, 0, 1);
  Value fast = NVVM::VoteSyncOp::create(b, loc, b.getI1Type(), cI32(-1), ok, NVVM::VoteSyncKind::all);
  unsigned n = countOf(Shape::Elem);
  SmallVector<Type> types(n, b.getF32Type());
  auto ifFast = scf::IfOp::create(b, loc, types, fast, true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifFast.thenBlock());
    SmallVector<Value> out;
    for (unsigned k = 0; k < n; ++k)
      out.push_back(inline_(op.getBody(), halfOf(k), keyOf(k, kt), {},
                            inputsAt(masked->vals[k], halfOf(k), true)));
    scf::YieldOp::create(b, loc, out);
    b.setInsertionPointToStart(ifFast.elseBlock());
    SmallVector<Value> valid = recomputeValid(kt);
    out.clear();
    for (unsigned k = 0; k < n; ++k) {
      Value x = inline_(op.getBody(), halfOf(k), keyOf(k, kt), {},
                        inputsAt(masked->vals[k], halfOf(k), false));
      out.push_back(arith::SelectOp::create(b, loc, valid[k], x, cF32(0)));
    }
    scf::YieldOp::create(b, loc, out);
  }
  vals[op.getResult()] = SmallVector<Value>(ifFast.getResults());
  zeroWhereDropped[op.getResult()] = masked->keep;
}

/// A copy of `v` (i32, i64 or f32) that neither LLVM nor ptxas merges with
/// `v`'s other uses: an inline PTX move of an opaque kind.
static Value opaqueCopy(OpBuilder &b, Location loc, Value v) {
  Type t = v.getType();
  // An i64 extended from i32 is copied as its i32 (one shuffle, keyReadsOf).
  if (Value w = throughI32(b, loc, v, [&](Value v32) { return opaqueCopy(b, loc, v32); }))
    return w;
  bool wide = t.isInteger(64);
  StringRef text = wide ? "mov.b64 $0, $1;" : "mov.b32 $0, $1;";
  StringRef cons = wide ? "=l,l" : (t.isF32() ? "=f,f" : "=r,r");
  return LLVM::InlineAsmOp::create(b, loc, t, ValueRange{v}, text, cons, /*has_side_effects=*/true,
                                   false, LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr())
      .getResult(0);
}

SmallVector<Value> MmaBuilder::recomputeValid(Value kt) {
  SmallVector<Value> valid;
  if (!keepOp) {
    // A keep that is not a map of indices and params (it needs the tile):
    // its values as computed.
    for (unsigned k = 0, n = countOf(Shape::Elem); k < n; ++k)
      valid.push_back(andI(keyValid(keyOf(k, kt)), valueAt(masked->keep, k, Shape::Elem)));
    return valid;
  }
  auto savedVals = vals;
  auto savedEmitted = emitted;
  auto savedStaged = stagedKeyReads;
  auto savedShared = sharedKeyReads;
  bool savedLazy = lazyKeep;
  Value ktCopy = opaqueCopy(b, loc, kt);
  for (auto &slot : stagedKeyReads)
    for (Value &v : slot)
      if (v)
        v = opaqueCopy(b, loc, v);
  sharedKeyReads.clear();
  lazyKeep = false;
  emitted.erase(keepOp.getOperation());
  vals.erase(keepFiber);
  emitOp(keepOp.getOperation(), ktCopy);
  for (unsigned k = 0, n = countOf(Shape::Elem); k < n; ++k)
    valid.push_back(andI(keyValid(keyOf(k, ktCopy)), valueAt(masked->keep, k, Shape::Elem)));
  vals = std::move(savedVals);
  emitted = std::move(savedEmitted);
  stagedKeyReads = std::move(savedStaged);
  sharedKeyReads = std::move(savedShared);
  lazyKeep = savedLazy;
  return valid;
}

void MmaBuilder::emitKeepFor(Value kt) {
  if (!lazyKeep)
    return;
  lazyKeep = false;
  emitOp(keepOp.getOperation(), kt);
  lazyKeep = true;
}

Value MmaBuilder::tileWanted(Value kt, Value numTiles) {
  Value yes = arith::ConstantIntOp::create(b, loc, 1, 1);
  TileClassValues cls = tileClass(kt);
  Value notEmpty = andI(slt(kt, numTiles), arith::XOrIOp::create(b, loc, cls.empty, yes));
  // A producer kernel has no block vote (its producer loads the partial
  // tiles; a warpgroup with none of their points kept computes them masked).
  if (!blockVotesOnPartialTiles())
    return notEmpty;
  // A partial tile: the block votes (a barrier with an OR) on whether any of
  // its points is kept.
  Value partial = andI(notEmpty, arith::XOrIOp::create(b, loc, cls.full, yes));
  auto ifVote = scf::IfOp::create(b, loc, TypeRange{b.getI1Type()}, partial, true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifVote.thenBlock());
  scf::YieldOp::create(b, loc, voteAny(kt, Value(), 0));
  b.setInsertionPointToStart(ifVote.elseBlock());
  scf::YieldOp::create(b, loc, Value(andI(notEmpty, cls.full)));
  return ifVote.getResult(0);
}

Value MmaBuilder::voteAny(Value kt, Value barrierId, int64_t count) {
  auto savedVals = vals;
  auto savedEmitted = emitted;
  for (Operation &op : cas.getBody().front())
    if (kindOf.lookup(&op) == Kind::Elem && !dependsOnLoad(op.getResult(0)))
      emitOp(&op, kt);
  Value any = arith::ConstantIntOp::create(b, loc, 0, 1);
  for (unsigned k = 0, n = countOf(Shape::Elem); k < n; ++k)
    any = arith::OrIOp::create(b, loc, any,
                               andI(valueAt(keepFiber, k, Shape::Elem), slt(keyOf(k, kt), skv)));
  Value voted = barrierId
                    ? Value(arith::CmpIOp::create(
                          b, loc, arith::CmpIPredicate::ne,
                          ptx::namedBarrierAny(b, loc, barrierId, count,
                                               arith::ExtUIOp::create(b, loc, b.getI32Type(), any)),
                          cI32(0)))
                    : blockReduce(any, NVVM::BarrierReduction::OR);
  vals = std::move(savedVals);
  emitted = std::move(savedEmitted);
  return voted;
}

Value MmaBuilder::blockReduce(Value v, NVVM::BarrierReduction kind) {
  Value r = NVVM::BarrierOp::create(b, loc, TypeRange{b.getI32Type()}, Value(), Value(),
                                    NVVM::BarrierReductionAttr::get(b.getContext(), kind),
                                    arith::ExtUIOp::create(b, loc, b.getI32Type(), v))
                .getResult(0);
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, r, cI32(0));
}

void MmaBuilder::setItem(Value qtV, Value hV, Value bV, Value hkV) {
  qt = qtV;
  hIdx = hV;
  bIdx = bV;
  // A split kernel's grid y is Hkv: its rows are (query i, head g of the
  // group) pairs, row = i * G + g, so that the query heads sharing a KV head
  // read its K and V once (decode: G heads of one query in one block).
  hkIdx = hkV ? hkV : split ? hIdx : Value(arith::DivSIOp::create(b, loc, hIdx, group0));
  blockRow0 = mul(qt, cI64(rowsPerBlock()));
  Value rowBase = add(blockRow0, mul(toI64(warp), cI64(16)));
  for (unsigned h = 0; h < 2; ++h) {
    Value lin = add(rowBase, add(g, cI64(8 * h)));
    if (split) {
      rows[h] = arith::DivSIOp::create(b, loc, lin, group);
      headOf[h] = add(mul(hkIdx, group), arith::RemSIOp::create(b, loc, lin, group));
    } else {
      rows[h] = lin;
      headOf[h] = hIdx;
    }
    absI[h] = assumeSignedIndexRange(b, loc, add(qOff, rows[h]));
    rowValid[h] = slt(rows[h], sq);
  }
}

MmaBuilder::ItemIds MmaBuilder::saveItem() const {
  return {qt, hIdx, bIdx, hkIdx, blockRow0, {rows[0], rows[1]}, {headOf[0], headOf[1]},
          {absI[0], absI[1]}, {rowValid[0], rowValid[1]}};
}

void MmaBuilder::restoreItem(const ItemIds &s) {
  qt = s.qt, hIdx = s.h, bIdx = s.b, hkIdx = s.hk, blockRow0 = s.row0;
  for (unsigned h = 0; h < 2; ++h)
    rows[h] = s.rows[h], headOf[h] = s.headOf[h], absI[h] = s.absI[h], rowValid[h] = s.rowValid[h];
}

Value MmaBuilder::qSmem(Value buf) {
  // After the K / V stages; a persistent kernel's two buffers one after the other.
  return add(cIdx(stages() * 2 * tileBytes() / 2), mul(toIdx(buf), cIdx(rowsPerBlock() * hd)));
}

void MmaBuilder::emitQ(Value buf) {
  if (useWgmma()) {
    // Q in shared memory (core matrices or swizzled), the A operand of the
    // QK wgmma; its copies are waited for with the first tile's (TMA: once,
    // before the key loop).
    Value at = qSmem(buf);
    copyRows(qPtr, ATTN_ARG_Q_STRIDES, hIdx, blockRow0, rowsPerBlock(), sq, at,
             vectorCopyOk(ATTN_ARG_Q_STRIDES, qPtr));
    NVVM::CpAsyncCommitGroupOp::create(b, loc);
    return;
  }
  // Q fragments (mma A operands) in registers, zero past Sq and D.
  qFrag.clear();
  Value qb[2];
  for (unsigned h = 0; h < 2; ++h)
    qb[h] = add(mul(bIdx, argWord(ATTN_ARG_Q_STRIDES)), mul(headOf[h], argWord(ATTN_ARG_Q_STRIDES + 1)));
  Value qs = argWord(ATTN_ARG_Q_STRIDES + 2), qd = argWord(ATTN_ARG_Q_STRIDES + 3);
  Value zero = arith::ConstantFloatOp::create(
      b, loc, cast<FloatType>(elemTy), APFloat::getZero(cast<FloatType>(elemTy).getFloatSemantics()));
  auto loadQ = [&](unsigned h, Value col) {
    Value ok = andI(slt(rows[h], sq), slt(col, dDim));
    Value off = add(qb[h], add(mul(rows[h], qs), mul(col, qd)));
    off = arith::SelectOp::create(b, loc, ok, off, cI64(0));
    Value v = LLVM::LoadOp::create(b, loc, elemTy, gep(qPtr, elemTy, off), 2);
    return Value(arith::SelectOp::create(b, loc, ok, v, zero));
  };
  for (int64_t kc = 0; kc < hd / 16; ++kc) {
    SmallVector<Value> regs;
    for (int64_t r = 0; r < 4; ++r) {
      unsigned h = r % 2;
      Value col = add(mul(t, cI64(2)), cI64(kc * 16 + (r / 2) * 8));
      Value pair = vector::FromElementsOp::create(b, loc, VectorType::get({2}, elemTy),
                                                  ValueRange{loadQ(h, col), loadQ(h, add(col, cI64(1)))});
      regs.push_back(toReg(pair));
    }
    qFrag.push_back(regs);
  }
}

void MmaBuilder::selectQ(Value buf) {
  if (!useWgmma())
    return;
  // This warpgroup's 64 rows: 8 groups of 8 rows, 1024 bytes (swizzled)
  // or hd * 16 bytes apart.
  Value wg = arith::DivUIOp::create(b, loc, warp, cIdx(4));
  Value at = qSmem(buf);
  qDesc = swizzled() ? descriptor(add(at, mul(wg, cIdx(64 * 64))), 16, 1024, true)
                     : descriptor(add(at, mul(wg, cIdx(64 * hd))), /*lbo=*/128, /*sbo=*/hd * 16);
}

SmallVector<Value> MmaBuilder::emitItemStart() {
  Block &body = cas.getBody().front();
  for (Operation &op : body)
    if (kindOf.lookup(&op) == Kind::Pre)
      emitOp(&op, cI64(-1));
  emitRowReads();
  // Loop-carried state: the iterates' current values.
  SmallVector<Value> init;
  for (cascade::IterateOp it : iterates) {
    Shape s = shapeOf(it.getCur());
    for (unsigned k = 0, n = countOf(s); k < n; ++k)
      init.push_back(it.getInit() ? valueAt(it.getInit(), k, s)
                                  : cF32(it.getIdentity().convertToDouble()));
  }
  return init;
}

MmaBuilder::ItemRange MmaBuilder::itemRange() {
  // The key tiles worth visiting: the block's rows keep nothing before
  // `start` or from `numTiles` on (causal: the tiles past the diagonal;
  // a sliding window: both sides).
  ItemRange r;
  auto [start, numTiles] = tileRange(allTiles);
  if (usesClassTable())
    std::tie(start, numTiles) = tableRange(start, numTiles);
  // Split: chunk c takes the key tiles c, c + W, c + 2W, ... (round robin,
  // so that a window or a causal diagonal is spread over the chunks), from
  // the first such tile >= start.
  r.first = split ? emitFirstTileFrom(b, loc, chunk, numChunks, start) : start;
  r.numTiles = numTiles;
  return r;
}

Value MmaBuilder::firstWanted(const ItemRange &r) {
  // The table's range starts at a tile it does not class empty (or is
  // empty): no second read of the table, a dependent L2 round trip before
  // the first tile's load.
  if (usesClassTable())
    return slt(r.first, r.numTiles);
  return tileWanted(r.first, r.numTiles);
}

void MmaBuilder::emitLoopEnd(scf::ForOp loop) {
  unsigned a = 0;
  for (cascade::IterateOp it : iterates) {
    SmallVector<Value> &fin = vals[it.getFinal()];
    fin.clear();
    for (unsigned k = 0, n = countOf(shapeOf(it.getCur())); k < n; ++k)
      fin.push_back(loop.getResult(a++));
  }
  if (deferPV()) {
    // The last computed tile's PV (paired: in the turn taken after its
    // softmax, and its stage released: the counts run on across items).
    carriedP.assign(loop.getResults().begin() + a, loop.getResults().begin() + a + pRegs());
    heldStage = loop.getResult(a + pRegs());
    SmallVector<Value> c = vals[pvInto.getFinal()];
    vals[pvInto.getPrev()] = c;
    SmallVector<Value> o = finishDeferredPV(/*release=*/pairedPV);
    vals[pvInto.getFinal()] = o;
  }
}

void MmaBuilder::appendDeferredStates(SmallVector<Value> &init) {
  if (!deferPV())
    return;
  unsigned at = 0;
  for (cascade::IterateOp it : iterates) {
    if (it == pvInto)
      pvState = at;
    at += countOf(shapeOf(it.getCur()));
  }
  for (int64_t k = 0; k < pRegs(); ++k)
    init.push_back(cI32(0));
  init.push_back(cI64(-1));
}

void MmaBuilder::emitItemEnd() {
  Block &body = cas.getBody().front();
  if (split) {
    writePartials(iterates);
    return;
  }
  for (Operation &op : body) {
    Kind k = kindOf.lookup(&op);
    if (k == Kind::Post || k == Kind::PostO)
      emitOp(&op, cI64(-1));
  }
  emitOutput(cast<cascade::OutputOp>(body.getTerminator()));
}

scf::ForOp MmaBuilder::emitKeyLoop(Value firstTile, Value numTiles, ArrayRef<Value> init,
                                   unsigned numStates, std::optional<NextIssue> next) {
  Block &body = cas.getBody().front();
  Value stepI64 = split ? numChunks : cI64(1);
  int64_t nStages = stages();
  bool pipelined = nStages > 1;
  auto loop = scf::ForOp::create(b, loc, toIdx(firstTile), toIdx(numTiles), toIdx(stepI64), init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  ItemIds outside = saveItem();
  auto restoreAfter = llvm::make_scope_exit([&] { restoreItem(outside); });
  if (reloadItem)
    reloadItem();
  Value kt = toI64(loop.getInductionVar());
  ValueRange iterArgs = loop.getRegionIterArgs();
  ValueRange states = iterArgs.take_front(numStates);
  unsigned a = 0;
  for (cascade::IterateOp it : iterates) {
    SmallVector<Value> &prev = vals[it.getPrev()];
    prev.clear();
    for (unsigned k = 0, n = countOf(shapeOf(it.getCur())); k < n; ++k)
      prev.push_back(states[a++]);
  }
  if (deferPV()) {
    carriedP.assign(states.begin() + a, states.begin() + a + pRegs());
    heldStage = states[a + pRegs()];
  }
  Value stage = cIdx(0), cur, wantNext, computed, issuedNext, crossed;
  if (pipelined) {
    Value nextTile = add(kt, mul(stepI64, cI64(ahead)));
    wantNext = tileWanted(nextTile, numTiles);
    issuedNext = issueTile(wantNext, nextTile, iterArgs[numStates + ahead], fast);
    cur = iterArgs[numStates];
    computed = iterArgs[numStates + ahead + 1];
    stage = toIdx(arith::RemSIOp::create(b, loc, computed, cI64(nStages)));
    if (next) {
      // Past this item's tiles: the next item's first tile goes into the
      // stage that is free, once (it loads during this item's last tile).
      Value yes = arith::ConstantIntOp::create(b, loc, 1, 1);
      crossed = iterArgs[numStates + ahead + 2];
      Value atEnd = andI(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, nextTile, numTiles),
                         arith::XOrIOp::create(b, loc, crossed, yes));
      auto ifEnd = scf::IfOp::create(b, loc, TypeRange{b.getI64Type()}, atEnd, true);
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(ifEnd.thenBlock());
        scf::YieldOp::create(b, loc, (*next)(issuedNext, yes));
        b.setInsertionPointToStart(ifEnd.elseBlock());
        scf::YieldOp::create(b, loc, issuedNext);
      }
      issuedNext = ifEnd.getResult(0);
      crossed = arith::OrIOp::create(b, loc, crossed, atEnd);
    }
  } else {
    cur = tileWanted(kt, numTiles);
    // The previous tile's reads of K and V are done before they are replaced.
    auto ifCur = scf::IfOp::create(b, loc, cur, false);
    b.setInsertionPointToStart(ifCur.thenBlock());
    gpu::BarrierOp::create(b, loc);
    b.setInsertionPointAfter(ifCur);
    issueLoads(cur, kt, stage, fast);
  }
  TypeRange stateTypes(states);
  auto ifCur = scf::IfOp::create(b, loc, stateTypes, cur, true);
  b.setInsertionPointToStart(ifCur.elseBlock());
  scf::YieldOp::create(b, loc, states);
  b.setInsertionPointToStart(ifCur.thenBlock());
  if (!pipelined) {
    // This tile's K; the PV waits for V, which lands while the scores are
    // computed.
    NVVM::CpAsyncWaitGroupOp::create(b, loc, 1);
    gpu::BarrierOp::create(b, loc);
  } else {
    Value use = arith::DivSIOp::create(b, loc, computed, cI64(nStages));
    ptx::mbarrierWait(b, loc, barrierAddr(0, stage), fullParity(use));
    if (useWgmma())
      fenceCopiesForWgmma();
  }
  selectStage(stage);
  curStage = stage;
  // The tile's computation; with classified tiles twice, for full tiles
  // without the mask.
  auto emitTile = [&](bool fullTile) {
    masked.reset();
    zeroWhereDropped.clear();
    lazyKeep = keepAtFirstUse && !fullTile;
    if (lazyKeep && stageKeys)
      stageKeyReads(kt); // the reads before the QK, the shuffles at the keep's first use
    if (indexOnlyKeep && !lazyKeep)
      emitKeepValues(kt, fullTile);
    for (Operation &op : body) {
      Kind k = kindOf.lookup(&op);
      if (k != Kind::Pre && k != Kind::Post && k != Kind::PostO && k != Kind::Input &&
          !isa<cascade::OutputOp>(op))
        emitOp(&op, kt);
    }
    lazyKeep = false;
    masked.reset();
    zeroWhereDropped.clear();
    stagedKeyReads.clear();
    sharedKeyReads.clear();
    SmallVector<Value> out;
    for (cascade::IterateOp it : iterates)
      out.append(vals[it.getCur()]);
    if (deferPV()) {
      out.append(nextP);
      out.push_back(pairedPV ? computed : toI64(stage)); // heldStage
    }
    return out;
  };
  // A tile this warpgroup does not compute: the deferred PV is done now
  // and both stages are free.
  auto skipped = [&]() -> SmallVector<Value> {
    SmallVector<Value> out(states);
    // The held PV done (only a real one: none after a skip or before the
    // first tile) and this tile's stage released (not held: nothing of it
    // is computed); pairedPV: its V waited for before its empty barrier
    // passes (its copies are done before the stage's next ones).
    auto dropHeld = [&] {
      SmallVector<Value> o = finishDeferredPV(/*release=*/true);
      ptx::mbarrierArrive(b, loc, barrierAddr(1, stage));
      if (pairedPV) {
        ptx::mbarrierWait(b, loc, barrierAddr(2, stage),
                          fullParity(arith::DivSIOp::create(b, loc, computed, cI64(nStages))));
        ptx::mbarrierArrive(b, loc, barrierAddr(3, stage));
      }
      std::copy(o.begin(), o.end(), out.begin() + pvState);
      unsigned p0 = numStates - (pRegs() + 1);
      for (int64_t k = 0; k < pRegs(); ++k)
        out[p0 + k] = cI32(0);
      out.back() = cI64(-1);
    };
    if (pairedPV) // in this warpgroup's turn, before it passes the turns
      dropHeld();
    if (turnMine) {
      // Ping-pong: the turns of the QK and the PV this warpgroup skips, so
      // that the other's alternation goes on.
      ptx::namedBarrierArrive(b, loc, turnOther, 256);
      ptx::namedBarrierSync(b, loc, turnMine, 256);
    }
    if (overlapPV)
      dropHeld();
    return out;
  };
  // A partial tile (per-warpgroup votes): this warpgroup computes it only
  // when one of its points is kept, else its states stay.
  auto emitPartial = [&]() -> SmallVector<Value> {
    if (!wgVoteId) // set only when the mask keeps by index
      return emitTile(false);
    auto ifAny = scf::IfOp::create(b, loc, stateTypes,
                                   classified ? warpgroupMayKeep(kt) : voteAny(kt, wgVoteId, 128), true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifAny.elseBlock());
    scf::YieldOp::create(b, loc, skipped());
    b.setInsertionPointToStart(ifAny.thenBlock());
    scf::YieldOp::create(b, loc, emitTile(false));
    return SmallVector<Value>(ifAny.getResults());
  };
  // Two copies: tiles whose keys are all below Skv and (classified masks)
  // full run without the mask and without per-key range tests; the others
  // (partial tiles, the last tile when Skv is not a multiple of bc) test.
  Value interior = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle,
                                         mul(add(kt, cI64(1)), cI64(bc)), skv);
  Value fastTile = classified ? andI(tileClass(kt).full, interior) : interior;
  auto ifFast = scf::IfOp::create(b, loc, stateTypes, fastTile, true);
  for (bool isFast : {true, false}) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(isFast ? ifFast.thenBlock() : ifFast.elseBlock());
    auto savedVals = vals;
    auto savedEmitted = emitted;
    keysInRange = isFast;
    scf::YieldOp::create(b, loc, isFast && classified ? emitTile(true) : emitPartial());
    keysInRange = false;
    vals = std::move(savedVals);
    emitted = std::move(savedEmitted);
  }
  SmallVector<Value> tileOut(ifFast.getResults().begin(), ifFast.getResults().end());
  if (pipelined && !deferPV())
    ptx::mbarrierArrive(b, loc, barrierAddr(1, stage)); // this thread is done with the stage
  scf::YieldOp::create(b, loc, tileOut);
  b.setInsertionPointAfter(ifCur);
  SmallVector<Value> carried(ifCur.getResults());
  if (pipelined) {
    carried.append(iterArgs.begin() + numStates + 1, iterArgs.begin() + numStates + ahead);
    carried.push_back(wantNext);
    carried.push_back(issuedNext);
    carried.push_back(arith::SelectOp::create(b, loc, cur, add(computed, cI64(1)), computed));
    if (next)
      carried.push_back(crossed);
  }
  scf::YieldOp::create(b, loc, carried);
  return loop;
}

void MmaBuilder::planMask() {
  // The mask plan: when every masked Einsum keeps by the same fiber and it
  // needs no K / V, a tile no row of the block keeps is neither loaded nor
  // computed; when that fiber is a map of indices and params, interval
  // arithmetic classifies the tiles (empty ones skipped before anything
  // else, full ones need no per-element mask).
  Block &casBody = cas.getBody().front();
  bool oneKeep = true;
  for (Operation &op : casBody)
    if (auto e = dyn_cast<cascade::EinsumOp>(op); e && e.getKeep()) {
      if (keepFiber && keepFiber != e.getKeep())
        oneKeep = false;
      keepFiber = e.getKeep();
    }
  indexOnlyKeep = keepFiber && oneKeep && !dependsOnLoad(keepFiber);
  keepOp = indexOnlyKeep ? keepFiber.getDefiningOp<cascade::EinsumOp>() : nullptr;
  if (keepOp)
    keepOp.getBody().walk([&](attn::LoadOp) { keepReadsTensor = true; });
  // A split kernel's rows span the heads of a group: its tiles are classed
  // with one head, so only when the mask does not read h.
  keepReadsHead = keepOp && !keepOp.getBody().front().getArgument(1).use_empty();
  stageKeys = keepReadsTensor && canStageKeyReads();
  bool onlyRowsOrKeys = keepReadsTensor && readsOnlyRowsOrKeys(keepOp.getBody());
  bool readsKeys = keepReadsTensor && !keyTensorReads(keepOp.getBody()).empty();
  keepReadsByKey = keepReadsTensor && (!onlyRowsOrKeys || readsKeys);
  // Keep values at their first use: a mask of indices and params, or one
  // whose reads are by row (made before the loop) or by key (shared).
  keepAtFirstUse = indexOnlyKeep && (!keepReadsTensor || (onlyRowsOrKeys && (stageKeys || !readsKeys)));
  classified = keepOp && keepOp.getInputs().empty() && !(split && keepReadsHead);
}

bool MmaBuilder::wantsProducer() const {
  // A producer warpgroup (auto: unless the mask reads a tensor by key,
  // whose kernel is faster with all 255 registers; session 17 / 18).
  return mayBeProducerMma(options) && !split &&
         (options.producer != kMmaProducerAuto || !keepReadsByKey);
}

bool MmaBuilder::wantsPersistent() const {
  // Auto: where the producer is (its items taken from a counter).
  return mayBePersistentMma(options) && !split &&
         (options.persistent != kMmaPersistentAuto || wantsProducer());
}

void MmaBuilder::planDeferredPV() {
  // The in-warpgroup overlap needs three stages; the paired MMAs the
  // ping-pong's turns in a persistent producer kernel (the consumers' own
  // loads of tile t + 1 would wait for the stage that this thread releases
  // only at tile t's QK; ATTN_GPU_ABI_PAIRED is the persistent producer's
  // geometry with V's barriers).
  int64_t nStages = stages();
  bool wantsOverlap = options.overlap && useWgmma() && nStages >= 3;
  bool wantsPaired = !wantsOverlap && options.pairedMma && producer && persistent &&
                     takesTurns(nStages - 1);
  if (!wantsOverlap && !wantsPaired)
    return;
  bool one = false;
  for (Operation &op : cas.getBody().front())
    if (kindOf.lookup(&op) == Kind::PV) {
      one = !pvOp;
      pvOp = cast<cascade::EinsumOp>(op);
    }
  pvInto = one ? accumulatingIterate(pvOp) : cascade::IterateOp();
  overlapPV = wantsOverlap && pvInto;
  pairedPV = wantsPaired && pvInto;
}

LogicalResult MmaBuilder::build() {
  MLIRContext *ctx = target.getContext();
  ptrTy = LLVM::LLVMPointerType::get(ctx);
  elemTy = options.inputType == ATTN_F16 ? Type(b.getF16Type()) : Type(b.getBF16Type());
  std::string name = mmaKernelName(variant.getSymName(), options.inputType, hd);
  planMask();
  producer = wantsProducer();
  persistent = wantsPersistent();
  planDeferredPV();
  // K and V tiles of every stage in dynamic shared memory
  // (attn_gpu_mma_smem_bytes): for ldmatrix rows padded by 8 elements, so
  // that its 8 row addresses fall in different banks; for wgmma core
  // matrices (tileOffset). The launch gives the kernel the bytes of
  // attn/gpu.h, which this layout must fit.
  int64_t needs = attn_gpu_smem_bytes(bc, hd, stages(), split ? 0 : rowsPerBlock() * qBuffers(), padded()) +
                  8 * (qBarriers() + vBarriers());
  int64_t given = split                    ? attn_gpu_split_smem_bytes(hd)
                  : pairedPV               ? attn_gpu_mma_paired_smem_bytes(hd)
                  : persistent && producer ? attn_gpu_mma_persistent_producer_smem_bytes(hd)
                  : persistent             ? attn_gpu_mma_persistent_smem_bytes(hd)
                  : producer               ? attn_gpu_mma_producer_smem_bytes(hd)
                                           : attn_gpu_mma_smem_bytes(hd, stages());
  if (needs > given)
    return variant.emitError() << "gpu target: the tier-" << hd << " kernel's shared memory ("
                               << needs << " bytes) exceeds the launch's (" << given << ")";
  auto fn = addGpuKernel(target, b, loc, split ? name + "_split" : name);
  fn.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({int32_t(blockThreads()), 1, 1}));
  if (!split)
    fn->setAttr(kGpuAbiAttrName, b.getI32IntegerAttr(pairedPV                 ? ATTN_GPU_ABI_PAIRED
                                                     : producer && persistent ? ATTN_GPU_ABI_PERSISTENT_PRODUCER
                                                     : producer   ? ATTN_GPU_ABI_PRODUCER
                                                     : persistent ? ATTN_GPU_ABI_PERSISTENT
                                                     : stages() == ATTN_GPU_MMA_OVERLAP_STAGES
                                                         ? ATTN_GPU_ABI_THREE_STAGES
                                                         : ATTN_GPU_ABI_VERSION));
  args = fn.getArgument(0);
  auto wg = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  smem = gpu::DynamicSharedMemoryOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(), MemRefLayoutAttrInterface(), wg));
  {
    Value raw = toI64(memref::ExtractAlignedPointerAsIndexOp::create(b, loc, smem));
    Value aligned = arith::AndIOp::create(b, loc, add(raw, cI64(1023)), cI64(~int64_t(1023)));
    smemShift = toIdx(arith::SubIOp::create(b, loc, aligned, raw));
    smemPtr = LLVM::IntToPtrOp::create(b, loc, LLVM::LLVMPointerType::get(ctx, 3), aligned);
  }

  tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  copyTid = tid;
  copyThreads = threads();
  warp = arith::DivUIOp::create(b, loc, tid, cIdx(32));
  lane = arith::RemUIOp::create(b, loc, tid, cIdx(32));
  g = toI64(arith::DivUIOp::create(b, loc, lane, cIdx(4)));
  t = toI64(arith::RemUIOp::create(b, loc, lane, cIdx(4)));
  // A block's item: query tiles in reverse (under causal-like masks the last
  // rows see the most keys, and their blocks should start first), grid y the
  // head, z the batch (split: B * W, the batch and the block's chunk).
  Value blockQt = toI64(arith::SubIOp::create(
      b, loc, arith::SubIOp::create(b, loc, gpu::GridDimOp::create(b, loc, gpu::Dimension::x), cIdx(1)),
      gpu::BlockIdOp::create(b, loc, gpu::Dimension::x)));
  Value blockH = toI64(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y));
  Value blockB = toI64(gpu::BlockIdOp::create(b, loc, gpu::Dimension::z));
  if (split) {
    numChunks = argWord(ATTN_ARG_NUM_CHUNKS);
    chunk = arith::RemSIOp::create(b, loc, blockB, numChunks);
    blockB = arith::DivSIOp::create(b, loc, blockB, numChunks);
  }
  loadSizes();
  group0 = arith::DivSIOp::create(b, loc, sizes["H"], sizes["Hkv"]);
  group = split ? group0 : cI64(1);
  qPtr = toGlobal(argPtr(ATTN_ARG_Q));
  kPtr = toGlobal(argPtr(ATTN_ARG_K));
  vPtr = toGlobal(argPtr(ATTN_ARG_V));
  loadOutputsAndFlag();
  if (!persistent)
    setItem(blockQt, blockH, blockB);

  // K / V tiles (and Q) move as 16-byte vectors when the layout allows.
  fast = andI(vectorCopyOk(ATTN_ARG_K_STRIDES, kPtr), vectorCopyOk(ATTN_ARG_V_STRIDES, vPtr));
  tma = arith::ConstantIntOp::create(b, loc, 0, 1);
  if (tmaCapable()) {
    kMap = argWord(ATTN_ARG_K_TMAP);
    vMap = argWord(ATTN_ARG_V_TMAP);
    tma = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, kMap, cI64(0));
    if (qByTma()) {
      qMap = argWord(ATTN_ARG_Q_TMAP);
      qTma = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, qMap, cI64(0));
      // A persistent producer's one thread loads Q, K and V by TMA, or its
      // 128 threads all three by cp.async.
      if (persistent)
        tma = andI(tma, qTma);
    }
    auto ifIssuer = scf::IfOp::create(
        b, loc, andI(tma, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, cIdx(issuerTid()))),
        false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifIssuer.thenBlock());
    ptx::fenceTensorMapAcquire(b, loc, kMap);
    ptx::fenceTensorMapAcquire(b, loc, vMap);
  }
  // (A producer kernel's consumers do this once the roles split.)
  if (!persistent && !producer) {
    emitQ(cI64(0));
    selectQ(cI64(0));
  }

  Block &body = cas.getBody().front();
  iterates.clear();
  for (Operation &op : body)
    if (auto it = dyn_cast<cascade::IterateOp>(op))
      iterates.push_back(it);
  SmallVector<Value> init;
  if (!persistent && !producer)
    init = emitItemStart();
  allTiles = arith::DivSIOp::create(b, loc, add(skv, cI64(bc - 1)), cI64(bc));
  // The register cap (MmaKernelOptions::maxRegisters; a producer kernel's
  // come from setmaxnreg). Auto: masked kernels of the tiers measured
  // (96, 128: 128-key tiles; d256 and d64 spilled more under it, unmeasured)
  // whose mask reads no tensor by key (document, with the selected sums, is
  // faster uncapped: session 17).
  bool autoCap = keepFiber && hd > 64 && hd <= 128 && !keepReadsByKey;
  if (int cap = options.maxRegisters == kMmaRegistersAuto ? (autoCap ? kMmaMaskedRegisters : 0)
                                                          : options.maxRegisters;
      cap > 0 && !split && !producer && useWgmma())
    fn->setAttr(NVVM::NVVMDialect::getMaxnregAttrName(), b.getI32IntegerAttr(cap));
  if (usesClassTable()) {
    classTable = toGlobal(argPtr(ATTN_ARG_TILE_CLASSES));
    numKeyTiles = allTiles;
    numQueryTiles = queryTileCount();
  }
  // S stages, tiles loaded S - 1 ahead (while tile t is computed, tile
  // t + 1 loads into the stage that tile t - 1 used). No block barrier per
  // tile: stage s has two mbarriers, full[s] (every thread's copies into it
  // landed: cp.async arrives on it by itself) and empty[s] (every thread is
  // done reading it), so one warpgroup's MMAs overlap the other's softmax
  // (the loader of tile t + 1 waits for both to be done with tile t - 1).
  // Stages go round robin over the loaded tiles: the loop carries how many
  // were issued and how many computed, and whether the tiles ahead were
  // loaded.
  if (votesPerWarpgroup() && indexOnlyKeep)
    wgVoteId = arith::AddIOp::create(b, loc, cI32(3), warpgroupI32());
  int64_t nStages = stages();
  bool pipelined = nStages > 1;
  // The in-warpgroup overlap: one PV accumulating into an output iterate,
  // three stages (tile t + 1 loads into the stage of tile t - 2, whose PV
  // was done during tile t - 1; with two, the load would wait for the PV of
  // t - 1, issued after it).
  ahead = overlapPV ? 1 : nStages - 1;
  if (persistent) {
    assert(pipelined && ahead == 1 && !overlapPV && "a persistent kernel loads one tile ahead");
    assert((!pairedPV || producer) && "the paired MMAs need the producer's loads");
    if (producer)
      emitProducerItems();
    else
      emitPersistentItems();
  } else {
    ItemRange range = itemRange();
    Value stepI64 = split ? numChunks : cI64(1);
    // A producer kernel: the barriers for all, then the roles split (the
    // producer's loop; the consumers' Q, its wait and the key loop).
    scf::IfOp roles;
    if (producer) {
      initBarriers();
      roles = scf::IfOp::create(b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, tid, cIdx(threads())),
                                /*withElseRegion=*/true);
      b.setInsertionPointToStart(roles.thenBlock());
      emitProducer(range);
      b.setInsertionPointToStart(roles.elseBlock());
      NVVM::SetMaxRegisterOp::create(b, loc, kConsumerRegisters, NVVM::SetMaxRegisterAction::increase);
      issuesLoads = false;
      if (qByTma()) {
        // Q by the producer's TMA, else by cp.async here.
        auto ifNoMap = scf::IfOp::create(b, loc, notI(qTma), false);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(ifNoMap.thenBlock());
        emitQ(cI64(0));
      } else {
        emitQ(cI64(0));
      }
      selectQ(cI64(0));
      init = emitItemStart();
    }
    appendDeferredStates(init);
    unsigned numStates = init.size();
    Value issued = cI64(0);
    if (pipelined) {
      if (!producer)
        initBarriers();
      for (int64_t d = 0; d < ahead; ++d) {
        Value tile = add(range.first, mul(stepI64, cI64(d)));
        Value want = d == 0 ? firstWanted(range) : tileWanted(tile, range.numTiles);
        issued = issueTile(want, tile, issued, fast);
        init.push_back(want);
      }
      init.push_back(issued);
      init.push_back(cI64(0)); // computed
      if (producer || tmaCapable()) {
        // Q's copies are waited for here, once, where the full barriers count
        // no cp.async of this thread: with TMA (the first tiles' tensor
        // copies are under way), or always in a producer kernel (they count
        // the producer's).
        OpBuilder::InsertionGuard guard(b);
        if (!producer)
          b.setInsertionPointToStart(scf::IfOp::create(b, loc, tma, false).thenBlock());
        if (qByTma()) {
          // By TMA: this warpgroup's rows (its barrier's one phase).
          auto ifMap = scf::IfOp::create(b, loc, qTma, /*withElseRegion=*/true);
          b.setInsertionPointToStart(ifMap.thenBlock());
          ptx::mbarrierWait(b, loc, qFullAddr(cI64(0), arith::DivUIOp::create(b, loc, warp, cIdx(4))), cI64(0));
          b.setInsertionPointToStart(ifMap.elseBlock());
        }
        NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);
        ptx::fenceProxyAsync(b, loc);
        consumerSync();
      }
    }
    Value wg1 = beginTurns();
    scf::ForOp loop = emitKeyLoop(range.first, range.numTiles, init, numStates, std::nullopt);
    emitLoopEnd(loop);
    endTurns(wg1);
    emitItemEnd();
    if (roles) {
      b.setInsertionPointAfter(roles);
      issuesLoads = true;
    }
  }
  reportErrors();
  lowerFastMath(fn);
  rowReads[0].clear();
  rowReads[1].clear();
  return success();
}

void MmaBuilder::consumerSync() {
  if (producer)
    ptx::namedBarrierSync(b, loc, cI32(kConsumerBarrier), threads());
  else
    gpu::BarrierOp::create(b, loc);
}

Value MmaBuilder::beginTurns(Value afterItem) {
  // Ping-pong: warpgroup 0's k-th QK lets warpgroup 1 run its (k-1)-th PV
  // (the first: its start) and warpgroup 1's k-th QK lets warpgroup 0 run its
  // k-th PV, so each issues PV(t), QK(t + 1) while the other is in its
  // softmax. Every bar.arrive meets a bar.sync (warpgroup 0 arrives once more
  // after the loop: endTurns), and neither can arrive twice on a barrier
  // before the other's sync: the two turns alternate. A partial tile that a
  // warpgroup skips (per-warpgroup votes) takes both its turns all the same.
  // Needs the loop free of block barriers (a block vote would wait for a
  // warpgroup held at its turn): a producer kernel has none.
  // It also needs the loads issued by other threads than the consumers, or
  // two tiles of look-ahead: with one, warpgroup 0's loader of tile t + 1
  // waits for warpgroup 1 to finish tile t - 1, whose PV waits for warpgroup
  // 0's QK of tile t (a deadlock); the consumers' two-stage pipeline of
  // 128-key tiles has one, so there the option is inert.
  if (!takesTurns(ahead))
    return Value();
  Value wg = warpgroupI32();
  turnMine = arith::AddIOp::create(b, loc, cI32(1), wg);
  turnOther = arith::SubIOp::create(b, loc, cI32(2), wg);
  Value wg1 = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, wg, cI32(1));
  auto ifWg1 = scf::IfOp::create(b, loc, wg1, /*withElseRegion=*/bool(afterItem));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifWg1.thenBlock());
  ptx::namedBarrierSync(b, loc, turnMine, 256);
  if (afterItem) {
    b.setInsertionPointToStart(ifWg1.elseBlock());
    b.setInsertionPointToStart(scf::IfOp::create(b, loc, afterItem, false).thenBlock());
    ptx::namedBarrierSync(b, loc, turnMine, 256);
  }
  return wg1;
}

void MmaBuilder::endTurns(Value wg1, llvm::function_ref<Value()> beforeItem) {
  if (!wg1)
    return;
  // Warpgroup 1's last PV waits for this arrival of warpgroup 0.
  auto ifWg0 = scf::IfOp::create(b, loc, wg1, true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifWg0.elseBlock());
  ptx::namedBarrierArrive(b, loc, turnOther, 256);
  if (beforeItem) {
    // Warpgroup 1 is past its last wait: warpgroup 0 may start the next item.
    b.setInsertionPointToStart(ifWg0.thenBlock());
    b.setInsertionPointToStart(scf::IfOp::create(b, loc, beforeItem(), false).thenBlock());
    ptx::namedBarrierArrive(b, loc, turnOther, 256);
  }
  turnMine = turnOther = Value();
}

Value MmaBuilder::emitProducerTiles(const ItemRange &r, Value issued) {
  auto loop = scf::ForOp::create(b, loc, toIdx(r.first), toIdx(r.numTiles), cIdx(1), ValueRange{issued});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value kt = toI64(loop.getInductionVar());
  auto ifFirst = scf::IfOp::create(b, loc, TypeRange{b.getI1Type()},
                                   arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, kt, r.first), true);
  {
    OpBuilder::InsertionGuard inner(b);
    b.setInsertionPointToStart(ifFirst.thenBlock());
    scf::YieldOp::create(b, loc, firstWanted(r));
    b.setInsertionPointToStart(ifFirst.elseBlock());
    scf::YieldOp::create(b, loc, tileWanted(kt, r.numTiles));
  }
  scf::YieldOp::create(b, loc, issueTile(ifFirst.getResult(0), kt, loop.getRegionIterArgs()[0], fast));
  return loop.getResult(0);
}

void MmaBuilder::emitProducerRole(Value tmaThreads, llvm::function_ref<void(bool withTma)> loads) {
  NVVM::SetMaxRegisterOp::create(b, loc, kProducerRegisters, NVVM::SetMaxRegisterAction::decrease);
  Value savedTid = copyTid, savedTma = tma;
  int64_t savedThreads = copyThreads;
  copyTid = arith::SubIOp::create(b, loc, tid, cIdx(threads()));
  copyThreads = loaderThreads();
  // Two copies of the loads, TMA (tmaThreads) and cp.async (all 128
  // threads), each with only its own values live: the producer has few
  // registers.
  auto ifTma = scf::IfOp::create(b, loc, savedTma, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifTma.thenBlock());
    if (tmaCapable()) {
      b.setInsertionPointToStart(scf::IfOp::create(b, loc, tmaThreads, false).thenBlock());
      tma = arith::ConstantIntOp::create(b, loc, 1, 1);
      loads(true);
    }
    b.setInsertionPointToStart(ifTma.elseBlock());
    tma = arith::ConstantIntOp::create(b, loc, 0, 1);
    loads(false);
  }
  tma = savedTma;
  copyTid = savedTid;
  copyThreads = savedThreads;
}

void MmaBuilder::emitProducer(const ItemRange &r) {
  Value issuer = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, cIdx(issuerTid()));
  // Tile by tile in the consumers' order (they count the same wanted
  // tiles): issueTile waits for the stage's empty barrier, so the loads run
  // stages() tiles ahead of the slower consumer warpgroup; TMA from the
  // issuing thread alone.
  emitProducerRole(issuer, [&](bool withTma) {
    if (withTma && qByTma()) {
      // Q first: the consumers' first QK waits for it and the first K tile.
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(scf::IfOp::create(b, loc, qTma, false).thenBlock());
      ptx::fenceTensorMapAcquire(b, loc, qMap);
      issueQTensorCopies(cI64(0));
    }
    emitProducerTiles(r, cI64(0));
  });
}

void MmaBuilder::emitProducerItems() {
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  auto to32 = [&](Value v) { return Value(arith::TruncIOp::create(b, loc, i32, v)); };
  auto to64 = [&](Value v) { return Value(arith::ExtUIOp::create(b, loc, i64, v)); };
  ItemSchedule sched = itemSchedule(/*grouped=*/true);
  // Round r's Q buffer r % 2 and its use r / 2 (i64).
  auto parts = [&](Value r) {
    Value r64 = to64(r);
    return std::make_pair(Value(arith::AndIOp::create(b, loc, r64, cI64(1))),
                          Value(arith::ShRUIOp::create(b, loc, r64, cI64(1))));
  };
  auto valid = [&](Value item) { return Value(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, item, cI32(0))); };
  // A while loop over the rounds: `before` builds the round's item from the
  // carried values and returns it (i32), the loop going on while it is
  // >= 0; `after` builds the round's work and returns the next carried values.
  auto rounds = [&](ValueRange init, llvm::function_ref<Value(ValueRange)> before,
                    llvm::function_ref<SmallVector<Value>(ValueRange, Value)> after) {
    SmallVector<Type> types(init.getTypes()), passedTypes(types);
    passedTypes.push_back(i32);
    auto loop = scf::WhileOp::create(b, loc, passedTypes, init);
    OpBuilder::InsertionGuard guard(b);
    Block *pre = b.createBlock(&loop.getBefore(), {}, types, SmallVector<Location>(types.size(), loc));
    Value item = before(pre->getArguments());
    SmallVector<Value> passed(pre->getArguments());
    passed.push_back(item);
    scf::ConditionOp::create(b, loc, valid(item), passed);
    Block *body = b.createBlock(&loop.getAfter(), {}, passedTypes, SmallVector<Location>(passedTypes.size(), loc));
    scf::YieldOp::create(b, loc, after(body->getArguments().drop_back(), body->getArguments().back()));
    return loop;
  };
  initBarriers();
  auto roles = scf::IfOp::create(b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, tid, cIdx(threads())),
                                 /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(roles.thenBlock());
    // The rounds: TMA from the producer's first warp (a class-table search
    // wants a warp's lanes), its first thread issuing; cp.async from all 128.
    Value issuer = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, cIdx(issuerTid()));
    // Each thread's arrivals on both warpgroups' full barriers of `buf`:
    // for its cp.async copies (cpAsync) and plainly (releasing its
    // element-wise copies' stores).
    auto arriveOnFull = [&](Value buf, bool cpAsync) {
      for (int64_t w = 0; w < 2; ++w) {
        if (cpAsync)
          ptx::cpAsyncArrive(b, loc, qFullAddr(buf, cIdx(w)));
        ptx::mbarrierArrive(b, loc, qFullAddr(buf, cIdx(w)));
      }
    };
    auto emitRounds = [&](bool withTma) {
      if (withTma)
        ptx::fenceTensorMapAcquire(b, loc, qMap);
      rounds(
          ValueRange{cI32(0), cI64(0)},
          [&](ValueRange carried) {
            auto [buf, use] = parts(carried[0]);
            // The buffer and its slot are free once every consumer is done
            // with the item two rounds back (a fresh barrier passes parity 1
            // at once).
            ptx::mbarrierWait(b, loc, qEmptyAddr(buf), emptyParity(use));
            Value item = takeItem(sched, buf, issuer, withTma ? 32 : loaderThreads());
            // None left: the full barriers pass without Q (the consumers read
            // -1 in the slot and stop).
            OpBuilder::InsertionGuard inner(b);
            b.setInsertionPointToStart(scf::IfOp::create(b, loc, notI(valid(item)), false).thenBlock());
            if (withTma)
              b.setInsertionPointToStart(scf::IfOp::create(b, loc, issuer, false).thenBlock());
            arriveOnFull(buf, /*cpAsync=*/!withTma);
            return item;
          },
          [&](ValueRange carried, Value item) -> SmallVector<Value> {
            Value r = carried[0], issued = carried[1];
            setItemAt(sched, item);
            ItemRange range = itemRange();
            Value buf = parts(r).first;
            if (withTma) {
              OpBuilder::InsertionGuard inner(b);
              b.setInsertionPointToStart(scf::IfOp::create(b, loc, issuer, false).thenBlock());
              issueQTensorCopies(buf);
            } else {
              emitQ(buf);
              arriveOnFull(buf, /*cpAsync=*/true);
            }
            // The item's K / V tiles (the counts run on across items).
            return {arith::AddIOp::create(b, loc, r, cI32(1)), emitProducerTiles(range, issued)};
          });
    };
    emitProducerRole(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, tid, cIdx(threads() + 32)),
                     emitRounds);
  }
  // The consumers: the producer's items, read from the slots; what the key
  // loop does not read (the item's indices, its Q buffer) waits in the
  // stash, reloaded at each tile.
  b.setInsertionPointToStart(roles.elseBlock());
  NVVM::SetMaxRegisterOp::create(b, loc, kConsumerRegisters, NVVM::SetMaxRegisterAction::increase);
  issuesLoads = false;
  stash = LLVM::AllocaOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext()), i32, cI32(kStashSlots), 4);
  Value wgIdx = arith::DivUIOp::create(b, loc, warp, cIdx(4));
  // This warpgroup's full barrier of round r's buffer, then its slot.
  auto itemOfRound = [&](Value r, Value w) {
    auto [buf, use] = parts(r);
    ptx::mbarrierWait(b, loc, qFullAddr(buf, w), fullParity(use));
    return loadItemSlot(buf);
  };
  rounds(
      ValueRange{cI32(0), cI64(0), cI64(0)}, // round, issued, computed
      [&](ValueRange carried) { return itemOfRound(carried[0], wgIdx); },
      [&](ValueRange carried, Value item) -> SmallVector<Value> {
        Value r = carried[0];
        setItemAt(sched, item);
        Value buf = parts(r).first;
        stashStore(kItemQt, to32(qt));
        stashStore(kItemH, to32(hIdx));
        stashStore(kItemB, to32(bIdx));
        stashStore(kItemHk, to32(hkIdx));
        stashStore(kItemQBuf, to32(buf));
        auto reload = [&] {
          setItem(to64(stashLoad(kItemQt)), to64(stashLoad(kItemH)), to64(stashLoad(kItemB)), to64(stashLoad(kItemHk)));
          selectQ(to64(stashLoad(kItemQBuf)));
        };
        ItemRange range = itemRange();
        // This warpgroup's rows of the item's Q (its full barrier passed).
        fenceCopiesForWgmma();
        selectQ(buf);
        SmallVector<Value> init = emitItemStart();
        appendDeferredStates(init);
        unsigned numStates = init.size();
        Value want = firstWanted(range);
        init.push_back(want);
        init.push_back(issueTile(want, range.first, carried[1], fast)); // counted: the producer loads it
        init.push_back(carried[2]);
        Value first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, r, cI32(0));
        Value wg1 = beginTurns(first);
        reloadItem = reload;
        scf::ForOp loop = emitKeyLoop(range.first, range.numTiles, init, numStates, std::nullopt);
        reloadItem = nullptr;
        emitLoopEnd(loop);
        Value next = arith::AddIOp::create(b, loc, r, cI32(1));
        // Warpgroup 1 reads the next round's slot (waiting for its barrier,
        // which the next loop iteration's wait then passes at once).
        endTurns(wg1, [&] { return valid(itemOfRound(next, cIdx(1))); });
        ValueRange res = loop.getResults();
        Value issued = res[numStates + 1], computed = res[numStates + 2];
        reload();
        outQBuf = to64(stashLoad(kItemQBuf));
        oStage = qSmem(outQBuf);
        emitItemEnd();
        // Every consumer thread is done with the buffer (its Q, its staged
        // O, its slot) before the producer's next copies into it (async
        // proxy).
        ptx::fenceProxyAsync(b, loc);
        ptx::mbarrierArrive(b, loc, qEmptyAddr(outQBuf));
        oStage = outQBuf = Value();
        return {next, issued, computed};
      });
  b.setInsertionPointAfter(roles);
  issuesLoads = true;
}

Value MmaBuilder::takeItem(const ItemSchedule &s, Value buf, Value issuer, int64_t participants) {
  Type i32 = b.getI32Type();
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(scf::IfOp::create(b, loc, issuer, false).thenBlock());
    // The launch's counters (attn/gpu.h): the next ticket, then the blocks
    // that took their last one.
    Value next = gep(argPtr(ATTN_ARG_GPU_ERROR), i32, cI64(ATTN_GPU_TICKETS_OFFSET / 4));
    Value done = gep(next, i32, cI64(1));
    Value t = LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::add, next, cI32(1), LLVM::AtomicOrdering::monotonic);
    Value have = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, t, s.numItems);
    LLVM::StoreOp::create(b, loc, arith::SelectOp::create(b, loc, have, t, cI32(-1)), itemSlot(buf), 4);
    // A block takes tickets until one is past the items, so once every
    // block has taken that one no ticket is taken again in this launch.
    b.setInsertionPointToStart(scf::IfOp::create(b, loc, notI(have), false).thenBlock());
    Value finished = LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::add, done, cI32(1),
                                               LLVM::AtomicOrdering::monotonic);
    b.setInsertionPointToStart(
        scf::IfOp::create(b, loc,
                          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, finished,
                                                arith::SubIOp::create(b, loc, s.blocks, cI32(1))),
                          false)
            .thenBlock());
    for (Value counter : {next, done})
      LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::xchg, counter, cI32(0), LLVM::AtomicOrdering::monotonic);
  }
  ptx::namedBarrierSync(b, loc, cI32(kTicketBarrier), participants);
  return loadItemSlot(buf);
}

MmaBuilder::ItemSchedule MmaBuilder::itemSchedule(bool grouped) {
  // Items (b, h, query tile), heaviest query tiles first under causal-like
  // masks: item i is query tile nQt - 1 - i / (H B) of (b, h) = i % (H B)
  // as b * H + h. Block p of G takes in round r item r G + p (r even) or
  // r G + G - 1 - p (r odd): a snake over the blocks, so that each block's
  // items sum to about the same work when the work falls with i. In 32
  // bits: the launcher runs a persistent module only when the items fit.
  Type i32 = b.getI32Type();
  auto to32 = [&](Value v) { return Value(arith::TruncIOp::create(b, loc, i32, v)); };
  ItemSchedule s;
  s.nQt = to32(queryTileCount());
  s.heads = to32(sizes["H"]);
  s.perTile = arith::MulIOp::create(b, loc, s.heads, to32(sizes["B"]));
  s.numItems = arith::MulIOp::create(b, loc, s.nQt, s.perTile);
  s.blocks = arith::IndexCastOp::create(b, loc, i32, gpu::GridDimOp::create(b, loc, gpu::Dimension::x));
  s.p = arith::IndexCastOp::create(b, loc, i32, gpu::BlockIdOp::create(b, loc, gpu::Dimension::x));
  s.numRounds = arith::DivUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, s.numItems, arith::SubIOp::create(b, loc, s.blocks, cI32(1))),
      s.blocks);
  if (grouped) {
    // Query heads whose K and V (Skv x tier x 2 x 2 bytes per KV head,
    // shared by H / Hkv query heads) fit kL2Bytes, in [1, B H].
    Value perKvHead = arith::MaxSIOp::create(b, loc, mul(skv, cI64(hd * 4)), cI64(1));
    Value fit = mul(arith::DivSIOp::create(b, loc, cI64(kL2Bytes), perKvHead), group0);
    fit = arith::MaxSIOp::create(b, loc, arith::MinSIOp::create(b, loc, fit, arith::ExtUIOp::create(b, loc, b.getI64Type(), s.perTile)),
                                 cI64(1));
    s.headGroup = to32(fit);
  }
  return s;
}

std::pair<Value, Value> MmaBuilder::itemOf(const ItemSchedule &s, Value r) {
  Value odd = arith::TruncIOp::create(b, loc, b.getI1Type(), r);
  Value last = arith::SubIOp::create(b, loc, arith::SubIOp::create(b, loc, s.blocks, cI32(1)), s.p);
  Value i = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, r, s.blocks),
                                  arith::SelectOp::create(b, loc, odd, last, s.p));
  return {i, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, i, s.numItems)};
}

void MmaBuilder::setItemAt(const ItemSchedule &s, Value i) {
  auto to64 = [&](Value v) { return Value(arith::ExtUIOp::create(b, loc, b.getI64Type(), v)); };
  if (s.headGroup) {
    // Group g of headGroup pairs (the last one may hold fewer: n), its item
    // j is query tile nQt - 1 - j / n of pair g headGroup + j % n.
    Value groupItems = arith::MulIOp::create(b, loc, s.headGroup, s.nQt);
    Value g = arith::DivUIOp::create(b, loc, i, groupItems);
    Value j = arith::RemUIOp::create(b, loc, i, groupItems);
    Value first = arith::MulIOp::create(b, loc, g, s.headGroup);
    Value n = arith::MinUIOp::create(b, loc, s.headGroup, arith::SubIOp::create(b, loc, s.perTile, first));
    Value bh = arith::AddIOp::create(b, loc, first, arith::RemUIOp::create(b, loc, j, n));
    Value u = arith::DivUIOp::create(b, loc, j, n);
    setItem(to64(arith::SubIOp::create(b, loc, arith::SubIOp::create(b, loc, s.nQt, cI32(1)), u)),
            to64(arith::RemUIOp::create(b, loc, bh, s.heads)), to64(arith::DivUIOp::create(b, loc, bh, s.heads)));
    return;
  }
  Value u = arith::DivUIOp::create(b, loc, i, s.perTile);
  Value bh = arith::RemUIOp::create(b, loc, i, s.perTile);
  setItem(to64(arith::SubIOp::create(b, loc, arith::SubIOp::create(b, loc, s.nQt, cI32(1)), u)),
          to64(arith::RemUIOp::create(b, loc, bh, s.heads)), to64(arith::DivUIOp::create(b, loc, bh, s.heads)));
}

void MmaBuilder::emitPersistentItems() {
  Type i32 = b.getI32Type();
  auto to32 = [&](Value v) { return Value(arith::TruncIOp::create(b, loc, i32, v)); };
  auto to64 = [&](Value v) { return Value(arith::ExtUIOp::create(b, loc, b.getI64Type(), v)); };
  ItemSchedule sched = itemSchedule();
  Value numRounds = sched.numRounds;
  auto itemOf = [&](Value r) { return this->itemOf(sched, r); };
  auto setItemAt = [&](Value i) { this->setItemAt(sched, i); };
  // An item's range and whether its first tile is loaded (false for an item
  // past the last).
  auto rangeOf = [&](Value i, Value valid) {
    setItemAt(arith::SelectOp::create(b, loc, valid, i, cI32(0)));
    ItemRange r = itemRange();
    r.want = andI(valid, firstWanted(r));
    return r;
  };
  // The next item's Q goes to buffer 1 while the item's QK reads buffer 0
  // (a descriptor that does not change: with the buffer chosen per round,
  // ptxas held the QK's descriptors in registers), and is copied to buffer
  // 0 when the next item starts.
  Value one = cI64(1), zero = cI64(0);
  auto ifQ = [&](Value valid) {
    auto ifValid = scf::IfOp::create(b, loc, valid, false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifValid.thenBlock());
    emitQ(one);
  };
  stash = LLVM::AllocaOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext()), b.getI32Type(),
                                 cI32(kStashSlots), 4);
  initBarriers();
  // Round 0's item: its Q and first tile.
  auto [i0, valid0] = itemOf(cI32(0));
  ItemRange r0 = rangeOf(i0, valid0);
  ifQ(valid0);
  Value issued0 = issueTile(r0.want, r0.first, cI64(0), fast);
  selectQ(zero);
  oStage = qSmem(zero);
  auto rounds = scf::ForOp::create(b, loc, cI32(0), numRounds, cI32(1),
                                   ValueRange{issued0, cI64(0), r0.first, r0.numTiles, r0.want});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(rounds.getBody());
  Value r = rounds.getInductionVar();
  ValueRange carried = rounds.getRegionIterArgs();
  auto [i, valid] = itemOf(r);
  auto ifValid = scf::IfOp::create(b, loc, TypeRange(carried), valid, true);
  b.setInsertionPointToStart(ifValid.elseBlock());
  scf::YieldOp::create(b, loc, carried);
  b.setInsertionPointToStart(ifValid.thenBlock());
  // This item's Q has landed in buffer 1 (every thread's copies), and every
  // thread is done with the previous item (buffer 0: its Q, its staged O).
  NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);
  gpu::BarrierOp::create(b, loc);
  {
    // Buffer 1 to buffer 0, 16 bytes per thread and step.
    auto vec = VectorType::get({4}, i32);
    int64_t chunks = rowsPerBlock() * hd * 2 / 16;
    Value from = qSmem(one), to = qSmem(zero);
    for (int64_t c = 0; c < chunks; c += threads()) {
      Value e = add(toI64(tid), cI64(c)); // 16-byte chunk e: elements 8e..8e+7
      auto ifIn = scf::IfOp::create(b, loc, slt(e, cI64(chunks)), false);
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(ifIn.thenBlock());
      Value off = mul(e, cI64(8));
      Value v = LLVM::LoadOp::create(b, loc, vec, gep(smemPtr, elemTy, add(toI64(from), off)), 16);
      LLVM::StoreOp::create(b, loc, v, gep(smemPtr, elemTy, add(toI64(to), off)), 16);
    }
  }
  ptx::fenceProxyAsync(b, loc);
  gpu::BarrierOp::create(b, loc);
  // The next item: its range (class-table reads, searches) and its Q now,
  // its first tile during this item's last (emitKeyLoop). What the key loop
  // does not read (the items' indices, the next item's range) waits in a
  // per-thread stash (volatile local memory), reloaded where needed: held
  // in registers beside a tile's they spilled the tile's own values (the
  // d128 kernels use 253-255 registers without them).
  auto [iN, validN] = itemOf(arith::AddIOp::create(b, loc, r, cI32(1)));
  ItemRange rN = rangeOf(iN, validN);
  stashStore(kNextItem, arith::SelectOp::create(b, loc, validN, iN, cI32(0)));
  stashStore(kNextFirst, to32(rN.first));
  stashStore(kNextTiles, to32(rN.numTiles));
  stashStore(kNextWant, arith::ExtUIOp::create(b, loc, i32, rN.want));
  ifQ(validN);
  setItemAt(i);
  // The item's query tile, head and batch (decoded once: a tile reloads them
  // without the divisions).
  stashStore(kItemQt, to32(qt));
  stashStore(kItemH, to32(hIdx));
  stashStore(kItemB, to32(bIdx));
  stashStore(kItemHk, to32(hkIdx));
  auto reloadIds = [&] {
    setItem(to64(stashLoad(kItemQt)), to64(stashLoad(kItemH)), to64(stashLoad(kItemB)),
            to64(stashLoad(kItemHk)));
  };
  SmallVector<Value> init = emitItemStart();
  unsigned numStates = init.size();
  init.push_back(carried[4]);                                 // the first tile was loaded
  init.push_back(carried[0]);                                 // issued
  init.push_back(carried[1]);                                 // computed
  init.push_back(arith::ConstantIntOp::create(b, loc, 0, 1)); // the next item's first tile not yet
  auto issueNext = [&](Value issued, Value when) {
    ItemIds mine = saveItem();
    setItemAt(stashLoad(kNextItem));
    Value want = andI(when, arith::TruncIOp::create(b, loc, b.getI1Type(), stashLoad(kNextWant)));
    issued = issueTile(want, to64(stashLoad(kNextFirst)), issued, fast);
    restoreItem(mine);
    return issued;
  };
  reloadItem = reloadIds;
  scf::ForOp loop = emitKeyLoop(carried[2], carried[3], init, numStates, NextIssue(issueNext));
  emitLoopEnd(loop);
  reloadItem = nullptr;
  ValueRange res = loop.getResults();
  Value issued = res[numStates + 1], computed = res[numStates + 2], crossed = res[numStates + 3];
  // An item of no tile (or whose last tiles were not loaded) has not
  // loaded the next item's first tile yet.
  issued = issueNext(issued, notI(crossed));
  reloadIds();
  emitItemEnd();
  scf::YieldOp::create(b, loc, ValueRange{issued, computed, to64(stashLoad(kNextFirst)),
                                          to64(stashLoad(kNextTiles)),
                                          arith::TruncIOp::create(b, loc, b.getI1Type(), stashLoad(kNextWant))});
  b.setInsertionPointAfter(ifValid);
  scf::YieldOp::create(b, loc, ifValid.getResults());
}

/// A row's state slot in the split-KV scratch (ATTN_ARG_PARTIALS).
Value MmaBuilder::partialAt(Value head, Value row, Value chunkIdx, Value slot) {
  int64_t slots = kSplitRowSlots + kSplitOIterates * hd;
  Value r = add(mul(add(mul(bIdx, sizes["H"]), head), sq), row);
  Value at = add(mul(add(mul(r, numChunks), chunkIdx), cI64(slots)), slot);
  return gep(toGlobal(argPtr(ATTN_ARG_PARTIALS)), b.getF32Type(), at);
}

void MmaBuilder::writePartials(ArrayRef<cascade::IterateOp> iterates) {
  Value t0 = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, t, cI64(0));
  int64_t rowSlot = 0, oSlot = 0;
  for (cascade::IterateOp it : iterates) {
    SmallVector<Value> &fin = vals[it.getFinal()];
    if (shapeOf(it.getCur()) == Shape::Row) {
      for (unsigned h = 0; h < 2; ++h) {
        auto ifOk = scf::IfOp::create(b, loc, andI(t0, rowValid[h]), false);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(ifOk.thenBlock());
        LLVM::StoreOp::create(b, loc, fin[h], partialAt(headOf[h], rows[h], chunk, cI64(rowSlot)), 4);
      }
      ++rowSlot;
      continue;
    }
    for (unsigned k = 0, n = countOf(Shape::O); k < n; ++k) {
      Value f = add(mul(t, cI64(2)), cI64((k / 4) * 8 + (k & 1)));
      auto ifOk = scf::IfOp::create(b, loc, rowValid[halfOf(k)], false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifOk.thenBlock());
      LLVM::StoreOp::create(b, loc, fin[k],
                            partialAt(headOf[halfOf(k)], rows[halfOf(k)], chunk,
                                      add(cI64(kSplitRowSlots + oSlot * hd), f)), 4);
    }
    ++oSlot;
  }
}

void MmaBuilder::reportErrors() {

  // An out-of-range tensor read: OR ATTN_ERROR_OUT_OF_RANGE into the flag.
  Value flag = memref::LoadOp::create(b, loc, errorFlag, ValueRange{cIdx(0)});
  Value status = mul(flag, cI32(ATTN_ERROR_OUT_OF_RANGE));
  auto bad = scf::IfOp::create(
      b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, status, cI32(0)), false);
  b.setInsertionPointToStart(bad.thenBlock());
  LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::_or, argPtr(ATTN_ARG_GPU_ERROR), status,
                            LLVM::AtomicOrdering::monotonic);
  b.setInsertionPointAfter(bad);
}

LogicalResult MmaBuilder::buildMerge() {
  auto fn = addGpuKernel(target, b, loc,
                         mmaKernelName(variant.getSymName(), options.inputType, hd) + "_merge");
  fn.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({int32_t(ATTN_GPU_BLOCK_SIZE), 1, 1}));
  args = fn.getArgument(0);
  vals.clear();
  emitted.clear();
  // One thread per output element (b, h, row, f < tier) of a 1-D grid:
  // decode has few rows, and a thread per row would merge all D columns
  // alone. The row merges (a few loads per chunk) are repeated per column.
  Value tidx = toI64(add(mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x), cIdx(ATTN_GPU_BLOCK_SIZE)),
                         gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x)));
  Value f = arith::RemSIOp::create(b, loc, tidx, cI64(hd));
  Value gid = arith::DivSIOp::create(b, loc, tidx, cI64(hd));
  loadSizes();
  Value hq = mul(sizes["H"], sq);
  auto inRange = scf::IfOp::create(b, loc, slt(gid, mul(sizes["B"], hq)), false);
  b.setInsertionPoint(inRange.thenBlock()->getTerminator());
  bIdx = arith::DivSIOp::create(b, loc, gid, hq);
  hIdx = arith::RemSIOp::create(b, loc, arith::DivSIOp::create(b, loc, gid, sq), sizes["H"]);
  Value row = arith::RemSIOp::create(b, loc, gid, sq);
  numChunks = argWord(ATTN_ARG_NUM_CHUNKS);
  loadOutputsAndFlag();
  for (unsigned h = 0; h < 2; ++h) {
    rows[h] = row;
    headOf[h] = hIdx;
    absI[h] = add(qOff, row);
    rowValid[h] = arith::ConstantIntOp::create(b, loc, 1, 1);
  }
  // Where each iterate's final lives in a chunk's state.
  llvm::DenseMap<Value, int64_t> slotOf;
  int64_t rowSlot = 0, oSlot = 0;
  Block &body = cas.getBody().front();
  for (Operation &op : body)
    if (auto it = dyn_cast<cascade::IterateOp>(op))
      slotOf[it.getFinal()] = shapeOf(it.getCur()) == Shape::Row ? rowSlot++
                                                                 : kSplitRowSlots + hd * oSlot++;
  // A merge at one point: its reduction over the chunks of its body.
  auto merge = [&](cascade::EinsumOp op, Value f) {
    cascade::CombineKind kind = *op.getReduce();
    auto loop = scf::ForOp::create(b, loc, cIdx(0), toIdx(numChunks), cIdx(1),
                                   ValueRange{cF32(cascade::identityOf(kind))});
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value c = toI64(loop.getInductionVar());
    SmallVector<Value> ins;
    for (Value in : op.getInputs()) {
      if (slotOf.count(in)) {
        Value slot = cI64(slotOf[in]);
        if (shapeOf(in) == Shape::O)
          slot = add(slot, f);
        ins.push_back(LLVM::LoadOp::create(b, loc, b.getF32Type(), partialAt(hIdx, row, c, slot), 4));
      } else {
        ins.push_back(valueAt(in, 0, shapeOf(in)));
      }
    }
    Value v = inline_(op.getBody(), 0, cI64(-1), {}, ins);
    scf::YieldOp::create(b, loc, combine(b, loc, kind, loop.getRegionIterArgs()[0], v));
    return loop.getResult(0);
  };
  // Rows first (pre-loop maps, row merges, post maps), then each head column.
  for (Operation &op : body) {
    Kind k = kindOf.lookup(&op);
    if (k == Kind::Pre || k == Kind::Post) {
      emitOp(&op, cI64(-1));
    } else if (k == Kind::Merge && shapeOf(op.getResult(0)) == Shape::Row) {
      Value v = merge(cast<cascade::EinsumOp>(op), Value());
      vals[op.getResult(0)] = {v, v};
    }
  }
  auto out = cast<cascade::OutputOp>(body.getTerminator());
  Value any = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                    valueAt(out.getKept(), 0, Shape::Row), cF32(0));
  if (Value lse = out.getLse()) {
    auto ifOn = scf::IfOp::create(
        b, loc, andI(lseWanted(), arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, f, cI64(0))), false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOn.thenBlock());
    storeLse(row, any, valueAt(lse, 0, Shape::Row));
  }
  auto cols = scf::IfOp::create(b, loc, slt(f, dDim), false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(cols.thenBlock());
    for (Operation &op : body) {
      Kind k = kindOf.lookup(&op);
      if (k == Kind::Merge && shapeOf(op.getResult(0)) == Shape::O) {
        vals[op.getResult(0)] = {merge(cast<cascade::EinsumOp>(op), f)};
      } else if (k == Kind::PostO) {
        auto e = cast<cascade::EinsumOp>(op);
        SmallVector<Value> ins;
        for (Value in : e.getInputs())
          ins.push_back(valueAt(in, 0, shapeOf(in)));
        vals[op.getResult(0)] = {inline_(e.getBody(), 0, cI64(-1), {}, ins)};
      }
    }
    storeO(row, f, any, valueAt(out.getAv(), 0, Shape::O));
  }
  reportErrors();
  lowerFastMath(fn);
  return success();
}

LogicalResult MmaBuilder::buildClasses() {
  auto fn = addGpuKernel(target, b, loc,
                         mmaKernelName(variant.getSymName(), options.inputType, hd) +
                             (keepReadsHead ? "_classes_h" : "_classes"));
  fn.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({int32_t(ATTN_GPU_CLASSES_BLOCK_SIZE), 1, 1}));
  args = fn.getArgument(0);
  vals.clear();
  emitted.clear();
  tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value kt = toI64(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x));
  qt = toI64(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y));
  bIdx = toI64(gpu::BlockIdOp::create(b, loc, gpu::Dimension::z));
  group = cI64(1);
  loadSizes();
  loadOutputsAndFlag();
  numKeyTiles = toI64(gpu::GridDimOp::create(b, loc, gpu::Dimension::x));
  numQueryTiles = toI64(gpu::GridDimOp::create(b, loc, gpu::Dimension::y));
  Value table = toGlobal(argPtr(ATTN_ARG_TILE_CLASSES));
  Type i1 = b.getI1Type();
  Value yes = arith::ConstantIntOp::create(b, loc, 1, 1);
  Value no = arith::ConstantIntOp::create(b, loc, 0, 1);
  Value heads = keepReadsHead ? sizes["H"] : cI64(1);
  auto hLoop = scf::ForOp::create(b, loc, cIdx(0), toIdx(heads), cIdx(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(hLoop.getBody());
  hIdx = toI64(hLoop.getInductionVar());
  // Tiles interval arithmetic classes need no evaluation (causal: the tiles
  // past the diagonal).
  TileClassValues cls = intervalClass(kt);
  auto ifSettled = scf::IfOp::create(b, loc, TypeRange{i1, i1}, arith::OrIOp::create(b, loc, cls.empty, cls.full), true);
  {
    OpBuilder::InsertionGuard inner(b);
    b.setInsertionPointToStart(ifSettled.thenBlock());
    scf::YieldOp::create(b, loc, ValueRange{arith::XOrIOp::create(b, loc, cls.empty, yes), cls.full});
    // Each thread: the 8 x (bc / 16) points of rows tid / 16 + 16 m and keys
    // tid % 16 + 16 n of the tile (unrolled: LLVM merges the reads that
    // depend on the row alone or the key alone, so a document mask loads 8 +
    // bc / 16 ids for bc / 2 points). A tile inside [0, Sq) x [0, Skv) (all
    // but the last row and column of tiles) needs no per-point range test.
    b.setInsertionPointToStart(ifSettled.elseBlock());
    static_assert(kMmaRowsPerBlock * 16 == 8 * ATTN_GPU_CLASSES_BLOCK_SIZE,
                  "16 threads per row group, 8 rows each");
    auto evalPoints = [&](bool interior) -> FailureOr<std::pair<Value, Value>> {
      Value tid64 = toI64(tid);
      Value row0 = add(mul(qt, cI64(kMmaRowsPerBlock)), arith::DivUIOp::create(b, loc, tid64, cI64(16)));
      Value j0 = add(mul(kt, cI64(bc)), arith::RemUIOp::create(b, loc, tid64, cI64(16)));
      Value any = no, all = yes;
      for (int64_t m = 0; m < kMmaRowsPerBlock / 16; ++m)
        for (int64_t n = 0; n < bc / 16; ++n) {
          Value row = add(row0, cI64(16 * m)), j = add(j0, cI64(16 * n));
          Value valid = interior ? yes : andI(slt(row, sq), slt(j, skv));
          BodyContext ctx{bIdx, hIdx, paramsPtr, tensorsPtr, errorFlag, interior ? Value() : valid, &sizes};
          Value keep = inlineBody(variant, b, loc, ctx, keepOp.getBody(), add(qOff, row), j, {}, {});
          if (!keep)
            return failure();
          any = arith::OrIOp::create(b, loc, any, andI(keep, valid));
          all = andI(all, arith::OrIOp::create(b, loc, keep, arith::XOrIOp::create(b, loc, valid, yes)));
        }
      return std::make_pair(any, all);
    };
    Value inside = andI(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle,
                                              mul(add(qt, cI64(1)), cI64(kMmaRowsPerBlock)), sq),
                        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle,
                                              mul(add(kt, cI64(1)), cI64(bc)), skv));
    auto ifInside = scf::IfOp::create(b, loc, TypeRange{i1, i1}, inside, true);
    for (bool interior : {true, false}) {
      OpBuilder::InsertionGuard branch(b);
      b.setInsertionPointToStart(interior ? ifInside.thenBlock() : ifInside.elseBlock());
      FailureOr<std::pair<Value, Value>> anyAll = evalPoints(interior);
      if (failed(anyAll))
        return failure();
      scf::YieldOp::create(b, loc, ValueRange{anyAll->first, anyAll->second});
    }
    scf::YieldOp::create(b, loc, ifInside.getResults());
  }
  Value any = blockReduce(ifSettled.getResult(0), NVVM::BarrierReduction::OR);
  Value all = blockReduce(ifSettled.getResult(1), NVVM::BarrierReduction::AND);
  Value cls8 = arith::SelectOp::create(
      b, loc, any,
      arith::SelectOp::create(b, loc, all, arith::ConstantIntOp::create(b, loc, kTileFull, 8),
                              arith::ConstantIntOp::create(b, loc, kTilePartial, 8)),
      arith::ConstantIntOp::create(b, loc, kTileEmpty, 8));
  auto ifFirst = scf::IfOp::create(b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, cIdx(0)), false);
  {
    OpBuilder::InsertionGuard inner(b);
    b.setInsertionPointToStart(ifFirst.thenBlock());
    Value at = add(mul(add(mul(tableHead(), numQueryTiles), qt), numKeyTiles), kt);
    LLVM::StoreOp::create(b, loc, cls8, gep(table, b.getI8Type(), at), 1);
  }
  b.setInsertionPointAfter(hLoop);
  reportErrors();
  lowerFastMath(fn);
  return success();
}

} // namespace

static cascade::CascadeOp cascadeOf(VariantOp variant, std::string &why) {
  cascade::CascadeOp cas;
  variant.walk([&](cascade::CascadeOp c) { cas = c; });
  if (!cas)
    why = "no cascade";
  return cas;
}

bool fitsMmaKernel(VariantOp variant, std::string *why) {
  std::string reason;
  cascade::CascadeOp cas = cascadeOf(variant, reason);
  bool fits = cas && MmaBuilder(variant, cas, nullptr, MmaKernelOptions()).classify(reason);
  if (why)
    *why = reason;
  return fits;
}

std::string describeMmaSchedule(VariantOp variant, const MmaMapping &mapping) {
  std::string reason;
  cascade::CascadeOp cas = cascadeOf(variant, reason);
  MmaKernelOptions options;
  static_cast<MmaMapping &>(options) = mapping;
  options.wgmma = true;
  MmaBuilder builder(variant, cas, nullptr, options);
  if (!cas || !builder.classify(reason))
    return "";
  builder.planMask();
  const bool persistent = builder.wantsPersistent();
  if (!builder.wantsProducer())
    return (mayBeProducerMma(options) ? "the consumer warpgroups load K / V (the mask reads a tensor "
                                        "by key: no producer warpgroup)"
                                      : "the consumer warpgroups load K / V") +
           std::string(persistent ? "; persistent: one block per SM takes (b, h, query tile) items in "
                                    "rounds"
                                  : "");
  // (A one-item kernel's producer loads Q too where the tier takes TMA.)
  // The persistent producer kernel's items are taken, not dealt (ABI 10).
  std::string loads = persistent ? "Q, K and V" : "K / V";
  std::string items = persistent ? "; persistent: one block per SM, its producer taking the next (b, "
                                   "h, query tile) item from a counter whenever it starts one"
                                 : "";
  return "a producer warpgroup loads " + loads +
         (mapping.pingPong ? ", the two consumer warpgroups take turns on the tensor cores (ping-pong)" : "") +
         (builder.pairsMma() ? ", each turn issuing a tile's PV and the next tile's QK (paired MMAs; K and V "
                               "released apart)"
                             : "") +
         items;
}

FailureOr<bool> buildMmaKernel(VariantOp variant, ModuleOp target, const MmaKernelOptions &options,
                               std::string *why) {
  std::string reason;
  auto no = [&](const std::string &r) {
    if (why)
      *why = r;
    return false;
  };
  if (options.inputType != ATTN_BF16 && options.inputType != ATTN_F16)
    return no("tensor cores take bf16 / fp16 inputs");
  if (!isMmaHeadDim(options.headDim))
    return no("head dimension tier must be a multiple of 32 up to 256");
  cascade::CascadeOp cas = cascadeOf(variant, reason);
  if (!cas)
    return no(reason);
  MmaBuilder builder(variant, cas, target, options);
  if (!builder.classify(reason))
    return no(reason);
  if (failed(builder.build()))
    return failure();
  if (builder.isSplit() && failed(builder.buildMerge()))
    return failure();
  if (builder.usesClassTable() && failed(builder.buildClasses()))
    return failure();
  return true;
}

} // namespace attn
