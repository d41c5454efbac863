//===- spatial_bench.cpp - FuseMax's evaluation on attnc's spatial model --===//
//
// Table 1 reproduces FuseMax's attention evaluation (MICRO 2024, Figs. 7-9):
// BERT-Base, TrXL-wt103, T5-small and XLM, batch 64, sequence lengths 1K to
// 1M; the 1-pass cascade on FuseMax's configuration (arch/fusemax.json)
// against the 3-pass cascade as FLAT maps it (arch/flat.json), printed next
// to the published per-configuration figures with the ratio.
// Table 2 runs attnc's variants (masks, sigmoid, sinks) through the same
// model, skipping tiles that the mask's intervals prove empty.
//
// Usage: spatial-bench [--arch-dir DIR] [--table fusemax|variants|all]
//                      [--csv FILE]
//
//===----------------------------------------------------------------------===//
#include "Published.h"
#include "runtime/simulator/Arch.h"
#include "runtime/simulator/Model.h"
#include "runtime/simulator/Programs.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace attn::sim;

namespace {
struct Model {
  const char *name;
  int64_t heads, headDim;
};
const Model kModels[] = {{"BERT", 12, 64}, {"TrXL", 16, 64}, {"T5", 8, 64}, {"XLM", 16, 128}};
struct Seq {
  const char *name;
  int64_t len;
};
const Seq kSeqs[] = {{"1K", 1 << 10}, {"4K", 1 << 12}, {"16K", 1 << 14},
                     {"64K", 1 << 16}, {"256K", 1 << 18}, {"1M", 1 << 20}};
constexpr int64_t kBatch = 64;

const attn::bench::PublishedRow *published(const char *model, const char *seq) {
  for (const auto &row : attn::bench::kPublished)
    if (!std::strcmp(row.model, model) && !std::strcmp(row.seq, seq))
      return &row;
  return nullptr;
}

bool run(const ArchConfig &arch, const Program &p, const Workload &w, Report &r) {
  if (auto err = simulate(arch, p, w, r)) {
    std::fprintf(stderr, "spatial-bench: %s\n", err->c_str());
    return false;
  }
  return true;
}

double mib(double bytes) { return bytes / (1 << 20); }

int fuseMaxTable(const ArchConfig &fm, const ArchConfig &flat, FILE *csv) {
  std::printf("## Table 1: FuseMax (1-pass) vs FLAT (3-pass), batch 64\n\n");
  std::printf("| model | seq | 2D util 1-pass (pub) | 2D util 3-pass (pub) | speedup (pub, ratio) "
              "| energy 1p/3p (pub) | energy 1p, 3p / pub | buffer 1-pass MiB | buffer 3-pass MiB "
              "| 3-pass spill TB | 3-pass on fusemax.json util | 1D util 1p, 3p |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  if (csv)
    std::fprintf(csv, "model,seq,util1p,util1p_pub,util3p,util3p_pub,speedup,speedup_pub,"
                      "energy_ratio,energy_ratio_pub,energy1p_pj,energy1p_pub,buffer1p,"
                      "buffer3p,seconds1p,seconds1p_pub,seconds3p,seconds3p_pub\n");
  double sumSpeed = 0, sumSpeedPub = 0, sumE = 0, sumEPub = 0;
  double minSpeed = 1e30, maxSpeed = 0, minPub = 1e30, maxPub = 0;
  int n = 0;
  for (const Model &m : kModels)
    for (const Seq &s : kSeqs) {
      Workload w;
      w.batch = kBatch;
      w.heads = m.heads;
      w.sq = w.skv = s.len;
      w.e = w.f = m.headDim;
      Report one, three, threeFm;
      if (!run(fm, onePassSoftmax(), w, one) || !run(flat, threePassSoftmax(), w, three) ||
          !run(fm, threePassSoftmax(), w, threeFm))
        return 1;
      const auto *pub = published(m.name, s.name);
      double speed = three.seconds / one.seconds;
      double pubSpeed = pub->flatLatency / pub->fmLatency;
      double eRatio = one.energyTotal / three.energyTotal;
      double pubE = pub->fmEnergy / pub->flatEnergy;
      sumSpeed += speed;
      sumSpeedPub += pubSpeed;
      sumE += eRatio;
      sumEPub += pubE;
      minSpeed = std::min(minSpeed, speed);
      maxSpeed = std::max(maxSpeed, speed);
      minPub = std::min(minPub, pubSpeed);
      maxPub = std::max(maxPub, pubSpeed);
      ++n;
      std::printf("| %s | %s | %.2f%% (%.2f%%) | %.2f%% (%.2f%%) | %.2fx (%.2fx, %.3f) "
                  "| %.3f (%.3f) | %.3f, %.3f | %.2f | %.1f | %.1f | %.2f%% | %.1f%%, %.1f%% |\n",
                  m.name, s.name, 100 * one.util2d, 100 * pub->fmUtil, 100 * three.util2d,
                  100 * pub->flatUtil, speed, pubSpeed, speed / pubSpeed, eRatio, pubE,
                  one.energyTotal / pub->fmEnergy, three.energyTotal / pub->flatEnergy,
                  mib(one.bufferBytes), mib(three.bufferBytes), three.spillBytes / 1e12,
                  100 * threeFm.util2d, 100 * one.util1d, 100 * three.util1d);
      if (csv)
        std::fprintf(csv, "%s,%s,%.6f,%.6f,%.6f,%.6f,%.4f,%.4f,%.4f,%.4f,%.6e,%.6e,%.0f,%.0f,"
                          "%.6e,%.6e,%.6e,%.6e\n",
                     m.name, s.name, one.util2d, pub->fmUtil, three.util2d, pub->flatUtil,
                     speed, pubSpeed, eRatio, pubE, one.energyTotal, pub->fmEnergy,
                     one.bufferBytes, three.bufferBytes, one.seconds, pub->fmLatency,
                     three.seconds, pub->flatLatency);
    }
  std::printf("\nAverage speedup over the %d configurations: %.2fx (published data %.2fx; paper: "
              "6.7x); range %.2fx-%.2fx (published data %.2fx-%.2fx; paper: 3.4x at XLM 1K up to "
              "8.6x).\n",
              n, sumSpeed / n, sumSpeedPub / n, minSpeed, maxSpeed, minPub, maxPub);
  std::printf("Average energy 1-pass / 3-pass: %.3f (published data %.3f; paper: 79%%).\n\n",
              sumE / n, sumEPub / n);
  return 0;
}

struct Variant {
  const char *name;
  MaskSpec mask;
  ScoreWork work;
  enum { Softmax, Sigmoid } norm;
};

std::vector<Variant> variants() {
  std::vector<Variant> out;
  auto add = [&](const char *name, MaskKind kind, double maskOps, bool sigmoid = false) {
    Variant v;
    v.name = name;
    v.mask.kind = kind;
    v.work.mask.add = maskOps; // compares, logic and the select, one action each
    v.norm = sigmoid ? Variant::Sigmoid : Variant::Softmax;
    out.push_back(v);
    return &out.back();
  };
  add("full", MaskKind::None, 0);
  add("causal", MaskKind::Causal, 2);
  add("sliding_window(1024)", MaskKind::Window, 5)->mask.window = 1024;
  add("document(4096)+causal", MaskKind::Document, 6)->mask.docLen = 4096;
  Variant *sig = add("sigmoid_attn", MaskKind::None, 0, true);
  sig->work.score.add = 1; // bias = b0
  Variant *sinks = add("gpt_oss_sinks(128)", MaskKind::Window, 5);
  sinks->mask.window = 128;
  sinks->work.sink = true;
  return out;
}

int variantTable(const ArchConfig &fm, const ArchConfig &flat, FILE *csv) {
  std::printf("## Table 2: attnc variants, BERT-Base shapes (12 heads, D 64), batch 64\n\n");
  std::printf("| variant | seq | tiles kept | 2D util 1-pass | 2D util FLAT | speedup vs FLAT "
              "| energy 1p/FLAT | time 1-pass s | buffer 1-pass MiB | buffer FLAT MiB |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  if (csv)
    std::fprintf(csv, "\nvariant,seq,tiles_kept,util1p,util_flat,speedup,energy_ratio,seconds1p,"
                      "buffer1p,buffer_flat\n");
  for (const Variant &v : variants())
    for (const Seq &s : kSeqs) {
      Workload w;
      w.batch = kBatch;
      w.heads = 12;
      w.sq = w.skv = s.len;
      w.e = w.f = 64;
      w.mask = v.mask;
      Program one, base;
      if (v.norm == Variant::Sigmoid) {
        one = onePassSigmoid(v.work);
        OpMix sigmoid;
        sigmoid.exp = sigmoid.add = sigmoid.div = 1;
        base = flatElementwise(sigmoid, v.work);
      } else {
        one = onePassSoftmax(v.work);
        base = threePassSoftmax(v.work);
      }
      Report a, b;
      if (!run(fm, one, w, a) || !run(flat, base, w, b))
        return 1;
      double kept = static_cast<double>(a.epochs) / (a.pTiles * a.mTiles);
      std::printf("| %s | %s | %.1f%% | %.2f%% | %.2f%% | %.2fx | %.3f | %.4g | %.2f | %.1f |\n",
                  v.name, s.name, 100 * kept, 100 * a.util2d, 100 * b.util2d,
                  b.seconds / a.seconds, a.energyTotal / b.energyTotal, a.seconds,
                  mib(a.bufferBytes), mib(b.bufferBytes));
      if (csv)
        std::fprintf(csv, "%s,%s,%.6f,%.6f,%.6f,%.4f,%.4f,%.6e,%.0f,%.0f\n", v.name, s.name,
                     kept, a.util2d, b.util2d, b.seconds / a.seconds,
                     a.energyTotal / b.energyTotal, a.seconds, a.bufferBytes, b.bufferBytes);
    }
  std::printf("\n");
  return 0;
}
} // namespace

int main(int argc, char **argv) {
  std::string archDir = ATTNC_ARCH_DIR, table = "all", csvPath;
  for (int k = 1; k < argc; ++k) {
    std::string a = argv[k];
    if ((a == "--arch-dir" || a == "--table" || a == "--csv") && k + 1 < argc) {
      (a == "--arch-dir" ? archDir : a == "--table" ? table : csvPath) = argv[++k];
    } else {
      std::fprintf(stderr, "usage: spatial-bench [--arch-dir DIR] [--table fusemax|variants|all] "
                           "[--csv FILE]\n");
      return 2;
    }
  }
  ArchConfig fm, flat;
  for (auto [path, arch] : {std::pair{archDir + "/fusemax.json", &fm},
                            std::pair{archDir + "/flat.json", &flat}})
    if (auto err = loadArch(path, *arch)) {
      std::fprintf(stderr, "spatial-bench: %s\n", err->c_str());
      return 1;
    }
  FILE *csv = csvPath.empty() ? nullptr : std::fopen(csvPath.c_str(), "w");
  int rc = 0;
  if (table == "fusemax" || table == "all")
    rc |= fuseMaxTable(fm, flat, csv);
  if (table == "variants" || table == "all")
    rc |= variantTable(fm, flat, csv);
  if (csv)
    std::fclose(csv);
  return rc;
}
