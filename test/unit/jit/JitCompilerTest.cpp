//===- JitCompilerTest.cpp - attn::Compiler / attn::Kernel and their caches ===//
//
// The C++ JIT API: cold compile, in-memory hit (same object), on-disk hit in
// a fresh Compiler, misses on a changed source / option, a corrupt cache file
// rebuilt, an unwritable cache folder, four threads compiling at once, error
// strings (file:line:col), and every bad Kernel::run call (status + message).
// Numerics against the float64 DirectEval on random inputs; tolerances (max
// abs error, outputs of order 1): f32 2e-5, bf16 3e-2, f16 3e-3 (the
// reference sees the inputs rounded to the kernel's dtype; the output is
// rounded to it).
//
//===----------------------------------------------------------------------===//
#include "attn/compiler.hpp"
#include "attn/npy.h"
#include "test/unit/common/AttentionCheck.h"
#include "test/unit/jit/JitTestSupport.h"

#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <thread>

using namespace attn;
using namespace attn::test;

namespace {

using Buffer = HostTensor;
using Inputs = RandomInputs;

double tolerance(attn_dtype d) { return d == ATTN_BF16 ? 3e-2 : d == ATTN_F16 ? 3e-3 : 2e-5; }

TEST(JitCompiler, ColdMemoryAndDiskHits) {
  std::string dir = tempDir("hits");
  std::string src = readExample("causal.attn");
  ASSERT_FALSE(src.empty());
  std::shared_ptr<const Kernel> first;
  {
    Compiler c(withDir(dir));
    std::string err;
    KernelOrigin origin;
    auto t0 = std::chrono::steady_clock::now();
    double cpu0 = processCpuMs();
    first = c.compile(src, "causal", &err, "causal.attn", &origin);
    double cold = msSince(t0), coldCpu = processCpuMs() - cpu0;
    ASSERT_TRUE(first) << err;
    EXPECT_EQ(origin, KernelOrigin::Compiled);
    EXPECT_EQ(first->info().origin, KernelOrigin::Compiled);
    EXPECT_FALSE(first->info().cacheFile.empty());
    c.waitForDiskCache();
    EXPECT_TRUE(llvm::sys::fs::exists(first->info().cacheFile));
    EXPECT_EQ(first->info().dtypes.size(), 3u);
    EXPECT_TRUE(first->info().hasLse);
    t0 = std::chrono::steady_clock::now();
    auto again = c.compile(src, "causal", &err, "causal.attn", &origin);
    double hit = msSince(t0);
    EXPECT_EQ(again, first) << "a memory hit returns the same kernel";
    EXPECT_EQ(origin, KernelOrigin::Memory);
    // A comment changes the text, not the IR: same key, same kernel.
    auto commented = c.compile("# another comment\n" + src, "causal", &err, "x.attn", &origin);
    EXPECT_EQ(commented, first);
    EXPECT_EQ(origin, KernelOrigin::Memory);
    std::printf("[ timing ] causal.attn cold compile (f32+bf16+f16; the disk store follows in "
                "the background): %.1f ms wall, %.1f ms CPU (all threads); memory hit %.4f ms\n",
                cold, coldCpu, hit);
  }
  Compiler fresh(withDir(dir));
  std::string err;
  KernelOrigin origin;
  auto t0 = std::chrono::steady_clock::now();
  auto loaded = fresh.compile(src, "causal", &err, "causal.attn", &origin);
  double disk = msSince(t0);
  ASSERT_TRUE(loaded) << err;
  EXPECT_EQ(origin, KernelOrigin::Disk);
  EXPECT_EQ(loaded->info().key, first->info().key);
  EXPECT_TRUE(loaded->info().hasLse);
  std::printf("[ timing ] causal.attn disk hit in a new Compiler: %.2f ms\n", disk);

  // Both compute the same thing, and match float64 in every dtype.
  for (attn_dtype d : {ATTN_F32, ATTN_BF16, ATTN_F16}) {
    SCOPED_TRACE(attn_dtype_name(d));
    Inputs in(2, 4, 2, 37, 70, 16, d, 7);
    ref::Result want = referenceOf(src, "causal", in.problem);
    for (auto *k : {first.get(), loaded.get()}) {
      Buffer o({2, 4, 37, 16}, d);
      Buffer lse({2, 4, 37}, ATTN_F32);
      ASSERT_EQ(k->run(in.q.view, in.k.view, in.v.view, o.view, &lse.view), ATTN_OK)
          << attn_last_error();
      EXPECT_LE(maxAbsError(o, want.o), tolerance(d));
      ASSERT_TRUE(want.lse);
      EXPECT_LE(maxAbsError(lse, *want.lse), d == ATTN_F32 ? 1e-4 : 5e-2);
    }
  }
}

TEST(JitCompiler, ChangedSourceOrOptionMisses) {
  std::string dir = tempDir("miss");
  Compiler c(withDir(dir));
  std::string err;
  KernelOrigin origin;
  auto a = c.compile("variant v { mask = j <= i; }", "v", &err, "a.attn", &origin);
  ASSERT_TRUE(a) << err;
  auto b = c.compile("variant v { mask = j < i; }", "v", &err, "b.attn", &origin);
  ASSERT_TRUE(b) << err;
  EXPECT_EQ(origin, KernelOrigin::Compiled);
  EXPECT_NE(a->info().key, b->info().key);

  CompilerOptions o = withDir(dir);
  o.rowTile = 32;
  Compiler tiles(o);
  auto t = tiles.compile("variant v { mask = j <= i; }", "v", &err, "a.attn", &origin);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(origin, KernelOrigin::Compiled);
  EXPECT_NE(t->info().key, a->info().key);
  EXPECT_EQ(t->info().rowTile, 32);

  CompilerOptions f32 = withDir(dir);
  f32.dtypes = {ATTN_F32};
  Compiler one(f32);
  EXPECT_NE(one.cacheKey("variant v { mask = j <= i; }", "v"), a->info().key);
  auto k = one.compile("variant v { mask = j <= i; }", "v", &err, "a.attn", &origin);
  ASSERT_TRUE(k) << err;
  EXPECT_EQ(origin, KernelOrigin::Compiled);
  // A bf16 call on an f32-only kernel.
  Inputs in(1, 1, 1, 4, 4, 8, ATTN_BF16, 1);
  Buffer out({1, 1, 4, 8}, ATTN_BF16);
  EXPECT_EQ(k->run(in.q.view, in.k.view, in.v.view, out.view), ATTN_ERROR_UNSUPPORTED);
  EXPECT_NE(std::string(attn_last_error()).find("no kernel for q's dtype bf16"),
            std::string::npos)
      << attn_last_error();
}

TEST(JitCompiler, CorruptCacheFileIsRebuilt) {
  std::string dir = tempDir("corrupt");
  std::string src = readExample("sliding_window.attn");
  Compiler c(withDir(dir));
  std::string key = c.cacheKey(src, "sliding_window");
  ASSERT_FALSE(key.empty());
  std::string path = dir + "/" + key + ".so";
  {
    std::ofstream f(path);
    f << "this is not a shared library";
  }
  std::string err;
  KernelOrigin origin;
  auto k = c.compile(src, "sliding_window", &err, "sw.attn", &origin);
  ASSERT_TRUE(k) << err;
  EXPECT_EQ(origin, KernelOrigin::Compiled);
  EXPECT_EQ(k->info().cacheFile, path);
  c.waitForDiskCache();
  // The rebuilt file is a good one: a new Compiler loads it.
  Compiler fresh(withDir(dir));
  auto d = fresh.compile(src, "sliding_window", &err, "sw.attn", &origin);
  ASSERT_TRUE(d) << err;
  EXPECT_EQ(origin, KernelOrigin::Disk);
  // Params by name, against float64.
  Inputs in(1, 2, 1, 40, 40, 8, ATTN_F32, 3);
  in.problem.params["window"] = 5;
  ref::Result want = referenceOf(src, "sliding_window", in.problem);
  Buffer o({1, 2, 40, 8}, ATTN_F32);
  ASSERT_EQ(d->run(in.q.view, in.k.view, in.v.view, o.view, nullptr, {{"window", 5.0}}),
            ATTN_OK)
      << attn_last_error();
  EXPECT_LE(maxAbsError(o, want.o), 2e-5);

  // A good library under another key's name is a miss (its description
  // names its own key), and is replaced.
  std::string other = c.cacheKey("variant v { }", "v");
  ASSERT_FALSE(llvm::sys::fs::copy_file(path, dir + "/" + other + ".so"));
  auto v = fresh.compile("variant v { }", "v", &err, "v.attn", &origin);
  ASSERT_TRUE(v) << err;
  EXPECT_EQ(origin, KernelOrigin::Compiled);
  EXPECT_EQ(v->info().variant, "v");
}

TEST(JitCompiler, TwoJitEnginesOfOneVariant) {
  // Without a disk cache every Compiler JITs its own copy; both must work.
  std::string src = readExample("sliding_window.attn");
  CompilerOptions o;
  o.diskCache = false;
  Compiler a(o), b(o);
  std::string err;
  auto ka = a.compile(src, "", &err);
  ASSERT_TRUE(ka) << err;
  auto kb = b.compile(src, "", &err);
  ASSERT_TRUE(kb) << err;
  EXPECT_NE(ka, kb);
  Inputs in(1, 2, 1, 40, 40, 8, ATTN_F32, 3);
  in.problem.params["window"] = 5;
  ref::Result want = referenceOf(src, "sliding_window", in.problem);
  for (auto *k : {ka.get(), kb.get()}) {
    Buffer o({1, 2, 40, 8}, ATTN_F32);
    ASSERT_EQ(k->run(in.q.view, in.k.view, in.v.view, o.view, nullptr, {{"window", 5.0}}),
              ATTN_OK)
        << attn_last_error();
    EXPECT_LE(maxAbsError(o, want.o), 2e-5);
  }
}

TEST(JitCompiler, UnusableCacheFolderIsNotAnError) {
  Compiler c(withDir("/proc/attnc-no-such-dir/cache"));
  std::string err;
  KernelOrigin origin;
  auto k = c.compile("variant v { }", "v", &err, "v.attn", &origin);
  ASSERT_TRUE(k) << err;
  EXPECT_EQ(origin, KernelOrigin::Compiled);
  EXPECT_TRUE(k->info().cacheFile.empty());

  CompilerOptions off = withDir(tempDir("off"));
  off.diskCache = false;
  Compiler noDisk(off);
  EXPECT_EQ(noDisk.options().cacheDir, "");
  auto m = noDisk.compile("variant v { }", "v", &err, "v.attn", &origin);
  ASSERT_TRUE(m) << err;
  EXPECT_TRUE(m->info().cacheFile.empty());
}

TEST(JitCompiler, ConcurrentCompilesDoTheWorkOnce) {
  Compiler c(withDir(tempDir("threads")));
  std::string src = readExample("alibi_causal.attn");
  std::vector<std::shared_ptr<const Kernel>> got(4);
  std::vector<KernelOrigin> origins(4);
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      got[t] = c.compile(src, "alibi_causal", &errors[t], "alibi.attn", &origins[t]);
    });
  for (auto &t : threads)
    t.join();
  int compiled = 0;
  for (int t = 0; t < 4; ++t) {
    ASSERT_TRUE(got[t]) << errors[t];
    EXPECT_EQ(got[t], got[0]);
    compiled += origins[t] == KernelOrigin::Compiled;
  }
  EXPECT_EQ(compiled, 1);
}

