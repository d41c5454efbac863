//===- CpuTargetTest.cpp - JIT CPU kernels vs the float64 reference -------===//
//
// Every example variant is compiled by the CPU target (cascade pipeline, tile
// kernels, LLVM, ExecutionEngine JIT), launched through libattnrt on random
// inputs for MHA / GQA / MQA x {Sq = Skv, Sq = 1, Sq < Skv} x {fp32, bf16},
// with sizes that are not multiples of the tiles, and compared with DirectEval
// (the float64 evaluation of LANGUAGE.md's semantics straight from the AST).
// Tolerances: fp32 2e-5 absolute on outputs of order 1 (polynomial exp; seen: 1.5e-7);
// bf16 3e-2 (inputs rounded to bf16 for the reference, output rounded to bf16).
// SplitKV runs decode shapes through the split-KV path (keys cut into chunks
// whose states are merged), forced by ATTN_SPLIT_KV or chosen by the launcher,
// and checks attn_cpu_last_key_chunks() says the split happened (or, for a
// norm the online rewrite leaves multi-pass, that it did not).
//
//===----------------------------------------------------------------------===//
#include "attn/kernel.h"
#include "compiler/reference/DirectEval.h"
#include "compiler/targets/common/TileKernel.h"
#include "compiler/targets/cpu/CpuCodegen.h"
#include "compiler/targets/cpu/CpuCompiler.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"
#include "frontend/Frontend.h"
#include "frontend/emit/EmitAttn.h"
#include "test/unit/common/TestSupport.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

using namespace attn;
using attn::ref::Array;
using attn::ref::Problem;
using attn::ref::Result;

namespace {

using Buffer = attn::test::HostTensor;

/// Copies `a` into a buffer of `dtype`, and rounds `a` to what the buffer holds.
Buffer toBuffer(Array &a, attn_dtype dtype) {
  Buffer buf(a.shape, dtype);
  for (int64_t i = 0; i < (int64_t)a.data.size(); ++i) {
    buf.set(i, a.data[i]);
    a.data[i] = buf.get(i);
  }
  return buf;
}

Array randomArray(std::vector<int64_t> shape, std::mt19937_64 &rng, double lo, double hi) {
  Array a;
  a.shape = std::move(shape);
  a.data.resize(a.numElements());
  std::uniform_real_distribution<double> d(lo, hi);
  for (double &x : a.data) x = d(rng);
  return a;
}

struct Shape {
  int64_t B, H, Hkv, Sq, Skv, D;
  double qScale = 1.0; ///< logits grow with it (1000: scores in the thousands)
};

/// How a check launches: q_offset, threads, and the key chunks the launch
/// must have used (0: not checked).
struct LaunchSpec {
  int64_t qOffset = -1;
  int threads = 2;
  int32_t expectChunks = 0;
};

/// Sets ATTN_SPLIT_KV while alive (null: unset).
struct SplitOverride {
  explicit SplitOverride(const char *value) {
    if (value)
      setenv("ATTN_SPLIT_KV", value, 1);
    else
      unsetenv("ATTN_SPLIT_KV");
  }
  ~SplitOverride() { unsetenv("ATTN_SPLIT_KV"); }
};

/// A compiled example file.
struct CompiledFile {
  std::unique_ptr<ast::Module> ast;
  mlir::OwningOpRef<mlir::ModuleOp> cascades;
  std::unique_ptr<mlir::ExecutionEngine> engine;
};

class CpuTargetTest : public ::testing::TestWithParam<std::string> {
protected:
  /// Compiles the .attn file at `path` and checks every variant, shape and dtype.
  void run(const std::string &path, bool gpuMapping);
  /// Decode shapes through the split-KV path.
  void runSplit(const std::string &path, bool gpuMapping);

  static mlir::MLIRContext &context() {
    static mlir::MLIRContext ctx;
    static bool init = [] {
      ctx.loadDialect<AttnDialect, cascade::CascadeDialect>();
      mlir::DialectRegistry registry;
      registerCpuCodegenDialects(registry);
      ctx.appendDialectRegistry(registry);
      ctx.loadAllAvailableDialects();
      return true;
    }();
    (void)init;
    return ctx;
  }

