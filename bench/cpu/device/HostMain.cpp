//===- HostMain.cpp - attnc's AOT CPU kernels, timed on their own ---------===//
//
// attn-bench-cpu-device: times the four AOT libraries that build.sh makes with
// `attnc examples/<variant>.attn -o lib.so --dtypes f32` through the entry
// points of their generated headers (attn_<variant>_f32 -> attn_cpu_launch).
// It links libattnrt and those libraries only: no MLIR, no LLVM, no BLAS, so
// it runs on the device machine, beside PyTorch (peers.py).
//
// Every case is first checked against a naive float64 reference on sample
// rows (first, last, tile edges, random) of every (b, h); a wrong or failing
// kernel prints WRONG / error, is not timed, and the exit status is 1.
// GFLOP/s = 4 * B * H * Sq * S * D * kept / best time, kept counted from the
// mask; Sq = S unless --sq (decode: the last Sq positions against S keys). The `doc` ids of the document variant come from docIds() below;
// peers.py draws the very same ids (same generator, same seed).
//
//===----------------------------------------------------------------------===//
#include "causal.h"
#include "document.h"
#include "full.h"
#include "sliding_window.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

/// xorshift64*; peers.py has the same generator (for the doc ids).
struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
  }
  /// Uniform in [-1, 1).
  float uniform() { return static_cast<float>(next() >> 40) * (2.0f / 16777216.0f) - 1.0f; }
};

/// Document ids of one batch row: documents of random length S/8 .. 3S/8 (the
/// last one what remains), as bench/cpu's harness draws them. Seed 1000 + S,
/// batch rows one after another; peers.py: doc_ids().
std::vector<int32_t> docIds(int64_t batch, int64_t S) {
  Rng rng(1000 + static_cast<uint64_t>(S));
  std::vector<int32_t> ids(static_cast<size_t>(batch * S));
  for (int64_t b = 0; b < batch; ++b) {
    int64_t j = 0;
    for (int32_t id = 0; j < S; ++id) {
      int64_t len = std::max<int64_t>(1, S / 8 + static_cast<int64_t>(rng.next() % static_cast<uint64_t>(S / 4 + 1)));
      for (int64_t e = 0; e < len && j < S; ++e, ++j)
        ids[static_cast<size_t>(b * S + j)] = id;
    }
  }
  return ids;
}

using EntryPoint = attn_status (*)(const attn_tensor *, const attn_tensor *, const attn_tensor *,
                                   attn_tensor *, attn_tensor *, const double *,
                                   const attn_tensor *, int64_t, int32_t);

struct Variant {
  const char *name;
  EntryPoint run;
};

const Variant kVariants[] = {
    {"full", attn_full_f32},
    {"causal", attn_causal_f32},
    {"sliding_window", attn_sliding_window_f32},
    {"document", attn_document_f32},
};

struct Size {
  int64_t S, D;
};

struct Options {
  int threads = 2;
  int64_t batch = 1, heads = 8;
  int64_t sq = 0; // query rows (0: S)
  std::vector<Size> sizes = {{1024, 64}, {2048, 128}, {4096, 64}};
  std::vector<std::string> variants = {"full", "causal", "sliding_window", "document"};
  int64_t window = 0; // 0: min(1024, S/4)
  int warmup = 1, reps = 5;
  double maxSeconds = 3;
  double tolerance = 1e-4;
  std::string json; // append one JSON line per case here
};

const char *kUsage =
    "usage: attn-bench-cpu-device [options]\n"
    "  --threads N       threads of attn_cpu_launch (default 2)\n"
    "  --sizes SxD,...   cases (default 1024x64,2048x128,4096x64)\n"
    "  --variants a,b    of full,causal,sliding_window,document (default all)\n"
    "  --B N --H N       batch and heads (default 1, 8)\n"
    "  --sq N            N query rows, the last N positions, against S keys (decode:\n"
    "                    1; default S). ATTN_SPLIT_KV=0 turns split-KV off\n"
    "  --window N        sliding window (default min(1024, S/4), as peers.py)\n"
    "  --reps N          timed runs, the best counts (default 5)\n"
    "  --warmup N        untimed runs after the check (default 1)\n"
    "  --max-seconds X   stop timing a case after X s (default 3, at least one run)\n"
    "  --tol X           max |error| against float64 (default 1e-4)\n"
    "  --json FILE       append one JSON line per case to FILE\n"
    "  --quick           sizes 256x64,512x128, reps 2 (a smoke test)\n"
    "  --probe           sizes 128x64, reps 1: does every kernel run and agree?\n";

