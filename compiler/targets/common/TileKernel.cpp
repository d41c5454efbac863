//===- TileKernel.cpp - a variant's cascade -> a CPU or GPU tile kernel ---===//
//
// Every fiber gets a flat stack buffer over its ranks without `m1` (the key
// tile loop): streaming values hold one key tile, row values one row tile.
// Ops are placed by pass: row ops before / between / after the key-tile
// loops, "anchors" (reductions over m1 and iterates over m1) in the loop of
// their pass, and the streaming maps and local reductions they read are
// emitted again in every pass that needs them (rematerialisation), so a
// multi-pass cascade runs as several key loops. Map actions are inlined from
// the Einsum bodies; attn ops in them read the argument block.
//
//===----------------------------------------------------------------------===//
#include "compiler/targets/common/TileKernel.h"
#include "compiler/targets/common/BodyInliner.h"
#include "compiler/targets/common/TileIntervals.h"
#include "compiler/targets/common/VariantDescription.h"

#include "attn/kernel.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"

#include <limits>
#include <optional>

using namespace mlir;

namespace attn {

gpu::GPUFuncOp addGpuKernel(ModuleOp target, OpBuilder &b, Location loc, StringRef name) {
  MLIRContext *ctx = target.getContext();
  target->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), UnitAttr::get(ctx));
  gpu::GPUModuleOp gm;
  for (auto m : target.getOps<gpu::GPUModuleOp>())
    gm = m;
  if (!gm) {
    b.setInsertionPointToEnd(target.getBody());
    gm = gpu::GPUModuleOp::create(b, loc, "attn_kernels");
  }
  b.setInsertionPointToEnd(gm.getBody());
  auto fn = gpu::GPUFuncOp::create(
      b, loc, name, b.getFunctionType({LLVM::LLVMPointerType::get(ctx)}, {}));
  fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), UnitAttr::get(ctx));
  Block &entry = fn.getBody().front();
  b.setInsertionPointToStart(&entry);
  b.setInsertionPoint(gpu::ReturnOp::create(b, loc));
  return fn;
}

std::string tileKernelName(llvm::StringRef variant, attn_dtype inputType, KernelTarget target) {
  return ("attn_" + variant + "_" + dtypeShortName(inputType) +
          (target == KernelTarget::Gpu ? "_gpu" : "_tile"))
      .str();
}

namespace {

/// Rows of the broadcast operand per micro-kernel step (accumulators).
constexpr int64_t kRows = 8;

int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/// Ranks over keys that a kernel call loops over (m2, the split-KV chunk, is
/// the launcher's: each call runs one chunk or merges them).
bool isKeyRank(StringRef r) { return r == "m" || r == "m0" || r == "m1"; }
/// Ranks no buffer stores: m1 is the key-tile loop (and m2 the split-KV chunk).
bool isTileRank(StringRef r) { return r == "m1" || r == "m2"; }
bool isHeadRank(StringRef r) { return r == "e" || r == "f"; }

/// Where a value lives in the kernel: a flat buffer over `ranks`.
struct Storage {
  Value buffer;
  SmallVector<StringRef> ranks;
};

class KernelBuilder {
public:
  KernelBuilder(attn::VariantOp variant, cascade::CascadeOp cascadeOp,
                ModuleOp target, const TileKernelOptions &options)
      : variant(variant), cas(cascadeOp), target(target), options(options),
        b(variant.getContext()), loc(variant.getLoc()), kVec(options.vectorLanes) {}

  LogicalResult build();
  /// Whether one call's key loop can run over a chunk of the key tiles with
  /// the state merged afterwards: one pass over K/V, and every value that
  /// crosses key tiles an iterate over m1 with a `combine` kind.
  bool canSplit();

private:
  // --- small builders -----------------------------------------------------
  Value cIndex(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value cI64(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 64); }
  Value cF32(double v) {
    return arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat((float)v));
  }
  Value toIndex(Value v) { return arith::IndexCastOp::create(b, loc, b.getIndexType(), v); }
  Value toI64(Value v) { return arith::IndexCastOp::create(b, loc, b.getI64Type(), v); }
  Value gep(Value base, Type elem, Value offset) {
    return LLVM::GEPOp::create(b, loc, ptrTy, elem, base, ValueRange{offset});
  }
  Value loadWord(Value base, int64_t k) {
    return LLVM::LoadOp::create(b, loc, b.getI64Type(), gep(base, b.getI64Type(), cI64(k)),
                                /*alignment=*/8);
  }
  Value loadPtr(Value base, int64_t k) {
    return LLVM::LoadOp::create(b, loc, ptrTy, gep(base, ptrTy, cI64(k)), /*alignment=*/8);
  }
  Value argWord(int64_t k) { return loadWord(args, k); }
  Type inputElemType();
  Value loadInputElem(Value base, Value offset);
  void storeOutputElem(Value base, Value offset, Value v);

  // --- storage ---------------------------------------------------------------
  Value extentOf(StringRef rank);
  Value boundOf(StringRef rank);
  Storage &allocate(Value fiber, ArrayRef<StringRef> ranks);
  Value linearIndex(const Storage &s, const llvm::StringMap<Value> &point);
  Value loadAt(Value fiber, const llvm::StringMap<Value> &point);
  /// Reads K / V at a point straight from the caller's tensor (zero for keys
  /// past Skv); used instead of tile copies where each thread has its own row
  /// (the GPU entry), so that no per-thread copy of K and V exists.
  Value loadInputDirect(cascade::InputOp in, const llvm::StringMap<Value> &point);

  // --- ops ---------------------------------------------------------------
  LogicalResult classify();
  void emitRowOps(unsigned phase);
  LogicalResult emitPass(unsigned pass);
  /// One key tile's work: the K/V tile, then the pass's Einsums and iterates.
  void emitTileBody(const llvm::SetVector<Operation *> &needed, Value m1);
  void emitEinsum(cascade::EinsumOp op, Value m1);
  void emitIterateStep(cascade::IterateOp op, Value m1);
  void emitIterateInit(cascade::IterateOp op);
  void emitAccumulatorInit(cascade::EinsumOp op);
  void emitKVTile(Value m1);
  /// The K or V tile when its head dim is contiguous: each real key's row as
  /// whole vectors (then the rest of D), zeros for keys past Skv.
  void emitKVRows(Value base, int64_t strideWord, const Storage &s, Value m1);
  void zeroFill(const Storage &s);
  /// Buffers are allocated at function entry, after the sizes are loaded.
  void setAllocationPoint() { b.setInsertionPointAfter(errorFlag.getDefiningOp()); }
  /// The operands of an Einsum that the contraction micro-kernel computes.
  struct Contraction {
    Value x, y;             ///< C[a, b] (+)= sum_k X[a, k] * Y[k, b]
    StringRef aR, bR, kR;
  };
  std::optional<Contraction> matchContraction(cascade::EinsumOp op);
  bool emitContraction(cascade::EinsumOp op, Value m1);
  Value maskedOperand(cascade::EinsumOp op, Value x, Value m1);
  /// Rows [nrows, roundUp(nrows, kVec)) of the buffers a contraction reads
  /// or writes, set to zero once at entry: the micro-kernel runs whole row
  /// groups, and stale stack bytes there (denormals) made it crawl.
  void zeroPaddedRows(const Storage &s);
  Value paddedRows(int64_t multiple);
  void emitOutput(cascade::OutputOp out);

  // --- split-KV (CPU entry of a split cascade) ------------------------------
  /// Writes the key tile and the floats of one row's state to the int64_t[2]
  /// at ATTN_ARG_PARTIALS (ATTN_SPLIT_DESCRIBE).
  void emitDescribe();
  /// Where row p's state of iterate `it` (element `head` of a [p, f] state)
  /// from chunk `w` lives in the partials.
  Value stateAddress(cascade::IterateOp it, const llvm::StringMap<Value> &pt, Value w);
  /// ATTN_SPLIT_PARTIAL: every iterate's state after the chunk's tiles to the
  /// partials.
  void emitStorePartials();
  /// A merge Einsum over m2 (`RX_merged`): over the chunks' states read from
  /// the partials (ATTN_SPLIT_MERGE), or, with one chunk (ATTN_SPLIT_NONE),
  /// the iterate's own final (combined with the merge's init): the merge of
  /// one worker is the identity, its rescale factor being exp(0).
  void emitMerge(cascade::EinsumOp op);
  Value emitBody(Region &body, Value i, Value j, ValueRange leading,
                 ArrayRef<Value> inputs);
  Value combine(cascade::CombineKind kind, Value acc, Value v);
  void forEachPoint(ArrayRef<StringRef> ranks,
                    function_ref<void(llvm::StringMap<Value> &)> fn,
                    const llvm::StringMap<Value> &outer = {});
  /// Folds `fn` over the points of `ranks` (but m1), the accumulator
  /// carried through the loops' iter_args.
  Value reducePoints(ArrayRef<StringRef> ranks, Value init,
                     function_ref<Value(llvm::StringMap<Value> &, Value)> fn);
  Value pointI(const llvm::StringMap<Value> &pt);
  Value pointJ(const llvm::StringMap<Value> &pt, Value m1);

  attn::VariantOp variant;
  cascade::CascadeOp cas;
  ModuleOp target;
  TileKernelOptions options;
  OpBuilder b;
  Location loc;
  /// Vector lanes (padding of head dims and rows; 1 = no micro-kernel).
  int64_t kVec;
  Type ptrTy;

