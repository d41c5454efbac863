//===- LaunchChecks.cpp - argument checks shared by the launchers ---------===//
#include "runtime/lib/LaunchChecks.h"
#include "runtime/lib/Error.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace attn::rt {

std::string shapeString(const int64_t *dims, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) {
    if (i)
      s += ", ";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

attn_status invalidArgument(std::string message) {
  return fail(ATTN_ERROR_INVALID_ARGUMENT, std::move(message));
}

namespace {

/// The name of an ATTN_SIZE_* in messages.
const char *sizeName(int64_t size) {
  static const char *const names[] = {"B", "H", "Hkv", "Sq", "Skv", "D"};
  return size >= 0 && size < 6 ? names[size] : "?";
}

/// Checks that `t` is a non-null tensor of `rank` dimensions, all >= 0, with
/// positive strides (a stride may be anything on an extent-1 dimension or in
/// an empty view) and non-null data unless it is empty.
attn_status checkView(const char *name, const attn_tensor *t, int rank) {
  if (!t)
    return invalidArgument(std::string(name) + ": tensor is null");
  if (t->rank != rank)
    return invalidArgument(std::string(name) + ": expected rank " + std::to_string(rank) +
                           ", got rank " + std::to_string(t->rank));
  bool empty = false;
  for (int i = 0; i < rank; ++i) {
    if (t->shape[i] < 0)
      return invalidArgument(std::string(name) + ": negative extent in shape " +
                             shapeString(t->shape, rank));
    empty |= t->shape[i] == 0;
  }
  // An empty view reads nothing, and a stride over one element moves nowhere.
  for (int i = 0; i < rank && !empty; ++i) {
    if (t->shape[i] > 1 && t->strides[i] <= 0)
      return invalidArgument(std::string(name) + ": stride " + std::to_string(t->strides[i]) +
                             " of dimension " + std::to_string(i) +
                             " must be positive (strides " + shapeString(t->strides, rank) +
                             ")");
  }
  if (!t->data && !empty)
    return invalidArgument(std::string(name) + ": data pointer is null");
  // Every element's offset (and the element count) must fit in 64 bits, in
  // bytes: the kernels index with 64-bit integers.
  if (!empty) {
    int64_t count = 1, last = 0;
    bool overflow = false;
    for (int i = 0; i < rank; ++i) {
      int64_t step = 0;
      overflow |= __builtin_mul_overflow(count, t->shape[i], &count);
      if (t->shape[i] > 1) {
        overflow |= __builtin_mul_overflow(t->shape[i] - 1, t->strides[i], &step);
        overflow |= __builtin_add_overflow(last, step, &last);
      }
    }
    const int64_t kMax = INT64_MAX / 16; // in elements, room for bytes of any dtype
    if (overflow || count > kMax || last >= kMax)
      return invalidArgument(std::string(name) + ": shape " + shapeString(t->shape, rank) +
                             " with strides " + shapeString(t->strides, rank) +
                             " addresses more elements than 64-bit offsets can");
  }
  return ATTN_OK;
}

/// Checks that `t` has dtype `expected`; `why` follows the expected dtype.
attn_status checkDtype(const char *name, const attn_tensor *t, attn_dtype expected,
                       const char *why) {
  if (t->dtype != expected)
    return invalidArgument(std::string(name) + ": expected dtype " + attn_dtype_name(expected) + why +
                           ", got " + attn_dtype_name(t->dtype));
  return ATTN_OK;
}

/// Checks `t`'s extents against `expected`; `names` says where they come from.
attn_status checkShape(const char *name, const attn_tensor *t, const int64_t *expected,
                       int rank, const char *names) {
  for (int i = 0; i < rank; ++i)
    if (t->shape[i] != expected[i])
      return invalidArgument(std::string(name) + ": expected shape " +
                             shapeString(expected, rank) + " " + names + ", got " +
                             shapeString(t->shape, rank));
  return ATTN_OK;
}

/// The bytes a view's elements lie in, [begin, end), and how its elements sit
/// there: `distinct` when no two share an address (the dimensions of extent
/// above 1, sorted by stride, each step at least the span of those below:
/// a sufficient test), `dense` when they also fill every byte (contiguous up
/// to a permutation of the dimensions). Only for views checkView accepted.
struct Span {
  uintptr_t begin = 0, end = 0;
  bool empty = true, distinct = false, dense = false;
};

Span spanOf(const attn_tensor &t) {
  Span s;
  std::vector<std::pair<int64_t, int64_t>> dims; // (stride, extent), extent > 1
  int64_t last = 0;
  for (int i = 0; i < t.rank; ++i) {
    if (t.shape[i] == 0)
      return s;
    if (t.shape[i] > 1) {
      dims.emplace_back(t.strides[i], t.shape[i]);
      last += (t.shape[i] - 1) * t.strides[i]; // fits: checkView
    }
  }
  std::sort(dims.begin(), dims.end());
  const uintptr_t size = attn_dtype_size(t.dtype);
  if (size == 0)
    return s;
  s.empty = false;
  s.begin = reinterpret_cast<uintptr_t>(t.data);
  s.end = s.begin + (static_cast<uintptr_t>(last) + 1) * size;
  s.distinct = s.dense = true;
  int64_t below = 1; // the span, in elements, of the dimensions sorted so far
  for (auto [stride, extent] : dims) {
    s.distinct &= stride >= below;
    s.dense &= stride == below;
    below = stride * extent;
  }
  s.dense &= s.distinct;
  return s;
}

/// Whether two spans certainly share a byte: both non-empty and they begin or
/// end at the same byte (a first or last element in common), or their ranges
/// meet and both fill theirs, or one fills its range and holds the other's
/// first or last byte.
bool certainlyOverlap(const Span &a, const Span &b) {
  if (a.empty || b.empty || a.end <= b.begin || b.end <= a.begin)
    return false;
  if (a.begin == b.begin || a.end == b.end)
    return true;
  auto holds = [](const Span &x, uintptr_t p) { return x.begin <= p && p < x.end; };
  return (a.dense && b.dense) || (a.dense && (holds(a, b.begin) || holds(a, b.end - 1))) ||
         (b.dense && (holds(b, a.begin) || holds(b, a.end - 1)));
}

/// Outputs are written while the inputs are read, by many threads or
/// blocks: an output must not map two of its elements to one address, nor
/// share memory with an input or the other output. Refused where the spans
/// show it; views that interleave without filling their spans (a packed
/// QKV buffer's views, say) are not refused for meeting.
attn_status checkOutputsApart(const std::vector<NamedView> &inputs,
                              const std::vector<NamedView> &outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string &name = outputs[i].first;
    const attn_tensor *t = outputs[i].second;
    Span s = spanOf(*t);
    if (s.empty)
      continue;
    if (!s.distinct)
      return invalidArgument(name + ": shape " + shapeString(t->shape, t->rank) +
                             " with strides " + shapeString(t->strides, t->rank) +
                             " may write two elements to the same address (an output's "
                             "strides, in increasing order, must each be at least the previous "
                             "stride times its extent)");
    auto apart = [&](const std::string &other, const attn_tensor *u) -> attn_status {
      if (certainlyOverlap(s, spanOf(*u)))
        return invalidArgument(name + " shares memory with " + other +
                               ": outputs must not overlap the inputs or each other");
      return ATTN_OK;
    };
    for (const auto &[other, u] : inputs)
      if (attn_status st = apart(other, u)) return st;
    for (size_t j = i + 1; j < outputs.size(); ++j)
      if (attn_status st = apart(outputs[j].first, outputs[j].second)) return st;
  }
  return ATTN_OK;
}

} // namespace