std::vector<std::string> split(const std::string &s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos)
      comma = s.size();
    if (comma > start)
      out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

bool parse(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string val;
    auto eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      val = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    auto next = [&](std::string &out) {
      if (!val.empty()) {
        out = val;
        return true;
      }
      if (i + 1 >= argc) {
        std::fprintf(stderr, "attn-bench-cpu-device: %s needs a value\n", a.c_str());
        return false;
      }
      out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--quick") {
      o.sizes = {{256, 64}, {512, 128}};
      o.reps = 2;
    } else if (a == "--probe") {
      o.sizes = {{128, 64}};
      o.reps = 1;
      o.warmup = 0;
    } else if (a == "--threads") {
      if (!next(v)) return false;
      o.threads = std::atoi(v.c_str());
    } else if (a == "--B") {
      if (!next(v)) return false;
      o.batch = std::atoll(v.c_str());
    } else if (a == "--H") {
      if (!next(v)) return false;
      o.heads = std::atoll(v.c_str());
    } else if (a == "--sq") {
      if (!next(v)) return false;
      o.sq = std::atoll(v.c_str());
    } else if (a == "--window") {
      if (!next(v)) return false;
      o.window = std::atoll(v.c_str());
    } else if (a == "--reps") {
      if (!next(v)) return false;
      o.reps = std::atoi(v.c_str());
    } else if (a == "--warmup") {
      if (!next(v)) return false;
      o.warmup = std::atoi(v.c_str());
    } else if (a == "--max-seconds") {
      if (!next(v)) return false;
      o.maxSeconds = std::atof(v.c_str());
    } else if (a == "--tol") {
      if (!next(v)) return false;
      o.tolerance = std::atof(v.c_str());
    } else if (a == "--json") {
      if (!next(v)) return false;
      o.json = v;
    } else if (a == "--variants") {
      if (!next(v)) return false;
      o.variants = split(v);
    } else if (a == "--sizes") {
      if (!next(v)) return false;
      o.sizes.clear();
      for (const std::string &s : split(v)) {
        long long S = 0, D = 0;
        if (std::sscanf(s.c_str(), "%lldx%lld", &S, &D) != 2 || S < 1 || D < 1) {
          std::fprintf(stderr, "attn-bench-cpu-device: bad size '%s' (want SxD)\n", s.c_str());
          return false;
        }
        o.sizes.push_back({S, D});
      }
    } else {
      std::fprintf(stderr, "attn-bench-cpu-device: unknown option '%s'\n%s", argv[i], kUsage);
      return false;
    }
  }
  if (o.threads < 1 || o.batch < 1 || o.heads < 1 || o.reps < 1 || o.warmup < 0) {
    std::fprintf(stderr, "attn-bench-cpu-device: threads, B, H, reps must be >= 1\n");
    return false;
  }
  for (const std::string &v : o.variants) {
    bool known = false;
    for (const Variant &k : kVariants)
      known |= v == k.name;
    if (!known) {
      std::fprintf(stderr, "attn-bench-cpu-device: unknown variant '%s'\n", v.c_str());
      return false;
    }
  }
  return true;
}

attn_tensor view4(float *data, int64_t a, int64_t b, int64_t c, int64_t d) {
  attn_tensor t{};
  t.data = data;
  t.dtype = ATTN_F32;
  t.rank = 4;
  int64_t shape[4] = {a, b, c, d};
  int64_t stride = 1;
  for (int i = 3; i >= 0; --i) {
    t.shape[i] = shape[i];
    t.strides[i] = stride;
    stride *= shape[i];
  }
  return t;
}

/// One case's inputs and mask.
struct Case {
  std::string variant;
  int64_t B, H, S, D, window;
  int64_t Sq; ///< rows: positions S - Sq .. S - 1
  std::vector<float> q, k, v, o;
  std::vector<int32_t> doc;

  bool keep(int64_t b, int64_t i, int64_t j) const {
    if (variant == "full")
      return true;
    if (variant == "causal")
      return j <= i;
    if (variant == "sliding_window")
      return j <= i && i - j < window;
    return j <= i && doc[static_cast<size_t>(b * S + i)] == doc[static_cast<size_t>(b * S + j)];
  }

  double keptFraction() const {
    double kept = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = S - Sq; i < S; ++i) {
        int64_t row = 0;
        for (int64_t j = 0; j < S; ++j)
          row += keep(b, i, j);
        kept += static_cast<double>(row);
      }
    return kept / (static_cast<double>(B) * Sq * S);
  }
};

