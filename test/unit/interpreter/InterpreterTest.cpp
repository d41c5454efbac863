//===- InterpreterTest.cpp - hand-written cascades vs naive float64 ------===//
//
// Cascades written by hand (canonical 3-pass softmax, causal, the FuseMax
// 1-pass form with iterates, sigmoid, a tensor-reading mask, split-KV) run
// through the interpreter and are compared with naive float64 formulas
// written here, independently, on random inputs. Tolerance: 1e-12 relative.
//
//===----------------------------------------------------------------------===//
#include "compiler/Interpreter/Interpreter.h"

#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>

using attn::ref::Array;
using attn::ref::Problem;
using attn::ref::Result;

namespace {

constexpr double kTol = 1e-12;
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Shape {
  int64_t B, H, Hkv, Sq, Skv, D;
  std::string str() const {
    return "B=" + std::to_string(B) + " H=" + std::to_string(H) + " Hkv=" +
           std::to_string(Hkv) + " Sq=" + std::to_string(Sq) + " Skv=" +
           std::to_string(Skv) + " D=" + std::to_string(D);
  }
};

/// MHA, GQA, MQA, decode, Sq < Skv, Sq > Skv; sizes not multiples of tiles.
const Shape kShapes[] = {
    {1, 2, 2, 5, 5, 4},  {2, 4, 2, 7, 7, 4}, {1, 4, 1, 3, 11, 8},
    {1, 4, 2, 1, 13, 4}, {1, 2, 1, 1, 1, 2}, {1, 2, 2, 9, 6, 3},
};

Array randomArray(std::vector<int64_t> shape, std::mt19937_64 &rng, double scale = 1.0) {
  Array a;
  a.shape = std::move(shape);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  a.data.resize(a.numElements());
  for (double &x : a.data)
    x = scale * u(rng);
  return a;
}

Problem randomProblem(const Shape &s, uint64_t seed, double qScale = 1.0) {
  std::mt19937_64 rng(seed);
  Problem p;
  p.q = randomArray({s.B, s.H, s.Sq, s.D}, rng, qScale);
  p.k = randomArray({s.B, s.Hkv, s.Skv, s.D}, rng);
  p.v = randomArray({s.B, s.Hkv, s.Skv, s.D}, rng);
  return p;
}

/// The naive semantics: for each (b, h, row), weights from the kept scores.
enum class Norm { Softmax, Sigmoid };
using ScoreFn = std::function<double(int64_t b, int64_t h, int64_t i, int64_t j, double dot)>;
using KeepFn = std::function<bool(int64_t b, int64_t h, int64_t i, int64_t j)>;

Result naive(const Problem &p, ScoreFn score, KeepFn keep, Norm norm) {
  int64_t B = p.q.shape[0], H = p.q.shape[1], Sq = p.q.shape[2], D = p.q.shape[3];
  int64_t Hkv = p.k.shape[1], Skv = p.k.shape[2];
  int64_t off = p.qOffset ? *p.qOffset : Skv - Sq;
  Result r;
  r.o.shape = {B, H, Sq, D};
  r.o.data.assign(r.o.numElements(), 0.0);
  if (norm == Norm::Softmax) {
    r.lse.emplace();
    r.lse->shape = {B, H, Sq};
    r.lse->data.assign(B * H * Sq, -kInf);
  }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      int64_t hk = h / (H / Hkv);
      for (int64_t row = 0; row < Sq; ++row) {
        int64_t i = off + row;
        std::vector<double> s(Skv);
        std::vector<bool> kept(Skv);
        double mx = -kInf;
        int64_t nk = 0;
        for (int64_t j = 0; j < Skv; ++j) {
          kept[j] = keep(b, h, i, j);
          if (!kept[j])
            continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += p.q.data[((b * H + h) * Sq + row) * D + d] *
                   p.k.data[((b * Hkv + hk) * Skv + j) * D + d];
          s[j] = score(b, h, i, j, dot);
          mx = std::max(mx, s[j]);
          ++nk;
        }
        if (nk == 0)
          continue;
        double den = 0;
        std::vector<double> w(Skv, 0.0);
        for (int64_t j = 0; j < Skv; ++j) {
          if (!kept[j])
            continue;
          if (norm == Norm::Softmax) {
            w[j] = std::exp(s[j] - mx);
            den += w[j];
          } else {
            w[j] = 1.0 / (1.0 + std::exp(-s[j]));
          }
        }
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < Skv; ++j)
            if (kept[j])
              acc += (norm == Norm::Softmax ? w[j] / den : w[j]) *
                     p.v.data[((b * Hkv + hk) * Skv + j) * D + d];
          r.o.data[((b * H + h) * Sq + row) * D + d] = acc;
        }
        if (norm == Norm::Softmax)
          r.lse->data[(b * H + h) * Sq + row] = mx + std::log(den);
      }
    }
  return r;
}