  // Kernel arguments and values loaded once at entry.
  Value args, bIdx, hIdx, hkIdx, row0, nrows;
  Value qOff, skv, dDim, paddedD, mTileV, numTiles, errorFlag;
  Value qPtr, kPtr, vPtr, oPtr, lsePtr, paramsPtr, tensorsPtr;
  llvm::StringMap<Value> sizeValues;
  int64_t mTile = 0;

  llvm::DenseMap<Value, Storage> storage;
  /// For each op: 0 = row op, else the pass (1-based) of an anchor.
  llvm::DenseMap<Operation *, unsigned> passOf;
  /// For row ops: the phase (number of key loops that must precede it).
  llvm::DenseMap<Operation *, unsigned> phaseOf;
  /// Streaming ops (maps and local reductions): the earliest pass they can run in.
  llvm::DenseMap<Operation *, unsigned> needOf;
  unsigned numPasses = 0;
  Block *entryBlock = nullptr;
  /// While a body is inlined at a point of a key tile: whether the point is a
  /// real key (j < Skv). Padding points must not report out-of-range reads.
  Value pointValid;
  /// K and V are read in place (GPU: a warp's rows read the same key, a
  /// broadcast) rather than copied into tile buffers (CPU); Q, re-read for
  /// every key, is always copied once.
  bool directInputs = false;
  /// The key tile of the loop being emitted (for direct K / V reads).
  Value curM1;
  /// While emitting a tile known to be fully kept with only real keys: the
  /// mask and the key-validity test are skipped.
  bool tileFull = false;
  /// The first kRows rows of Q as [row, e] (the Q buffer is [e, p]), for the
  /// score contraction of calls with fewer rows than kRows; or null.
  Value qRows;
  /// The key tiles tileBegin, tileBegin + tileStep, ... below numTiles that
  /// the key loops run over: all of them, or one chunk's (ATTN_SPLIT_PARTIAL).
  Value tileBegin, tileStep;

  /// The cascade is split (cascade-split-kv): merges over m2 follow the
  /// iterates, and the CPU entry takes ATTN_ARG_SPLIT's modes.
  bool split = false;
  Value splitMode, numChunks, chunk, partialsPtr;
  /// The iterates in order, and where each one's state starts in a row's
  /// state: scalars (a [p] state) take one float, vectors ([p, f]) D floats.
  SmallVector<cascade::IterateOp> states;
  llvm::DenseMap<Operation *, std::pair<int64_t, int64_t>> stateOffset; ///< scalars, vectors before
  int64_t numScalarStates = 0, numVectorStates = 0;
};

/// A split-KV merge: an Einsum reducing over the chunks m2 only.
bool isMerge(Operation *op) {
  auto e = dyn_cast<cascade::EinsumOp>(op);
  if (!e || !e.getReduce())
    return false;
  SmallVector<StringRef> red = cascade::rankNames(e.getReduceRanks());
  return red.size() == 1 && red[0] == "m2";
}

Type KernelBuilder::inputElemType() {
  switch (options.inputType) {
  case ATTN_BF16: return b.getBF16Type();
  case ATTN_F16: return b.getF16Type();
  default: return b.getF32Type();
  }
}

Value KernelBuilder::loadInputElem(Value base, Value offset) {
  Type t = inputElemType();
  Value v = LLVM::LoadOp::create(b, loc, t, gep(base, t, offset));
  if (t.isF32())
    return v;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
}

void KernelBuilder::storeOutputElem(Value base, Value offset, Value v) {
  Type t = inputElemType();
  if (!t.isF32())
    v = arith::TruncFOp::create(b, loc, t, v);
  LLVM::StoreOp::create(b, loc, v, gep(base, t, offset));
}

/// Allocation extent of a rank (an index value).
/// Head dims and rows are padded to whole vectors (zero-filled where they
/// are inputs) so that the contraction micro-kernel needs no remainder code.
Value KernelBuilder::extentOf(StringRef rank) {
  if (rank == "p")
    return cIndex(roundUp(options.rowTile, kVec));
  if (rank == "m0")
    return cIndex(mTile);
  return paddedD; // e, f
}

/// Loop bound of a rank (an index value).
Value KernelBuilder::boundOf(StringRef rank) {
  if (rank == "p")
    return toIndex(nrows);
  if (isHeadRank(rank))
    return toIndex(dDim);
  return extentOf(rank);
}

Storage &KernelBuilder::allocate(Value fiber, ArrayRef<StringRef> ranks) {
  Storage s;
  for (StringRef r : ranks)
    if (!isTileRank(r))
      s.ranks.push_back(r);
  if (auto in = fiber.getDefiningOp<cascade::InputOp>(); in && in.getName() == "Q")
    s.ranks = {"e", "p"};
  OpBuilder::InsertionGuard g(b);
  setAllocationPoint();
  Value size = cIndex(1);
  for (StringRef r : s.ranks)
    size = arith::MulIOp::create(b, loc, size, extentOf(r));
  Type elem = cast<cascade::FiberType>(fiber.getType()).getElementType();
  if (elem.isInteger(1))
    elem = b.getI8Type(); // predicates are stored as bytes: i1 vectors vectorise badly
  s.buffer = memref::AllocaOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, elem), ValueRange{size});
  return storage[fiber] = s;
}

void KernelBuilder::zeroFill(const Storage &s) {
  Value size = cIndex(1);
  for (StringRef r : s.ranks)
    size = arith::MulIOp::create(b, loc, size, extentOf(r));
  auto loop = scf::ForOp::create(b, loc, cIndex(0), size, cIndex(1));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(loop.getBody());
  memref::StoreOp::create(b, loc, cF32(0), s.buffer, ValueRange{loop.getInductionVar()});
}

Value KernelBuilder::linearIndex(const Storage &s, const llvm::StringMap<Value> &point) {
  Value idx = cIndex(0);
  for (StringRef r : s.ranks) {
    Value at = point.lookup(r);
    assert(at && "point lacks a rank of the stored fiber");
    idx = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, idx, extentOf(r)), at);
  }
  return idx;
}

Value KernelBuilder::loadAt(Value fiber, const llvm::StringMap<Value> &point) {
  if (directInputs)
    if (auto in = fiber.getDefiningOp<cascade::InputOp>(); in && in.getName() != "Q")
      return loadInputDirect(in, point);
  Storage &s = storage[fiber];
  Value v = memref::LoadOp::create(b, loc, s.buffer, ValueRange{linearIndex(s, point)});
  if (cast<cascade::FiberType>(fiber.getType()).getElementType().isInteger(1))
    return arith::TruncIOp::create(b, loc, b.getI1Type(), v);
  return v;
}

Value KernelBuilder::loadInputDirect(cascade::InputOp in, const llvm::StringMap<Value> &pt) {
  StringRef name = in.getName();
  StringRef head = name == "V" ? "f" : "e";
  int64_t strideWord = name == "K" ? ATTN_ARG_K_STRIDES : ATTN_ARG_V_STRIDES;
  Value j = pointJ(pt, curM1);
  Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, j, skv);
  Value jj = arith::SelectOp::create(b, loc, ok, j, cI64(0));
  Value off = arith::AddIOp::create(
      b, loc,
      arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, bIdx, argWord(strideWord)),
                            arith::MulIOp::create(b, loc, hkIdx, argWord(strideWord + 1))),
      arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, jj, argWord(strideWord + 2)),
                            arith::MulIOp::create(b, loc, toI64(pt.lookup(head)),
                                                  argWord(strideWord + 3))));
  Value v = loadInputElem(name == "K" ? kPtr : vPtr, off);
  return arith::SelectOp::create(b, loc, ok, v, cF32(0));
}

void KernelBuilder::forEachPoint(ArrayRef<StringRef> ranks,
                                 function_ref<void(llvm::StringMap<Value> &)> fn,
                                 const llvm::StringMap<Value> &outer) {
  SmallVector<Value> lbs, ubs, steps;
  SmallVector<StringRef> names;
  for (StringRef r : ranks) {
    if (isTileRank(r))
      continue;
    names.push_back(r);
    lbs.push_back(cIndex(0));
    ubs.push_back(boundOf(r));
    steps.push_back(cIndex(1));
  }
  scf::buildLoopNest(b, loc, lbs, ubs, steps,
                     [&](OpBuilder &nested, Location, ValueRange ivs) {
                       OpBuilder::InsertionGuard g(b);
                       b.setInsertionPoint(nested.getInsertionBlock(),
                                           nested.getInsertionPoint());
                       llvm::StringMap<Value> pt = outer;
                       for (auto [n, iv] : llvm::zip(names, ivs))
                         pt[n] = iv;
                       fn(pt);
                     });
}

Value KernelBuilder::reducePoints(ArrayRef<StringRef> ranks, Value init,
                                  function_ref<Value(llvm::StringMap<Value> &, Value)> fn) {
  SmallVector<Value> lbs, ubs, steps;
  SmallVector<StringRef> names;
  for (StringRef r : ranks) {
    if (isTileRank(r))
      continue;
    names.push_back(r);
    lbs.push_back(cIndex(0));
    ubs.push_back(boundOf(r));
    steps.push_back(cIndex(1));
  }
  scf::LoopNest nest = scf::buildLoopNest(
      b, loc, lbs, ubs, steps, ValueRange{init},
      [&](OpBuilder &nested, Location, ValueRange ivs, ValueRange iter) -> scf::ValueVector {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nested.getInsertionBlock(), nested.getInsertionPoint());
        llvm::StringMap<Value> pt;
        for (auto [n, iv] : llvm::zip(names, ivs))
          pt[n] = iv;
        return {fn(pt, iter.front())};
      });
  return nest.results.front();
}

