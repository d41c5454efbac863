//===- Harness.h - the CPU attention benchmark harness ----------*- C++ -*-===//
//
// Times a tile kernel (attn/kernel.h) through attn_cpu_launch against an
// unfused baseline (OpenBLAS sgemm + softmax loop) and the machine's measured
// sgemm peak, on the same threads, and prints one table with the ratios.
// Every timed configuration is first checked against float64 on sample rows.
//
// Plugging in a kernel: give runBenchmark a KernelProvider that returns the
// variant info and tile function for a variant name (JIT, AOT or the
// hand-written ones of ReferenceKernels.h), or time a single kernel with
// timeKernel.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_BENCH_CPU_HARNESS_H
#define ATTNC_BENCH_CPU_HARNESS_H

#include "attn/kernel.h"

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace attn::bench {

/// A compiled variant as the runtime sees it.
struct CpuKernel {
  const attn_variant_info *info = nullptr;
  attn_tile_fn fn = nullptr;
};

/// Returns the kernel to time for `variant` ("full", "causal",
/// "sliding_window", "document") at head dim `headDim` (a provider may
/// specialise on it); a null fn leaves the row out of the table.
using KernelProvider = std::function<CpuKernel(const std::string &variant, int64_t headDim)>;

/// One benchmark configuration: fp32, Skv = seqLen keys and Sq query rows,
/// the last Sq positions (q_offset = Skv - Sq, bottom-right aligned masks);
/// queryLen 0 is Sq = Skv (prefill), 1 is a decode step.
struct BenchCase {
  std::string variant; ///< full | causal | sliding_window | document
  int64_t batch = 1, heads = 8, kvHeads = 8, seqLen = 1024, headDim = 64;
  int64_t window = 0;  ///< sliding_window: keep 0 <= i - j < window
  int64_t queryLen = 0; ///< Sq (0: = seqLen)

  int64_t sq() const { return queryLen > 0 ? queryLen : seqLen; }
  /// The position i of query row 0.
  int64_t qOffset() const { return seqLen - sq(); }
};

/// The inputs of one case: contiguous fp32 q, o [B, H, Sq, D], k, v
/// [B, Hkv, S, D], the `doc` tensor i32 [B, S] (documents of random lengths),
/// and the mask.
class BenchInputs {
public:
  explicit BenchInputs(const BenchCase &c, unsigned seed = 1);

  const BenchCase &benchCase() const { return c; }
  attn_tensor q() const;
  attn_tensor k() const;
  attn_tensor v() const;
  attn_tensor o(); ///< the output the attnc kernel writes
  attn_tensor doc() const;
  /// The variant's mask in float64-reference form: keep pair (i, j) of batch
  /// b (i the query's position, qOffset() + row).
  bool keep(int64_t b, int64_t i, int64_t j) const;
  /// The fraction of (b, i, j) pairs of the Sq rows kept (counted, not assumed).
  double keptFraction() const;
  /// 4 * B * H * Sq * Skv * D * kept fraction.
  double flops() const;

  std::vector<float> qData, kData, vData, oData;
  std::vector<int32_t> docData;

private:
  BenchCase c;
};

/// The result of timing one thing: best seconds over the timed runs, or an
/// error (status and message).
struct Timing {
  double seconds = 0;
  attn_status status = ATTN_OK;
  std::string error;
  bool ok() const { return status == ATTN_OK; }
};

/// How long to measure.
struct TimingOptions {
  int threads = 2;      ///< num_threads for attn_cpu_launch and OpenBLAS
  int warmup = 1;       ///< untimed runs first
  int reps = 3;         ///< timed runs; the best counts
  double maxSeconds = 2; ///< stop timing a case after this much time (>= 1 run)
};

/// Times `fn` (described by `info`) on `in` through attn_cpu_launch, with the
/// params and extra tensors filled by name: `window` from the case, `doc` from
/// the inputs, other params at their defaults. The output lands in in.oData.
Timing timeKernel(const attn_variant_info *info, attn_tile_fn fn, BenchInputs &in,
                  const TimingOptions &opts);

/// Times the unfused baseline (per (b, h): S = scale Q K^T with cblas_sgemm,
/// mask + softmax in a loop, O = P V with cblas_sgemm) and writes its output
/// to `out` (B*H*S*D floats).
Timing timeUnfused(const BenchInputs &in, std::vector<float> &out, const TimingOptions &opts);

/// Best-of-`reps` GFLOP/s of an n x n x n cblas_sgemm on `threads` threads.
double measureSgemmPeak(int threads, int n, int reps);

/// Largest |out - float64 reference| over sample rows (first, last and a
/// spread of rows of a few (b, h)); `out` is [B, H, Sq, D] contiguous.
double maxErrorOnSampleRows(const BenchInputs &in, const std::vector<float> &out);

/// Everything the table run needs.
struct BenchOptions {
  std::vector<std::string> variants = {"full", "causal", "sliding_window", "document"};
  std::vector<int64_t> seqLens = {512, 1024, 2048};
  int64_t queryLen = 0;   ///< Sq of every case (0: Sq = S)
  std::vector<int64_t> headDims = {64, 128};
  int64_t batch = 1, heads = 8, kvHeads = 0; ///< kvHeads 0: = heads
  int64_t window = 0;     ///< 0: min(1024, S / 4)
  int gemmSize = 2048;    ///< the sgemm peak problem (n^3)
  double tolerance = 2e-4; ///< max |error| against float64 before timing
  bool unfused = true;    ///< time the unfused baseline too
  std::string label = "attnc"; ///< name of the provider's column
  TimingOptions timing;
};

/// Parses the command line (see --help) into `opts`; returns false and
/// writes the reason to `err` on a bad argument, or the usage for --help.
bool parseOptions(int argc, char **argv, BenchOptions &opts, std::string &err);

/// Runs every (variant, S, D) of `opts` and prints the table to `os`.
/// Returns 0, or 1 if a kernel failed or was wrong on some case.
int runBenchmark(const BenchOptions &opts, const KernelProvider &provider, std::ostream &os);

/// main() of a benchmark binary: parses argv, runs, prints to stdout.
int benchMain(int argc, char **argv, const std::string &label, const KernelProvider &provider);

} // namespace attn::bench

#endif // ATTNC_BENCH_CPU_HARNESS_H