/// Compares two results within kTol relative; reports the first difference.
::testing::AssertionResult close(const Result &got, const Result &want, const std::string &ctx) {
  if (got.o.shape != want.o.shape)
    return ::testing::AssertionFailure() << ctx << ": o shapes differ";
  for (size_t k = 0; k < want.o.data.size(); ++k) {
    double a = got.o.data[k], b = want.o.data[k];
    if (!(std::fabs(a - b) <= kTol * (1 + std::fabs(b))))
      return ::testing::AssertionFailure()
             << ctx << ": o[" << k << "] = " << a << ", want " << b;
  }
  if (want.lse.has_value() != got.lse.has_value())
    return ::testing::AssertionFailure() << ctx << ": lse present in only one result";
  if (want.lse)
    for (size_t k = 0; k < want.lse->data.size(); ++k) {
      double a = got.lse->data[k], b = want.lse->data[k];
      if (std::isinf(b) ? a != b : !(std::fabs(a - b) <= kTol * (1 + std::fabs(b))))
        return ::testing::AssertionFailure()
               << ctx << ": lse[" << k << "] = " << a << ", want " << b;
    }
  return ::testing::AssertionSuccess();
}

class InterpreterTest : public ::testing::Test {
protected:
  InterpreterTest() {
    ctx.loadDialect<attn::AttnDialect, cascade::CascadeDialect, mlir::arith::ArithDialect,
                    mlir::math::MathDialect>();
  }

  /// Parses `src` (one or more attn.variant) and returns the variant `name`.
  attn::VariantOp parse(const std::string &src, llvm::StringRef name) {
    module = mlir::parseSourceString<mlir::ModuleOp>(src, &ctx);
    if (!module)
      return nullptr;
    attn::VariantOp found;
    module->walk([&](attn::VariantOp v) {
      if (v.getSymName() == name)
        found = v;
    });
    return found;
  }

  /// The variant `name` of the module parsed last.
  attn::VariantOp find(llvm::StringRef name) {
    attn::VariantOp found;
    if (module)
      module->walk([&](attn::VariantOp v) {
        if (v.getSymName() == name)
          found = v;
      });
    return found;
  }

  /// Runs the interpreter; the error message or "".
  std::string run(attn::VariantOp v, const Problem &p, Result &r) {
    if (llvm::Error e = attn::interpretCascade(v, p, r))
      return llvm::toString(std::move(e));
    return "";
  }

  mlir::MLIRContext ctx;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

/// Textual pieces of cascades.
const char *kF = "!cascade.fiber<f32>";

std::string replaceAll(std::string s, const std::string &from, const std::string &to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
  return s;
}

/// The canonical (3-pass) softmax cascade of docs/cascade.md. `MASK` is the
/// body of KEEP (b, h, i, j -> %keep : i1), `DECLS` the variant's
/// declarations, `BIAS` an expression block producing %bias : f32 from %b %h %i %j.
const char *kSoftmax3 = R"(
attn.variant @NAME {
  DECLS
  cascade.cascade {
    %Q = cascade.input "Q" [p, e] : !F
    %K = cascade.input "K" [m, e] : !F
    %V = cascade.input "V" [m, f] : !F
    %QK = cascade.einsum "QK" [m, p] = sum [e] (%Q, %K) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %S = cascade.einsum "S" [m, p] = (%QK) : !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
      %D = attn.size D
      %Df = arith.sitofp %D : i64 to f32
      %r = math.rsqrt %Df : f32
      %s0 = arith.mulf %r, %qk : f32
      BIAS
      %s = arith.addf %s0, %bias : f32
      cascade.yield %s : f32
    }
    %KEEP = cascade.einsum "KEEP" [m, p] = () -> !cascade.fiber<i1> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      MASK
      cascade.yield %keep : i1
    }
    %GM = cascade.einsum "GM" [p] = max [m] (%S) keep %KEEP : !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %SN = cascade.einsum "SN" [m, p] = (%S, %GM) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %gm: f32):
      %0 = arith.subf %s, %gm : f32
      %1 = math.exp %0 : f32
      cascade.yield %1 : f32
    }
    %SD = cascade.einsum "SD" [p] = sum [m] (%SN) keep %KEEP : !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32):
      cascade.yield %sn : f32
    }
    %A = cascade.einsum "A" [m, p] = (%SN, %SD) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32, %sd: f32):
      %0 = arith.divf %sn, %sd : f32
      cascade.yield %0 : f32
    }
    %LSE = cascade.einsum "LSE" [p] = (%GM, %SD) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %gm: f32, %sd: f32):
      %0 = math.log %sd : f32
      %1 = arith.addf %gm, %0 : f32
      cascade.yield %1 : f32
    }
    %AV = cascade.einsum "AV" [p, f] = sum [m] (%A, %V) keep %KEEP : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %a: f32, %v: f32):
      %0 = arith.mulf %a, %v : f32
      cascade.yield %0 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m] () keep %KEEP -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV lse %LSE kept %KN
  }
}
)";