Value KernelBuilder::pointI(const llvm::StringMap<Value> &pt) {
  Value p = pt.lookup("p");
  if (!p)
    return cI64(-1);
  return arith::AddIOp::create(b, loc, arith::AddIOp::create(b, loc, qOff, row0), toI64(p));
}

Value KernelBuilder::pointJ(const llvm::StringMap<Value> &pt, Value m1) {
  Value m0 = pt.lookup("m0");
  if (!m0 || !m1)
    return cI64(-1);
  return arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, toI64(m1), mTileV),
                               toI64(m0));
}

Value KernelBuilder::combine(cascade::CombineKind kind, Value acc, Value v) {
  switch (kind) {
  case cascade::CombineKind::max: return arith::MaximumFOp::create(b, loc, acc, v);
  case cascade::CombineKind::min: return arith::MinimumFOp::create(b, loc, acc, v);
  case cascade::CombineKind::sum:
    return arith::AddFOp::create(b, loc, acc, v,
                                 arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
  }
  return v;
}

//===----------------------------------------------------------------------===//
// Map actions: inline the body, converting attn ops
//===----------------------------------------------------------------------===//

Value KernelBuilder::emitBody(Region &body, Value i, Value j, ValueRange leading,
                              ArrayRef<Value> inputs) {
  BodyContext ctx{bIdx, hIdx, paramsPtr, tensorsPtr, errorFlag, pointValid, &sizeValues};
  Value v = inlineBody(variant, b, loc, ctx, body, i, j, leading, inputs);
  return v ? v : cF32(0);
}

//===----------------------------------------------------------------------===//
// Placement
//===----------------------------------------------------------------------===//

/// True if the op's iteration space includes a key rank.
bool iteratesKey(Operation *op) {
  if (isa<cascade::IterateOp>(op))
    return true;
  if (auto e = dyn_cast<cascade::EinsumOp>(op)) {
    for (StringRef r : cascade::rankNames(e.getRanks()))
      if (isKeyRank(r))
        return true;
    for (StringRef r : cascade::rankNames(e.getReduceRanks()))
      if (isKeyRank(r))
        return true;
  }
  if (auto in = dyn_cast<cascade::InputOp>(op))
    return in.getName() != "Q";
  return false;
}

/// An anchor carries state across key tiles: a reduction over m1 or an iterate.
bool isAnchor(Operation *op) {
  if (isa<cascade::IterateOp>(op))
    return true;
  if (auto e = dyn_cast<cascade::EinsumOp>(op))
    return llvm::is_contained(cascade::rankNames(e.getReduceRanks()), "m1");
  return false;
}

LogicalResult KernelBuilder::classify() {
  for (Operation &op : cas.getBody().front()) {
    if (isa<cascade::OutputOp>(op))
      continue;
    for (Value r : op.getResults())
      for (StringRef rk : cascade::getRanks(r))
        if (rk == "m" || (rk == "m2" && !split) || rk == "p0" || rk == "p1")
          return op.emitError("tile kernel: rank '")
                 << rk << "' is not supported (expected a cascade partitioned as "
                 << "m -> m1 x m0 with an unpartitioned p)";
    if (!iteratesKey(&op)) {
      unsigned phase = 0;
      for (Value in : op.getOperands()) {
        Operation *def = in.getDefiningOp();
        if (!def)
          continue;
        if (passOf.count(def) && passOf[def])
          phase = std::max(phase, passOf[def]);
        else if (phaseOf.count(def))
          phase = std::max(phase, phaseOf[def]);
        else if (needOf.count(def))
          return op.emitError("tile kernel: row-level Einsum reads a per-tile value");
      }
      phaseOf[&op] = phase;
      passOf[&op] = 0;
      continue;
    }
    unsigned need = 1;
    for (Value in : op.getOperands()) {
      Operation *def = in.getDefiningOp();
      if (!def)
        continue;
      bool streaming = llvm::is_contained(cascade::getRanks(in), "m1") ||
                       llvm::is_contained(cascade::getRanks(in), "m0");
      if (phaseOf.count(def))
        need = std::max(need, phaseOf[def] + 1);
      else if (isAnchor(def) && !streaming)
        need = std::max(need, passOf[def] + 1); // complete only after its pass
      else if (isAnchor(def))
        need = std::max(need, passOf[def]);     // iterate prev/cur: same pass
      else if (needOf.count(def))
        need = std::max(need, needOf[def]);
    }
    if (isAnchor(&op)) {
      passOf[&op] = need;
      numPasses = std::max(numPasses, need);
    } else {
      needOf[&op] = need;
    }
  }
  if (!split)
    return success();
  // A call runs one pass over its chunk, so every value that crosses key
  // tiles must be an iterate, whose per-row state the merge combines.
  if (numPasses != 1)
    return cas.emitError("tile kernel: a split cascade must take one pass over K/V, this one takes ")
           << numPasses;
  for (Operation &op : cas.getBody().front()) {
    if (isa<cascade::EinsumOp>(op) && isAnchor(&op))
      return op.emitError("tile kernel: a split cascade must carry state across key tiles in "
                          "iterates only");
    auto it = dyn_cast<cascade::IterateOp>(op);
    if (!it)
      continue;
    SmallVector<StringRef> ranks;
    for (StringRef r : cascade::getRanks(it.getFinal()))
      if (!isTileRank(r))
        ranks.push_back(r);
    bool scalar = ranks.size() == 1 && ranks[0] == "p";
    bool vector = ranks.size() == 2 && ranks[0] == "p" && isHeadRank(ranks[1]);
    if (!scalar && !vector)
      return it.emitError("tile kernel: a split iterate's state must be over [p] or [p, f]");
    stateOffset[it] = {numScalarStates, numVectorStates};
    (scalar ? numScalarStates : numVectorStates) += 1;
    states.push_back(it);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Emission
//===----------------------------------------------------------------------===//

void KernelBuilder::emitAccumulatorInit(cascade::EinsumOp op) {
  Value init = op.getInit();
  double id = cascade::identityOf(*op.getReduce());
  forEachPoint(cascade::rankNames(op.getRanks()), [&](llvm::StringMap<Value> &pt) {
    Value v = init ? loadAt(init, pt) : cF32(id);
    Storage &s = storage[op.getResult()];
    memref::StoreOp::create(b, loc, v, s.buffer, ValueRange{linearIndex(s, pt)});
  });
}

void KernelBuilder::emitEinsum(cascade::EinsumOp op, Value m1) {
  SmallVector<StringRef> out = cascade::rankNames(op.getRanks());
  SmallVector<StringRef> red = cascade::rankNames(op.getReduceRanks());
  bool acrossTiles = llvm::is_contained(red, "m1");
  if (op.getReduce() && !acrossTiles)
    emitAccumulatorInit(op);
  if (op.getReduce() && emitContraction(op, m1))
    return;
  // Loop order: reduced key ranks outside the kept ranks (so that the
  // innermost loop runs along a kept, contiguous rank and vectorises), head
  // ranks innermost.
  SmallVector<StringRef> order;
  for (StringRef r : red) if (!isHeadRank(r)) order.push_back(r);
  for (StringRef r : out) if (!isHeadRank(r)) order.push_back(r);
  for (StringRef r : out) if (isHeadRank(r)) order.push_back(r);
  for (StringRef r : red) if (isHeadRank(r)) order.push_back(r);
  Storage &dst = storage[op.getResult()];
  forEachPoint(order, [&](llvm::StringMap<Value> &pt) {
    Value i = pointI(pt);
    Value j = pointJ(pt, m1);
    SmallVector<Value> ins;
    for (Value in : op.getInputs())
      ins.push_back(loadAt(in, pt));
    pointValid = pt.count("m0") ? arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, j, skv)
                                      .getResult()
                                : Value();
    Value v = emitBody(op.getBody(), i, j, {}, ins);
    pointValid = Value();
    Value at = linearIndex(dst, pt);
    if (!op.getReduce()) {
      if (v.getType().isInteger(1))
        v = arith::ExtUIOp::create(b, loc, b.getI8Type(), v);
      memref::StoreOp::create(b, loc, v, dst.buffer, ValueRange{at});
      return;
    }
    Value valid;
    if (pt.count("m0") && !tileFull)
      valid = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, j, skv);
    if (Value keep = op.getKeep(); keep && !tileFull) {
      Value k = loadAt(keep, pt);
      valid = valid ? arith::AndIOp::create(b, loc, valid, k).getResult() : k;
    }
    if (valid)
      v = arith::SelectOp::create(b, loc, valid, v, cF32(cascade::identityOf(*op.getReduce())));
    Value acc = memref::LoadOp::create(b, loc, dst.buffer, ValueRange{at});
    memref::StoreOp::create(b, loc, combine(*op.getReduce(), acc, v), dst.buffer, ValueRange{at});
  });
}

/// A copy of the contraction operand `x` with the points that take no part
/// (keep false, or a key past Skv) set to zero; null if the mask does not
/// live on x's ranks.
Value KernelBuilder::maskedOperand(cascade::EinsumOp op, Value x, Value m1) {
  const Storage &sx = storage[x];
  Value keep = op.getKeep();
  if (keep && !llvm::all_of(storage[keep].ranks,
                            [&](StringRef r) { return llvm::is_contained(sx.ranks, r); }))
    return nullptr;
  Storage copy;
  copy.ranks = sx.ranks;
  {
    OpBuilder::InsertionGuard g(b);
    setAllocationPoint();
    Value size = cIndex(1);
    for (StringRef r : copy.ranks)
      size = arith::MulIOp::create(b, loc, size, extentOf(r));
    copy.buffer = memref::AllocaOp::create(b, loc, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
                                           ValueRange{size});
    b.setInsertionPointAfter(copy.buffer.getDefiningOp());
    zeroPaddedRows(copy);
  }
  forEachPoint(copy.ranks, [&](llvm::StringMap<Value> &pt) {
    Value v = loadAt(x, pt);
    Value valid;
    if (pt.count("m0"))
      valid = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, pointJ(pt, m1), skv);
    if (keep) {
      Value k = loadAt(keep, pt);
      valid = valid ? arith::AndIOp::create(b, loc, valid, k).getResult() : k;
    }
    if (valid)
      v = arith::SelectOp::create(b, loc, valid, v, cF32(0));
    memref::StoreOp::create(b, loc, v, copy.buffer, ValueRange{linearIndex(copy, pt)});
  });
  return copy.buffer;
}

