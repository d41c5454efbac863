//===- Formula.h - independent float64 attention formulas for tests -*- C++ -*-===//
//
// Written independently of DirectEval (and of every compiler path): for each
// (b, h, row) it materialises the kept scores of the row, hands them to a
// norm callback and sums w * v. Tests state score, keep and norm as plain
// C++ lambdas, so each is a separate hand-written formula.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_TEST_UNIT_REFERENCE_FORMULA_H
#define ATTNC_TEST_UNIT_REFERENCE_FORMULA_H

#include "compiler/reference/Problem.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <vector>

namespace attn::ref::testing {

/// Absolute tolerance between two float64 computations on values of order 1.
constexpr double kTol = 1e-12;
const double kInf = std::numeric_limits<double>::infinity();

//===-- Problems and independent formulas ---------------------------------===//

inline Array randomArray(std::vector<int64_t> shape, std::mt19937_64 &rng,
                  double lo = -1, double hi = 1) {
  Array a;
  a.shape = shape;
  std::uniform_real_distribution<double> dist(lo, hi);
  a.data.resize(a.numElements());
  for (auto &x : a.data)
    x = dist(rng);
  return a;
}

inline Problem randomProblem(int64_t B, int64_t H, int64_t Hkv, int64_t Sq,
                      int64_t Skv, int64_t D, unsigned seed) {
  std::mt19937_64 rng(seed);
  Problem p;
  p.q = randomArray({B, H, Sq, D}, rng, -2, 2);
  p.k = randomArray({B, Hkv, Skv, D}, rng, -2, 2);
  p.v = randomArray({B, Hkv, Skv, D}, rng);
  return p;
}

/// Everything the formulas need at one (b, h, i, j).
struct Pair {
  int64_t b, h, hk, i, j;
  double dot; ///< unscaled q . k
  double l2;  ///< sum_d (q - k)^2
};

/// Written independently of DirectEval: materialises the [Sq, Skv] score
/// matrix of each (b, h), then normalises each row with `norm`, which gets the
/// kept scores and returns their weights (and optionally lse).
using ScoreFn = std::function<double(const Pair &)>;
using KeepFn = std::function<bool(const Pair &)>;
using NormFn = std::function<std::vector<double>(const std::vector<double> &,
                                                 const Pair &, double *lse)>;

inline Result formula(const Problem &p, ScoreFn score, KeepFn keep, NormFn norm,
               std::optional<int64_t> qOffset = std::nullopt) {
  int64_t B = p.q.shape[0], H = p.q.shape[1], Sq = p.q.shape[2],
          D = p.q.shape[3], Hkv = p.k.shape[1], Skv = p.k.shape[2];
  int64_t off = qOffset ? *qOffset : Skv - Sq;
  Result res;
  res.o.shape = {B, H, Sq, D};
  res.o.data.assign(B * H * Sq * D, 0.0);
  Array lse;
  lse.shape = {B, H, Sq};
  lse.data.assign(B * H * Sq, 0.0);
  auto Q = [&](int64_t b, int64_t h, int64_t r, int64_t d) {
    return p.q.data[b * H * Sq * D + h * Sq * D + r * D + d];
  };
  auto K = [&](const Array &a, int64_t b, int64_t hk, int64_t j, int64_t d) {
    return a.data[b * Hkv * Skv * D + hk * Skv * D + j * D + d];
  };
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t r = 0; r < Sq; ++r) {
        int64_t hk = h * Hkv / H; // same group as h / (H / Hkv)
        std::vector<double> kept;
        std::vector<int64_t> keys;
        Pair pr{b, h, hk, off + r, 0, 0, 0};
        for (int64_t j = 0; j < Skv; ++j) {
          pr.j = j;
          pr.dot = 0;
          pr.l2 = 0;
          for (int64_t d = 0; d < D; ++d) {
            pr.dot += Q(b, h, r, d) * K(p.k, b, hk, j, d);
            double t = Q(b, h, r, d) - K(p.k, b, hk, j, d);
            pr.l2 += t * t;
          }
          if (!keep(pr))
            continue;
          kept.push_back(score(pr));
          keys.push_back(j);
        }
        double l = -kInf;
        std::vector<double> w;
        if (!kept.empty())
          w = norm(kept, pr, &l);
        lse.data[(b * H + h) * Sq + r] = l;
        for (size_t t = 0; t < w.size(); ++t)
          for (int64_t d = 0; d < D; ++d)
            res.o.data[((b * H + h) * Sq + r) * D + d] +=
                w[t] * K(p.v, b, hk, keys[t], d);
      }
  res.lse = lse;
  return res;
}

inline std::vector<double> softmaxNorm(const std::vector<double> &s, const Pair &,
                                double *lse) {
  double m = *std::max_element(s.begin(), s.end());
  double z = 0;
  for (double x : s)
    z += std::exp(x - m);
  std::vector<double> w;
  for (double x : s)
    w.push_back(std::exp(x - m) / z);
  *lse = m + std::log(z);
  return w;
}

inline ScoreFn scaledDot(int64_t D) {
  return [D](const Pair &p) { return p.dot / std::sqrt((double)D); };
}
inline KeepFn all() {
  return [](const Pair &) { return true; };
}

inline void expectNear(const Array &got, const Array &want, double tol = kTol) {
  ASSERT_EQ(got.shape, want.shape);
  ASSERT_EQ(got.data.size(), want.data.size());
  for (size_t e = 0; e < got.data.size(); ++e) {
    if (std::isinf(want.data[e])) {
      EXPECT_EQ(got.data[e], want.data[e]) << "element " << e;
      continue;
    }
    ASSERT_NEAR(got.data[e], want.data[e], tol) << "element " << e;
  }
}

} // namespace attn::ref::testing

#endif // ATTNC_TEST_UNIT_REFERENCE_FORMULA_H