/// The FuseMax 1-pass form (m partitioned by TILE, iterates over m1).
const char *kSoftmax1 = R"(
attn.variant @NAME {
  DECLS
  cascade.cascade attributes {partitions = {m = TILE}} {
    %Q = cascade.input "Q" [p, e] : !F
    %K = cascade.input "K" [m1, m0, e] : !F
    %V = cascade.input "V" [m1, m0, f] : !F
    %BQK = cascade.einsum "BQK" [m1, m0, p] = sum [e] (%Q, %K) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %S = cascade.einsum "S" [m1, m0, p] = (%BQK) : !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
      %D = attn.size D
      %Df = arith.sitofp %D : i64 to f32
      %r = math.rsqrt %Df : f32
      %s0 = arith.mulf %r, %qk : f32
      BIAS
      %s = arith.addf %s0, %bias : f32
      cascade.yield %s : f32
    }
    %KEEP = cascade.einsum "KEEP" [m1, m0, p] = () -> !cascade.fiber<i1> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      MASK
      cascade.yield %keep : i1
    }
    %LM = cascade.einsum "LM" [m1, p] = max [m0] (%S) keep %KEEP : !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %RM_prev, %RM, %RM_final = cascade.iterate "RM" [m1, p] over "m1" identity 0xFFF0000000000000 (%LM) : !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %lm: f32):
      %0 = arith.maximumf %prev, %lm : f32
      cascade.yield %0 : f32
    }
    %SLN = cascade.einsum "SLN" [m1, m0, p] = (%S, %RM) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %rm: f32):
      %0 = arith.subf %s, %rm : f32
      %1 = math.exp %0 : f32
      cascade.yield %1 : f32
    }
    %SLD = cascade.einsum "SLD" [m1, p] = sum [m0] (%SLN) keep %KEEP : !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sln: f32):
      cascade.yield %sln : f32
    }
    %SLNV = cascade.einsum "SLNV" [m1, p, f] = sum [m0] (%SLN, %V) keep %KEEP : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sln: f32, %v: f32):
      %0 = arith.mulf %sln, %v : f32
      cascade.yield %0 : f32
    }
    %PRM = cascade.einsum "PRM" [m1, p] = (%RM_prev, %RM) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %cur: f32):
      %ninf = arith.constant 0xFF800000 : f32
      %zero = arith.constant 0.0 : f32
      %none = arith.cmpf oeq, %prev, %ninf : f32
      %0 = arith.subf %prev, %cur : f32
      %1 = math.exp %0 : f32
      %2 = arith.select %none, %zero, %1 : f32
      cascade.yield %2 : f32
    }
    %RD_prev, %RD, %RD_final = cascade.iterate "RD" [m1, p] over "m1" identity 0.0 (%SLD, %PRM) : !F, !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %sld: f32, %prm: f32):
      %0 = arith.mulf %prev, %prm : f32
      %1 = arith.addf %sld, %0 : f32
      cascade.yield %1 : f32
    }
    %RNV_prev, %RNV, %RNV_final = cascade.iterate "RNV" [m1, p, f] over "m1" identity 0.0 (%SLNV, %PRM) : !F, !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %slnv: f32, %prm: f32):
      %0 = arith.mulf %prev, %prm : f32
      %1 = arith.addf %slnv, %0 : f32
      cascade.yield %1 : f32
    }
    %AV = cascade.einsum "AV" [p, f] = (%RNV_final, %RD_final) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %rnv: f32, %rd: f32):
      %0 = arith.divf %rnv, %rd : f32
      cascade.yield %0 : f32
    }
    %LSE = cascade.einsum "LSE" [p] = (%RM_final, %RD_final) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %rm: f32, %rd: f32):
      %0 = math.log %rd : f32
      %1 = arith.addf %rm, %0 : f32
      cascade.yield %1 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m1, m0] () keep %KEEP -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV lse %LSE kept %KN
  }
}
)";