/// `C[a, b] (+)= sum_k X[a, k] * Y[k, b]` with Y contiguous along b: the
/// shape the register-tiled micro-kernel computes, or nothing.
std::optional<KernelBuilder::Contraction> KernelBuilder::matchContraction(cascade::EinsumOp op) {
  if (kVec == 1 || directInputs)
    return std::nullopt;
  if (!op.getReduce() || *op.getReduce() != cascade::CombineKind::sum || op.getInit() ||
      op.getInputs().size() != 2)
    return std::nullopt;
  Block &blk = op.getBody().front();
  auto yield = cast<cascade::YieldOp>(blk.getTerminator());
  auto mul = yield.getValue().getDefiningOp<arith::MulFOp>();
  if (!mul || &blk.front() != mul.getOperation())
    return std::nullopt;
  Value a0 = blk.getArgument(4), a1 = blk.getArgument(5);
  bool direct = mul.getLhs() == a0 && mul.getRhs() == a1;
  bool swapped = mul.getLhs() == a1 && mul.getRhs() == a0;
  if (!direct && !swapped)
    return std::nullopt;
  Storage &dst = storage[op.getResult()];
  SmallVector<StringRef> red;
  for (StringRef r : cascade::rankNames(op.getReduceRanks()))
    if (!isTileRank(r))
      red.push_back(r);
  if (dst.ranks.size() != 2 || red.size() != 1)
    return std::nullopt;
  Contraction c;
  c.aR = dst.ranks[0];
  c.bR = dst.ranks[1];
  c.kR = red[0];
  auto staticMultiple = [&](StringRef r, int64_t m) {
    if (r == "m0")
      return mTile % m == 0;
    if (r == "p")
      return roundUp(options.rowTile, kVec) % m == 0;
    return isHeadRank(r) && kVec % m == 0; // padded to a multiple of kVec
  };
  if (!staticMultiple(c.aR, kRows) || !staticMultiple(c.bR, kVec))
    return std::nullopt;
  for (int swap = 0; swap < 2 && !c.x; ++swap) {
    Value cx = op.getInputs()[swap], cy = op.getInputs()[1 - swap];
    const auto &rx = storage[cx].ranks, &ry = storage[cy].ranks;
    if (rx.size() == 2 && llvm::is_contained(rx, c.aR) && llvm::is_contained(rx, c.kR) &&
        ry.size() == 2 && ry[0] == c.kR && ry[1] == c.bR) {
      c.x = cx;
      c.y = cy;
    }
  }
  if (!c.x)
    return std::nullopt;
  return c;
}

/// The number of rows the micro-kernel runs: nrows rounded up to `multiple`.
Value KernelBuilder::paddedRows(int64_t multiple) {
  Value n = arith::DivSIOp::create(
      b, loc, arith::AddIOp::create(b, loc, nrows, cI64(multiple - 1)), cI64(multiple));
  return toIndex(arith::MulIOp::create(b, loc, n, cI64(multiple)));
}

void KernelBuilder::zeroPaddedRows(const Storage &s) {
  if (!llvm::is_contained(s.ranks, "p"))
    return;
  SmallVector<Value> lbs, ubs, steps;
  for (StringRef r : s.ranks) {
    lbs.push_back(r == "p" ? toIndex(nrows) : cIndex(0));
    ubs.push_back(r == "p" ? paddedRows(kVec) : extentOf(r));
    steps.push_back(cIndex(1));
  }
  scf::buildLoopNest(b, loc, lbs, ubs, steps, [&](OpBuilder &nested, Location, ValueRange ivs) {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(nested.getInsertionBlock(), nested.getInsertionPoint());
    llvm::StringMap<Value> pt;
    for (auto [r, iv] : llvm::zip(s.ranks, ivs))
      pt[r] = iv;
    memref::StoreOp::create(b, loc, cF32(0), s.buffer, ValueRange{linearIndex(s, pt)});
  });
}

/// The contraction micro-kernel (kRows broadcast rows x one vector of b, FMA
/// over k) over the real rows rounded up to whole groups. Returns false
/// (nothing emitted) when `op` is not of that shape.
bool KernelBuilder::emitContraction(cascade::EinsumOp op, Value m1) {
  std::optional<Contraction> c = matchContraction(op);
  if (!c)
    return false;
  Value x = c->x, y = c->y;
  StringRef aR = c->aR, bR = c->bR, kR = c->kR;
  Storage &dst = storage[op.getResult()];
  Value xBuf = storage[x].buffer;
  // Keys past Skv must not count; K and V tiles already hold zeros there.
  auto in = x.getDefiningOp<cascade::InputOp>();
  bool kvTile = in && in.getName() != "Q";
  bool needMask = !tileFull && (op.getKeep() || ((kR == "m0" || aR == "m0") && !kvTile));
  if (needMask) {
    xBuf = maskedOperand(op, x, m1);
    if (!xBuf)
      return false;
  }
  const Storage xs{xBuf, storage[x].ranks};
  const Storage &ys = storage[y];
  auto f32 = b.getF32Type();
  auto vt = VectorType::get({kVec}, f32);
  Value bExt = bR == "p" ? paddedRows(kVec) : extentOf(bR);
  Value kBound = boundOf(kR);
  // Steps of `step` broadcast rows of a over [lb, ub), one vector of b each.
  auto rowGroups = [&](Value lb, Value ub, int64_t step) {
    auto outer = scf::ForOp::create(b, loc, lb, ub, cIndex(step));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(outer.getBody());
    Value aBase = outer.getInductionVar();
    auto inner = scf::ForOp::create(b, loc, cIndex(0), bExt, cIndex(kVec));
    b.setInsertionPointToStart(inner.getBody());
    Value bBase = inner.getInductionVar();
    SmallVector<Value> rows, cAt, accs;
    for (int64_t r = 0; r < step; ++r) {
      rows.push_back(arith::AddIOp::create(b, loc, aBase, cIndex(r)));
      llvm::StringMap<Value> pt;
      pt[aR] = rows.back();
      pt[bR] = bBase;
      cAt.push_back(linearIndex(dst, pt));
      accs.push_back(vector::LoadOp::create(b, loc, vt, dst.buffer, ValueRange{cAt.back()}));
    }
    auto kLoop = scf::ForOp::create(
        b, loc, cIndex(0), kBound, cIndex(1), accs,
        [&](OpBuilder &nb, Location, Value k, ValueRange iter) {
          OpBuilder::InsertionGuard g2(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          llvm::StringMap<Value> ypt;
          ypt[kR] = k;
          ypt[bR] = bBase;
          Value yv =
              vector::LoadOp::create(b, loc, vt, ys.buffer, ValueRange{linearIndex(ys, ypt)});
          SmallVector<Value> next;
          for (int64_t r = 0; r < step; ++r) {
            llvm::StringMap<Value> xpt;
            xpt[aR] = rows[r];
            xpt[kR] = k;
            Value xv = memref::LoadOp::create(b, loc, xs.buffer, ValueRange{linearIndex(xs, xpt)});
            Value xb = vector::BroadcastOp::create(b, loc, vt, xv);
            next.push_back(vector::FMAOp::create(b, loc, xb, yv, iter[r]));
          }
          scf::YieldOp::create(b, loc, next);
        });
    for (int64_t r = 0; r < step; ++r)
      vector::StoreOp::create(b, loc, kLoop.getResult(r), dst.buffer, ValueRange{cAt[r]});
  };
  // Few rows against Q's lanes (S = K Q over e, vectors along p): a decode
  // step would use 1 of kVec lanes. Dot products along e instead, reading Q
  // by rows (qRows), for fewer rows than kRows.
  auto yIn = y.getDefiningOp<cascade::InputOp>();
  if (bR == "p" && yIn && yIn.getName() == "Q" && qRows && xs.ranks.size() == 2 &&
      xs.ranks[0] == aR && xs.ranks[1] == kR && isHeadRank(kR)) {
    auto few = scf::IfOp::create(
        b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, nrows, cI64(kRows)),
        /*withElseRegion=*/true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(few.thenBlock());
    Value zero = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(vt, b.getF32FloatAttr(0)));
    scf::buildLoopNest(
        b, loc, ValueRange{cIndex(0), cIndex(0)}, ValueRange{extentOf(aR), toIndex(nrows)},
        ValueRange{cIndex(1), cIndex(1)}, [&](OpBuilder &nb, Location, ValueRange ivs) {
          OpBuilder::InsertionGuard g2(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          Value a = ivs[0], p = ivs[1];
          Value xRow = arith::MulIOp::create(b, loc, a, extentOf(kR));
          Value qRow = arith::MulIOp::create(b, loc, p, paddedD);
          auto dot = scf::ForOp::create(
              b, loc, cIndex(0), paddedD, cIndex(kVec), ValueRange{zero},
              [&](OpBuilder &lb, Location, Value e, ValueRange acc) {
                OpBuilder::InsertionGuard g3(b);
                b.setInsertionPoint(lb.getInsertionBlock(), lb.getInsertionPoint());
                Value xv = vector::LoadOp::create(b, loc, vt, xs.buffer,
                                                  ValueRange{arith::AddIOp::create(b, loc, xRow, e)});
                Value qv = vector::LoadOp::create(b, loc, vt, qRows,
                                                  ValueRange{arith::AddIOp::create(b, loc, qRow, e)});
                scf::YieldOp::create(b, loc, ValueRange{vector::FMAOp::create(b, loc, xv, qv, acc[0])});
              });
          Value sum = vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                                  dot.getResult(0), Value(),
                                                  arith::FastMathFlags::reassoc);
          llvm::StringMap<Value> pt;
          pt[aR] = a;
          pt["p"] = p;
          Value at = linearIndex(dst, pt);
          Value acc = memref::LoadOp::create(b, loc, dst.buffer, ValueRange{at});
          memref::StoreOp::create(b, loc, arith::AddFOp::create(b, loc, acc, sum), dst.buffer,
                                  ValueRange{at});
        });
    b.setInsertionPointToStart(few.elseBlock());
    rowGroups(cIndex(0), extentOf(aR), kRows);
    return true;
  }
  if (aR != "p") {
    rowGroups(cIndex(0), extentOf(aR), kRows);
    return true;
  }
  // Rows past nrows are never output: whole groups of kRows rows, then the
  // remaining real rows one at a time (a decode step has one row, not a
  // group of 8, let alone a row tile).
  Value n = toIndex(nrows);
  Value whole = arith::MulIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, n, cIndex(kRows)), cIndex(kRows));
  rowGroups(cIndex(0), whole, kRows);
  rowGroups(whole, n, 1);
  return true;
}

