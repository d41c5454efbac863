//===- Harness.cpp - the CPU attention benchmark harness ------------------===//
#include "bench/cpu/Harness.h"
#include "bench/cpu/FastExp.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

namespace attn::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

attn_tensor view4(const float *data, int64_t a, int64_t b, int64_t c, int64_t d) {
  attn_tensor t{};
  t.data = const_cast<float *>(data);
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

/// A small fast generator for filling inputs (xorshift64*), uniform [-1, 1).
struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
  }
  float uniform() { return static_cast<float>(next() >> 40) * (2.0f / 16777216.0f) - 1.0f; }
};

/// Runs fn(i) for i in [0, n) on `threads` std::threads (static split).
template <typename Fn> void parallelRange(int64_t n, int threads, Fn fn) {
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n)));
  if (threads == 1) {
    for (int64_t i = 0; i < n; ++i)
      fn(i, 0);
    return;
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int64_t i = t; i < n; i += threads)
        fn(i, t);
    });
  for (std::thread &th : pool)
    th.join();
}

int defaultThreads() {
  if (const char *env = std::getenv("ATTN_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0)
      return n;
  }
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

} // namespace

//===----------------------------------------------------------------------===//
// Inputs and masks
//===----------------------------------------------------------------------===//

BenchInputs::BenchInputs(const BenchCase &bc, unsigned seed) : c(bc) {
  const int64_t S = c.seqLen, D = c.headDim;
  Rng rng(seed);
  qData.resize(static_cast<size_t>(c.batch * c.heads * c.sq() * D));
  kData.resize(static_cast<size_t>(c.batch * c.kvHeads * S * D));
  vData.resize(kData.size());
  oData.assign(qData.size(), 0.0f);
  for (float &x : qData) x = rng.uniform();
  for (float &x : kData) x = rng.uniform();
  for (float &x : vData) x = rng.uniform();
  // Documents of random lengths in [S/8, 3S/8] (the last one what remains).
  docData.resize(static_cast<size_t>(c.batch * S));
  for (int64_t b = 0; b < c.batch; ++b) {
    int64_t j = 0;
    for (int32_t id = 0; j < S; ++id) {
      int64_t len = std::max<int64_t>(1, S / 8 + static_cast<int64_t>(rng.next() % (S / 4 + 1)));
      for (int64_t e = 0; e < len && j < S; ++e, ++j)
        docData[b * S + j] = id;
    }
  }
}

attn_tensor BenchInputs::q() const { return view4(qData.data(), c.batch, c.heads, c.sq(), c.headDim); }
attn_tensor BenchInputs::k() const { return view4(kData.data(), c.batch, c.kvHeads, c.seqLen, c.headDim); }
attn_tensor BenchInputs::v() const { return view4(vData.data(), c.batch, c.kvHeads, c.seqLen, c.headDim); }
attn_tensor BenchInputs::o() { return view4(oData.data(), c.batch, c.heads, c.sq(), c.headDim); }

attn_tensor BenchInputs::doc() const {
  attn_tensor t{};
  t.data = const_cast<int32_t *>(docData.data());
  t.dtype = ATTN_I32;
  t.rank = 2;
  t.shape[0] = c.batch;
  t.shape[1] = c.seqLen;
  t.strides[0] = c.seqLen;
  t.strides[1] = 1;
  return t;
}

bool BenchInputs::keep(int64_t b, int64_t i, int64_t j) const {
  if (c.variant == "full")
    return true;
  if (c.variant == "causal")
    return j <= i;
  if (c.variant == "sliding_window")
    return j <= i && i - j < c.window;
  if (c.variant == "document")
    return j <= i && docData[b * c.seqLen + i] == docData[b * c.seqLen + j];
  return false;
}

double BenchInputs::keptFraction() const {
  const int64_t S = c.seqLen;
  double kept = 0;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = c.qOffset(); i < S; ++i) {
      int64_t row = 0;
      for (int64_t j = 0; j < S; ++j)
        row += keep(b, i, j);
      kept += static_cast<double>(row);
    }
  return kept / (static_cast<double>(c.batch) * c.sq() * S);
}