/// Sigmoid attention with a param bias: A = sigmoid(s + b0), no row reduction.
const char *kSigmoid = R"(
attn.variant @NAME {
  attn.param @b0 : f32 = -6.0 : f32
  DECLS
  cascade.cascade attributes {partitions = {m = TILE, p = PTILE}} {
    %Q = cascade.input "Q" [p1, p0, e] : !F
    %K = cascade.input "K" [m1, m0, e] : !F
    %V = cascade.input "V" [m1, m0, f] : !F
    %QK = cascade.einsum "QK" [m1, m0, p1, p0] = sum [e] (%Q, %K) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %KEEP = cascade.einsum "KEEP" [m1, m0, p1, p0] = () -> !cascade.fiber<i1> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      MASK
      cascade.yield %keep : i1
    }
    %A = cascade.einsum "A" [m1, m0, p1, p0] = (%QK) : !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
      %D = attn.size D
      %Df = arith.sitofp %D : i64 to f32
      %r = math.rsqrt %Df : f32
      %s0 = arith.mulf %r, %qk : f32
      %b0 = attn.get_param @b0 : f32
      %s = arith.addf %s0, %b0 : f32
      %n = arith.negf %s : f32
      %e = math.exp %n : f32
      %one = arith.constant 1.0 : f32
      %den = arith.addf %one, %e : f32
      %w = arith.divf %one, %den : f32
      cascade.yield %w : f32
    }
    %AV = cascade.einsum "AV" [p1, p0, f] = sum [m1, m0] (%A, %V) keep %KEEP : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %a: f32, %v: f32):
      %0 = arith.mulf %a, %v : f32
      cascade.yield %0 : f32
    }
    %KN = cascade.einsum "KN" [p1, p0] = sum [m1, m0] () keep %KEEP -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV kept %KN
  }
}
)";

std::string instantiate(std::string tmpl, const std::string &name, const std::string &mask,
                        const std::string &bias = "", const std::string &decls = "",
                        int tile = 4, int ptile = 3) {
  tmpl = replaceAll(tmpl, "!F", kF);
  tmpl = replaceAll(tmpl, "NAME", name);
  tmpl = replaceAll(tmpl, "DECLS", decls);
  tmpl = replaceAll(tmpl, "PTILE", std::to_string(ptile));
  tmpl = replaceAll(tmpl, "TILE", std::to_string(tile));
  tmpl = replaceAll(tmpl, "MASK", mask);
  tmpl = replaceAll(tmpl, "BIAS",
                    bias.empty() ? "%bias = arith.constant 0.0 : f32" : bias);
  return tmpl;
}

const char *kNoMask = "%keep = arith.constant true";
const char *kCausal = "%keep = arith.cmpi sle, %j, %i : i64";

double scaleOf(const Problem &p) { return 1.0 / std::sqrt(double(p.q.shape[3])); }

TEST_F(InterpreterTest, CanonicalSoftmaxMatchesNaive) {
  attn::VariantOp v = parse(instantiate(kSoftmax3, "full", kNoMask), "full");
  ASSERT_TRUE(v);
  for (const Shape &s : kShapes) {
    Problem p = randomProblem(s, 1);
    double sc = scaleOf(p);
    Result got;
    ASSERT_EQ(run(v, p, got), "") << s.str();
    Result want = naive(
        p, [&](int64_t, int64_t, int64_t, int64_t, double dot) { return sc * dot; },
        [](int64_t, int64_t, int64_t, int64_t) { return true; }, Norm::Softmax);
    EXPECT_TRUE(close(got, want, "full " + s.str()));
  }
}

TEST_F(InterpreterTest, CausalWithFullyMaskedRows) {
  attn::VariantOp v = parse(instantiate(kSoftmax3, "causal", kCausal), "causal");
  ASSERT_TRUE(v);
  for (const Shape &s : kShapes)
    for (int64_t off : {-2, 0, -1000, 1}) {
      Problem p = randomProblem(s, 2);
      if (off != 1)
        p.qOffset = off; // negative offsets leave rows with no kept key
      double sc = scaleOf(p);
      Result got;
      ASSERT_EQ(run(v, p, got), "") << s.str();
      Result want = naive(
          p, [&](int64_t, int64_t, int64_t, int64_t, double dot) { return sc * dot; },
          [](int64_t, int64_t, int64_t i, int64_t j) { return j <= i; }, Norm::Softmax);
      EXPECT_TRUE(close(got, want, "causal off=" + std::to_string(off) + " " + s.str()));
    }
}