TEST(JitCompiler, ConcurrentCompilesOfDifferentVariants) {
  // Four variants at once, each JIT-compiling its three dtypes on threads of
  // its own: every kernel matches float64.
  Compiler c(withDir(tempDir("different")));
  const char *files[] = {"softcap.attn", "streaming.attn", "l2_distance.attn", "softpick.attn"};
  std::vector<std::shared_ptr<const Kernel>> got(4);
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] { got[t] = c.compile(readExample(files[t]), "", &errors[t]); });
  for (auto &t : threads)
    t.join();
  for (int t = 0; t < 4; ++t) {
    SCOPED_TRACE(files[t]);
    ASSERT_TRUE(got[t]) << errors[t];
    for (attn_dtype d : {ATTN_F32, ATTN_F16}) {
      Inputs in(1, 2, 2, 20, 33, 8, d, 11 + t);
      ref::Result want = referenceOf(readExample(files[t]), got[t]->info().variant, in.problem);
      Buffer o({1, 2, 20, 8}, d);
      ASSERT_EQ(got[t]->run(in.q.view, in.k.view, in.v.view, o.view), ATTN_OK)
          << attn_last_error();
      EXPECT_LE(maxAbsError(o, want.o), tolerance(d));
    }
  }
}

TEST(JitCompiler, CompileErrors) {
  Compiler c(withDir(tempDir("errors")));
  std::string err;
  EXPECT_FALSE(c.compile("variant v {\n  mask = j <= zz;\n}\n", "v", &err, "bad.attn"));
  EXPECT_NE(err.find("bad.attn:2:"), std::string::npos) << err;
  EXPECT_NE(err.find("zz"), std::string::npos) << err;
  EXPECT_NE(err.find("^"), std::string::npos) << "caret: " << err;

  err.clear();
  EXPECT_FALSE(c.compile("variant a { }\nvariant b { }\n", "nope", &err, "two.attn"));
  EXPECT_NE(err.find("no variant named 'nope'"), std::string::npos) << err;
  EXPECT_NE(err.find("a, b"), std::string::npos) << err;

  err.clear();
  EXPECT_FALSE(c.compile("variant a { }\nvariant b { }\n", "", &err, "two.attn"));
  EXPECT_NE(err.find("defines 2 variants"), std::string::npos) << err;

  err.clear();
  EXPECT_FALSE(c.compileFile("/no/such/file.attn", "v", &err));
  EXPECT_NE(err.find("cannot read '/no/such/file.attn'"), std::string::npos) << err;

  CompilerOptions bad;
  bad.dtypes = {ATTN_F64};
  bad.diskCache = false;
  Compiler f64(bad);
  err.clear();
  EXPECT_FALSE(f64.compile("variant v { }", "v", &err));
  EXPECT_NE(err.find("no kernel for dtype f64"), std::string::npos) << err;

  CompilerOptions zero;
  zero.rowTile = 0;
  zero.diskCache = false;
  Compiler z(zero);
  err.clear();
  EXPECT_FALSE(z.compile("variant v { }", "v", &err));
  EXPECT_NE(err.find("rowTile"), std::string::npos) << err;

  // Tiles whose [rows x keys] buffers would not fit the stack.
  CompilerOptions big;
  big.keyTile = 8192;
  big.diskCache = false;
  Compiler bigTiles(big);
  err.clear();
  EXPECT_FALSE(bigTiles.compile("variant v { }", "v", &err));
  EXPECT_NE(err.find("64 x 8192 is above the CPU kernels' limit"), std::string::npos) << err;
}