void KernelBuilder::emitIterateInit(cascade::IterateOp op) {
  Value init = op.getInit();
  forEachPoint(cascade::rankNames(op.getRanks()), [&](llvm::StringMap<Value> &pt) {
    Value v = init ? loadAt(init, pt) : cF32(op.getIdentity().convertToDouble());
    Storage &s = storage[op.getCur()];
    memref::StoreOp::create(b, loc, v, s.buffer, ValueRange{linearIndex(s, pt)});
  });
}

void KernelBuilder::emitIterateStep(cascade::IterateOp op, Value m1) {
  forEachPoint(cascade::rankNames(op.getRanks()), [&](llvm::StringMap<Value> &pt) {
    Storage &cur = storage[op.getCur()];
    Storage &prev = storage[op.getPrev()];
    Value at = linearIndex(cur, pt);
    Value old = memref::LoadOp::create(b, loc, cur.buffer, ValueRange{at});
    memref::StoreOp::create(b, loc, old, prev.buffer, ValueRange{linearIndex(prev, pt)});
    SmallVector<Value> ins;
    for (Value in : op.getInputs())
      ins.push_back(loadAt(in, pt));
    Value v = emitBody(op.getBody(), pointI(pt), cI64(-1), ValueRange{old}, ins);
    memref::StoreOp::create(b, loc, v, cur.buffer, ValueRange{at});
  });
}

void KernelBuilder::emitKVRows(Value base, int64_t strideWord, const Storage &s, Value m1) {
  Type elem = inputElemType();
  auto f32 = b.getF32Type();
  auto vt = VectorType::get({kVec}, f32);
  auto inVt = VectorType::get({kVec}, elem);
  Value d = toIndex(dDim);
  Value whole = arith::MulIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, d, cIndex(kVec)), cIndex(kVec));
  Value head = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, bIdx, argWord(strideWord)),
      arith::MulIOp::create(b, loc, hkIdx, argWord(strideWord + 1)));
  Value keyStride = argWord(strideWord + 2);
  auto keys = scf::ForOp::create(b, loc, cIndex(0), cIndex(mTile), cIndex(1));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(keys.getBody());
  Value m0 = keys.getInductionVar();
  Value j = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, toI64(m1), mTileV),
                                  toI64(m0));
  Value rowBase = arith::MulIOp::create(b, loc, m0, paddedD);
  auto real = scf::IfOp::create(b, loc,
                                arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, j, skv),
                                /*withElseRegion=*/true);
  b.setInsertionPointToStart(real.thenBlock());
  Value row = arith::AddIOp::create(b, loc, head, arith::MulIOp::create(b, loc, j, keyStride));
  auto vecs = scf::ForOp::create(b, loc, cIndex(0), whole, cIndex(kVec));
  {
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(vecs.getBody());
    Value e = vecs.getInductionVar();
    Value v = LLVM::LoadOp::create(b, loc, inVt,
                                   gep(base, elem, arith::AddIOp::create(b, loc, row, toI64(e))),
                                   /*alignment=*/elem.getIntOrFloatBitWidth() / 8);
    if (!elem.isF32())
      v = arith::ExtFOp::create(b, loc, vt, v);
    vector::StoreOp::create(b, loc, v, s.buffer,
                            ValueRange{arith::AddIOp::create(b, loc, rowBase, e)});
  }
  auto rest = scf::ForOp::create(b, loc, whole, d, cIndex(1));
  {
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(rest.getBody());
    Value e = rest.getInductionVar();
    Value v = loadInputElem(base, arith::AddIOp::create(b, loc, row, toI64(e)));
    memref::StoreOp::create(b, loc, v, s.buffer,
                            ValueRange{arith::AddIOp::create(b, loc, rowBase, e)});
  }
  // Keys past Skv: zeros (the padded head dims stay zero from entry).
  b.setInsertionPointToStart(real.elseBlock());
  auto zeros = scf::ForOp::create(b, loc, cIndex(0), paddedD, cIndex(kVec));
  b.setInsertionPointToStart(zeros.getBody());
  Value zero = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(vt, b.getF32FloatAttr(0)));
  vector::StoreOp::create(b, loc, zero, s.buffer,
                          ValueRange{arith::AddIOp::create(b, loc, rowBase, zeros.getInductionVar())});
}

void KernelBuilder::emitKVTile(Value m1) {
  curM1 = m1;
  if (directInputs)
    return;
  // K and V tiles [m0, e] in f32, zero past Skv.
  for (Operation &op : cas.getBody().front()) {
    auto in = dyn_cast<cascade::InputOp>(op);
    if (!in || in.getName() == "Q")
      continue;
    bool isK = in.getName() == "K";
    Value base = isK ? kPtr : vPtr;
    int64_t strideWord = isK ? ATTN_ARG_K_STRIDES : ATTN_ARG_V_STRIDES;
    Storage &s = storage[in.getResult()];
    // Head dims contiguous (the usual layout): whole vectors per key.
    auto contiguous = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, argWord(strideWord + 3), cI64(1)),
        /*withElseRegion=*/true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(contiguous.thenBlock());
    emitKVRows(base, strideWord, s, m1);
    b.setInsertionPointToStart(contiguous.elseBlock());
    forEachPoint({"m0", "e"}, [&](llvm::StringMap<Value> &pt) {
      Value j = pointJ(pt, m1);
      Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, j, skv);
      Value jj = arith::SelectOp::create(b, loc, ok, j, cI64(0));
      Value off = arith::AddIOp::create(
          b, loc,
          arith::AddIOp::create(
              b, loc, arith::MulIOp::create(b, loc, bIdx, argWord(strideWord)),
              arith::MulIOp::create(b, loc, hkIdx, argWord(strideWord + 1))),
          arith::AddIOp::create(
              b, loc, arith::MulIOp::create(b, loc, jj, argWord(strideWord + 2)),
              arith::MulIOp::create(b, loc, toI64(pt["e"]), argWord(strideWord + 3))));
      Value v = loadInputElem(base, off);
      v = arith::SelectOp::create(b, loc, ok, v, cF32(0));
      llvm::StringMap<Value> dst;
      dst["m0"] = pt["m0"];
      dst[s.ranks.back()] = pt["e"];
      memref::StoreOp::create(b, loc, v, s.buffer, ValueRange{linearIndex(s, dst)});
    });
  }
}

void KernelBuilder::emitRowOps(unsigned phase) {
  for (Operation &op : cas.getBody().front()) {
    auto it = phaseOf.find(&op);
    if (it == phaseOf.end() || it->second != phase)
      continue;
    if (isMerge(&op))
      emitMerge(cast<cascade::EinsumOp>(op));
    else if (auto e = dyn_cast<cascade::EinsumOp>(op))
      emitEinsum(e, nullptr);
    // Q is loaded at entry.
  }
}