double BenchInputs::flops() const {
  return 4.0 * c.batch * c.heads * static_cast<double>(c.sq()) * c.seqLen * c.headDim *
         keptFraction();
}

//===----------------------------------------------------------------------===//
// Timing
//===----------------------------------------------------------------------===//

namespace {

/// Times `run` (which returns a Timing with status only): warm-up runs, then
/// up to opts.reps timed runs or opts.maxSeconds, the best counts.
template <typename Run> Timing bestOf(const TimingOptions &opts, Run run) {
  for (int w = 0; w < opts.warmup; ++w) {
    Timing t = run();
    if (!t.ok())
      return t;
  }
  Timing best;
  best.seconds = std::numeric_limits<double>::infinity();
  Clock::time_point begin = Clock::now();
  for (int r = 0; r < std::max(1, opts.reps); ++r) {
    Clock::time_point start = Clock::now();
    Timing t = run();
    double seconds = secondsSince(start);
    if (!t.ok())
      return t;
    best.seconds = std::min(best.seconds, seconds);
    if (secondsSince(begin) > opts.maxSeconds)
      break;
  }
  return best;
}

} // namespace

Timing timeKernel(const attn_variant_info *info, attn_tile_fn fn, BenchInputs &in,
                  const TimingOptions &opts) {
  const BenchCase &c = in.benchCase();
  std::vector<double> params(static_cast<size_t>(info->num_params),
                             std::numeric_limits<double>::quiet_NaN());
  for (int32_t p = 0; p < info->num_params; ++p)
    if (std::string(info->params[p].name) == "window")
      params[p] = static_cast<double>(c.window);
  std::vector<attn_tensor> tensors;
  for (int32_t t = 0; t < info->num_tensors; ++t) {
    if (std::string(info->tensors[t].name) != "doc") {
      Timing bad;
      bad.status = ATTN_ERROR_INVALID_ARGUMENT;
      bad.error = std::string("the harness has no tensor named '") + info->tensors[t].name + "'";
      return bad;
    }
    tensors.push_back(in.doc());
  }
  attn_tensor q = in.q(), k = in.k(), v = in.v(), o = in.o();
  return bestOf(opts, [&] {
    Timing t;
    t.status = attn_cpu_launch(info, fn, &q, &k, &v, &o, nullptr,
                               params.empty() ? nullptr : params.data(),
                               tensors.empty() ? nullptr : tensors.data(), -1, opts.threads);
    if (!t.ok())
      t.error = attn_last_error();
    return t;
  });
}

namespace {

/// Sets the masked entries of score row i (of batch b) to -inf.
void maskRow(const BenchInputs &in, int64_t b, int64_t i, float *row) {
  const BenchCase &c = in.benchCase();
  const int64_t S = c.seqLen;
  if (c.variant == "full")
    return;
  int64_t lo = 0, hi = std::min(i, S - 1); // kept: lo <= j <= hi
  if (c.variant == "sliding_window")
    lo = std::max<int64_t>(0, i - c.window + 1);
  for (int64_t j = 0; j < lo; ++j)
    row[j] = kNegInf;
  for (int64_t j = hi + 1; j < S; ++j)
    row[j] = kNegInf;
  if (c.variant == "document") {
    const int32_t *doc = in.docData.data() + b * S;
    const int32_t di = doc[i];
    for (int64_t j = lo; j <= hi; ++j)
      row[j] = doc[j] == di ? row[j] : kNegInf;
  }
}

/// Softmax of score rows [r0, r1) of one (b, h) in place (row r is position
/// qOffset + r).
void softmaxRows(const BenchInputs &in, int64_t b, float *scores, int64_t r0, int64_t r1) {
  const int64_t S = in.benchCase().seqLen, off = in.benchCase().qOffset();
  for (int64_t r = r0; r < r1; ++r) {
    float *row = scores + r * S;
    maskRow(in, b, off + r, row);
    float m = kNegInf;
    for (int64_t j = 0; j < S; ++j)
      m = std::max(m, row[j]);
    if (m == kNegInf) {
      std::fill(row, row + S, 0.0f);
      continue;
    }
    for (int64_t j = 0; j < S; ++j)
      row[j] -= m;
    fastExpInPlace(row, S);
    float sum = 0;
    for (int64_t j = 0; j < S; ++j)
      sum += row[j];
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < S; ++j)
      row[j] *= inv;
  }
}

} // namespace

