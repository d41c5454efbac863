//===- RewriteEquivalenceTest.cpp - the rewrites preserve results --------===//
//
// Every example variant (and a few custom norms: not rescalable, two maxes,
// a min, a norm reading a sum through a log) is lowered to its cascade with
// each combination of rewrites (none, defer-division, partition, online with
// and without p tiles, split-KV) and interpreted in float64; each result must
// match the direct float64 evaluation of the language's semantics. Shapes
// cover prefill, decode, GQA, Skv not a multiple of the tile, q_offset < 0 and
// windows small enough to leave whole key tiles masked.
//
//===----------------------------------------------------------------------===//
#include "compiler/Interpreter/Interpreter.h"
#include "compiler/Pipeline/Pipeline.h"
#include "compiler/reference/DirectEval.h"
#include "frontend/Frontend.h"
#include "frontend/emit/EmitAttn.h"

#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>
#include <string>

using namespace attn;

namespace {

const char *kCustom = R"(
variant notresc {
  mask = j <= i;
  norm = custom { m = max_j(s); z = sum_j(exp(s - m) + 1); w = exp(s - m) / z; };
}
variant twomax {
  mask = j <= i;
  norm = custom {
    m = max_j(s); t = max_j(exp(s - m)); u = min_j(exp(2 * (s - m)));
    z = sum_j(exp(s - m) * t); w = exp(s - m) * u / z;
  };
}
variant lse2 {
  norm = custom {
    m = max_j(s); z = sum_j(exp(s - m)); y = sum_j(exp(s - m - log(z)));
    w = exp(s - m) / z * y;
  };
}
variant minfirst {
  param window: i32 = 9;
  mask = j <= i && i - j < window;
  norm = custom { m = min_j(s); z = sum_j(exp(m - s)); w = exp(m - s) / z; };
}
variant maxscaled {
  param window: i32 = 5;
  mask = j <= i && i - j < window;
  norm = custom { m = max_j(s); t = max_j(2 * exp(s - m)); w = exp(s - m) / t; };
}
variant twofactors {
  mask = j <= i;
  norm = custom {
    m = max_j(s); n = min_j(s); z = sum_j(exp(2 * (s - m)) * exp(n - s));
    w = exp(s - m) * exp(n - s) / z;
  };
}
variant written_softmax {
  norm = custom { m = max_j(s); z = sum_j(exp(s - m)); w = exp(s - m) / z; };
}
)";

struct Shape {
  int64_t B, H, Hkv, Sq, Skv, D;
  std::optional<int64_t> qOffset;
};

const Shape kShapes[] = {
    {1, 2, 1, 6, 37, 4, std::nullopt}, // prefill, GQA, Skv % tile != 0
    {2, 2, 2, 1, 50, 3, std::nullopt}, // decode
    {1, 1, 1, 7, 20, 2, -3},           // rows before the first key: all masked
};

struct Stage {
  const char *name;
  PipelineOptions opts;
};

std::vector<Stage> stages() {
  auto make = [](int64_t m, int64_t p, bool online, bool defer, int64_t split) {
    PipelineOptions o;
    o.mTile = m;
    o.pTile = p;
    o.online = online;
    o.deferDivision = defer;
    o.splitKV = split;
    return o;
  };
  return {{"canonical", make(0, 0, false, false, 0)},
          {"defer-division", make(0, 0, false, true, 0)},
          {"partition", make(8, 0, false, true, 0)},
          {"online", make(8, 0, true, true, 0)},
          {"online-undeferred", make(5, 0, true, false, 0)},
          {"online-ptile", make(4, 3, true, true, 0)},
          {"split-kv-3", make(4, 0, true, true, 3)},
          {"split-kv-4-ptile", make(3, 2, true, true, 4)},
          {"split-kv-empty-workers", make(8, 0, true, true, 8)}};
}

ref::Array randomArray(std::vector<int64_t> shape, std::mt19937_64 &rng, double scale) {
  ref::Array a;
  a.shape = std::move(shape);
  std::uniform_real_distribution<double> u(-1, 1);
  a.data.resize(a.numElements());
  for (double &x : a.data)
    x = scale * u(rng);
  return a;
}

