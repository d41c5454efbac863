//===- CpuLaunch.cpp - attn_cpu_launch: check a call, run a tile kernel ---===//
//
// Checks every argument of a CPU call against the variant's description,
// fills the int64 argument block of attn/kernel.h and runs the tile kernel
// over every (b, h, row tile) on the persistent thread pool.
//
//===----------------------------------------------------------------------===//
#include "attn/kernel.h"
#include "runtime/lib/Error.h"
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

namespace {

/// The dtype as the language spells it (f32, i32, ...).
const char *dtypeName(attn_dtype dtype) {
  switch (dtype) {
  case ATTN_F32: return "f32";
  case ATTN_F16: return "f16";
  case ATTN_BF16: return "bf16";
  case ATTN_F64: return "f64";
  case ATTN_I32: return "i32";
  case ATTN_BOOL: return "bool";
  }
  return "unknown";
}

/// "[2, 4, 16, 8]".
std::string shapeString(const int64_t *dims, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) {
    if (i)
      s += ", ";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

/// The sizes of one call, indexed by ATTN_SIZE_*.
struct Sizes {
  int64_t v[6];
};

/// The name of an ATTN_SIZE_* in messages.
const char *sizeName(int64_t size) {
  static const char *const names[] = {"B", "H", "Hkv", "Sq", "Skv", "D"};
  return size >= 0 && size < 6 ? names[size] : "?";
}

/// Records `message` and returns ATTN_ERROR_INVALID_ARGUMENT.
attn_status invalid(std::string message) {
  return fail(ATTN_ERROR_INVALID_ARGUMENT, std::move(message));
}

/// Checks that `t` is a non-null tensor of `rank` dimensions, all >= 0, with
/// positive strides (a stride may be anything on an extent-1 dimension or in
/// an empty view) and non-null data unless it is empty.
attn_status checkView(const char *name, const attn_tensor *t, int rank) {
  if (!t)
    return invalid(std::string(name) + ": tensor is null");
  if (t->rank != rank)
    return invalid(std::string(name) + ": expected rank " + std::to_string(rank) +
                   ", got rank " + std::to_string(t->rank));
  bool empty = false;
  for (int i = 0; i < rank; ++i) {
    if (t->shape[i] < 0)
      return invalid(std::string(name) + ": negative extent in shape " +
                     shapeString(t->shape, rank));
    empty |= t->shape[i] == 0;
  }
  // An empty view reads nothing, and a stride over one element moves nowhere.
  for (int i = 0; i < rank && !empty; ++i) {
    if (t->shape[i] > 1 && t->strides[i] <= 0)
      return invalid(std::string(name) + ": stride " + std::to_string(t->strides[i]) +
                     " of dimension " + std::to_string(i) + " must be positive (strides " +
                     shapeString(t->strides, rank) + ")");
  }
  if (!t->data && !empty)
    return invalid(std::string(name) + ": data pointer is null");
  return ATTN_OK;
}

/// Checks that `t` has dtype `expected`; `why` follows the expected dtype.
attn_status checkDtype(const char *name, const attn_tensor *t, attn_dtype expected,
                       const char *why) {
  if (t->dtype != expected)
    return invalid(std::string(name) + ": expected dtype " + dtypeName(expected) + why +
                   ", got " + dtypeName(t->dtype));
  return ATTN_OK;
}

/// Checks `t`'s extents against `expected`; `names` says where they come from.
attn_status checkShape(const char *name, const attn_tensor *t, const int64_t *expected,
                       int rank, const char *names) {
  for (int i = 0; i < rank; ++i)
    if (t->shape[i] != expected[i])
      return invalid(std::string(name) + ": expected shape " + shapeString(expected, rank) +
                     " " + names + ", got " + shapeString(t->shape, rank));
  return ATTN_OK;
}

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
    return invalid("variant info is null");
  if (!fn)
    return invalid("tile kernel of variant '" + std::string(info->name ? info->name : "?") +
                   "' is null");
  const std::string variant = info->name ? info->name : "?";
  if (info->row_tile <= 0)
    return invalid("variant '" + variant + "': row_tile must be positive, got " +
                   std::to_string(info->row_tile));
  if (info->num_params < 0 || (info->num_params > 0 && !info->params) ||
      info->num_tensors < 0 || (info->num_tensors > 0 && !info->tensors))
    return invalid("variant '" + variant + "': malformed param or tensor table");
  if (numThreads < 0)
    return invalid("num_threads must be >= 0 (0: all cores), got " +
                   std::to_string(numThreads));

  // q, k, v, o, lse: rank, extents, strides, data.
  if (attn_status s = checkView("q", q, 4)) return s;
  if (attn_status s = checkView("k", k, 4)) return s;
  if (attn_status s = checkView("v", v, 4)) return s;
  if (attn_status s = checkView("o", o, 4)) return s;
  if (lse) {
    if (!info->has_lse)
      return invalid("lse: variant '" + variant +
                     "' has no log-sum-exp (its norm is not a softmax); pass null");
    if (attn_status s = checkView("lse", lse, 3)) return s;
  }

  // Dtypes.
  attn_dtype in = info->input_dtype;
  if (in != ATTN_F32 && in != ATTN_F16 && in != ATTN_BF16)
    return invalid("variant '" + variant + "': input dtype " + dtypeName(in) +
                   " is not f32, f16 or bf16");
  std::string why = " (variant '" + variant + "' was compiled for it)";
  if (attn_status s = checkDtype("q", q, in, why.c_str())) return s;
  if (attn_status s = checkDtype("k", k, in, why.c_str())) return s;
  if (attn_status s = checkDtype("v", v, in, why.c_str())) return s;
  if (attn_status s = checkDtype("o", o, in, why.c_str())) return s;
  if (lse)
    if (attn_status s = checkDtype("lse", lse, ATTN_F32, "")) return s;

  // Shapes.
  Sizes sz;
  int64_t B = sz.v[ATTN_SIZE_B] = q->shape[0];
  int64_t H = sz.v[ATTN_SIZE_H] = q->shape[1];
  int64_t Sq = sz.v[ATTN_SIZE_SQ] = q->shape[2];
  int64_t D = sz.v[ATTN_SIZE_D] = q->shape[3];
  int64_t Hkv = sz.v[ATTN_SIZE_HKV] = k->shape[1];
  int64_t Skv = sz.v[ATTN_SIZE_SKV] = k->shape[2];
  if (H <= 0)
    return invalid("q: number of heads H must be positive, got shape " +
                   shapeString(q->shape, 4));
  if (D <= 0)
    return invalid("q: head dimension D must be positive, got shape " +
                   shapeString(q->shape, 4));
  if (Hkv <= 0)
    return invalid("k: number of key/value heads Hkv must be positive, got shape " +
                   shapeString(k->shape, 4));
  const int64_t kvShape[4] = {B, Hkv, Skv, D};
  if (attn_status s = checkShape("k", k, kvShape, 4, "(B, Hkv, Skv, D from q and k)")) return s;
  if (attn_status s = checkShape("v", v, kvShape, 4, "(B, Hkv, Skv, D, the shape of k)")) return s;
  if (H % Hkv != 0)
    return invalid("H = " + std::to_string(H) + " query heads is not a multiple of Hkv = " +
                   std::to_string(Hkv) + " key/value heads");
  if (attn_status s = checkShape("o", o, q->shape, 4, "(B, H, Sq, D, the shape of q)")) return s;
  const int64_t lseShape[3] = {B, H, Sq};
  if (lse)
    if (attn_status s = checkShape("lse", lse, lseShape, 3, "(B, H, Sq)")) return s;

  // Extra tensors.
  if (info->num_tensors > 0 && !tensors)
    return invalid("variant '" + variant + "' needs " + std::to_string(info->num_tensors) +
                   " extra tensor(s) but none were given");
  for (int32_t t = 0; t < info->num_tensors; ++t) {
    const attn_tensor_info &ti = info->tensors[t];
    std::string name = std::string("tensor '") + (ti.name ? ti.name : "?") + "'";
    if (ti.rank < 0 || ti.rank > ATTN_MAX_RANK)
      return invalid("variant '" + variant + "': " + name + " has a malformed rank");
    if (attn_status s = checkView(name.c_str(), &tensors[t], ti.rank)) return s;
    if (attn_status s = checkDtype(name.c_str(), &tensors[t], ti.dtype, "")) return s;
    int64_t expected[ATTN_MAX_RANK];
    std::string names = "(";
    for (int32_t d = 0; d < ti.rank; ++d) {
      if (d)
        names += ", ";
      if (ti.dims[d] >= 0) {
        expected[d] = ti.dims[d];
        names += std::to_string(ti.dims[d]);
      } else {
        int64_t size = -(ti.dims[d] + 1);
        if (size > ATTN_SIZE_D)
          return invalid("variant '" + variant + "': " + name + " has a malformed dimension");
        expected[d] = sz.v[size];
        names += sizeName(size);
      }
    }
    names += ")";
    if (attn_status s = checkShape(name.c_str(), &tensors[t], expected, ti.rank, names.c_str()))
      return s;
  }

  // Params: defaults for missing (NaN) slots, integral and in range for i32,
  // 0 or 1 for bool.
  std::vector<double> paramValues(static_cast<size_t>(info->num_params));
  for (int32_t p = 0; p < info->num_params; ++p) {
    const attn_param_info &pi = info->params[p];
    std::string name = std::string("param '") + (pi.name ? pi.name : "?") + "'";
    double value = params ? params[p] : std::nan("");
    if (std::isnan(value)) {
      if (!pi.has_default)
        return invalid(name + " has no default and was not given");
      value = pi.default_value;
    }
    switch (pi.type) {
    case ATTN_I32:
      if (!(std::floor(value) == value) || value < -2147483648.0 || value > 2147483647.0)
        return invalid(name + " is i32 but got " + std::to_string(value) +
                       " (not an integer in range)");
      break;
    case ATTN_BOOL:
      if (value != 0.0 && value != 1.0)
        return invalid(name + " is bool but got " + std::to_string(value) + " (expected 0 or 1)");
      break;
    case ATTN_F32:
      break;
    default:
      return invalid("variant '" + variant + "': " + name + " has unsupported type " +
                     dtypeName(pi.type));
    }
    paramValues[p] = value;
  }

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
  args[ATTN_ARG_QOFFSET] = qOffset < 0 ? Skv - Sq : qOffset;
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