Timing timeUnfused(const BenchInputs &in, std::vector<float> &out, const TimingOptions &opts) {
  const BenchCase &c = in.benchCase();
  const int64_t S = c.seqLen, Sq = c.sq(), D = c.headDim, B = c.batch, H = c.heads,
                Hkv = c.kvHeads;
  const int64_t heads = B * H;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  out.assign(static_cast<size_t>(heads * Sq * D), 0.0f);
  // Enough heads: one head per thread, single-threaded BLAS. Otherwise heads
  // one after another, BLAS on every thread and the softmax rows split.
  const bool perHead = heads >= opts.threads;
  const int workers = perHead ? opts.threads : 1;
  std::vector<std::vector<float>> scores(static_cast<size_t>(workers));
  for (auto &s : scores)
    s.resize(static_cast<size_t>(Sq * S));
  auto head = [&](int64_t bh, int worker) {
    const int64_t b = bh / H, h = bh % H, hk = h / (H / Hkv);
    const float *q = in.qData.data() + (b * H + h) * Sq * D;
    const float *k = in.kData.data() + (b * Hkv + hk) * S * D;
    const float *v = in.vData.data() + (b * Hkv + hk) * S * D;
    float *P = scores[worker].data();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(Sq), static_cast<int>(S),
                static_cast<int>(D), scale, q, static_cast<int>(D), k, static_cast<int>(D), 0.0f, P,
                static_cast<int>(S));
    if (perHead) {
      softmaxRows(in, b, P, 0, Sq);
    } else {
      const int64_t per = (Sq + opts.threads - 1) / opts.threads;
      parallelRange(opts.threads, opts.threads, [&](int64_t t, int) {
        softmaxRows(in, b, P, std::min(Sq, t * per), std::min(Sq, (t + 1) * per));
      });
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(Sq),
                static_cast<int>(D), static_cast<int>(S), 1.0f, P, static_cast<int>(S), v,
                static_cast<int>(D), 0.0f, out.data() + bh * Sq * D, static_cast<int>(D));
  };
  openblas_set_num_threads(perHead ? 1 : opts.threads);
  Timing t = bestOf(opts, [&] {
    if (perHead)
      parallelRange(heads, opts.threads, head);
    else
      for (int64_t bh = 0; bh < heads; ++bh)
        head(bh, 0);
    return Timing();
  });
  openblas_set_num_threads(1);
  return t;
}

double measureSgemmPeak(int threads, int n, int reps) {
  std::vector<float> a(static_cast<size_t>(n) * n), b(a.size()), c(a.size());
  Rng rng(7);
  for (float &x : a) x = rng.uniform();
  for (float &x : b) x = rng.uniform();
  openblas_set_num_threads(threads);
  TimingOptions opts;
  opts.warmup = 1;
  opts.reps = reps;
  opts.maxSeconds = 5;
  Timing t = bestOf(opts, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(),
                n, 0.0f, c.data(), n);
    return Timing();
  });
  openblas_set_num_threads(1);
  return 2.0 * n * static_cast<double>(n) * n / t.seconds * 1e-9;
}

//===----------------------------------------------------------------------===//
// Numerics
//===----------------------------------------------------------------------===//