LogicalResult KernelBuilder::emitPass(unsigned pass) {
  // Which streaming ops does this pass need? The closure of its anchors' inputs.
  llvm::SetVector<Operation *> needed;
  SmallVector<Operation *> work;
  for (Operation &op : cas.getBody().front())
    if (isAnchor(&op) && passOf[&op] == pass)
      work.push_back(&op);
  while (!work.empty()) {
    Operation *op = work.pop_back_val();
    if (!needed.insert(op))
      continue;
    for (Value in : op->getOperands())
      if (Operation *def = in.getDefiningOp())
        if (needOf.count(def) && !isa<cascade::InputOp>(def))
          work.push_back(def);
  }
  // Accumulators and iterate states start before the loop.
  for (Operation &op : cas.getBody().front()) {
    if (!needed.count(&op) || !isAnchor(&op))
      continue;
    if (auto e = dyn_cast<cascade::EinsumOp>(op))
      emitAccumulatorInit(e);
    else if (auto it = dyn_cast<cascade::IterateOp>(op))
      emitIterateInit(it);
  }
  // Mask-aware tile skipping: the keep predicates (Einsums of i1 without
  // inputs) are evaluated first; a key tile where no (row, key) pair is kept
  // contributes only identities to the reductions, which leaves every
  // accumulator and iterate of the online form unchanged, so the rest of the
  // tile (loads, scores, exponentials, both contractions) is skipped.
  SmallVector<cascade::EinsumOp> keeps;
  bool allGuarded = true;
  for (Operation *op : needed) {
    auto e = dyn_cast<cascade::EinsumOp>(op);
    if (!e)
      continue;
    if (e.getInputs().empty() && !e.getReduce() &&
        cast<cascade::FiberType>(e.getType()).getElementType().isInteger(1))
      keeps.push_back(e);
    else if (e.getReduce() && !e.getKeep() &&
             llvm::any_of(cascade::rankNames(e.getReduceRanks()), isKeyRank))
      allGuarded = false; // a reduction over keys that the mask does not guard
  }
  bool skipEmpty = allGuarded && keeps.size() == 1;
  // Tiles that would be skipped anyway need not be visited: the spans of
  // key tiles before and after what interval arithmetic over the keep body
  // shows empty for this call's rows are left out (emitKeyTileRange).
  Value first = tileBegin, end = numTiles;
  if (skipEmpty) {
    Value lastRow = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, row0, arith::SubIOp::create(b, loc, nrows, cI64(1))),
        arith::SubIOp::create(b, loc, sizeValues["Sq"], cI64(1)));
    Value iLo = arith::AddIOp::create(b, loc, qOff, row0);
    Value iHi = arith::AddIOp::create(b, loc, qOff, lastRow);
    BodyContext ctx{bIdx, hIdx, paramsPtr, tensorsPtr, errorFlag, Value(), &sizeValues};
    Region &body = keeps.front().getBody();
    auto [start, stop] = emitKeyTileRange(b, loc, numTiles, mTile, skv, [&](Value j0, Value j1) {
      return emitTileClass(variant, b, loc, ctx, body, iLo, iHi, j0, j1).empty;
    });
    first = emitFirstTileFrom(b, loc, tileBegin, tileStep, start);
    end = stop;
  }
  auto loop = scf::ForOp::create(b, loc, toIndex(first), toIndex(end), toIndex(tileStep));
  OpBuilder::InsertionGuard g(b);
  // After the last tile an iterate is final: make `prev` equal `cur` so that
  // a later pass that reads it through prev/cur (e.g. a rescale factor
  // exp(c * (cur - prev))) sees the final value, unchanged across its tiles.
  b.setInsertionPointAfter(loop);
  for (Operation *op : needed)
    if (auto it = dyn_cast<cascade::IterateOp>(op))
      forEachPoint(cascade::rankNames(it.getRanks()), [&](llvm::StringMap<Value> &pt) {
        Storage &cur = storage[it.getCur()];
        Storage &prev = storage[it.getPrev()];
        Value v = memref::LoadOp::create(b, loc, cur.buffer, ValueRange{linearIndex(cur, pt)});
        memref::StoreOp::create(b, loc, v, prev.buffer, ValueRange{linearIndex(prev, pt)});
      });
  b.setInsertionPointToStart(loop.getBody());
  Value m1 = loop.getInductionVar();

  if (skipEmpty) {
    cascade::EinsumOp keep = keeps.front();
    emitEinsum(keep, m1);
    // Whether a point is a kept pair with a real key.
    auto keptAt = [&](llvm::StringMap<Value> &pt) -> Value {
      Value k = loadAt(keep.getResult(), pt);
      if (pt.count("m0"))
        k = arith::AndIOp::create(
            b, loc, k,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, pointJ(pt, m1), skv));
      return k;
    };
    // An or- and an and-reduction carried in registers (loop iter_args), so
    // they vectorise. A tile where every pair is kept runs without the mask:
    // no per-point selects, no masked copy of the contraction operand.
    const SmallVector<StringRef> &keepRanks = storage[keep.getResult()].ranks;
    Value any = reducePoints(keepRanks, arith::ConstantIntOp::create(b, loc, 0, 1),
                             [&](llvm::StringMap<Value> &pt, Value acc) -> Value {
                               return arith::OrIOp::create(b, loc, acc, keptAt(pt));
                             });
    Value all = reducePoints(keepRanks, arith::ConstantIntOp::create(b, loc, 1, 1),
                             [&](llvm::StringMap<Value> &pt, Value acc) -> Value {
                               return arith::AndIOp::create(b, loc, acc, keptAt(pt));
                             });
    auto ifAny = scf::IfOp::create(b, loc, any, false);
    b.setInsertionPointToStart(ifAny.thenBlock());
    needed.remove(keep);
    auto ifAll = scf::IfOp::create(b, loc, all, /*withElseRegion=*/true);
    b.setInsertionPointToStart(ifAll.thenBlock());
    tileFull = true;
    emitTileBody(needed, m1);
    tileFull = false;
    b.setInsertionPointToStart(ifAll.elseBlock());
  }
  emitTileBody(needed, m1);
  return success();
}

void KernelBuilder::emitTileBody(const llvm::SetVector<Operation *> &needed, Value m1) {
  emitKVTile(m1);
  for (Operation &op : cas.getBody().front()) {
    if (!needed.count(&op))
      continue;
    if (auto e = dyn_cast<cascade::EinsumOp>(op))
      emitEinsum(e, m1);
    else if (auto it = dyn_cast<cascade::IterateOp>(op))
      emitIterateStep(it, m1);
  }
}

void KernelBuilder::emitOutput(cascade::OutputOp out) {
  Value ninf = cF32(-std::numeric_limits<double>::infinity());
  forEachPoint({"p"}, [&](llvm::StringMap<Value> &pt) {
    Value kept = loadAt(out.getKept(), pt);
    Value any = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, kept, cF32(0));
    Value row = arith::AddIOp::create(b, loc, row0, toI64(pt["p"]));
    if (Value lse = out.getLse()) {
      auto ifOp = scf::IfOp::create(
          b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                                        LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), lsePtr),
                                        cI64(0)),
          /*withElseRegion=*/false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      Value v = arith::SelectOp::create(b, loc, any, loadAt(lse, pt), ninf);
      Value off = arith::AddIOp::create(
          b, loc,
          arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, bIdx, argWord(ATTN_ARG_LSE_STRIDES)),
                                arith::MulIOp::create(b, loc, hIdx, argWord(ATTN_ARG_LSE_STRIDES + 1))),
          arith::MulIOp::create(b, loc, row, argWord(ATTN_ARG_LSE_STRIDES + 2)));
      LLVM::StoreOp::create(b, loc, v, gep(lsePtr, b.getF32Type(), off));
    }
    Value rowBase = arith::AddIOp::create(
        b, loc,
        arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, bIdx, argWord(ATTN_ARG_O_STRIDES)),
                              arith::MulIOp::create(b, loc, hIdx, argWord(ATTN_ARG_O_STRIDES + 1))),
        arith::MulIOp::create(b, loc, row, argWord(ATTN_ARG_O_STRIDES + 2)));
    Value dStride = argWord(ATTN_ARG_O_STRIDES + 3);
    StringRef headRank = storage[out.getAv()].ranks.back();
    forEachPoint({headRank}, [&](llvm::StringMap<Value> &inner) {
      Value v = arith::SelectOp::create(b, loc, any, loadAt(out.getAv(), inner), cF32(0));
      Value off = arith::AddIOp::create(
          b, loc, rowBase, arith::MulIOp::create(b, loc, toI64(inner[headRank]), dStride));
      storeOutputElem(oPtr, off, v);
    }, pt);
  });
}

//===----------------------------------------------------------------------===//
// Split-KV
//===----------------------------------------------------------------------===//

bool KernelBuilder::canSplit() {
  if (cas.getSplitAttr())
    return false;
  if (auto parts = cas.getPartitionsAttr(); !parts || !parts.get("m") || parts.get("p"))
    return false;
  {
    // classify reports what it cannot place; here that only means "no".
    ScopedDiagnosticHandler quiet(cas.getContext(), [](Diagnostic &) { return success(); });
    if (failed(classify()))
      return false;
  }
  if (numPasses != 1)
    return false;
  bool anyIterate = false;
  for (Operation &op : cas.getBody().front()) {
    if (isa<cascade::EinsumOp>(op) && isAnchor(&op))
      return false;
    if (auto it = dyn_cast<cascade::IterateOp>(op)) {
      anyIterate = true;
      auto combine = it->getAttrOfType<StringAttr>("combine");
      if (it.getOver() != "m1" || !combine || !cascade::symbolizeCombineKind(combine.getValue()))
        return false;
    }
  }
  return anyIterate;
}