ref::Problem makeProblem(const ast::Variant &var, const Shape &s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  ref::Problem p;
  p.q = randomArray({s.B, s.H, s.Sq, s.D}, rng, 2.0);
  p.k = randomArray({s.B, s.Hkv, s.Skv, s.D}, rng, 2.0);
  p.v = randomArray({s.B, s.Hkv, s.Skv, s.D}, rng, 1.0);
  p.qOffset = s.qOffset;
  for (const ast::TensorDecl &t : var.tensors) {
    std::vector<int64_t> shape;
    for (const ast::TensorDim &d : t.dims) {
      const std::string &n = d.sizeName;
      shape.push_back(n.empty()  ? d.extent
                      : n == "B" ? s.B
                      : n == "H" ? s.H
                      : n == "Hkv" ? s.Hkv
                      : n == "Sq"  ? s.Sq
                      : n == "Skv" ? s.Skv
                                   : s.D);
    }
    ref::Array a = randomArray(shape, rng, 1.0);
    if (t.elemType != ast::DeclType::F32) {
      // Integer tensors: documents of 7 keys, prefixes of a third.
      for (int64_t k = 0; k < a.numElements(); ++k)
        a.data[k] = t.name == "prefix_len" ? double(s.Skv / 3 + k)
                                           : double((k % shape.back()) / 7);
    }
    p.tensors[t.name] = std::move(a);
  }
  // Small windows leave whole key tiles masked.
  for (const ast::ParamDecl &d : var.params)
    if (d.name == "window")
      p.params["window"] = 6;
  return p;
}

double maxError(const ref::Array &got, const ref::Array &want) {
  if (got.shape != want.shape)
    return INFINITY;
  double err = 0;
  for (size_t k = 0; k < got.data.size(); ++k) {
    double g = got.data[k], w = want.data[k];
    if (std::isinf(w) && g == w)
      continue;
    double e = std::fabs(g - w) / std::max(1.0, std::fabs(w));
    if (std::isnan(e))
      return INFINITY;
    err = std::max(err, e);
  }
  return err;
}

void checkSource(const std::string &path, const std::string &text) {
  DiagnosticEngine diags(path, text);
  std::unique_ptr<ast::Module> ast = parseAndCheck(diags);
  ASSERT_TRUE(ast) << path;
  for (const ast::Variant &var : ast->variants) {
    for (size_t si = 0; si < std::size(kShapes); ++si) {
      // A tensor indexed by i cannot be read at the negative rows of a
      // negative q_offset (a user error, diagnosed by both evaluators).
      if (kShapes[si].qOffset && *kShapes[si].qOffset < 0 && !var.tensors.empty())
        continue;
      ref::Problem problem = makeProblem(var, kShapes[si], 17 + si);
      ref::Result want;
      if (std::optional<std::string> e = ref::evaluateDirect(var, problem, want)) {
        ADD_FAILURE() << var.name << ": direct evaluation failed: " << *e;
        continue;
      }
      for (const Stage &st : stages()) {
        mlir::MLIRContext ctx;
        ctx.loadDialect<attn::AttnDialect, cascade::CascadeDialect, mlir::arith::ArithDialect,
                        mlir::math::MathDialect>();
        mlir::OwningOpRef<mlir::ModuleOp> module = emitAttnModule(ctx, *ast, var.name);
        ASSERT_TRUE(module);
        ASSERT_TRUE(mlir::succeeded(lowerToCascade(*module, st.opts)))
            << var.name << " at " << st.name;
        attn::VariantOp op;
        module->walk([&](attn::VariantOp v) { op = v; });
        ref::Result got;
        if (llvm::Error e = interpretCascade(op, problem, got)) {
          ADD_FAILURE() << var.name << " at " << st.name << ": " << llvm::toString(std::move(e));
          continue;
        }
        EXPECT_LT(maxError(got.o, want.o), 1e-9)
            << var.name << " at " << st.name << ", shape #" << si;
        if (want.lse && got.lse)
          EXPECT_LT(maxError(*got.lse, *want.lse), 1e-9)
              << var.name << " (lse) at " << st.name << ", shape #" << si;
      }
    }
  }
}

class Examples : public ::testing::TestWithParam<const char *> {};

TEST_P(Examples, EveryStageMatchesDirect) {
  std::string path = std::string(ATTNC_EXAMPLES_DIR) + "/" + GetParam() + ".attn";
  auto buf = llvm::MemoryBuffer::getFile(path);
  ASSERT_TRUE(static_cast<bool>(buf)) << path;
  checkSource(path, (*buf)->getBuffer().str());
}

INSTANTIATE_TEST_SUITE_P(
    Rewrites, Examples,
    ::testing::Values("full", "causal", "sliding_window", "softcap", "document", "prefix_lm",
                      "t5_relpos", "streaming", "neighborhood_2d", "sigmoid_attn",
                      "gpt_oss_sinks", "l2_distance", "softpick", "l1_relu", "alibi_causal"));

TEST(Rewrites, CustomNorms) { checkSource("custom.attn", kCustom); }

} // namespace