double maxErrorOnSampleRows(const BenchInputs &in, const std::vector<float> &out) {
  const BenchCase &c = in.benchCase();
  const int64_t S = c.seqLen, Sq = c.sq(), D = c.headDim, H = c.heads, Hkv = c.kvHeads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  std::vector<std::pair<int64_t, int64_t>> heads = {{0, 0}, {c.batch - 1, H - 1},
                                                    {c.batch / 2, H / 2}};
  std::vector<int64_t> rows = {0, 1, 63, 64, Sq / 3, Sq / 2, Sq - 65, Sq - 2, Sq - 1};
  Rng rng(3);
  for (int e = 0; e < 4; ++e)
    rows.push_back(static_cast<int64_t>(rng.next() % static_cast<uint64_t>(Sq)));
  double err = 0;
  std::vector<double> s(static_cast<size_t>(S)), acc(static_cast<size_t>(D));
  for (auto [b, h] : heads)
    for (int64_t r : rows) {
      if (r < 0 || r >= Sq)
        continue;
      const int64_t hk = h / (H / Hkv), i = c.qOffset() + r;
      const float *q = in.qData.data() + ((b * H + h) * Sq + r) * D;
      double m = -INFINITY;
      for (int64_t j = 0; j < S; ++j) {
        if (!in.keep(b, i, j)) {
          s[j] = -INFINITY;
          continue;
        }
        const float *k = in.kData.data() + ((b * Hkv + hk) * S + j) * D;
        double dot = 0;
        for (int64_t d = 0; d < D; ++d)
          dot += static_cast<double>(q[d]) * k[d];
        s[j] = scale * dot;
        m = std::max(m, s[j]);
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      double z = 0;
      if (m != -INFINITY)
        for (int64_t j = 0; j < S; ++j) {
          if (s[j] == -INFINITY)
            continue;
          const double p = std::exp(s[j] - m);
          z += p;
          const float *v = in.vData.data() + ((b * Hkv + hk) * S + j) * D;
          for (int64_t d = 0; d < D; ++d)
            acc[d] += p * v[d];
        }
      const float *o = out.data() + ((b * H + h) * Sq + r) * D;
      for (int64_t d = 0; d < D; ++d) {
        const double ref = z > 0 ? acc[d] / z : 0.0;
        const double e = std::abs(ref - static_cast<double>(o[d]));
        err = std::max(err, std::isnan(e) ? INFINITY : e);
      }
    }
  return err;
}

//===----------------------------------------------------------------------===//
// Options and the table
//===----------------------------------------------------------------------===//

namespace {

const char *kUsage =
    "usage: attn-bench-cpu [options]\n"
    "  --threads=N          threads for attnc and OpenBLAS (default: ATTN_NUM_THREADS or all CPUs)\n"
    "  --variants=a,b       of full,causal,sliding_window,document (default: all)\n"
    "  --S=512,1024         sequence lengths Sq = Skv (default: 512,1024,2048)\n"
    "  --Sq=N               N query rows (the last N positions) against S keys: --Sq=1 is\n"
    "                       a decode step (default: Sq = S)\n"
    "  --D=64,128           head dims (default: 64,128)\n"
    "  --all                S in 512,1024,2048,4096,8192 (long: minutes)\n"
    "  --quick              S=512, D=64 only\n"
    "  --B=N --H=N --Hkv=N  batch, query heads, key/value heads (default 1, 8, H)\n"
    "  --window=N           sliding window (default min(1024, S/4))\n"
    "  --reps=N --warmup=N  timed and untimed runs per case (default 3, 1)\n"
    "  --max-seconds=X      stop timing a case after X s (default 2)\n"
    "  --gemm=N             sgemm peak problem size (default 2048)\n"
    "  --no-unfused         skip the unfused baseline\n";

bool parseList(const std::string &text, std::vector<int64_t> &out) {
  out.clear();
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char *end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end || v <= 0)
      return false;
    out.push_back(v);
  }
  return !out.empty();
}

bool parseInt(const std::string &text, int64_t &out) {
  std::vector<int64_t> v;
  if (!parseList(text, v) || v.size() != 1)
    return false;
  out = v[0];
  return true;
}

std::string scientific(double x) {
  std::ostringstream os;
  os << std::scientific << std::setprecision(1) << x;
  return os.str();
}