TEST_F(InterpreterTest, FullyMaskedRowsGiveZerosAndMinusInfLse) {
  attn::VariantOp v = parse(instantiate(kSoftmax3, "none", "%keep = arith.constant false"),
                            "none");
  ASSERT_TRUE(v);
  Problem p = randomProblem(kShapes[1], 3);
  Result got;
  ASSERT_EQ(run(v, p, got), "");
  for (double x : got.o.data)
    EXPECT_EQ(x, 0.0);
  ASSERT_TRUE(got.lse);
  for (double x : got.lse->data)
    EXPECT_EQ(x, -kInf);
}

TEST_F(InterpreterTest, OnePassFormMatchesNaiveAndCanonical) {
  std::string src = instantiate(kSoftmax3, "c3", kCausal) +
                    instantiate(kSoftmax1, "c1", kCausal, "", "", 4) +
                    instantiate(kSoftmax1, "c1t1", kCausal, "", "", 1) +
                    instantiate(kSoftmax1, "c1big", kCausal, "", "", 64);
  ASSERT_TRUE(parse(src, "c3"));
  for (const char *name : {"c1", "c1t1", "c1big"}) {
    attn::VariantOp v1 = find(name);
    attn::VariantOp v3 = find("c3");
    ASSERT_TRUE(v1 && v3);
    for (const Shape &s : kShapes)
      for (int64_t off : {-3, 0, 2}) {
        Problem p = randomProblem(s, 4);
        p.qOffset = off;
        double sc = scaleOf(p);
        Result r1, r3;
        ASSERT_EQ(run(v1, p, r1), "") << s.str();
        ASSERT_EQ(run(v3, p, r3), "") << s.str();
        Result want = naive(
            p, [&](int64_t, int64_t, int64_t, int64_t, double dot) { return sc * dot; },
            [](int64_t, int64_t, int64_t i, int64_t j) { return j <= i; }, Norm::Softmax);
        std::string ctx = std::string(name) + " off=" + std::to_string(off) + " " + s.str();
        EXPECT_TRUE(close(r1, want, ctx));
        EXPECT_TRUE(close(r1, r3, ctx + " vs 3-pass"));
      }
  }
}

TEST_F(InterpreterTest, OnePassFormDoesNotOverflowOnHugeLogits) {
  std::string src = instantiate(kSoftmax1, "big", kNoMask, "", "", 3);
  attn::VariantOp v = parse(src, "big");
  ASSERT_TRUE(v);
  for (const Shape &s : kShapes) {
    Problem p = randomProblem(s, 5, /*qScale=*/2e4); // logits around 1e4
    double sc = scaleOf(p);
    Result got;
    ASSERT_EQ(run(v, p, got), "");
    for (double x : got.o.data)
      ASSERT_TRUE(std::isfinite(x)) << s.str();
    Result want = naive(
        p, [&](int64_t, int64_t, int64_t, int64_t, double dot) { return sc * dot; },
        [](int64_t, int64_t, int64_t, int64_t) { return true; }, Norm::Softmax);
    // Differences of logits near 1e4 lose about 1e4 ulps of relative precision.
    EXPECT_TRUE(close(got, want, "huge logits " + s.str()));
  }
}

TEST_F(InterpreterTest, SigmoidWithParamAndPartitionedRows) {
  std::string src = instantiate(kSigmoid, "sig", kCausal, "", "", 4, 3) +
                    instantiate(kSigmoid, "sig2", kCausal, "", "", 2, 1);
  ASSERT_TRUE(parse(src, "sig"));
  for (const char *name : {"sig", "sig2"}) {
    attn::VariantOp v = find(name);
    ASSERT_TRUE(v);
    for (const Shape &s : kShapes)
      for (double b0 : {-6.0, 0.25}) {
        Problem p = randomProblem(s, 6);
        if (b0 != -6.0)
          p.params["b0"] = b0;
        double sc = scaleOf(p);
        Result got;
        ASSERT_EQ(run(v, p, got), "");
        Result want = naive(
            p, [&](int64_t, int64_t, int64_t, int64_t, double dot) { return sc * dot + b0; },
            [](int64_t, int64_t, int64_t i, int64_t j) { return j <= i; }, Norm::Sigmoid);
        EXPECT_TRUE(close(got, want, std::string(name) + " " + s.str()));
      }
  }
}

