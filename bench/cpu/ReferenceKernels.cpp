//===- ReferenceKernels.cpp - hand-written tile kernels for the benchmark -===//
//
// Layout of one tile (64 query rows) and key block (64 keys):
//
//   Qt[d][r]  = scale * q[row0 + r, d]        transposed once per tile
//   St[c][r]  = sum_d k[j0 + c, d] * Qt[d][r]  scores, key-major: the row
//               statistics (max, sum) of a query row are a column, so the
//               online-softmax update runs across query rows in SIMD lanes
//   O[r][d]  += sum_c St[c][r] * v[j0 + c, d]  P V, straight from k and v
//
// k and v are read in place (no per-block copy) when their head dimension is
// contiguous; both matmuls use one register-blocked micro-kernel.
//
//===----------------------------------------------------------------------===//
#include "bench/cpu/ReferenceKernels.h"
#include "bench/cpu/FastExp.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

namespace attn::bench {
namespace {

enum class Mask { Full, Causal, SlidingWindow, Document };

constexpr int64_t kRowTile = 64;
constexpr int64_t kKeyBlock = 64;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

template <typename T> T *wordPtr(const int64_t *args, int word) {
  return reinterpret_cast<T *>(static_cast<intptr_t>(args[word]));
}

/// C[r][w] (+)= sum_k A[r * aRow + k * aK] * B[k * ldb + w] for r < R,
/// w < W: the register-blocked inner product of both matmuls.
template <int R, int W>
inline void microKernel(const float *A, int64_t aRow, int64_t aK, const float *B, int64_t ldb,
                        int64_t K, float *C, int64_t ldc, bool accumulate) {
  float acc[R][W];
  for (int r = 0; r < R; ++r)
    for (int w = 0; w < W; ++w)
      acc[r][w] = accumulate ? C[r * ldc + w] : 0.0f;
  for (int64_t k = 0; k < K; ++k) {
    const float *b = B + k * ldb;
    for (int r = 0; r < R; ++r) {
      const float a = A[r * aRow + k * aK];
      for (int w = 0; w < W; ++w)
        acc[r][w] += a * b[w];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int w = 0; w < W; ++w)
      C[r * ldc + w] = acc[r][w];
}

/// C (rows x W-wide columns [0, cols)) (+)= A B with rows in blocks of 8, 4, 1
/// and columns in blocks of 32 then 1.
inline void matmul(const float *A, int64_t aRow, int64_t aK, const float *B, int64_t ldb,
                   int64_t K, float *C, int64_t ldc, int64_t rows, int64_t cols,
                   bool accumulate) {
  const int64_t colsMain = cols - cols % 32;
  auto rowBlock = [&](auto rTag, int64_t r) {
    constexpr int Rb = decltype(rTag)::value;
    for (int64_t w = 0; w < colsMain; w += 32)
      microKernel<Rb, 32>(A + r * aRow, aRow, aK, B + w, ldb, K, C + r * ldc + w, ldc, accumulate);
    for (int64_t w = colsMain; w < cols; ++w)
      microKernel<Rb, 1>(A + r * aRow, aRow, aK, B + w, ldb, K, C + r * ldc + w, ldc, accumulate);
  };
  int64_t r = 0;
  for (; r + 8 <= rows; r += 8)
    rowBlock(std::integral_constant<int, 8>(), r);
  for (; r + 4 <= rows; r += 4)
    rowBlock(std::integral_constant<int, 4>(), r);
  for (; r < rows; ++r)
    rowBlock(std::integral_constant<int, 1>(), r);
}

/// Per-thread scratch, sized for the largest D seen.
struct Scratch {
  std::vector<float> qt, v, st, o;
  float mx[kRowTile], sum[kRowTile], base[kRowTile], corr[kRowTile], blockMax[kRowTile],
      blockSum[kRowTile];
  int32_t rowDoc[kRowTile];
  void ensure(int64_t D) {
    const size_t tileD = static_cast<size_t>(kRowTile * D);
    if (qt.size() < tileD) {
      qt.resize(tileD);
      o.resize(tileD);
      v.resize(static_cast<size_t>(kKeyBlock * D));
    }
    st.resize(kKeyBlock * kRowTile);
  }
};

/// Rows [row0, row0 + nrows) of o (and lse) for one (b, h): a 1-pass online
/// softmax over key blocks of 64, skipping blocks the mask removes entirely.
template <Mask M>
int32_t tileKernel(const int64_t *args, int64_t b, int64_t h, int64_t row0, int64_t nrows) {
  // No split-KV here: ATTN_SPLIT_DESCRIBE (a call for no rows) answers "cannot".
  if (nrows <= 0 || args[ATTN_ARG_SPLIT] != ATTN_SPLIT_NONE)
    return 0;
  static thread_local Scratch scratch;
  const float *q = wordPtr<const float>(args, ATTN_ARG_Q);
  const float *k = wordPtr<const float>(args, ATTN_ARG_K);
  const float *v = wordPtr<const float>(args, ATTN_ARG_V);
  float *o = wordPtr<float>(args, ATTN_ARG_O);
  float *lse = wordPtr<float>(args, ATTN_ARG_LSE);
  const int64_t *qs = args + ATTN_ARG_Q_STRIDES, *ks = args + ATTN_ARG_K_STRIDES,
                *vs = args + ATTN_ARG_V_STRIDES, *os = args + ATTN_ARG_O_STRIDES,
                *ls = args + ATTN_ARG_LSE_STRIDES;
  const int64_t H = args[ATTN_ARG_H], Hkv = args[ATTN_ARG_HKV], Skv = args[ATTN_ARG_SKV],
                D = args[ATTN_ARG_D], qOffset = args[ATTN_ARG_QOFFSET];
  const int64_t hk = h / (H / Hkv);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const int64_t iFirst = qOffset + row0, iLast = qOffset + row0 + nrows - 1;
  const float *kHead = k + b * ks[0] + hk * ks[1];
  const float *vHead = v + b * vs[0] + hk * vs[1];

  Scratch &sc = scratch;
  sc.ensure(D);

  int64_t window = 0;
  const int32_t *doc = nullptr;
  int64_t docB = 0, docJ = 0;
  int32_t rowDocMin = 0, rowDocMax = 0;
  if constexpr (M == Mask::SlidingWindow)
    window = static_cast<int64_t>(wordPtr<const double>(args, ATTN_ARG_PARAMS)[0]);
  if constexpr (M == Mask::Document) {
    const attn_tensor &t = wordPtr<const attn_tensor>(args, ATTN_ARG_TENSORS)[0];
    doc = static_cast<const int32_t *>(t.data);
    docB = t.strides[0];
    docJ = t.strides[1];
    // doc[b, i] must be in range for every row of the tile.
    if (iFirst < 0 || iLast >= Skv)
      return ATTN_ERROR_OUT_OF_RANGE;
    // The rows' document ids and their range, to skip key blocks whose ids
    // all fall outside it (no order of ids is assumed).
    for (int64_t r = 0; r < kRowTile; ++r)
      sc.rowDoc[r] = doc[b * docB + (iFirst + std::min(r, nrows - 1)) * docJ];
    rowDocMin = *std::min_element(sc.rowDoc, sc.rowDoc + nrows);
    rowDocMax = *std::max_element(sc.rowDoc, sc.rowDoc + nrows);
  }

  // The keys any row of the tile may keep.
  int64_t jBegin = 0, jEnd = Skv;
  if constexpr (M != Mask::Full)
    jEnd = std::min(Skv, iLast + 1);
  if constexpr (M == Mask::SlidingWindow)
    jBegin = std::max<int64_t>(0, iFirst - window + 1);

  float *Qt = sc.qt.data(), *St = sc.st.data(), *O = sc.o.data();
  for (int64_t d = 0; d < D; ++d)
    for (int64_t r = 0; r < kRowTile; ++r)
      Qt[d * kRowTile + r] =
          r < nrows ? q[b * qs[0] + h * qs[1] + (row0 + r) * qs[2] + d * qs[3]] * scale : 0.0f;
  for (int64_t r = 0; r < kRowTile; ++r) {
    sc.mx[r] = kNegInf;
    sc.sum[r] = 0;
  }
  std::fill(O, O + nrows * D, 0.0f);

  for (int64_t j0 = jBegin; j0 < jEnd; j0 += kKeyBlock) {
    const int64_t bn = std::min(kKeyBlock, jEnd - j0);
    if constexpr (M == Mask::Document) {
      bool any = false;
      for (int64_t c = 0; c < bn && !any; ++c) {
        const int32_t dj = doc[b * docB + (j0 + c) * docJ];
        any = dj >= rowDocMin && dj <= rowDocMax;
      }
      if (!any)
        continue;
    }
    // St = K Qt for the block's bn keys, all 64 query lanes.
    matmul(kHead + j0 * ks[2], ks[2], ks[3], Qt, kRowTile, D, St, kRowTile, bn, kRowTile, false);

    // The mask, only where the block is not entirely kept.
    bool needsMask = false;
    if constexpr (M == Mask::Causal)
      needsMask = j0 + bn - 1 > iFirst;
    if constexpr (M == Mask::SlidingWindow)
      needsMask = j0 + bn - 1 > iFirst || j0 < iLast - window + 1;
    if constexpr (M == Mask::Document)
      needsMask = true;
    if (needsMask) {
      for (int64_t c = 0; c < bn; ++c) {
        const int64_t j = j0 + c;
        float *s = St + c * kRowTile;
        int32_t dj = 0;
        if constexpr (M == Mask::Document)
          dj = doc[b * docB + j * docJ];
        for (int64_t r = 0; r < kRowTile; ++r) {
          const int64_t i = iFirst + r;
          bool keep = true;
          if constexpr (M == Mask::Causal)
            keep = j <= i;
          if constexpr (M == Mask::SlidingWindow)
            keep = j <= i && i - j < window;
          if constexpr (M == Mask::Document)
            keep = j <= i && sc.rowDoc[r] == dj;
          s[r] = keep ? s[r] : kNegInf;
        }
      }
    }

    // Online softmax across the 64 query lanes: new maxima, rescale factors,
    // P = exp(St - m) in place, row sums.
    for (int64_t r = 0; r < kRowTile; ++r)
      sc.blockMax[r] = kNegInf;
    for (int64_t c = 0; c < bn; ++c) {
      const float *s = St + c * kRowTile;
      for (int64_t r = 0; r < kRowTile; ++r)
        sc.blockMax[r] = s[r] > sc.blockMax[r] ? s[r] : sc.blockMax[r];
    }
    for (int64_t r = 0; r < kRowTile; ++r) {
      const float old = sc.mx[r];
      const float now = old > sc.blockMax[r] ? old : sc.blockMax[r];
      sc.corr[r] = old == kNegInf ? 0.0f : fastExp(old - now);
      sc.base[r] = now == kNegInf ? 0.0f : now; // exp(-inf - 0) = 0, never NaN
      sc.mx[r] = now;
      sc.blockSum[r] = 0;
    }
    for (int64_t c = 0; c < bn; ++c) {
      float *s = St + c * kRowTile;
      for (int64_t r = 0; r < kRowTile; ++r) {
        s[r] = fastExp(s[r] - sc.base[r]);
        sc.blockSum[r] += s[r];
      }
    }
    for (int64_t r = 0; r < kRowTile; ++r)
      sc.sum[r] = sc.sum[r] * sc.corr[r] + sc.blockSum[r];
    for (int64_t r = 0; r < nrows; ++r) {
      if (sc.corr[r] == 1.0f)
        continue;
      float *orow = O + r * D;
      const float f = sc.corr[r];
      for (int64_t d = 0; d < D; ++d)
        orow[d] *= f;
    }

    // O += P V: P[r][c] = St[c][r]; v rows in place when d is contiguous.
    const float *vBlock = vHead + j0 * vs[2];
    int64_t ldv = vs[2];
    if (vs[3] != 1) {
      for (int64_t c = 0; c < bn; ++c)
        for (int64_t d = 0; d < D; ++d)
          sc.v[c * D + d] = vBlock[c * vs[2] + d * vs[3]];
      vBlock = sc.v.data();
      ldv = D;
    }
    matmul(St, 1, kRowTile, vBlock, ldv, bn, O, D, nrows, D, true);
  }

  for (int64_t r = 0; r < nrows; ++r) {
    float *orow = o + b * os[0] + h * os[1] + (row0 + r) * os[2];
    const float inv = sc.sum[r] > 0 ? 1.0f / sc.sum[r] : 0.0f;
    for (int64_t d = 0; d < D; ++d)
      orow[d * os[3]] = O[r * D + d] * inv;
    if (lse)
      lse[b * ls[0] + h * ls[1] + (row0 + r) * ls[2]] =
          sc.sum[r] > 0 ? sc.mx[r] + std::log(sc.sum[r]) : kNegInf;
  }
  return 0;
}

constexpr int64_t sizeDim(int size) { return -1 - size; }

const attn_param_info kWindowParam[] = {{"window", ATTN_I32, 1, 1024.0}};
const attn_tensor_info kDocTensor[] = {
    {"doc", ATTN_I32, 2, {sizeDim(ATTN_SIZE_B), sizeDim(ATTN_SIZE_SKV)}}};

const attn_variant_info kFull = {"full", ATTN_F32, 0, nullptr, 0, nullptr, 1, kRowTile};
const attn_variant_info kCausal = {"causal", ATTN_F32, 0, nullptr, 0, nullptr, 1, kRowTile};
const attn_variant_info kSlidingWindow = {"sliding_window", ATTN_F32, 1, kWindowParam,
                                          0, nullptr, 1, kRowTile};
const attn_variant_info kDocument = {"document", ATTN_F32, 0, nullptr, 1, kDocTensor, 1,
                                     kRowTile};

} // namespace

CpuKernel referenceKernel(const std::string &variant) {
  if (variant == "full")
    return {&kFull, tileKernel<Mask::Full>};
  if (variant == "causal")
    return {&kCausal, tileKernel<Mask::Causal>};
  if (variant == "sliding_window")
    return {&kSlidingWindow, tileKernel<Mask::SlidingWindow>};
  if (variant == "document")
    return {&kDocument, tileKernel<Mask::Document>};
  return {};
}

} // namespace attn::bench