void callViews(const attn_variant_info *info, const attn_tensor *q, const attn_tensor *k,
               const attn_tensor *v, const attn_tensor *o, const attn_tensor *lse,
               const attn_tensor *tensors, std::vector<NamedView> &inputs,
               std::vector<NamedView> &outputs) {
  inputs = {{"q", q}, {"k", k}, {"v", v}};
  outputs = {{"o", o}};
  if (lse)
    outputs.emplace_back("lse", lse);
  for (int32_t t = 0; t < info->num_tensors; ++t)
    inputs.emplace_back(
        std::string("tensor '") + (info->tensors[t].name ? info->tensors[t].name : "?") + "'",
        &tensors[t]);
}

bool viewSpanMeets(const attn_tensor &t, uintptr_t begin, uintptr_t end) {
  Span s = spanOf(t);
  return !s.empty && begin < end && begin < s.end && s.begin < end;
}

attn_status checkLaunchArguments(const attn_variant_info *info, const attn_tensor *q,
                                 const attn_tensor *k, const attn_tensor *v,
                                 const attn_tensor *o, const attn_tensor *lse,
                                 const double *params, const attn_tensor *tensors,
                                 int64_t qOffset, CheckedCall &out) {
  if (!info)
    return invalidArgument("variant info is null");
  const std::string variant = info->name ? info->name : "?";
  if (info->row_tile <= 0)
    return invalidArgument("variant '" + variant + "': row_tile must be positive, got " +
                           std::to_string(info->row_tile));
  if (info->num_params < 0 || (info->num_params > 0 && !info->params) ||
      info->num_tensors < 0 || (info->num_tensors > 0 && !info->tensors))
    return invalidArgument("variant '" + variant + "': malformed param or tensor table");

  // q, k, v, o, lse: rank, extents, strides, data.
  if (attn_status s = checkView("q", q, 4)) return s;
  if (attn_status s = checkView("k", k, 4)) return s;
  if (attn_status s = checkView("v", v, 4)) return s;
  if (attn_status s = checkView("o", o, 4)) return s;
  if (lse) {
    if (!info->has_lse)
      return invalidArgument("lse: variant '" + variant +
                             "' has no log-sum-exp (its norm is not a softmax); pass null");
    if (attn_status s = checkView("lse", lse, 3)) return s;
  }

  // Dtypes.
  attn_dtype in = info->input_dtype;
  if (in != ATTN_F32 && in != ATTN_F16 && in != ATTN_BF16)
    return invalidArgument("variant '" + variant + "': input dtype " + attn_dtype_name(in) +
                           " is not f32, f16 or bf16");
  std::string why = " (variant '" + variant + "' was compiled for it)";
  if (attn_status s = checkDtype("q", q, in, why.c_str())) return s;
  if (attn_status s = checkDtype("k", k, in, why.c_str())) return s;
  if (attn_status s = checkDtype("v", v, in, why.c_str())) return s;
  if (attn_status s = checkDtype("o", o, in, why.c_str())) return s;
  if (lse)
    if (attn_status s = checkDtype("lse", lse, ATTN_F32, "")) return s;

  // Shapes.
  int64_t sz[6];
  int64_t B = sz[ATTN_SIZE_B] = q->shape[0];
  int64_t H = sz[ATTN_SIZE_H] = q->shape[1];
  int64_t Sq = sz[ATTN_SIZE_SQ] = q->shape[2];
  int64_t D = sz[ATTN_SIZE_D] = q->shape[3];
  int64_t Hkv = sz[ATTN_SIZE_HKV] = k->shape[1];
  int64_t Skv = sz[ATTN_SIZE_SKV] = k->shape[2];
  if (H <= 0)
    return invalidArgument("q: number of heads H must be positive, got shape " +
                           shapeString(q->shape, 4));
  if (D <= 0)
    return invalidArgument("q: head dimension D must be positive, got shape " +
                           shapeString(q->shape, 4));
  if (Hkv <= 0)
    return invalidArgument("k: number of key/value heads Hkv must be positive, got shape " +
                           shapeString(k->shape, 4));
  const int64_t kvShape[4] = {B, Hkv, Skv, D};
  if (attn_status s = checkShape("k", k, kvShape, 4, "(B, Hkv, Skv, D from q and k)")) return s;
  if (attn_status s = checkShape("v", v, kvShape, 4, "(B, Hkv, Skv, D, the shape of k)")) return s;
  if (H % Hkv != 0)
    return invalidArgument("H = " + std::to_string(H) +
                           " query heads is not a multiple of Hkv = " + std::to_string(Hkv) +
                           " key/value heads");
  if (attn_status s = checkShape("o", o, q->shape, 4, "(B, H, Sq, D, the shape of q)")) return s;
  const int64_t lseShape[3] = {B, H, Sq};
  if (lse)
    if (attn_status s = checkShape("lse", lse, lseShape, 3, "(B, H, Sq)")) return s;

  // Extra tensors.
  if (info->num_tensors > 0 && !tensors)
    return invalidArgument("variant '" + variant + "' needs " +
                           std::to_string(info->num_tensors) +
                           " extra tensor(s) but none were given");
  for (int32_t t = 0; t < info->num_tensors; ++t) {
    const attn_tensor_info &ti = info->tensors[t];
    std::string name = std::string("tensor '") + (ti.name ? ti.name : "?") + "'";
    if (ti.rank < 0 || ti.rank > ATTN_MAX_RANK)
      return invalidArgument("variant '" + variant + "': " + name + " has a malformed rank");
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
          return invalidArgument("variant '" + variant + "': " + name +
                                 " has a malformed dimension");
        expected[d] = sz[size];
        names += sizeName(size);
      }
    }
    names += ")";
    if (attn_status s = checkShape(name.c_str(), &tensors[t], expected, ti.rank, names.c_str()))
      return s;
  }

  // Outputs apart from each other and from the inputs.
  std::vector<NamedView> inputs, outputs;
  callViews(info, q, k, v, o, lse, tensors, inputs, outputs);
  if (attn_status s = checkOutputsApart(inputs, outputs)) return s;

  // Params: defaults for missing (NaN) slots, integral and in range for i32,
  // 0 or 1 for bool.
  std::vector<double> paramValues(static_cast<size_t>(info->num_params));
  for (int32_t p = 0; p < info->num_params; ++p) {
    const attn_param_info &pi = info->params[p];
    std::string name = std::string("param '") + (pi.name ? pi.name : "?") + "'";
    double value = params ? params[p] : std::nan("");
    if (std::isnan(value)) {
      if (!pi.has_default)
        return invalidArgument(name + " has no default and was not given");
      value = pi.default_value;
    }
    switch (pi.type) {
    case ATTN_I32:
      if (!(std::floor(value) == value) || value < -2147483648.0 || value > 2147483647.0)
        return invalidArgument(name + " is i32 but got " + std::to_string(value) +
                               " (not an integer in range)");
      break;
    case ATTN_BOOL:
      if (value != 0.0 && value != 1.0)
        return invalidArgument(name + " is bool but got " + std::to_string(value) +
                               " (expected 0 or 1)");
      break;
    case ATTN_F32:
      if (std::isfinite(value) && std::fabs(value) > std::numeric_limits<float>::max()) {
        char text[32];
        std::snprintf(text, sizeof text, "%g", value);
        return invalidArgument(name + " is f32 but got " + text + " (beyond the f32 range)");
      }
      break;
    default:
      return invalidArgument("variant '" + variant + "': " + name + " has unsupported type " +
                             attn_dtype_name(pi.type));
    }
    paramValues[p] = value;
  }

  out.variant = variant;
  out.B = B;
  out.H = H;
  out.Hkv = Hkv;
  out.Sq = Sq;
  out.Skv = Skv;
  out.D = D;
  out.qOffset = qOffset < 0 ? Skv - Sq : qOffset;
  // Query i is at position q_offset + i: the last one must fit in 64 bits.
  if (int64_t lastPos; Sq > 0 && __builtin_add_overflow(out.qOffset, Sq - 1, &lastPos))
    return invalidArgument("q_offset " + std::to_string(qOffset) + " + Sq " +
                           std::to_string(Sq) + " overflows 64-bit positions");
  out.params = std::move(paramValues);
  return ATTN_OK;
}

} // namespace attn::rt