/// Document mask (a tensor, i32 loads) and a bucketed relative bias with
/// floordiv/floormod, an i32 param and a table read.
TEST_F(InterpreterTest, TensorsParamsAndFloorArithmetic) {
  std::string decls = R"(attn.tensor @doc : i32 ["B", "Skv"]
  attn.tensor @table : f32 ["H", 8]
  attn.param @window : i32 = 4 : i32)";
  std::string mask = R"(%di = attn.load @doc[%b, %i] : i64
      %dj = attn.load @doc[%b, %j] : i64
      %same = arith.cmpi eq, %di, %dj : i64
      %causal = arith.cmpi sle, %j, %i : i64
      %d = arith.subi %i, %j : i64
      %w = attn.get_param @window : i64
      %near = arith.cmpi slt, %d, %w : i64
      %k0 = arith.andi %same, %causal : i1
      %keep = arith.andi %k0, %near : i1)";
  // bias = table[h, floormod(floordiv(j - i, 2), 8)]
  std::string bias = R"(%rel = arith.subi %j, %i : i64
      %two = arith.constant 2 : i64
      %eight = arith.constant 8 : i64
      %q2 = attn.floordiv %rel, %two
      %bk = attn.floormod %q2, %eight
      %bias = attn.load @table[%h, %bk] : f32)";
  std::string src = instantiate(kSoftmax3, "doc3", mask, bias, decls) +
                    instantiate(kSoftmax1, "doc1", mask, bias, decls, 3);
  auto floordiv = [](int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
  };
  ASSERT_TRUE(parse(src, "doc3"));
  for (const char *name : {"doc3", "doc1"}) {
    attn::VariantOp v = find(name);
    ASSERT_TRUE(v);
    for (const Shape &s : kShapes)
      for (int64_t window : {4, 2}) {
        Problem p = randomProblem(s, 7);
        if (window != 4)
          p.params["window"] = window;
        std::mt19937_64 rng(8);
        p.tensors["table"] = randomArray({s.H, 8}, rng);
        Array doc;
        doc.shape = {s.B, s.Skv};
        for (int64_t b = 0; b < s.B; ++b)
          for (int64_t j = 0; j < s.Skv; ++j)
            doc.data.push_back(double((j * 3 + b) / 5));
        p.tensors["doc"] = doc;
        double sc = scaleOf(p);
        const Array &table = p.tensors["table"];
        Result got;
        ASSERT_EQ(run(v, p, got), "") << s.str();
        Result want = naive(
            p,
            [&](int64_t, int64_t h, int64_t i, int64_t j, double dot) {
              int64_t q = floordiv(j - i, 2), m = ((q % 8) + 8) % 8;
              return sc * dot + table.data[h * 8 + m];
            },
            [&](int64_t b, int64_t, int64_t i, int64_t j) {
              return doc.data[b * s.Skv + i] == doc.data[b * s.Skv + j] && j <= i &&
                     i - j < window;
            },
            Norm::Softmax);
        EXPECT_TRUE(close(got, want, std::string(name) + " " + s.str()));
      }
  }
}

TEST_F(InterpreterTest, OutOfRangeReadIsAnErrorNamingTheTensor) {
  // Reads doc[b, i] with i = q_offset + row: with q_offset = Skv it is past the end.
  std::string decls = R"(attn.tensor @doc : i32 ["B", "Skv"])";
  std::string mask = R"(%di = attn.load @doc[%b, %i] : i64
      %zero = arith.constant 0 : i64
      %keep = arith.cmpi sge, %di, %zero : i64)";
  attn::VariantOp v = parse(instantiate(kSoftmax3, "oob", mask, "", decls), "oob");
  ASSERT_TRUE(v);
  Problem p = randomProblem(kShapes[0], 9);
  p.tensors["doc"].shape = {1, 5};
  p.tensors["doc"].data.assign(5, 1.0);
  Result r;
  EXPECT_EQ(run(v, p, r), "");
  p.qOffset = 3;
  std::string e = run(v, p, r);
  EXPECT_NE(e.find("tensor 'doc'"), std::string::npos) << e;
  EXPECT_NE(e.find("[0, 5]"), std::string::npos) << e;
}

