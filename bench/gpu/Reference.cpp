//===- Reference.cpp - float64 attention for the anchor variants ----------===//
#include "bench/gpu/Reference.h"

#include <algorithm>
#include <cmath>

namespace attn::gpubench {

std::string anchorName(const std::string &v) {
  static const char *const known[] = {"full",     "causal",     "sliding_window",
                                      "alibi_causal", "softcap", "prefix_lm",
                                      "document", "sigmoid_attn"};
  for (const char *k : known)
    if (v == k)
      return v;
  if (v == "alibi")
    return "alibi_causal";
  if (v == "sigmoid")
    return "sigmoid_attn";
  return "";
}

std::unique_ptr<VariantDescription> anchorDescription(const std::string &anchor) {
  auto d = std::make_unique<VariantDescription>();
  d->name = anchor;
  d->hasLse = anchor != "sigmoid_attn";
  auto param = [&](const char *name, attn_dtype type, double value) {
    d->paramNames.push_back(name);
    d->params.push_back({nullptr, type, 1, value});
  };
  auto tensor = [&](const char *name, std::vector<int64_t> dims) {
    attn_tensor_info t{};
    t.dtype = ATTN_I32;
    t.rank = static_cast<int32_t>(dims.size());
    for (size_t k = 0; k < dims.size(); ++k)
      t.dims[k] = -(1 + dims[k]);
    d->tensorNames.push_back(name);
    d->tensors.push_back(t);
  };
  if (anchor == "sliding_window")
    param("window", ATTN_I32, 1024);
  else if (anchor == "alibi_causal")
    param("max_bias", ATTN_F32, 8.0);
  else if (anchor == "softcap")
    param("cap", ATTN_F32, 30.0);
  else if (anchor == "sigmoid_attn")
    param("b0", ATTN_F32, -6.0);
  else if (anchor == "prefix_lm")
    tensor("prefix_len", {ATTN_SIZE_B});
  else if (anchor == "document")
    tensor("doc", {ATTN_SIZE_B, ATTN_SIZE_SKV});
  d->info(ATTN_F32); // fixes the name pointers
  return d;
}

std::vector<int32_t> docIds(int64_t b, int64_t S) {
  std::vector<int32_t> ids(static_cast<size_t>(S));
  const int64_t unit = std::max<int64_t>(1, S / 16);
  int64_t t = 0;
  for (int64_t k = 0; t < S; ++k) {
    int64_t len = unit * (1 + (5 * k + 3 * b + 3) % 8);
    for (int64_t e = 0; e < len && t < S; ++e, ++t)
      ids[static_cast<size_t>(t)] = static_cast<int32_t>(k);
  }
  return ids;
}

void fillExtraTensors(HostInputs &in) {
  const Problem &p = in.p;
  in.prefixLen.resize(static_cast<size_t>(p.B));
  in.doc.clear();
  for (int64_t b = 0; b < p.B; ++b) {
    in.prefixLen[b] = static_cast<int32_t>(p.Skv / 4 + b * (p.Skv / 16));
    std::vector<int32_t> ids = docIds(b, p.Skv);
    in.doc.insert(in.doc.end(), ids.begin(), ids.end());
  }
}

bool Evaluator::keep(const HostInputs &in, int64_t b, int64_t h, int64_t i, int64_t j) const {
  const std::string &a = anchor;
  if (a == "causal" || a == "alibi_causal" || a == "softcap")
    return j <= i;
  if (a == "sliding_window")
    return j <= i && i - j < static_cast<int64_t>(params[0]);
  if (a == "prefix_lm")
    return j < in.prefixLen[static_cast<size_t>(b)] || j <= i;
  if (a == "document") {
    // doc[b, i]: i indexes the Skv axis (LANGUAGE.md); out of range is an error
    // the kernel flags, so the benchmark never asks for it.
    const int32_t *row = &in.doc[static_cast<size_t>(b * in.p.Skv)];
    return i >= 0 && i < in.p.Skv && row[i] == row[j] && j <= i;
  }
  return true; // full, sigmoid_attn
}

void Evaluator::row(const HostInputs &in, int64_t b, int64_t h, int64_t r, double *out,
                    double *lse) const {
  const Problem &p = in.p;
  const int64_t hk = h / (p.H / p.Hkv), i = p.offset() + r, D = p.D;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  const float *q = &in.q[static_cast<size_t>(((b * p.H + h) * p.Sq + r) * D)];
  std::vector<double> s(static_cast<size_t>(p.Skv));
  std::vector<char> kept(static_cast<size_t>(p.Skv));
  double m = -INFINITY;
  for (int64_t j = 0; j < p.Skv; ++j) {
    kept[j] = keep(in, b, h, i, j);
    if (!kept[j])
      continue;
    const float *k = &in.k[static_cast<size_t>(((b * p.Hkv + hk) * p.Skv + j) * D)];
    double dot = 0;
    for (int64_t d = 0; d < D; ++d)
      dot += static_cast<double>(q[d]) * static_cast<double>(k[d]);
    double x = scale * dot;
    if (anchor == "softcap")
      x = params[0] * std::tanh(x / params[0]);
    else if (anchor == "alibi_causal")
      x += -std::exp2(-params[0] * static_cast<double>(h + 1) / static_cast<double>(p.H)) *
           static_cast<double>(i - j);
    else if (anchor == "sigmoid_attn")
      x += params[0];
    s[j] = x;
    m = std::max(m, x);
  }
  std::fill(out, out + D, 0.0);
  double z = 0;
  const bool sigmoid = anchor == "sigmoid_attn";
  for (int64_t j = 0; j < p.Skv; ++j) {
    if (!kept[j])
      continue;
    double w = sigmoid ? 1.0 / (1.0 + std::exp(-s[j])) : std::exp(s[j] - m);
    z += w;
    const float *v = &in.v[static_cast<size_t>(((b * p.Hkv + hk) * p.Skv + j) * D)];
    for (int64_t d = 0; d < D; ++d)
      out[d] += w * static_cast<double>(v[d]);
  }
  if (sigmoid) {
    *lse = NAN;
    return;
  }
  if (z > 0)
    for (int64_t d = 0; d < D; ++d)
      out[d] /= z;
  *lse = z > 0 ? m + std::log(z) : -INFINITY;
}

double Evaluator::keptFraction(const HostInputs &in) const {
  const Problem &p = in.p;
  double kept = 0;
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t r = 0; r < p.Sq; ++r) {
      const int64_t i = p.offset() + r;
      if (anchor == "full" || anchor == "sigmoid_attn") {
        kept += static_cast<double>(p.Skv);
      } else if (anchor == "causal" || anchor == "alibi_causal" || anchor == "softcap") {
        kept += static_cast<double>(std::clamp<int64_t>(i + 1, 0, p.Skv));
      } else {
        for (int64_t j = 0; j < p.Skv; ++j)
          kept += keep(in, b, 0, i, j);
      }
    }
  return kept / (static_cast<double>(p.B) * p.Sq * p.Skv);
}

} // namespace attn::gpubench
