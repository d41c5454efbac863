//===- CpuLaunch.cpp - attn_cpu_launch: check a call, run a tile kernel ---===//
//
// Checks every argument of a CPU call against the variant's description,
// fills the int64 argument block of attn/kernel.h and runs the tile kernel
// over every (b, h, row tile) on the persistent thread pool.
//
//===----------------------------------------------------------------------===//
#include "attn/kernel.h"
#include "runtime/lib/Error.h"
#include "runtime/lib/LaunchChecks.h"
#include "runtime/lib/ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
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

/// Runs work items [begin, end). Item t is row tile numTiles-1 - t / (B*H) of
/// (b, h) = t % (B*H): the last (for causal masks, the longest) rows first,
/// which is what dynamic scheduling balances best.
bool runItems(void *context, int64_t begin, int64_t end) {
  Launch &launch = *static_cast<Launch *>(context);
  for (int64_t t = begin; t < end; ++t) {
    int64_t tile = launch.numTiles - 1 - t / launch.batchHeads;
    int64_t bh = t % launch.batchHeads;
    int64_t row0 = tile * launch.rowTile;
    int64_t nrows = std::min(launch.rowTile, launch.sq - row0);
    int32_t rc = launch.fn(launch.args, bh / launch.heads, bh % launch.heads, row0, nrows);
    if (rc != 0) {
      int32_t expected = 0;
      launch.status.compare_exchange_strong(expected, rc);
      return false;
    }
  }
  return true;
}

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
  if (B == 0 || Sq == 0)
    return ATTN_OK;
  if (Skv == 0) {
    writeEmptyRows(o, lse);
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
  // About 8 chunks per thread: few atomics, still fine-grained enough to
  // balance rows of unequal cost.
  int64_t chunk = std::max<int64_t>(1, numItems / (int64_t(threads) * 8));
  attn::rt::ThreadPool::global().parallelFor(numItems, chunk, threads, runItems, &work);

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
  return ATTN_OK;
}

} // namespace

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