void KernelBuilder::emitDescribe() {
  Value out = loadPtr(args, ATTN_ARG_PARTIALS);
  Value floats = cI64(0);
  if (split)
    floats = arith::AddIOp::create(
        b, loc, cI64(numScalarStates),
        arith::MulIOp::create(b, loc, cI64(numVectorStates), argWord(ATTN_ARG_D)));
  LLVM::StoreOp::create(b, loc, cI64(mTile), gep(out, b.getI64Type(), cI64(0)), /*alignment=*/8);
  LLVM::StoreOp::create(b, loc, floats, gep(out, b.getI64Type(), cI64(1)), /*alignment=*/8);
}

Value KernelBuilder::stateAddress(cascade::IterateOp it, const llvm::StringMap<Value> &pt,
                                  Value w) {
  auto [scalars, vectors] = stateOffset.lookup(it);
  Value floats = arith::AddIOp::create(
      b, loc, cI64(numScalarStates), arith::MulIOp::create(b, loc, cI64(numVectorStates), dDim));
  Value offset = arith::AddIOp::create(b, loc, cI64(scalars),
                                       arith::MulIOp::create(b, loc, cI64(vectors), dDim));
  const Storage &s = storage[it.getCur()];
  if (s.ranks.size() == 2)
    offset = arith::AddIOp::create(b, loc, offset, toI64(pt.lookup(s.ranks[1])));
  // (((b * H + h) * Sq + row) * W + w) * floats + offset
  Value row = arith::AddIOp::create(b, loc, row0, toI64(pt.lookup("p")));
  Value bh = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, bIdx, sizeValues["H"]),
                                   hIdx);
  Value r = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, bh, sizeValues["Sq"]), row);
  Value slot = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, r, numChunks), w);
  Value at = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, slot, floats), offset);
  return gep(partialsPtr, b.getF32Type(), at);
}

void KernelBuilder::emitStorePartials() {
  for (cascade::IterateOp it : states) {
    Storage &cur = storage[it.getCur()];
    forEachPoint(cur.ranks, [&](llvm::StringMap<Value> &pt) {
      Value v = memref::LoadOp::create(b, loc, cur.buffer, ValueRange{linearIndex(cur, pt)});
      LLVM::StoreOp::create(b, loc, v, stateAddress(it, pt, chunk));
    });
  }
}

void KernelBuilder::emitMerge(cascade::EinsumOp op) {
  cascade::CombineKind kind = *op.getReduce();
  Storage &dst = storage[op.getResult()];
  SmallVector<StringRef> ranks = cascade::rankNames(op.getRanks());
  auto own = op.getInputs()[0].getDefiningOp<cascade::IterateOp>();
  assert(own && op.getInputs()[0] == own.getFinal() && "a merge reads its iterate's final first");
  Value isMergeCall = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, splitMode,
                                            cI64(ATTN_SPLIT_MERGE));
  auto ifMerge = scf::IfOp::create(b, loc, isMergeCall, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifMerge.thenBlock());
  forEachPoint(ranks, [&](llvm::StringMap<Value> &pt) {
    Value init = op.getInit() ? loadAt(op.getInit(), pt) : cF32(cascade::identityOf(kind));
    auto loop = scf::ForOp::create(
        b, loc, cIndex(0), toIndex(numChunks), cIndex(1), ValueRange{init},
        [&](OpBuilder &nb, Location, Value w, ValueRange iter) {
          OpBuilder::InsertionGuard g2(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          SmallVector<Value> ins;
          for (Value in : op.getInputs()) {
            auto it = in.getDefiningOp<cascade::IterateOp>();
            if (it && in == it.getFinal())
              ins.push_back(LLVM::LoadOp::create(b, loc, b.getF32Type(),
                                                 stateAddress(it, pt, toI64(w))));
            else
              ins.push_back(loadAt(in, pt));
          }
          Value v = emitBody(op.getBody(), pointI(pt), cI64(-1), {}, ins);
          scf::YieldOp::create(b, loc, ValueRange{combine(kind, iter.front(), v)});
        });
    memref::StoreOp::create(b, loc, loop.getResult(0), dst.buffer,
                            ValueRange{linearIndex(dst, pt)});
  });
  b.setInsertionPointToStart(ifMerge.elseBlock());
  forEachPoint(ranks, [&](llvm::StringMap<Value> &pt) {
    Value v = loadAt(own.getFinal(), pt);
    if (Value init = op.getInit())
      v = combine(kind, loadAt(init, pt), v);
    memref::StoreOp::create(b, loc, v, dst.buffer, ValueRange{linearIndex(dst, pt)});
  });
}

