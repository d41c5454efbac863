//===- Reference.h - float64 attention for the anchor variants -*- C++ -*-===//
//
// A compact float64 evaluator of the anchor variants of examples/ (full,
// causal, sliding_window, alibi_causal, softcap, prefix_lm, document,
// sigmoid_attn), written from LANGUAGE.md's semantics and independent of the
// compiler: it is what attnc's GPU kernels are checked against. It also
// holds the inputs' conventions shared with peers.py (the document ids and
// prefix lengths), so that both sides time the same masks.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_BENCH_GPU_REFERENCE_H
#define ATTNC_BENCH_GPU_REFERENCE_H

#include "bench/gpu/VariantFile.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attn::gpubench {

/// The examples/ name of an anchor ("alibi" -> "alibi_causal", "sigmoid" ->
/// "sigmoid_attn"), or "" when the evaluator does not know the variant.
std::string anchorName(const std::string &variant);

/// The declarations of an anchor, as attnc describes it (its .info).
std::unique_ptr<VariantDescription> anchorDescription(const std::string &anchor);

/// One problem: q [B, H, Sq, D], k/v [B, Hkv, Skv, D]; i = qOffset + row.
struct Problem {
  int64_t B = 1, H = 1, Hkv = 1, Sq = 1, Skv = 1, D = 64;
  int64_t qOffset = -1; ///< < 0: Skv - Sq
  int64_t offset() const { return qOffset < 0 ? Skv - Sq : qOffset; }
};

/// Host copies of the inputs (values exactly as the device holds them, i.e.
/// rounded to the input dtype) and the extra tensors of every anchor.
struct HostInputs {
  Problem p;
  std::vector<float> q, k, v;        ///< contiguous
  std::vector<int32_t> prefixLen;    ///< [B]: Skv/4 + b*(Skv/16)
  std::vector<int32_t> doc;          ///< [B, Skv]: document ids (docIds)
};

/// Document ids of one batch row: consecutive documents of lengths
/// unit * (1 + (5k + 3b + 3) % 8), unit = max(1, S / 16) (peers.py: doc_ids).
std::vector<int32_t> docIds(int64_t b, int64_t S);

/// Fills the extra tensors of `in` for its problem.
void fillExtraTensors(HostInputs &in);

/// The anchor's params in declaration order, with overrides by name.
struct Evaluator {
  std::string anchor;
  std::vector<double> params; ///< declaration order (anchorDescription)

  /// keep(b, h, i, j) of the anchor's mask.
  bool keep(const HostInputs &in, int64_t b, int64_t h, int64_t i, int64_t j) const;
  /// One output row in float64 (out: D values) and its log-sum-exp (-inf
  /// when no key is kept; NaN for norms without one).
  void row(const HostInputs &in, int64_t b, int64_t h, int64_t row, double *out,
           double *lse) const;
  /// The fraction of (b, i, j) pairs kept (the masks do not depend on h).
  double keptFraction(const HostInputs &in) const;
  bool hasLse() const { return anchor != "sigmoid_attn"; }
};

} // namespace attn::gpubench

#endif
