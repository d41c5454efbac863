//===- CpuLaunch.cpp - attn_cpu_launch: check a call, run a tile kernel ---===//
//
// Checks every argument of a CPU call against the variant's description,
// fills the int64 argument block of attn/kernel.h and runs the tile kernel
// over every (b, h, row tile) on the persistent thread pool. A call with
// fewer (b, h, row tile) items than threads (decode) splits the keys of each
// item into chunks when the kernel can (split-KV): one kernel call per
// (item, chunk) leaves the chunk's row states in a scratch area, and the
// call that finishes an item's last chunk merges them into o and lse.
//
//===----------------------------------------------------------------------===//
#include "attn/kernel.h"
#include "runtime/lib/Error.h"
#include "runtime/lib/LaunchChecks.h"
#include "runtime/lib/ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <string>
#include <vector>

using attn::rt::fail;
using attn::rt::invalidArgument;

namespace {

/// Everything the workers need; lives on the launching thread's stack.
struct Launch {
  attn_tile_fn fn;
  const int64_t *args;
  int64_t heads;       ///< H
  int64_t batchHeads;  ///< B * H
  int64_t numTiles;    ///< row tiles per (b, h)
  int64_t rowTile;
  int64_t sq;
  std::atomic<int32_t> status{0};
};

/// Item t = (b, h, row tile): row tile numTiles-1 - t / (B*H) of (b, h) =
/// t % (B*H), the last (for causal masks, the longest) rows first, which is
/// what dynamic scheduling balances best.
struct Item {
  int64_t b, h, row0, nrows;
};
Item itemAt(const Launch &launch, int64_t t) {
  int64_t tile = launch.numTiles - 1 - t / launch.batchHeads;
  int64_t bh = t % launch.batchHeads;
  int64_t row0 = tile * launch.rowTile;
  return {bh / launch.heads, bh % launch.heads, row0, std::min(launch.rowTile, launch.sq - row0)};
}

/// Records the first failing status; returns false (stop the loop).
bool failed(Launch &launch, int32_t rc) {
  int32_t expected = 0;
  launch.status.compare_exchange_strong(expected, rc);
  return false;
}

/// Runs work items [begin, end).
bool runItems(void *context, int64_t begin, int64_t end) {
  Launch &launch = *static_cast<Launch *>(context);
  for (int64_t t = begin; t < end; ++t) {
    Item it = itemAt(launch, t);
    if (int32_t rc = launch.fn(launch.args, it.b, it.h, it.row0, it.nrows))
      return failed(launch, rc);
  }
  return true;
}

/// A split launch: work unit u is chunk u / items of item u % items (the
/// first chunks of every item first); the call that completes an item's last
/// chunk runs its merge.
struct SplitLaunch {
  Launch *launch;
  int64_t items, chunks;
  /// Argument blocks: chunk c's (ATTN_SPLIT_PARTIAL) at c * ATTN_ARG_COUNT,
  /// the merge's (ATTN_SPLIT_MERGE) after them.
  std::vector<int64_t> blocks;
  std::unique_ptr<std::atomic<int64_t>[]> chunksLeft; ///< per item
  const int64_t *block(int64_t c) const { return blocks.data() + c * ATTN_ARG_COUNT; }
};

bool runChunks(void *context, int64_t begin, int64_t end) {
  SplitLaunch &split = *static_cast<SplitLaunch *>(context);
  Launch &launch = *split.launch;
  for (int64_t u = begin; u < end; ++u) {
    int64_t t = u % split.items, c = u / split.items;
    Item it = itemAt(launch, t);
    if (int32_t rc = launch.fn(split.block(c), it.b, it.h, it.row0, it.nrows))
      return failed(launch, rc);
    // acq_rel: the merging call sees every chunk's state.
    if (split.chunksLeft[t].fetch_sub(1, std::memory_order_acq_rel) == 1)
      if (int32_t rc = launch.fn(split.block(split.chunks), it.b, it.h, it.row0, it.nrows))
        return failed(launch, rc);
  }
  return true;
}

/// ATTN_SPLIT_KV: -1 when unset or not a number (the launcher decides), else
/// its value (0 or 1: never split; N: N chunks).
int64_t splitOverride() {
  const char *env = std::getenv("ATTN_SPLIT_KV");
  if (!env || !*env)
    return -1;
  char *end = nullptr;
  errno = 0;
  long long value = std::strtoll(env, &end, 10);
  if (errno != 0 || *end != '\0' || value < 0)
    return -1;
  return value;
}

/// The number of key chunks for `items` work items of `keyTiles` key tiles
/// on `threads` threads: the fewest chunks whose schedule (rounds of equal
/// chunks over the threads) is within 10% of the best, with at least
/// kMinTilesPerChunk key tiles per chunk; 1 (no split) unless there are
/// fewer items than threads.
constexpr int64_t kMinTilesPerChunk = 4;
int64_t chooseChunks(int64_t items, int64_t keyTiles, int threads) {
  if (items >= threads)
    return 1;
  int64_t most = std::min<int64_t>(threads, keyTiles / kMinTilesPerChunk);
  // The makespan of W chunks per item, in units of one unsplit item.
  auto cost = [&](int64_t w) {
    return static_cast<double>((items * w + threads - 1) / threads) / static_cast<double>(w);
  };
  double best = 1;
  for (int64_t w = 1; w <= most; ++w)
    best = std::min(best, cost(w));
  for (int64_t w = 1; w <= most; ++w)
    if (cost(w) <= best * 1.1)
      return w;
  return 1;
}

thread_local int32_t lastKeyChunks = 0;

/// Writes zeros to `o` and -inf to `lse` (the result of rows with no key).
void writeEmptyRows(attn_tensor *o, attn_tensor *lse) {
  size_t elementSize = attn_dtype_size(o->dtype);
  for (int64_t b = 0; b < o->shape[0]; ++b)
    for (int64_t h = 0; h < o->shape[1]; ++h)
      for (int64_t s = 0; s < o->shape[2]; ++s) {
        char *row = static_cast<char *>(o->data) +
                    (b * o->strides[0] + h * o->strides[1] + s * o->strides[2]) *
                        static_cast<int64_t>(elementSize);
        for (int64_t d = 0; d < o->shape[3]; ++d)
          std::memset(row + d * o->strides[3] * static_cast<int64_t>(elementSize), 0,
                      elementSize);
        if (lse)
          static_cast<float *>(lse->data)[b * lse->strides[0] + h * lse->strides[1] +
                                          s * lse->strides[2]] =
              -std::numeric_limits<float>::infinity();
      }
}

/// attn_cpu_launch without the exception guard.
attn_status launch(const attn_variant_info *info, attn_tile_fn fn, const attn_tensor *q,
                   const attn_tensor *k, const attn_tensor *v, attn_tensor *o,
                   attn_tensor *lse, const double *params, const attn_tensor *tensors,
                   int64_t qOffset, int32_t numThreads) {
  if (!info)
    return invalidArgument("variant info is null");
  if (!fn)
    return invalidArgument("tile kernel of variant '" +
                           std::string(info->name ? info->name : "?") + "' is null");
  if (numThreads < 0)
    return invalidArgument("num_threads must be >= 0 (0: all cores), got " +
                           std::to_string(numThreads));
  attn::rt::CheckedCall call;
  if (attn_status s = attn::rt::checkLaunchArguments(info, q, k, v, o, lse, params, tensors,
                                                     qOffset, call))
    return s;
  const std::string &variant = call.variant;
  const int64_t B = call.B, H = call.H, Hkv = call.Hkv, Sq = call.Sq, Skv = call.Skv,
                D = call.D;
  std::vector<double> &paramValues = call.params;

  // attnc's tile kernels keep a row tile's head-dim vectors (about a dozen
  // [rows x D] f32 buffers) on the calling thread's stack: refuse a D whose
  // buffers would not fit in a 4 MiB budget rather than overflow it.
  const int64_t rows = (info->row_tile + 15) / 16 * 16;
  const int64_t maxD = (int64_t(4) << 20) / (12 * 4 * rows);
  if (D > maxD)
    return attn::rt::fail(ATTN_ERROR_UNSUPPORTED,
                          "variant '" + variant + "': head dimension D = " + std::to_string(D) +
                              " is above the CPU kernels' limit of " + std::to_string(maxD) +
                              " for a row tile of " + std::to_string(info->row_tile) +
                              " (compile with a smaller --row-tile)");

  // Nothing to compute; no key at all: every row is empty.
  if (B == 0 || Sq == 0) {
    lastKeyChunks = 1;
    return ATTN_OK;
  }
  if (Skv == 0) {
    writeEmptyRows(o, lse);
    lastKeyChunks = 1;
    return ATTN_OK;
  }

  // The argument block.
  int64_t args[ATTN_ARG_COUNT] = {};
  args[ATTN_ARG_Q] = reinterpret_cast<intptr_t>(q->data);
  args[ATTN_ARG_K] = reinterpret_cast<intptr_t>(k->data);
  args[ATTN_ARG_V] = reinterpret_cast<intptr_t>(v->data);
  args[ATTN_ARG_O] = reinterpret_cast<intptr_t>(o->data);
  args[ATTN_ARG_LSE] = lse ? reinterpret_cast<intptr_t>(lse->data) : 0;
  args[ATTN_ARG_B] = B;
  args[ATTN_ARG_H] = H;
  args[ATTN_ARG_HKV] = Hkv;
  args[ATTN_ARG_SQ] = Sq;
  args[ATTN_ARG_SKV] = Skv;
  args[ATTN_ARG_D] = D;
  args[ATTN_ARG_QOFFSET] = call.qOffset;
  for (int i = 0; i < 4; ++i) {
    args[ATTN_ARG_Q_STRIDES + i] = q->strides[i];
    args[ATTN_ARG_K_STRIDES + i] = k->strides[i];
    args[ATTN_ARG_V_STRIDES + i] = v->strides[i];
    args[ATTN_ARG_O_STRIDES + i] = o->strides[i];
  }
  for (int i = 0; i < 3; ++i)
    args[ATTN_ARG_LSE_STRIDES + i] = lse ? lse->strides[i] : 0;
  args[ATTN_ARG_PARAMS] = reinterpret_cast<intptr_t>(paramValues.data());
  args[ATTN_ARG_TENSORS] = reinterpret_cast<intptr_t>(tensors);

  // Run every (b, h, row tile).
  Launch work;
  work.fn = fn;
  work.args = args;
  work.heads = H;
  work.batchHeads = B * H;
  work.rowTile = info->row_tile;
  work.sq = Sq;
  work.numTiles = Sq / info->row_tile + (Sq % info->row_tile != 0);
  int64_t numItems = work.batchHeads * work.numTiles;
  int threads = numThreads > 0 ? std::min<int32_t>(numThreads, attn::rt::ThreadPool::kMaxThreads)
                               : attn::rt::defaultNumThreads();

  // Split-KV: ask the kernel whether it can split (and its key tile and
  // state size); a kernel that cannot leaves `describe` at zero.
  int64_t chunks = 1, stateFloats = 0;
  int64_t override = splitOverride();
  if (override > 1 || (override < 0 && numItems < threads)) {
    int64_t describe[2] = {0, 0};
    std::vector<int64_t> query(args, args + ATTN_ARG_COUNT);
    query[ATTN_ARG_SPLIT] = ATTN_SPLIT_DESCRIBE;
    query[ATTN_ARG_PARTIALS] = reinterpret_cast<intptr_t>(describe);
    if (fn(query.data(), 0, 0, 0, 0) == 0 && describe[0] > 0 && describe[1] > 0) {
      int64_t keyTiles = (Skv + describe[0] - 1) / describe[0];
      // At most one chunk per key tile: none is empty (chunk c runs tiles
      // c, c + W, ...).
      chunks = override > 1 ? std::min(override, keyTiles) : chooseChunks(numItems, keyTiles, threads);
      stateFloats = describe[1];
    }
  }

  if (chunks > 1) {
    // The chunks' states, [B, H, Sq, W, floats]; kept per thread across calls
    // (decode calls one after another reuse it).
    thread_local std::vector<float> scratch;
    size_t need = static_cast<size_t>(B * H * Sq * chunks * stateFloats);
    if (scratch.size() < need)
      scratch.resize(need);
    SplitLaunch split;
    split.launch = &work;
    split.items = numItems;
    split.chunks = chunks;
    args[ATTN_ARG_NUM_CHUNKS] = chunks;
    args[ATTN_ARG_PARTIALS] = reinterpret_cast<intptr_t>(scratch.data());
    for (int64_t c = 0; c <= chunks; ++c) {
      split.blocks.insert(split.blocks.end(), args, args + ATTN_ARG_COUNT);
      int64_t *block = split.blocks.data() + c * ATTN_ARG_COUNT;
      block[ATTN_ARG_SPLIT] = c < chunks ? ATTN_SPLIT_PARTIAL : ATTN_SPLIT_MERGE;
      block[ATTN_ARG_CHUNK] = c;
    }
    split.chunksLeft.reset(new std::atomic<int64_t>[static_cast<size_t>(numItems)]);
    for (int64_t t = 0; t < numItems; ++t)
      split.chunksLeft[t].store(chunks, std::memory_order_relaxed);
    // One unit per chunk: they are few (items * W is about the thread count).
    attn::rt::ThreadPool::global().parallelFor(numItems * chunks, 1, threads, runChunks, &split);
  } else {
    // About 8 chunks per thread: few atomics, still fine-grained enough to
    // balance rows of unequal cost.
    int64_t chunk = std::max<int64_t>(1, numItems / (int64_t(threads) * 8));
    attn::rt::ThreadPool::global().parallelFor(numItems, chunk, threads, runItems, &work);
  }

  int32_t rc = work.status.load();
  if (rc == ATTN_ERROR_OUT_OF_RANGE)
    return fail(ATTN_ERROR_OUT_OF_RANGE, "tensor index out of range in variant '" + variant + "'");
  if (rc != 0) {
    bool known = rc > 0 && rc <= ATTN_ERROR_INTERNAL;
    return fail(known ? static_cast<attn_status>(rc) : ATTN_ERROR_INTERNAL,
                "tile kernel of variant '" + variant + "' returned " + std::to_string(rc) +
                    (known ? std::string(" (") + attn_status_string(static_cast<attn_status>(rc)) + ")"
                           : std::string(" (not a status code)")));
  }
  lastKeyChunks = static_cast<int32_t>(chunks);
  return ATTN_OK;
}

} // namespace

extern "C" int32_t attn_cpu_last_key_chunks(void) { return lastKeyChunks; }

extern "C" attn_status attn_cpu_launch(const attn_variant_info *info, attn_tile_fn fn,
                                       const attn_tensor *q, const attn_tensor *k,
                                       const attn_tensor *v, attn_tensor *o, attn_tensor *lse,
                                       const double *params, const attn_tensor *tensors,
                                       int64_t q_offset, int32_t num_threads) {
  try {
    return launch(info, fn, q, k, v, o, lse, params, tensors, q_offset, num_threads);
  } catch (const std::exception &e) {
    return fail(ATTN_ERROR_INTERNAL, std::string("attn_cpu_launch: ") + e.what());
  } catch (...) {
    return fail(ATTN_ERROR_INTERNAL, "attn_cpu_launch: unknown exception");
  }
}
