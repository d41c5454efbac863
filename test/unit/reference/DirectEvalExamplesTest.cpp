//===- DirectEvalExamplesTest.cpp - the examples/ zoo through DirectEval --===//
//
// Parses and checks each examples/*.attn with the real front end (so the
// AST carries Sema's resolution and types), evaluates it with DirectEval on
// random inputs (GQA, Sq < Skv) and compares with a hand-written float64
// formula of the same variant. Tolerance: 1e-12 absolute.
//
//===----------------------------------------------------------------------===//
#include "compiler/reference/DirectEval.h"
#include "frontend/Frontend.h"
#include "test/unit/reference/Formula.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace attn;
using namespace attn::ref;
using namespace attn::ref::testing;

namespace {

std::unique_ptr<ast::Module> loadExample(const std::string &name) {
  std::string path = std::string(ATTNC_EXAMPLES_DIR) + "/" + name + ".attn";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  DiagnosticEngine diags(path, ss.str());
  auto m = parseAndCheck(diags);
  std::ostringstream os;
  diags.print(os);
  EXPECT_TRUE(m) << os.str();
  EXPECT_EQ(m ? m->variants.size() : 0, 1u);
  return m;
}

/// Python's floor division and modulo.
int64_t pyDiv(int64_t a, int64_t b) { return (int64_t)std::floor((double)a / b); }
int64_t pyMod(int64_t a, int64_t b) { return a - b * pyDiv(a, b); }

void check(const std::string &example, const Problem &p, ScoreFn score,
           KeepFn keep, NormFn norm = softmaxNorm, bool lse = true) {
  SCOPED_TRACE(example);
  auto m = loadExample(example);
  if (!m)
    return;
  Result got;
  auto err = evaluateDirect(m->variants[0], p, got);
  ASSERT_FALSE(err) << *err;
  Result want = formula(p, score, keep, norm, p.qOffset);
  expectNear(got.o, want.o);
  ASSERT_EQ((bool)got.lse, lse);
  if (lse)
    expectNear(*got.lse, *want.lse);
  // Sanity: the result is not all zeros.
  double mx = 0;
  for (double x : got.o.data)
    mx = std::max(mx, std::fabs(x));
  EXPECT_GT(mx, 1e-3);
}

KeepFn causal() {
  return [](const Pair &x) { return x.j <= x.i; };
}

TEST(DirectEvalExamples, Full) {
  check("full", randomProblem(2, 4, 2, 5, 9, 8, 1), scaledDot(8),
        [](const Pair &) { return true; });
}

TEST(DirectEvalExamples, AlibiCausal) {
  Problem p = randomProblem(1, 4, 1, 6, 10, 4, 2);
  check("alibi_causal", p,
        [](const Pair &x) {
          double slope = std::pow(2.0, -8.0 * (x.h + 1) / 4.0);
          return x.dot / 2.0 - slope * (double)(x.i - x.j);
        },
        causal());
  p.params["max_bias"] = 2.5;
  check("alibi_causal", p,
        [](const Pair &x) {
          double slope = std::pow(2.0, -2.5 * (x.h + 1) / 4.0);
          return x.dot / 2.0 - slope * (double)(x.i - x.j);
        },
        causal());
}

TEST(DirectEvalExamples, SlidingWindowAndStreaming) {
  Problem p = randomProblem(2, 2, 2, 12, 12, 4, 3);
  p.params["window"] = 3;
  check("sliding_window", p, scaledDot(4),
        [](const Pair &x) { return x.j <= x.i && x.i - x.j < 3; });
  p.params["sinks"] = 2;
  check("streaming", p, scaledDot(4), [](const Pair &x) {
    return x.j <= x.i && (x.j < 2 || x.i - x.j < 3);
  });
}

TEST(DirectEvalExamples, Softcap) {
  Problem p = randomProblem(1, 2, 1, 4, 8, 4, 4);
  p.params["cap"] = 0.5;
  check("softcap", p,
        [](const Pair &x) { return 0.5 * std::tanh(x.dot / 2.0 / 0.5); }, causal());
}

TEST(DirectEvalExamples, Neighborhood2DUsesFloorSemantics) {
  Problem p = randomProblem(1, 2, 1, 16, 16, 4, 5);
  p.params["W"] = 4;
  p.params["radius"] = 1;
  p.qOffset = -3; // negative positions exercise floor division/modulo
  check("neighborhood_2d", p, scaledDot(4), [](const Pair &x) {
    return std::abs(pyDiv(x.i, 4) - pyDiv(x.j, 4)) <= 1 &&
           std::abs(pyMod(x.i, 4) - pyMod(x.j, 4)) <= 1;
  });
}

TEST(DirectEvalExamples, DocumentAndPrefixLM) {
  Problem p = randomProblem(2, 2, 1, 8, 8, 4, 6);
  Array doc;
  doc.shape = {2, 8};
  doc.data = {0, 0, 0, 1, 1, 1, 2, 2, 5, 5, 6, 6, 6, 6, 6, 7};
  p.tensors["doc"] = doc;
  check("document", p, scaledDot(4), [doc](const Pair &x) {
    return doc.data[x.b * 8 + x.i] == doc.data[x.b * 8 + x.j] && x.j <= x.i;
  });
  p.tensors.clear();
  p.tensors["prefix_len"] = Array{{2}, {3, 0}};
  check("prefix_lm", p, scaledDot(4), [](const Pair &x) {
    int64_t prefix = x.b == 0 ? 3 : 0;
    return x.j < prefix || x.j <= x.i;
  });
}

TEST(DirectEvalExamples, T5RelativeBias) {
  Problem p = randomProblem(1, 2, 2, 20, 40, 4, 7);
  std::mt19937_64 rng(8);
  p.tensors["table"] = randomArray({2, 32}, rng, -2, 2);
  Array table = p.tensors["table"];
  check("t5_relpos", p,
        [table](const Pair &x) {
          int64_t rel = std::min<int64_t>(std::max<int64_t>(x.j - x.i, -16), 15) + 16;
          return x.dot / 2.0 + table.data[x.h * 32 + rel];
        },
        [](const Pair &) { return true; });
}

TEST(DirectEvalExamples, GptOssSinks) {
  Problem p = randomProblem(1, 4, 2, 6, 6, 4, 9);
  std::mt19937_64 rng(10);
  p.tensors["sinks"] = randomArray({4}, rng, -1, 2);
  p.params["window"] = 3;
  Array sinks = p.tensors["sinks"];
  check("gpt_oss_sinks", p, scaledDot(4),
        [](const Pair &x) { return x.j <= x.i && x.i - x.j < 3; },
        [sinks](const std::vector<double> &s, const Pair &x, double *lse) {
          double sink = sinks.data[x.h];
          double m = std::max(sink, *std::max_element(s.begin(), s.end()));
          double z = std::exp(sink - m);
          for (double y : s)
            z += std::exp(y - m);
          std::vector<double> w;
          for (double y : s)
            w.push_back(std::exp(y - m) / z);
          *lse = m + std::log(z);
          return w;
        });
}

TEST(DirectEvalExamples, SigmoidAndL2) {
  Problem p = randomProblem(1, 2, 1, 5, 7, 4, 11);
  check("sigmoid_attn", p, scaledDot(4), [](const Pair &) { return true; },
        [](const std::vector<double> &s, const Pair &, double *) {
          std::vector<double> w;
          for (double y : s)
            w.push_back(1 / (1 + std::exp(-(y - 6.0))));
          return w;
        },
        /*lse=*/false);
  check("l2_distance", p, [](const Pair &x) { return -x.l2 / 2.0; },
        [](const Pair &) { return true; });
}

TEST(DirectEvalExamples, SoftpickAndL1Relu) {
  Problem p = randomProblem(1, 2, 2, 6, 6, 4, 12);
  check("softpick", p, scaledDot(4), causal(),
        [](const std::vector<double> &s, const Pair &, double *) {
          double m = *std::max_element(s.begin(), s.end());
          double n = 0;
          for (double y : s)
            n += std::fabs(std::exp(y - m) - std::exp(-m));
          std::vector<double> w;
          for (double y : s)
            w.push_back(std::max(std::exp(y - m) - std::exp(-m), 0.0) / n);
          return w;
        },
        false);
  for (auto &x : p.q.data)
    x = std::fabs(x); // every score >= 0: sum_j(relu(s)) > 0
  for (auto &x : p.k.data)
    x = std::fabs(x);
  check("l1_relu", p, scaledDot(4), [](const Pair &) { return true; },
        [](const std::vector<double> &s, const Pair &, double *) {
          double z = 0;
          for (double y : s)
            z += std::max(y, 0.0);
          std::vector<double> w;
          for (double y : s)
            w.push_back(std::max(y, 0.0) / z);
          return w;
        },
        false);
}

TEST(DirectEvalExamples, RuntimeErrorsPointAtTheSource) {
  // prefix_lm reads prefix_len[b]: a [1]-shaped tensor for B = 2 is a shape
  // error; document with Sq > Skv reads doc[b, i] out of range at run time.
  auto m = loadExample("document");
  ASSERT_TRUE(m);
  Problem p = randomProblem(1, 1, 1, 4, 2, 4, 13);
  p.qOffset = 0;
  p.tensors["doc"] = Array{{1, 2}, {0, 0}};
  Result r;
  auto err = evaluateDirect(m->variants[0], p, r);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("error: index 2 is out of range for dimension 2 of tensor 'doc' (size 2)"),
            std::string::npos) << *err;
  EXPECT_EQ(err->rfind(std::to_string(m->variants[0].mask->loc.begin.line) + ":", 0),
            0u) << *err;
}

} // namespace