  CompiledFile compile(const std::string &path, const CpuCompileOptions &opts) {
    CompiledFile f;
    auto buf = llvm::MemoryBuffer::getFile(path);
    EXPECT_TRUE((bool)buf) << path;
    if (!buf) return f;
    DiagnosticEngine diags(path, (*buf)->getBuffer().str());
    f.ast = parseAndCheck(diags);
    EXPECT_TRUE(f.ast) << path;
    if (!f.ast) return f;
    f.cascades = emitAttnModule(context(), *f.ast);
    EXPECT_TRUE(mlir::succeeded(lowerToCpuCascade(*f.cascades, opts)));
    auto kernels = buildCpuKernels(*f.cascades, opts);
    EXPECT_TRUE(mlir::succeeded(kernels));
    if (mlir::failed(kernels)) return f;
    auto engine = jitCompile(**kernels);
    if (!engine) {
      ADD_FAILURE() << llvm::toString(engine.takeError());
      return f;
    }
    f.engine = std::move(*engine);
    return f;
  }

  /// Runs one variant on one shape and dtype; compares with DirectEval.
  void check(CompiledFile &f, const ast::Variant &v, VariantOp op, const Shape &s,
             attn_dtype dtype, const CpuCompileOptions &opts, unsigned seed,
             const LaunchSpec &launch = {}) {
    SCOPED_TRACE("variant " + v.name + " B=" + std::to_string(s.B) + " H=" + std::to_string(s.H) +
                 " Hkv=" + std::to_string(s.Hkv) + " Sq=" + std::to_string(s.Sq) +
                 " Skv=" + std::to_string(s.Skv) + " D=" + std::to_string(s.D) +
                 " q_offset=" + std::to_string(launch.qOffset) +
                 (dtype == ATTN_BF16 ? " bf16" : " f32"));
    std::mt19937_64 rng(seed);
    Problem p;
    if (launch.qOffset >= 0)
      p.qOffset = launch.qOffset;
    p.q = randomArray({s.B, s.H, s.Sq, s.D}, rng, -2 * s.qScale, 2 * s.qScale);
    p.k = randomArray({s.B, s.Hkv, s.Skv, s.D}, rng, -2, 2);
    p.v = randomArray({s.B, s.Hkv, s.Skv, s.D}, rng, -1, 1);
    Buffer q = toBuffer(p.q, dtype), k = toBuffer(p.k, dtype), vb = toBuffer(p.v, dtype);
    std::vector<Buffer> tensors;
    std::vector<attn_tensor> views;
    for (const auto &t : v.tensors) {
      std::vector<int64_t> shape;
      for (const auto &d : t.dims) {
        if (d.sizeName.empty()) { shape.push_back(d.extent); continue; }
        const std::string &n = d.sizeName;
        shape.push_back(n == "B" ? s.B : n == "H" ? s.H : n == "Hkv" ? s.Hkv
                        : n == "Sq" ? s.Sq : n == "Skv" ? s.Skv : s.D);
      }
      Array a;
      if (t.elemType == ast::DeclType::I32) {
        // Small sorted ids along the last axis (document ids, lengths in range).
        a.shape = shape;
        a.data.resize(a.numElements());
        int64_t last = shape.back();
        std::uniform_int_distribution<int> step(0, 4);
        for (int64_t r = 0; r < a.numElements() / std::max<int64_t>(last, 1); ++r) {
          int id = 0;
          for (int64_t c = 0; c < last; ++c) {
            if (step(rng) == 0) ++id;
            a.data[r * last + c] = last == 1 ? (double)(rng() % (s.Skv + 1)) : id;
          }
        }
        tensors.push_back(toBuffer(a, ATTN_I32));
      } else {
        a = randomArray(shape, rng, -1, 1);
        tensors.push_back(toBuffer(a, ATTN_F32));
      }
      p.tensors[t.name] = a;
    }
    for (auto &t : tensors) views.push_back(t.view);

    Result want;
    auto err = ref::evaluateDirect(v, p, want);
    ASSERT_FALSE(err) << *err;

    Buffer o({s.B, s.H, s.Sq, s.D}, dtype);
    auto desc = describeVariant(op, dtype, opts.rowTile);
    std::string sym = tileKernelName(v.name, dtype);
    auto fn = f.engine->lookup(sym);
    ASSERT_TRUE((bool)fn) << llvm::toString(fn.takeError());
    Buffer lse({s.B, s.H, s.Sq}, ATTN_F32);
    attn_status st = attn_cpu_launch(&desc->info, (attn_tile_fn)*fn, &q.view, &k.view, &vb.view,
                                      &o.view, desc->info.has_lse ? &lse.view : nullptr,
                                      nullptr, views.empty() ? nullptr : views.data(),
                                      launch.qOffset, launch.threads);
    ASSERT_EQ(st, ATTN_OK) << attn_last_error();
    if (launch.expectChunks)
      EXPECT_EQ(attn_cpu_last_key_chunks(), launch.expectChunks) << "key chunks of the launch";
    // fp32 scores in the thousands carry absolute errors ~1e-4 (the dot product's rounding), so
    // the weights do too.
    double tol = dtype == ATTN_BF16 ? 3e-2 : s.qScale > 1 ? 2e-3 : 2e-5;
    double maxErr = 0;
    for (int64_t i = 0; i < o.size(); ++i) {
      double e = std::fabs(o.get(i) - want.o.data[i]);
      ASSERT_FALSE(std::isnan(o.get(i))) << "NaN at " << i;
      maxErr = std::max(maxErr, e);
    }
    EXPECT_LE(maxErr, tol) << "max abs error vs float64 reference";
    if (desc->info.has_lse && want.lse) {
      for (int64_t i = 0; i < lse.size(); ++i) {
        double w = want.lse->data[i], g = lse.get(i);
        if (std::isinf(w)) {
          EXPECT_TRUE(std::isinf(g) && g < 0) << "lse at " << i;
        } else {
          // The lse is a log of fp32 sums plus an fp32 max: absolute error plus fp32's
          // relative rounding of large scores (l2_distance's reach -5e6).
          EXPECT_NEAR(g, w, (dtype == ATTN_BF16 ? 5e-2 : 1e-3) + 2e-6 * std::fabs(w))
              << "lse at " << i;
        }
      }
    }
  }
};

TEST_P(CpuTargetTest, MatchesFloat64Reference) { run(GetParam(), false); }

/// The GPU target's mapping (one row per thread, inputs read in place),
/// compiled for the CPU: the GPU kernels' logic checked without a GPU.
TEST_P(CpuTargetTest, GpuMappingMatchesFloat64Reference) { run(GetParam(), true); }

void CpuTargetTest::run(const std::string &path, bool gpuMapping) {
  CpuCompileOptions opts;
  opts.rowTile = 16;
  opts.keyTile = 16;
  opts.gpuMapping = gpuMapping;
  if (gpuMapping)
    opts.rowTile = 1;
  opts.dtypes = {ATTN_F32, ATTN_BF16};
  CompiledFile f = compile(path, opts);
  ASSERT_TRUE(f.engine);
  const Shape shapes[] = {
      {2, 4, 4, 37, 37, 16},  // MHA, Sq = Skv, not multiples of the tiles
      {1, 4, 2, 29, 50, 8},   // GQA, Sq < Skv; row tiles of 16 and 13 (a group of 8 + 5 rows)
      {2, 4, 1, 1, 45, 16},   // MQA decode
      {1, 2, 2, 3, 0, 8},     // no keys at all: zeros
      {1, 2, 1, 19, 70, 16, 1000.0}, // logits around 1e3-1e4: online rescaling must not overflow
  };
  unsigned seed = 1;
  for (auto op : f.cascades->getOps<VariantOp>()) {
    const ast::Variant *v = nullptr;
    for (auto &av : f.ast->variants)
      if (av.name == op.getSymName())
        v = &av;
    ASSERT_TRUE(v);
    for (const Shape &s : shapes)
      for (attn_dtype t : {ATTN_F32, ATTN_BF16})
        check(f, *v, op, s, t, opts, seed++);
  }
}

/// Decode through split-KV: both mappings, every example.
TEST_P(CpuTargetTest, SplitKVMatchesFloat64Reference) { runSplit(GetParam(), false); }
TEST_P(CpuTargetTest, GpuMappingSplitKVMatchesFloat64Reference) { runSplit(GetParam(), true); }

void CpuTargetTest::runSplit(const std::string &path, bool gpuMapping) {
  CpuCompileOptions opts;
  opts.rowTile = gpuMapping ? 1 : 16;
  opts.keyTile = 16;
  opts.gpuMapping = gpuMapping;
  opts.dtypes = {ATTN_F32, ATTN_BF16};
  CompiledFile f = compile(path, opts);
  ASSERT_TRUE(f.engine);
  struct Case {
    Shape shape;
    int64_t qOffset;
    const char *force; ///< ATTN_SPLIT_KV (null: the launcher decides)
    int threads;
  };
  const Case cases[] = {
      {{1, 2, 2, 1, 300, 16}, -1, "5", 2},   // 19 key tiles (the last one of 12 keys), 5 chunks
      {{1, 4, 1, 2, 1000, 8}, -1, "7", 2},   // MQA, Sq = 2: 63 tiles in 7 chunks
      {{2, 4, 2, 1, 2049, 16}, -1, "3", 2},  // GQA, several thousand keys: 129 tiles in 3
      // q_offset 40 of 700 keys: causal-like masks keep keys <= 42 (tiles 0-2)
      // only, so chunk 3 of 4 has nothing kept (sliding windows: most tiles)
      {{1, 2, 1, 3, 700, 16}, 40, "4", 2},
      {{1, 2, 1, 1, 700, 16}, 20, "9", 2},   // keys <= 20: 2 tiles kept, 7 of 9 chunks empty
      {{1, 1, 1, 3, 517, 32}, -1, "64", 2},  // more chunks than tiles: 33 chunks of one tile
      {{1, 1, 1, 1, 2000, 16}, -1, nullptr, 4}, // 1 item < 4 threads: the launcher splits in 4
  };
  unsigned seed = 100;
  for (auto op : f.cascades->getOps<VariantOp>()) {
    const ast::Variant *v = nullptr;
    for (auto &av : f.ast->variants)
      if (av.name == op.getSymName())
        v = &av;
    ASSERT_TRUE(v);
    // lowerToCpuCascade splits exactly the cascades whose kernels can split.
    bool splits = false;
    op.walk([&](cascade::CascadeOp c) { splits = static_cast<bool>(c.getSplitAttr()); });
    for (const Case &c : cases) {
      int64_t tiles = (c.shape.Skv + opts.keyTile - 1) / opts.keyTile;
      LaunchSpec launch;
      launch.qOffset = c.qOffset;
      launch.threads = c.threads;
      launch.expectChunks =
          splits ? static_cast<int32_t>(c.force ? std::min<int64_t>(std::atoll(c.force), tiles) : 4)
                 : 1;
      SplitOverride env(c.force);
      for (attn_dtype t : {ATTN_F32, ATTN_BF16})
        check(f, *v, op, c.shape, t, opts, seed++, launch);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, CpuTargetTest,
                         ::testing::ValuesIn(attn::test::listAttnFiles(ATTNC_EXAMPLES_DIR, true)),
                         [](const auto &info) { return attn::test::testName(info.param); });

/// test/unit/cpu/Inputs: cascades the examples do not produce (multi-pass norms).
INSTANTIATE_TEST_SUITE_P(Inputs, CpuTargetTest,
                         ::testing::ValuesIn(attn::test::listAttnFiles(ATTNC_CPU_INPUTS_DIR, true)),
                         [](const auto &info) { return attn::test::testName(info.param); });

} // namespace