TEST_F(InterpreterTest, OutOfRangeReadAtMaskedPointsIsNotAnError) {
  // bias = table[j - i + 2] is in range only where |i - j| <= 2, which the mask keeps.
  std::string decls = R"(attn.tensor @table : f32 [5])";
  std::string mask = R"(%d = arith.subi %i, %j : i64
      %ad = math.absi %d : i64
      %two = arith.constant 2 : i64
      %keep = arith.cmpi sle, %ad, %two : i64)";
  std::string bias = R"(%rel = arith.subi %j, %i : i64
      %c2 = arith.constant 2 : i64
      %ix = arith.addi %rel, %c2 : i64
      %bias = attn.load @table[%ix] : f32)";
  attn::VariantOp v = parse(instantiate(kSoftmax3, "band", mask, bias, decls), "band");
  ASSERT_TRUE(v);
  Problem p = randomProblem(kShapes[1], 10);
  std::mt19937_64 rng(11);
  p.tensors["table"] = randomArray({5}, rng);
  Result r;
  EXPECT_EQ(run(v, p, r), "");
  double sc = scaleOf(p);
  Result want = naive(
      p,
      [&](int64_t, int64_t, int64_t i, int64_t j, double dot) {
        return sc * dot + p.tensors["table"].data[j - i + 2];
      },
      [](int64_t, int64_t, int64_t i, int64_t j) { return std::abs(i - j) <= 2; },
      Norm::Softmax);
  EXPECT_TRUE(close(r, want, "band"));
}

TEST_F(InterpreterTest, BadProblemsAreErrors) {
  std::string decls = R"(attn.tensor @doc : i32 ["B", "Skv"]
  attn.param @w : i32)";
  attn::VariantOp v = parse(instantiate(kSoftmax3, "bad", kNoMask, "", decls), "bad");
  ASSERT_TRUE(v);
  Problem good = randomProblem(kShapes[1], 12);
  good.tensors["doc"].shape = {2, 7};
  good.tensors["doc"].data.assign(14, 0.0);
  good.params["w"] = 3;
  Result r;
  EXPECT_EQ(run(v, good, r), "");
  auto expectError = [&](Problem p, const std::string &what) {
    std::string e = run(v, p, r);
    EXPECT_NE(e.find(what), std::string::npos) << "got: '" << e << "', want '" << what << "'";
  };
  Problem p = good;
  p.params.erase("w");
  expectError(p, "param 'w'");
  p = good;
  p.params["w"] = 2.5;
  expectError(p, "param 'w'");
  p = good;
  p.params["x"] = 1;
  expectError(p, "unknown param 'x'");
  p = good;
  p.tensors.erase("doc");
  expectError(p, "tensor 'doc' is missing");
  p = good;
  p.tensors["doc"].shape = {2, 6};
  expectError(p, "tensor 'doc' must have shape [2, 7]");
  p = good;
  p.tensors["doc"].data[3] = 0.5;
  expectError(p, "i32");
  p = good;
  p.k.shape = {2, 3, 7, 4};
  p.v.shape = {2, 3, 7, 4};
  p.k.data.resize(2 * 3 * 7 * 4);
  p.v.data.resize(2 * 3 * 7 * 4);
  expectError(p, "not a multiple of Hkv");
  p = good;
  p.q.shape = {2, 4, 7};
  expectError(p, "q must have rank 4");
}

TEST_F(InterpreterTest, UnknownOpIsAnErrorNamingIt) {
  // math.isnan is a real op the interpreter does not evaluate.
  std::string src = instantiate(kSoftmax3, "u", kNoMask);
  src = replaceAll(src, "%0 = math.log %sd : f32", "%0 = math.fpowi %sd, %j : f32, i64\n"
                                                     "      %z = math.isnan %0 : f32");
  attn::VariantOp v = parse(src, "u");
  ASSERT_TRUE(v);
  Problem p = randomProblem(kShapes[0], 13);
  Result r;
  std::string e = run(v, p, r);
  EXPECT_NE(e.find("math.isnan"), std::string::npos) << e;
}

TEST_F(InterpreterTest, MissingCascadeIsAnError) {
  attn::VariantOp v = parse("attn.variant @empty {\n}\n", "empty");
  ASSERT_TRUE(v);
  Result r;
  std::string e = run(v, randomProblem(kShapes[0], 14), r);
  EXPECT_NE(e.find("no cascade.cascade"), std::string::npos) << e;
}

} // namespace