/// Expects `status` with a message containing `text`.
#define EXPECT_RUN_ERROR(call, status, text)                                             \
  do {                                                                                   \
    EXPECT_EQ((call), status);                                                           \
    EXPECT_NE(std::string(attn_last_error()).find(text), std::string::npos)              \
        << "message: " << attn_last_error();                                            \
  } while (0)

TEST(JitCompiler, BadRunCalls) {
  CompilerOptions opts = withDir(tempDir("run"));
  Compiler c(opts);
  std::string err;
  auto doc = c.compileFile(std::string(ATTNC_EXAMPLES_DIR) + "/document.attn", "document", &err);
  ASSERT_TRUE(doc) << err;
  auto sw = c.compileFile(std::string(ATTNC_EXAMPLES_DIR) + "/sliding_window.attn", "", &err);
  ASSERT_TRUE(sw) << err;
  auto sig = c.compileFile(std::string(ATTNC_EXAMPLES_DIR) + "/sigmoid_attn.attn", "", &err);
  ASSERT_TRUE(sig) << err;

  Inputs in(1, 2, 1, 8, 8, 4, ATTN_F32, 5);
  Buffer o({1, 2, 8, 4}, ATTN_F32);
  Buffer docIds({1, 8}, ATTN_I32);
  std::map<std::string, attn_tensor> tensors = {{"doc", docIds.view}};

  // Unknown / missing names.
  EXPECT_RUN_ERROR(sw->run(in.q.view, in.k.view, in.v.view, o.view, nullptr, {{"windw", 3.0}}),
                   ATTN_ERROR_INVALID_ARGUMENT, "has no param 'windw' (it declares: window)");
  std::map<std::string, double> noParams;
  EXPECT_RUN_ERROR(doc->run(in.q.view, in.k.view, in.v.view, o.view, nullptr, noParams, {}),
                   ATTN_ERROR_INVALID_ARGUMENT, "needs tensor 'doc'");
  EXPECT_RUN_ERROR(doc->run(in.q.view, in.k.view, in.v.view, o.view, nullptr, noParams,
                            {{"doc", docIds.view}, {"docs", docIds.view}}),
                   ATTN_ERROR_INVALID_ARGUMENT, "has no tensor 'docs' (it declares: doc)");
  EXPECT_RUN_ERROR(doc->run(in.q.view, in.k.view, in.v.view, o.view, nullptr, {{"p", 1.0}},
                            tensors),
                   ATTN_ERROR_INVALID_ARGUMENT, "has no param 'p' (it declares: none)");
  EXPECT_EQ(doc->run(in.q.view, in.k.view, in.v.view, o.view, nullptr, noParams, tensors),
            ATTN_OK)
      << attn_last_error();

  // dtypes.
  Inputs f64(1, 2, 1, 8, 8, 4, ATTN_F64, 5);
  Buffer o64({1, 2, 8, 4}, ATTN_F64);
  EXPECT_RUN_ERROR(sw->run(f64.q.view, f64.k.view, f64.v.view, o64.view),
                   ATTN_ERROR_UNSUPPORTED, "no kernel for q's dtype f64");
  attn_tensor weird = in.q.view;
  weird.dtype = (attn_dtype)42;
  EXPECT_RUN_ERROR(sw->run(weird, in.k.view, in.v.view, o.view), ATTN_ERROR_UNSUPPORTED,
                   "dtype unknown");
  Inputs bf(1, 2, 1, 8, 8, 4, ATTN_BF16, 5);
  EXPECT_EQ(sw->run(in.q.view, bf.k.view, in.v.view, o.view), ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attn_last_error()), "");

  // Shapes, null data, lse on a norm without one, bad param value.
  Buffer small({1, 2, 7, 4}, ATTN_F32);
  EXPECT_EQ(sw->run(in.q.view, in.k.view, in.v.view, small.view), ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attn_last_error()), "");
  attn_tensor nullQ = in.q.view;
  nullQ.data = nullptr;
  EXPECT_EQ(sw->run(nullQ, in.k.view, in.v.view, o.view), ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attn_last_error()), "");
  Buffer lse({1, 2, 8}, ATTN_F32);
  EXPECT_RUN_ERROR(sig->run(in.q.view, in.k.view, in.v.view, o.view, &lse.view),
                   ATTN_ERROR_INVALID_ARGUMENT, "lse");
  EXPECT_EQ(sw->run(in.q.view, in.k.view, in.v.view, o.view, nullptr, {{"window", 2.5}}),
            ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attn_last_error()), "");
  Inputs gqa(1, 3, 2, 8, 8, 4, ATTN_F32, 5);
  Buffer o3({1, 3, 8, 4}, ATTN_F32);
  EXPECT_EQ(sw->run(gqa.q.view, gqa.k.view, gqa.v.view, o3.view), ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attn_last_error()), "");

  // A param without a default must be given.
  auto nodef = c.compile("variant nodef { param x: f32; bias = x; }", "", &err, "nodef.attn");
  ASSERT_TRUE(nodef) << err;
  EXPECT_RUN_ERROR(nodef->run(in.q.view, in.k.view, in.v.view, o.view, nullptr, noParams),
                   ATTN_ERROR_INVALID_ARGUMENT, "x");
  EXPECT_EQ(nodef->run(in.q.view, in.k.view, in.v.view, o.view, nullptr, {{"x", 0.5}}), ATTN_OK)
      << attn_last_error();

  // The C view of a kernel.
  EXPECT_TRUE(sw->variantInfo(ATTN_F32));
  EXPECT_TRUE(sw->tileFunction(ATTN_F16));
  EXPECT_FALSE(sw->variantInfo(ATTN_F64));
  EXPECT_STREQ(sw->variantInfo(ATTN_BF16)->params[0].name, "window");
}

} // namespace
