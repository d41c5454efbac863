//===- jit_main.cpp - JIT-compile a variant in-process and run it ----------===//
//
// The same causal attention as main.cpp, compiled at run time by
// attn::Compiler (attn/compiler.hpp, attnc::jit): the first run JIT-compiles
// it and stores a shared library in the kernel cache ($ATTN_CACHE_DIR, else
// $XDG_CACHE_HOME/attnc, else ~/.cache/attnc); later runs load that in about
// a millisecond. Prints where the kernel came from, the times, and the max
// abs error against float64 (tolerance 1e-4). Usage: causal_jit FILE.attn
//
//===----------------------------------------------------------------------===//
#include "reference.h"

#include <attn/compiler.hpp>

#include <chrono>
#include <cstdio>
#include <random>

using namespace host;

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FILE.attn (defining variant 'causal')\n", argv[0]);
    return 2;
  }
  attn::CompilerOptions options;
  options.dtypes = {ATTN_F32};
  attn::Compiler compiler(options);
  std::string error;
  attn::KernelOrigin origin;
  auto start = std::chrono::steady_clock::now();
  std::shared_ptr<const attn::Kernel> kernel =
      compiler.compileFile(argv[1], "causal", &error, &origin);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!kernel) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::printf("kernel %s: %s in %.1f ms (cache %s)\n", kernel->info().variant.c_str(),
              attn::originName(origin), ms,
              compiler.options().cacheDir.empty() ? "off" : compiler.options().cacheDir.c_str());

  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> q(B * H * Sq * D), k(B * Hkv * Skv * D), v(B * Hkv * Skv * D),
      o(B * H * Sq * D);
  for (float &x : q) x = dist(rng);
  for (float &x : k) x = dist(rng);
  for (float &x : v) x = dist(rng) / 2;
  attn_tensor qt = view(q.data(), ATTN_F32, {B, H, Sq, D});
  attn_tensor kt = view(k.data(), ATTN_F32, {B, Hkv, Skv, D});
  attn_tensor vt = view(v.data(), ATTN_F32, {B, Hkv, Skv, D});
  attn_tensor ot = view(o.data(), ATTN_F32, {B, H, Sq, D});
  if (attn_status st = kernel->run(qt, kt, vt, ot); st != ATTN_OK) {
    std::fprintf(stderr, "run: %s: %s\n", attn_status_string(st), attn_last_error());
    return 1;
  }
  std::vector<double> want = reference(std::vector<double>(q.begin(), q.end()),
                                       std::vector<double>(k.begin(), k.end()),
                                       std::vector<double>(v.begin(), v.end()));
  double err = 0;
  for (size_t e = 0; e < o.size(); ++e)
    err = std::max(err, std::fabs(o[e] - want[e]));
  std::printf("causal f32 (JIT): max abs error vs float64 %.3g (tolerance 1e-4)\n", err);
  // A param the variant does not declare: a status and a message.
  attn_status st = kernel->run(qt, kt, vt, ot, nullptr, {{"window", 4.0}});
  std::printf("a run with an unknown param: %s (%s)\n", attn_status_string(st),
              attn_last_error());
  bool ok = err <= 1e-4 && st == ATTN_ERROR_INVALID_ARGUMENT;
  std::printf(ok ? "OK\n" : "FAILED\n");
  return ok ? 0 : 1;
}