std::string fixed(double x, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << x;
  return os.str();
}

} // namespace

bool parseOptions(int argc, char **argv, BenchOptions &opts, std::string &err) {
  opts.timing.threads = defaultThreads();
  for (int a = 1; a < argc; ++a) {
    std::string arg = argv[a];
    size_t eq = arg.find('=');
    std::string key = arg.substr(0, eq), value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    int64_t n = 0;
    bool ok = true;
    if (key == "--help" || key == "-h") {
      err = kUsage;
      return false;
    } else if (key == "--threads") {
      ok = parseInt(value, n);
      opts.timing.threads = static_cast<int>(n);
    } else if (key == "--variants") {
      opts.variants.clear();
      std::stringstream ss(value);
      std::string item;
      while (std::getline(ss, item, ','))
        opts.variants.push_back(item);
      for (const std::string &v : opts.variants)
        ok &= v == "full" || v == "causal" || v == "sliding_window" || v == "document";
    } else if (key == "--S") {
      ok = parseList(value, opts.seqLens);
    } else if (key == "--Sq") {
      ok = parseInt(value, opts.queryLen);
    } else if (key == "--D") {
      ok = parseList(value, opts.headDims);
    } else if (key == "--all") {
      opts.seqLens = {512, 1024, 2048, 4096, 8192};
    } else if (key == "--quick") {
      opts.seqLens = {512};
      opts.headDims = {64};
    } else if (key == "--B") {
      ok = parseInt(value, opts.batch);
    } else if (key == "--H") {
      ok = parseInt(value, opts.heads);
    } else if (key == "--Hkv") {
      ok = parseInt(value, opts.kvHeads);
    } else if (key == "--window") {
      ok = parseInt(value, opts.window);
    } else if (key == "--reps") {
      ok = parseInt(value, n);
      opts.timing.reps = static_cast<int>(n);
    } else if (key == "--warmup") {
      ok = value == "0" || parseInt(value, n);
      opts.timing.warmup = static_cast<int>(n);
    } else if (key == "--max-seconds") {
      char *end = nullptr;
      opts.timing.maxSeconds = std::strtod(value.c_str(), &end);
      ok = !value.empty() && !*end && opts.timing.maxSeconds > 0;
    } else if (key == "--gemm") {
      ok = parseInt(value, n);
      opts.gemmSize = static_cast<int>(n);
    } else if (key == "--no-unfused") {
      opts.unfused = false;
    } else {
      err = "unknown option '" + arg + "'\n" + kUsage;
      return false;
    }
    if (!ok) {
      err = "bad value in '" + arg + "'\n" + kUsage;
      return false;
    }
  }
  if (opts.kvHeads == 0)
    opts.kvHeads = opts.heads;
  if (opts.heads % opts.kvHeads != 0) {
    err = "--H must be a multiple of --Hkv\n";
    return false;
  }
  return true;
}