LogicalResult KernelBuilder::build() {
  MLIRContext *ctx = target.getContext();
  ptrTy = LLVM::LLVMPointerType::get(ctx);
  if (auto parts = cas.getPartitionsAttr())
    if (auto t = dyn_cast_or_null<IntegerAttr>(parts.get("m")))
      mTile = t.getInt();
  if (mTile <= 0)
    return cas.emitError("tile kernel: the cascade must be partitioned (m -> m1 x m0)");
  split = static_cast<bool>(cas.getSplitAttr());
  if (split && options.target != KernelTarget::Cpu)
    return cas.emitError("tile kernel: split-KV cascades are for the CPU entry (the GPU "
                         "kernels run one row per thread over every key)");
  if (failed(classify()))
    return failure();

  auto i64 = b.getI64Type();
  Operation *ret = nullptr;
  if (options.target == KernelTarget::Cpu) {
    b.setInsertionPointToEnd(target.getBody());
    auto fnType = b.getFunctionType({ptrTy, i64, i64, i64, i64}, {b.getI32Type()});
    auto fn = func::FuncOp::create(
        b, loc, tileKernelName(variant.getSymName(), options.inputType, options.target), fnType);
    Block *fnEntry = fn.addEntryBlock();
    b.setInsertionPointToStart(fnEntry);
    args = fnEntry->getArgument(0);
    bIdx = fnEntry->getArgument(1);
    hIdx = fnEntry->getArgument(2);
    row0 = fnEntry->getArgument(3);
    nrows = fnEntry->getArgument(4);
    // ATTN_SPLIT_DESCRIBE answers before anything else; every other call
    // runs the else branch, whose status (filled in at the end) is returned.
    splitMode = argWord(ATTN_ARG_SPLIT);
    Value zero32 = arith::ConstantIntOp::create(b, loc, 0, 32);
    auto describe = scf::IfOp::create(
        b, loc, TypeRange{b.getI32Type()},
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, splitMode,
                              cI64(ATTN_SPLIT_DESCRIBE)),
        /*withElseRegion=*/true);
    func::ReturnOp::create(b, loc, describe.getResults());
    b.setInsertionPointToStart(describe.thenBlock());
    emitDescribe();
    scf::YieldOp::create(b, loc, ValueRange{zero32});
    b.setInsertionPointToStart(describe.elseBlock());
    ret = scf::YieldOp::create(b, loc, ValueRange{zero32});
    entryBlock = describe.elseBlock();
    b.setInsertionPoint(ret);
  } else {
    // One thread per output row: gid -> (b, h, row), rows past B*H*Sq idle.
    auto fn = addGpuKernel(target, b, loc,
                           tileKernelName(variant.getSymName(), options.inputType, options.target));
    args = fn.getArgument(0);
    Value gid = arith::AddIOp::create(
        b, loc,
        arith::MulIOp::create(b, loc, gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
                              gpu::BlockDimOp::create(b, loc, gpu::Dimension::x)),
        gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));
    gid = toI64(gid);
    Value hq = arith::MulIOp::create(b, loc, argWord(ATTN_ARG_H), argWord(ATTN_ARG_SQ));
    Value total = arith::MulIOp::create(b, loc, argWord(ATTN_ARG_B), hq);
    auto inRange = scf::IfOp::create(
        b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, gid, total), false);
    entryBlock = inRange.thenBlock();
    ret = entryBlock->getTerminator();
    b.setInsertionPoint(ret);
    Value sq = argWord(ATTN_ARG_SQ);
    bIdx = arith::DivSIOp::create(b, loc, gid, hq);
    hIdx = arith::RemSIOp::create(b, loc, arith::DivSIOp::create(b, loc, gid, sq),
                                  argWord(ATTN_ARG_H));
    row0 = arith::RemSIOp::create(b, loc, gid, sq);
    nrows = cI64(1);
  }
  static const char *kSizes[] = {"B", "H", "Hkv", "Sq", "Skv", "D"};
  for (int k = 0; k < 6; ++k)
    sizeValues[kSizes[k]] = argWord(ATTN_ARG_B + k);
  skv = sizeValues["Skv"];
  dDim = sizeValues["D"];
  paddedD = toIndex(arith::MulIOp::create(
      b, loc, arith::DivSIOp::create(b, loc, arith::AddIOp::create(b, loc, dDim, cI64(kVec - 1)),
                                     cI64(kVec)),
      cI64(kVec)));
  qOff = argWord(ATTN_ARG_QOFFSET);
  Value group = arith::DivSIOp::create(b, loc, sizeValues["H"], sizeValues["Hkv"]);
  hkIdx = arith::DivSIOp::create(b, loc, hIdx, group);
  mTileV = cI64(mTile);
  numTiles = arith::DivSIOp::create(
      b, loc, arith::AddIOp::create(b, loc, skv, cI64(mTile - 1)), mTileV);
  tileBegin = cI64(0);
  tileStep = cI64(1);
  if (split) {
    // Chunk c of W runs key tiles c, c + W, c + 2W, ...: round robin, so
    // that the tiles a mask keeps (a window, the keys before a causal edge)
    // spread over every chunk. The merge does not care which tiles a chunk
    // had (cascade-split-kv's blocks of M1 tiles are one choice of many).
    numChunks = arith::MaxSIOp::create(b, loc, argWord(ATTN_ARG_NUM_CHUNKS), cI64(1));
    chunk = arith::MaxSIOp::create(b, loc, argWord(ATTN_ARG_CHUNK), cI64(0));
    partialsPtr = loadPtr(args, ATTN_ARG_PARTIALS);
    Value isPartial = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, splitMode,
                                            cI64(ATTN_SPLIT_PARTIAL));
    tileBegin = arith::SelectOp::create(b, loc, isPartial, chunk, cI64(0));
    tileStep = arith::SelectOp::create(b, loc, isPartial, numChunks, cI64(1));
  }
  qPtr = loadPtr(args, ATTN_ARG_Q);
  kPtr = loadPtr(args, ATTN_ARG_K);
  vPtr = loadPtr(args, ATTN_ARG_V);
  oPtr = loadPtr(args, ATTN_ARG_O);
  lsePtr = loadPtr(args, ATTN_ARG_LSE);
  paramsPtr = loadPtr(args, ATTN_ARG_PARAMS);
  tensorsPtr = loadPtr(args, ATTN_ARG_TENSORS);
  errorFlag = memref::AllocaOp::create(b, loc, MemRefType::get({1}, b.getI32Type()));
  memref::StoreOp::create(b, loc, arith::ConstantIntOp::create(b, loc, 0, 32), errorFlag,
                          ValueRange{cIndex(0)});

  // Storage for every fiber.
  for (Operation &op : cas.getBody().front())
    for (Value r : op.getResults())
      if (isa<cascade::FiberType>(r.getType()))
        allocate(r, cascade::getRanks(r));
  // Inputs are zero-padded (rows past nrows, head dims past D), or read in
  // place on the GPU.
  directInputs = options.directInputs;
  for (Operation &op : cas.getBody().front())
    if (auto in = dyn_cast<cascade::InputOp>(op); in && (!directInputs || in.getName() == "Q"))
      zeroFill(storage[in.getResult()]);
  // The contraction micro-kernel runs whole row groups: zero what it reads
  // and writes past nrows.
  for (Operation &op : cas.getBody().front())
    if (auto e = dyn_cast<cascade::EinsumOp>(op))
      if (std::optional<Contraction> c = matchContraction(e))
        for (Value v : {c->x, c->y, Value(e.getResult())})
          if (!v.getDefiningOp<cascade::InputOp>())
            zeroPaddedRows(storage[v]);
  // An iterate's final is its state after the last step: share cur's buffer.
  for (Operation &op : cas.getBody().front())
    if (auto it = dyn_cast<cascade::IterateOp>(op))
      storage[it.getFinal()] = storage[it.getCur()];

  // Q tile [p, e] in f32.
  for (Operation &op : cas.getBody().front()) {
    auto in = dyn_cast<cascade::InputOp>(op);
    if (!in || in.getName() != "Q")
      continue;
    Storage &s = storage[in.getResult()];
    forEachPoint({"p", "e"}, [&](llvm::StringMap<Value> &pt) {
      Value row = arith::AddIOp::create(b, loc, row0, toI64(pt["p"]));
      Value off = arith::AddIOp::create(
          b, loc,
          arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, bIdx, argWord(ATTN_ARG_Q_STRIDES)),
                                arith::MulIOp::create(b, loc, hIdx, argWord(ATTN_ARG_Q_STRIDES + 1))),
          arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, row, argWord(ATTN_ARG_Q_STRIDES + 2)),
                                arith::MulIOp::create(b, loc, toI64(pt["e"]), argWord(ATTN_ARG_Q_STRIDES + 3))));
      Value v = loadInputElem(qPtr, off);
      llvm::StringMap<Value> dst = pt; // Q is stored as [e, p]
      memref::StoreOp::create(b, loc, v, s.buffer, ValueRange{linearIndex(s, dst)});
    });
    // Its first rows as [row, e] too, when a score contraction reads Q by
    // lanes of p (see emitContraction), for calls with few rows.
    bool lanesOfQ = false;
    for (Operation &o : cas.getBody().front())
      if (auto e = dyn_cast<cascade::EinsumOp>(o))
        if (std::optional<Contraction> c = matchContraction(e))
          lanesOfQ |= c->y == in.getResult() && c->bR == "p";
    if (!lanesOfQ || kVec % kRows != 0)
      continue;
    {
      OpBuilder::InsertionGuard g(b);
      setAllocationPoint();
      qRows = memref::AllocaOp::create(
          b, loc, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
          ValueRange{arith::MulIOp::create(b, loc, cIndex(kRows), paddedD)});
    }
    Value qRowsBuf = qRows;
    scf::buildLoopNest(b, loc, ValueRange{cIndex(0), cIndex(0)},
                       ValueRange{cIndex(kRows), paddedD}, ValueRange{cIndex(1), cIndex(1)},
                       [&](OpBuilder &nb, Location, ValueRange ivs) {
                         OpBuilder::InsertionGuard g(b);
                         b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
                         llvm::StringMap<Value> at;
                         at["p"] = ivs[0];
                         at["e"] = ivs[1];
                         Value v = memref::LoadOp::create(b, loc, s.buffer,
                                                          ValueRange{linearIndex(s, at)});
                         memref::StoreOp::create(
                             b, loc, v, qRowsBuf,
                             ValueRange{arith::AddIOp::create(
                                 b, loc, arith::MulIOp::create(b, loc, ivs[0], paddedD), ivs[1])});
                       });
  }

  emitRowOps(0);
  auto output = cast<cascade::OutputOp>(cas.getBody().front().getTerminator());
  if (split) {
    // One pass (classify checked): the chunk's key tiles unless merging,
    // then the states to the partials, or the merges, row ops and output.
    auto mode = [&](arith::CmpIPredicate pred, int64_t m) {
      return arith::CmpIOp::create(b, loc, pred, splitMode, cI64(m));
    };
    auto keys = scf::IfOp::create(b, loc, mode(arith::CmpIPredicate::ne, ATTN_SPLIT_MERGE),
                                  /*withElseRegion=*/false);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(keys.thenBlock());
      if (failed(emitPass(1)))
        return failure();
    }
    auto partial = scf::IfOp::create(b, loc, mode(arith::CmpIPredicate::eq, ATTN_SPLIT_PARTIAL),
                                     /*withElseRegion=*/true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(partial.thenBlock());
    emitStorePartials();
    b.setInsertionPointToStart(partial.elseBlock());
    emitRowOps(1);
    emitOutput(output);
  } else {
    for (unsigned pass = 1; pass <= numPasses; ++pass) {
      if (failed(emitPass(pass)))
        return failure();
      emitRowOps(pass);
    }
    emitOutput(output);
  }

  // Report the error flag (ATTN_ERROR_OUT_OF_RANGE when set): the CPU kernel
  // returns it; a GPU thread ORs it into the int32 whose device address is
  // the args block's word ATTN_ARG_COUNT (attn/gpu.h: ATTN_ARG_GPU_ERROR).
  Value flag = memref::LoadOp::create(b, loc, errorFlag, ValueRange{cIndex(0)});
  Value status = arith::MulIOp::create(b, loc, flag,
                                       arith::ConstantIntOp::create(b, loc, ATTN_ERROR_OUT_OF_RANGE, 32));
  if (options.target == KernelTarget::Cpu) {
    ret->setOperand(0, status);
    return success();
  }
  auto failed = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, status,
                            arith::ConstantIntOp::create(b, loc, 0, 32)),
      false);
  b.setInsertionPointToStart(failed.thenBlock());
  LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::_or, loadPtr(args, ATTN_ARG_COUNT), status,
                            LLVM::AtomicOrdering::monotonic);
  return success();
}

} // namespace

/// The cascade of `variant`, or null.
static cascade::CascadeOp findCascade(attn::VariantOp variant) {
  for (Operation &op : variant.getBody().front())
    if (auto c = dyn_cast<cascade::CascadeOp>(op))
      return c;
  return {};
}

bool canSplitKeys(attn::VariantOp variant) {
  cascade::CascadeOp cas = findCascade(variant);
  if (!cas)
    return false;
  KernelBuilder kb(variant, cas, ModuleOp(), TileKernelOptions());
  return kb.canSplit();
}

LogicalResult buildTileKernel(attn::VariantOp variant, ModuleOp target,
                              const TileKernelOptions &options) {
  cascade::CascadeOp cas = findCascade(variant);
  if (!cas)
    return variant.emitError("tile kernel: variant has no cascade (run attn-to-cascade first)");
  KernelBuilder kb(variant, cas, target, options);
  return kb.build();
}

} // namespace attn