/// Largest |o - float64 reference| over sample rows of every (b, h).
double maxError(const Case &c) {
  const int64_t S = c.S, Sq = c.Sq, D = c.D;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  std::vector<int64_t> rows = {0, 1, 63, 64, Sq / 2, Sq - 65, Sq - 1};
  Rng rng(3);
  for (int e = 0; e < 4; ++e)
    rows.push_back(static_cast<int64_t>(rng.next() % static_cast<uint64_t>(Sq)));
  double err = 0;
  std::vector<double> s(static_cast<size_t>(S)), acc(static_cast<size_t>(D));
  for (int64_t bh = 0; bh < c.B * c.H; ++bh)
    for (int64_t r : rows) {
      if (r < 0 || r >= Sq)
        continue;
      const int64_t b = bh / c.H, i = S - Sq + r;
      const float *q = c.q.data() + (bh * Sq + r) * D;
      double m = -INFINITY;
      for (int64_t j = 0; j < S; ++j) {
        if (!c.keep(b, i, j)) {
          s[j] = -INFINITY;
          continue;
        }
        const float *k = c.k.data() + (bh * S + j) * D;
        double dot = 0;
        for (int64_t d = 0; d < D; ++d)
          dot += static_cast<double>(q[d]) * k[d];
        s[j] = scale * dot;
        m = std::max(m, s[j]);
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      double z = 0;
      for (int64_t j = 0; j < S && m != -INFINITY; ++j) {
        if (s[j] == -INFINITY)
          continue;
        const double p = std::exp(s[j] - m);
        z += p;
        const float *v = c.v.data() + (bh * S + j) * D;
        for (int64_t d = 0; d < D; ++d)
          acc[d] += p * v[d];
      }
      const float *o = c.o.data() + (bh * Sq + r) * D;
      for (int64_t d = 0; d < D; ++d) {
        const double e = std::abs((z > 0 ? acc[d] / z : 0.0) - static_cast<double>(o[d]));
        err = std::max(err, std::isnan(e) ? INFINITY : e);
      }
    }
  return err;
}

void appendJson(const Options &o, const std::string &line) {
  if (o.json.empty())
    return;
  if (FILE *f = std::fopen(o.json.c_str(), "a")) {
    std::fprintf(f, "%s\n", line.c_str());
    std::fclose(f);
  }
}

std::string jsonEscape(const std::string &s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\')
      out += '\\';
    if (static_cast<unsigned char>(ch) >= 0x20)
      out += ch;
  }
  return out;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  if (!parse(argc, argv, o))
    return 2;
  const char *splitEnv = std::getenv("ATTN_SPLIT_KV");
  std::printf("attn-bench-cpu-device: attnc AOT kernels (no JIT at run time), fp32, B=%lld H=%lld, "
              "%s, %d thread(s), best of %d after %d warm-up, check tol %.0e, ATTN_SPLIT_KV=%s\n",
              static_cast<long long>(o.batch), static_cast<long long>(o.heads),
              o.sq > 0 ? ("Sq=" + std::to_string(o.sq)).c_str() : "Sq=S", o.threads, o.reps,
              o.warmup, o.tolerance, splitEnv ? splitEnv : "(unset)");
  std::printf("%-15s %6s %4s %7s %8s %11s %10s %10s %7s\n", "variant", "S", "D", "window", "kept",
              "max_err", "best_ms", "GFLOP/s", "chunks");
  std::fflush(stdout);
  int rc = 0;
  for (const Size &sz : o.sizes)
    for (const std::string &name : o.variants) {
      const Variant *var = nullptr;
      for (const Variant &k : kVariants)
        if (name == k.name)
          var = &k;
      Case c;
      c.variant = name;
      c.B = o.batch;
      c.H = o.heads;
      c.S = sz.S;
      c.Sq = o.sq > 0 ? std::min(o.sq, sz.S) : sz.S;
      c.D = sz.D;
      c.window = o.window > 0 ? o.window : std::min<int64_t>(1024, std::max<int64_t>(1, sz.S / 4));
      const size_t n = static_cast<size_t>(c.B * c.H * c.S * c.D);
      const size_t nq = static_cast<size_t>(c.B * c.H * c.Sq * c.D);
      Rng rng(static_cast<uint64_t>(sz.S * 131 + sz.D));
      c.q.resize(nq);
      c.k.resize(n);
      c.v.resize(n);
      c.o.assign(nq, 0.0f);
      for (float &x : c.q) x = rng.uniform();
      for (float &x : c.k) x = rng.uniform();
      for (float &x : c.v) x = rng.uniform();
      c.doc = docIds(c.B, c.S);
      const double kept = c.keptFraction();
      const double flops = 4.0 * c.B * c.H * static_cast<double>(c.Sq) * c.S * c.D * kept;

      attn_tensor q = view4(c.q.data(), c.B, c.H, c.Sq, c.D), k = view4(c.k.data(), c.B, c.H, c.S, c.D),
                  v = view4(c.v.data(), c.B, c.H, c.S, c.D), out = view4(c.o.data(), c.B, c.H, c.Sq, c.D);
      attn_tensor doc{};
      doc.data = c.doc.data();
      doc.dtype = ATTN_I32;
      doc.rank = 2;
      doc.shape[0] = c.B;
      doc.shape[1] = c.S;
      doc.strides[0] = c.S;
      doc.strides[1] = 1;
      const double windowParam = static_cast<double>(c.window);
      const double *params = name == "sliding_window" ? &windowParam : nullptr;
      const attn_tensor *tensors = name == "document" ? &doc : nullptr;
      auto launch = [&] { return var->run(&q, &k, &v, &out, nullptr, params, tensors, -1, o.threads); };

      char head[160];
      std::snprintf(head, sizeof head, "%-15s %6lld %4lld %7lld %8.4f", name.c_str(),
                    static_cast<long long>(c.S), static_cast<long long>(c.D),
                    static_cast<long long>(name == "sliding_window" ? c.window : 0), kept);
      char meta[256];
      std::snprintf(meta, sizeof meta,
                    "\"impl\": \"attnc\", \"variant\": \"%s\", \"S\": %lld, \"Sq\": %lld, \"D\": %lld, "
                    "\"B\": %lld, \"H\": %lld, \"threads\": %d, \"window\": %lld, \"kept\": %.6f",
                    name.c_str(), static_cast<long long>(c.S), static_cast<long long>(c.Sq),
                    static_cast<long long>(c.D),
                    static_cast<long long>(c.B), static_cast<long long>(c.H), o.threads,
                    static_cast<long long>(c.window), kept);

      // 1. Correctness before timing.
      attn_status st = launch();
      if (st != ATTN_OK) {
        std::string msg = attn_last_error();
        std::printf("%s  error: %s\n", head, msg.c_str());
        appendJson(o, std::string("{") + meta + ", \"status\": \"error\", \"note\": \"" + jsonEscape(msg) + "\"}");
        rc = 1;
        std::fflush(stdout);
        continue;
      }
      const double err = maxError(c);
      if (!(err <= o.tolerance)) {
        std::printf("%s %11.2e  WRONG (tolerance %.0e): not timed\n", head, err, o.tolerance);
        char tail[96];
        std::snprintf(tail, sizeof tail, ", \"max_err\": %.3e, \"status\": \"wrong\"}", std::isinf(err) ? 1e300 : err);
        appendJson(o, std::string("{") + meta + tail);
        rc = 1;
        std::fflush(stdout);
        continue;
      }

      // 2. Warm-up, then best of reps (stop after maxSeconds, at least one).
      for (int w = 0; w < o.warmup; ++w)
        launch();
      double best = std::numeric_limits<double>::infinity();
      const Clock::time_point begin = Clock::now();
      int done = 0;
      for (int r = 0; r < o.reps; ++r) {
        const Clock::time_point start = Clock::now();
        st = launch();
        const double sec = std::chrono::duration<double>(Clock::now() - start).count();
        if (st != ATTN_OK)
          break;
        best = std::min(best, sec);
        ++done;
        if (std::chrono::duration<double>(Clock::now() - begin).count() > o.maxSeconds)
          break;
      }
      if (st != ATTN_OK) {
        std::string msg = attn_last_error();
        std::printf("%s  error while timing: %s\n", head, msg.c_str());
        appendJson(o, std::string("{") + meta + ", \"status\": \"error\", \"note\": \"" + jsonEscape(msg) + "\"}");
        rc = 1;
        continue;
      }
      const double gflops = flops / best * 1e-9;
      std::printf("%s %11.2e %10.3f %10.1f %7d\n", head, err, best * 1e3, gflops,
                  attn_cpu_last_key_chunks());
      char tail[192];
      std::snprintf(tail, sizeof tail,
                    ", \"max_err\": %.3e, \"seconds\": %.6e, \"gflops\": %.3f, \"reps\": %d, \"status\": \"ok\"}",
                    err, best, gflops, done);
      appendJson(o, std::string("{") + meta + tail);
      std::fflush(stdout);
    }
  if (rc != 0)
    std::printf("attn-bench-cpu-device: SOME CASES FAILED (WRONG or error above)\n");
  return rc;
}