namespace {

/// Constants hoisted out of the map actions (as the greedy folder does, into
/// the variant's body) are read from there; an iterate with `init` starts
/// from it; a sink as a reduction's init.
TEST_F(InterpreterTest, HoistedConstantsIterateInitAndSink) {
  std::string src = R"(
attn.variant @sink {
  attn.tensor @sinks : f32 ["H"]
  %one = arith.constant 1.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  cascade.cascade attributes {partitions = {m = 3}} {
    %zero = arith.constant 0.0 : f32
    %Q = cascade.input "Q" [p, e] : !F
    %K = cascade.input "K" [m1, m0, e] : !F
    %V = cascade.input "V" [m1, m0, f] : !F
    %S = cascade.einsum "S" [m1, m0, p] = sum [e] (%Q, %K) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %SINK = cascade.einsum "SINK" [p] = () -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = attn.load @sinks[%h] : f32
      cascade.yield %0 : f32
    }
    %GM = cascade.einsum "GM" [p] = max [m1, m0] (%S) init %SINK : !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %SINKD = cascade.einsum "SINKD" [p] = (%SINK, %GM) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %gm: f32):
      %0 = arith.subf %s, %gm : f32
      %1 = math.exp %0 : f32
      cascade.yield %1 : f32
    }
    %LD = cascade.einsum "LD" [m1, p] = sum [m0] (%S, %GM) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %gm: f32):
      %0 = arith.subf %s, %gm : f32
      %1 = math.exp %0 : f32
      cascade.yield %1 : f32
    }
    %RD_prev, %RD, %RD_final = cascade.iterate "RD" [m1, p] over "m1" identity 0.0 (%LD) init %SINKD : !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %ld: f32):
      %0 = arith.addf %prev, %ld : f32
      cascade.yield %0 : f32
    }
    %NV = cascade.einsum "NV" [p, f] = sum [m1, m0] (%S, %GM, %V) : !F, !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %gm: f32, %v: f32):
      %0 = arith.subf %s, %gm : f32
      %1 = math.exp %0 : f32
      %2 = arith.mulf %1, %v : f32
      %3 = arith.addf %2, %zero : f32
      cascade.yield %3 : f32
    }
    %AV = cascade.einsum "AV" [p, f] = (%NV, %RD_final) : !F, !F -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %nv: f32, %rd: f32):
      %0 = arith.divf %nv, %rd : f32
      %1 = arith.mulf %0, %one : f32
      cascade.yield %1 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m1, m0] () -> !F {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      cascade.yield %one : f32
    }
    cascade.output %AV kept %KN
  }
}
)";
  attn::VariantOp v = parse(replaceAll(src, "!F", kF), "sink");
  ASSERT_TRUE(v);
  for (const Shape &s : kShapes) {
    Problem p = randomProblem(s, 15);
    std::mt19937_64 rng(16);
    p.tensors["sinks"] = randomArray({s.H}, rng);
    Result got;
    ASSERT_EQ(run(v, p, got), "") << s.str();
    // Naive: softmax over the keys plus a sink logit in the denominator.
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t h = 0; h < s.H; ++h)
        for (int64_t row = 0; row < s.Sq; ++row) {
          int64_t hk = h / (s.H / s.Hkv);
          std::vector<double> sc(s.Skv);
          double mx = p.tensors["sinks"].data[h];
          for (int64_t j = 0; j < s.Skv; ++j) {
            double dot = 0;
            for (int64_t d = 0; d < s.D; ++d)
              dot += p.q.data[((b * s.H + h) * s.Sq + row) * s.D + d] *
                     p.k.data[((b * s.Hkv + hk) * s.Skv + j) * s.D + d];
            sc[j] = dot;
            mx = std::max(mx, dot);
          }
          double den = std::exp(p.tensors["sinks"].data[h] - mx);
          for (int64_t j = 0; j < s.Skv; ++j)
            den += std::exp(sc[j] - mx);
          for (int64_t d = 0; d < s.D; ++d) {
            double acc = 0;
            for (int64_t j = 0; j < s.Skv; ++j)
              acc += std::exp(sc[j] - mx) / den *
                     p.v.data[((b * s.Hkv + hk) * s.Skv + j) * s.D + d];
            double g = got.o.data[((b * s.H + h) * s.Sq + row) * s.D + d];
            EXPECT_NEAR(g, acc, kTol * (1 + std::fabs(acc))) << s.str();
          }
        }
  }
}

TEST_F(InterpreterTest, UnknownRankIsAnError) {
  std::string src = instantiate(kSoftmax3, "r", kNoMask);
  src = replaceAll(src, "%V = cascade.input \"V\" [m, f]", "%V = cascade.input \"V\" [m, g]");
  src = replaceAll(src, "\"AV\" [p, f]", "\"AV\" [p, g]");
  attn::VariantOp v = parse(src, "r");
  ASSERT_TRUE(v);
  Result r;
  std::string e = run(v, randomProblem(kShapes[0], 17), r);
  EXPECT_NE(e.find("unknown rank 'g'"), std::string::npos) << e;
}

} // namespace
