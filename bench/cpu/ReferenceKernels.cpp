//===- ReferenceKernels.cpp - hand-written tile kernels for the benchmark -===//
#include "bench/cpu/ReferenceKernels.h"
#include "bench/cpu/FastExp.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
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

/// C[R][W] (+)= sum_k A[r][k] * B[k][w]: the register-blocked inner product
/// of both matmuls (S = Q K^T with B = K^T, O += P V with B = V).
template <int R, int W>
inline void microKernel(const float *A, int64_t lda, const float *B, int64_t ldb, int64_t K,
                        float *C, int64_t ldc, bool accumulate) {
  float acc[R][W];
  for (int r = 0; r < R; ++r)
    for (int w = 0; w < W; ++w)
      acc[r][w] = accumulate ? C[r * ldc + w] : 0.0f;
  for (int64_t k = 0; k < K; ++k) {
    const float *b = B + k * ldb;
    for (int r = 0; r < R; ++r) {
      const float a = A[r * lda + k];
      for (int w = 0; w < W; ++w)
        acc[r][w] += a * b[w];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int w = 0; w < W; ++w)
      C[r * ldc + w] = acc[r][w];
}

/// max and sum of 64 floats, in 8 lanes so that they vectorise.
inline float rowMax64(const float *s) {
  float lane[8];
  for (int w = 0; w < 8; ++w)
    lane[w] = s[w];
  for (int c = 8; c < 64; c += 8)
    for (int w = 0; w < 8; ++w)
      lane[w] = lane[w] > s[c + w] ? lane[w] : s[c + w];
  float m = lane[0];
  for (int w = 1; w < 8; ++w)
    m = m > lane[w] ? m : lane[w];
  return m;
}

inline float rowSum64(const float *s) {
  float lane[8] = {};
  for (int c = 0; c < 64; c += 8)
    for (int w = 0; w < 8; ++w)
      lane[w] += s[c + w];
  float sum = 0;
  for (int w = 0; w < 8; ++w)
    sum += lane[w];
  return sum;
}

static_assert(kKeyBlock == 64, "rowMax64 and rowSum64 assume 64-key blocks");

/// Per-thread scratch, sized for the largest D seen.
struct Scratch {
  std::vector<float> q, kt, v, s, o, m, l;
  void ensure(int64_t D) {
    size_t rowsD = static_cast<size_t>(kRowTile * D);
    if (q.size() < rowsD) {
      q.resize(rowsD);
      o.resize(rowsD);
      kt.resize(static_cast<size_t>(D * kKeyBlock));
      v.resize(static_cast<size_t>(kKeyBlock * D));
    }
    s.resize(kRowTile * kKeyBlock);
    m.resize(kRowTile);
    l.resize(kRowTile);
  }
};

/// Rows [row0, row0 + nrows) of o (and lse) for one (b, h): online softmax
/// over key blocks of 64, skipping blocks the mask removes entirely.
template <Mask M>
int32_t tileKernel(const int64_t *args, int64_t b, int64_t h, int64_t row0, int64_t nrows) {
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

  int64_t window = 0;
  const int32_t *doc = nullptr;
  int64_t docB = 0, docJ = 0;
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
  }
  // document: the range of document ids of the tile's rows, to skip key
  // blocks whose ids all fall outside it (no order of ids is assumed).
  int32_t rowDocMin = 0, rowDocMax = 0;
  if constexpr (M == Mask::Document) {
    rowDocMin = rowDocMax = doc[b * docB + iFirst * docJ];
    for (int64_t i = iFirst; i <= iLast; ++i) {
      rowDocMin = std::min(rowDocMin, doc[b * docB + i * docJ]);
      rowDocMax = std::max(rowDocMax, doc[b * docB + i * docJ]);
    }
  }

  // The keys any row of the tile may keep.
  int64_t jBegin = 0, jEnd = Skv;
  if constexpr (M != Mask::Full)
    jEnd = std::min(Skv, iLast + 1);
  if constexpr (M == Mask::SlidingWindow)
    jBegin = std::max<int64_t>(0, iFirst - window + 1);

  Scratch &sc = scratch;
  sc.ensure(D);
  float *Q = sc.q.data(), *Kt = sc.kt.data(), *V = sc.v.data(), *S = sc.s.data(),
        *O = sc.o.data(), *mx = sc.m.data(), *sum = sc.l.data();
  for (int64_t r = 0; r < nrows; ++r) {
    const float *qr = q + b * qs[0] + h * qs[1] + (row0 + r) * qs[2];
    for (int64_t d = 0; d < D; ++d)
      Q[r * D + d] = qr[d * qs[3]] * scale;
    mx[r] = kNegInf;
    sum[r] = 0;
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
    // K^T and V of the block, contiguous; K^T zero-padded to 64 columns.
    for (int64_t c = 0; c < kKeyBlock; ++c) {
      if (c < bn) {
        const float *kj = k + b * ks[0] + hk * ks[1] + (j0 + c) * ks[2];
        const float *vj = v + b * vs[0] + hk * vs[1] + (j0 + c) * vs[2];
        for (int64_t d = 0; d < D; ++d) {
          Kt[d * kKeyBlock + c] = kj[d * ks[3]];
          V[c * D + d] = vj[d * vs[3]];
        }
      } else {
        for (int64_t d = 0; d < D; ++d)
          Kt[d * kKeyBlock + c] = 0;
      }
    }
    // S = Q K^T for the block (K^T zero-padded to 64 columns).
    int64_t r = 0;
    for (; r + 4 <= nrows; r += 4)
      for (int64_t c = 0; c < kKeyBlock; c += 32)
        microKernel<4, 32>(Q + r * D, D, Kt + c, kKeyBlock, D, S + r * kKeyBlock + c, kKeyBlock,
                           false);
    for (; r < nrows; ++r)
      for (int64_t c = 0; c < kKeyBlock; c += 32)
        microKernel<1, 32>(Q + r * D, D, Kt + c, kKeyBlock, D, S + r * kKeyBlock + c, kKeyBlock,
                           false);
    // The mask, only where the block is not entirely kept.
    bool needsMask = bn < kKeyBlock;
    if constexpr (M == Mask::Causal)
      needsMask |= j0 + bn - 1 > iFirst;
    if constexpr (M == Mask::SlidingWindow)
      needsMask |= j0 + bn - 1 > iFirst || j0 < iLast - window + 1;
    if constexpr (M == Mask::Document)
      needsMask = true;
    if (needsMask) {
      for (int64_t rr = 0; rr < nrows; ++rr) {
        const int64_t i = iFirst + rr;
        float *s = S + rr * kKeyBlock;
        int32_t di = 0;
        if constexpr (M == Mask::Document)
          di = doc[b * docB + i * docJ];
        for (int64_t c = 0; c < kKeyBlock; ++c) {
          const int64_t j = j0 + c;
          bool keep = c < bn;
          if constexpr (M == Mask::Causal)
            keep = keep && j <= i;
          if constexpr (M == Mask::SlidingWindow)
            keep = keep && j <= i && i - j < window;
          if constexpr (M == Mask::Document)
            keep = keep && j <= i && doc[b * docB + j * docJ] == di;
          if (!keep)
            s[c] = kNegInf;
        }
      }
    }
    // Online softmax: rescale the running sums and O, P = exp(S - m).
    for (int64_t rr = 0; rr < nrows; ++rr) {
      float *s = S + rr * kKeyBlock;
      const float blockMax = rowMax64(s);
      if (blockMax == kNegInf) {
        std::fill(s, s + kKeyBlock, 0.0f);
        continue;
      }
      const float newMax = std::max(mx[rr], blockMax);
      const float correction = mx[rr] == kNegInf ? 0.0f : fastExp(mx[rr] - newMax);
      mx[rr] = newMax;
      for (int64_t c = 0; c < kKeyBlock; ++c)
        s[c] -= newMax;
      fastExpInPlace(s, kKeyBlock);
      sum[rr] = sum[rr] * correction + rowSum64(s);
      if (correction != 1.0f) {
        float *orow = O + rr * D;
        for (int64_t d = 0; d < D; ++d)
          orow[d] *= correction;
      }
    }
    // O += P V over the bn keys of the block.
    const int64_t dMain = D - D % 32;
    r = 0;
    for (; r + 4 <= nrows; r += 4) {
      for (int64_t d = 0; d < dMain; d += 32)
        microKernel<4, 32>(S + r * kKeyBlock, kKeyBlock, V + d, D, bn, O + r * D + d, D, true);
      for (int64_t d = dMain; d < D; ++d)
        microKernel<4, 1>(S + r * kKeyBlock, kKeyBlock, V + d, D, bn, O + r * D + d, D, true);
    }
    for (; r < nrows; ++r) {
      for (int64_t d = 0; d < dMain; d += 32)
        microKernel<1, 32>(S + r * kKeyBlock, kKeyBlock, V + d, D, bn, O + r * D + d, D, true);
      for (int64_t d = dMain; d < D; ++d)
        microKernel<1, 1>(S + r * kKeyBlock, kKeyBlock, V + d, D, bn, O + r * D + d, D, true);
    }
  }

  for (int64_t r = 0; r < nrows; ++r) {
    float *orow = o + b * os[0] + h * os[1] + (row0 + r) * os[2];
    const float inv = sum[r] > 0 ? 1.0f / sum[r] : 0.0f;
    for (int64_t d = 0; d < D; ++d)
      orow[d * os[3]] = O[r * D + d] * inv;
    if (lse)
      lse[b * ls[0] + h * ls[1] + (row0 + r) * ls[2]] =
          sum[r] > 0 ? mx[r] + std::log(sum[r]) : kNegInf;
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