int runBenchmark(const BenchOptions &opts, const KernelProvider &provider, std::ostream &os) {
  const TimingOptions &timing = opts.timing;
  const int threads = timing.threads;
  // Kernels first (a JIT provider compiles here), so that nothing it prints
  // lands inside the table.
  std::map<std::pair<std::string, int64_t>, CpuKernel> kernels;
  for (const std::string &variant : opts.variants)
    for (int64_t D : opts.headDims)
      kernels[{variant, D}] = provider(variant, D);
  const double peak = measureSgemmPeak(threads, opts.gemmSize, std::max(3, timing.reps));
  os << "# attn-bench-cpu: fp32, " << threads << " thread(s), B=" << opts.batch
     << " H=" << opts.heads << " Hkv=" << (opts.kvHeads > 0 ? opts.kvHeads : opts.heads)
     << (opts.queryLen > 0 ? ", Sq=" + std::to_string(opts.queryLen) + " (S: keys)" : std::string())
     << ", best of " << timing.reps
     << " after " << timing.warmup << " warm-up\n";
  os << "# sgemm " << opts.gemmSize << "^3 (OpenBLAS): " << fixed(peak, 1) << " GFLOP/s\n";
  os << "# GFLOP/s = 4*B*H*Sq*Skv*D*kept / time; err = max |o - float64| on sample rows\n\n";
  const std::string &l = opts.label;
  os << "| variant | S | D | kept | " << l << " GFLOP/s | unfused GFLOP/s | " << l
     << "/unfused | " << l << "/sgemm peak | " << l << " err |\n";
  os << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  int rc = 0;
  for (const std::string &variant : opts.variants)
    for (int64_t D : opts.headDims)
      for (int64_t S : opts.seqLens) {
        BenchCase c;
        c.variant = variant;
        c.batch = opts.batch;
        c.heads = opts.heads;
        c.kvHeads = opts.kvHeads > 0 ? opts.kvHeads : opts.heads;
        c.seqLen = S;
        c.queryLen = std::min(opts.queryLen, S);
        c.headDim = D;
        c.window = opts.window > 0 ? opts.window : std::max<int64_t>(1, std::min<int64_t>(1024, S / 4));
        std::string name = variant == "sliding_window" ? "sliding_window(" + std::to_string(c.window) + ")"
                                                       : variant;
        BenchInputs in(c);
        const double flops = in.flops();
        os << "| " << name << " | " << S << " | " << D << " | " << fixed(flops / (4.0 * c.batch * c.heads * c.sq() * S * D), 3)
           << " | ";
        os.flush();
        CpuKernel kernel = kernels[{variant, D}];
        double attnGflops = 0, err = 0;
        std::string attnCell = "-", errCell = "-";
        if (kernel.fn && kernel.info) {
          // Check one run against float64, then time.
          TimingOptions once = timing;
          once.warmup = 0;
          once.reps = 1;
          Timing t = timeKernel(kernel.info, kernel.fn, in, once);
          if (!t.ok()) {
            attnCell = "error: " + t.error;
            rc = 1;
          } else if ((err = maxErrorOnSampleRows(in, in.oData)) > opts.tolerance) {
            attnCell = "WRONG";
            errCell = scientific(err);
            rc = 1;
          } else {
            TimingOptions rest = timing;
            rest.warmup = 0; // the checked run was the warm-up
            t = timeKernel(kernel.info, kernel.fn, in, rest);
            if (!t.ok()) {
              attnCell = "error: " + t.error;
              rc = 1;
            } else {
              attnGflops = flops / t.seconds * 1e-9;
              attnCell = fixed(attnGflops, 1);
              errCell = scientific(err);
            }
          }
        }
        double unfusedGflops = 0;
        std::string unfusedCell = "-";
        if (opts.unfused) {
          std::vector<float> out;
          TimingOptions checked = timing;
          Timing t = timeUnfused(in, out, checked);
          double uerr = maxErrorOnSampleRows(in, out);
          if (uerr > opts.tolerance) {
            unfusedCell = "WRONG (err " + scientific(uerr) + ")";
            rc = 1;
          } else {
            unfusedGflops = flops / t.seconds * 1e-9;
            unfusedCell = fixed(unfusedGflops, 1);
          }
        }
        os << attnCell << " | " << unfusedCell << " | "
           << (attnGflops > 0 && unfusedGflops > 0 ? fixed(attnGflops / unfusedGflops, 2) : "-")
           << " | " << (attnGflops > 0 ? fixed(attnGflops / peak, 2) : "-") << " | " << errCell
           << " |\n";
        os.flush();
      }
  return rc;
}

int benchMain(int argc, char **argv, const std::string &label, const KernelProvider &provider) {
  BenchOptions opts;
  opts.label = label;
  std::string err;
  if (!parseOptions(argc, argv, opts, err)) {
    bool help = err.rfind("usage:", 0) == 0;
    (help ? std::cout : std::cerr) << err;
    return help ? 0 : 2;
  }
  return runBenchmark(opts, provider, std::cout);
}

} // namespace attn::bench
