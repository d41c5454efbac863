//===- DirectEvalTest.cpp - DirectEval vs hand-written float64 formulas ---===//
//
// Each test builds a variant's AST by hand (names left unresolved, as
// DirectEval resolves them itself), runs DirectEval on random inputs and
// compares with an independent formula written out below. Tolerance: 1e-12
// absolute (both sides are float64 on values of order 1).
//
//===----------------------------------------------------------------------===//
#include "compiler/reference/DirectEval.h"
#include "test/unit/reference/Formula.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

using namespace attn;
using namespace attn::ref;
using ast::ExprKind;
using ast::ExprPtr;
using ast::OpKind;
using namespace attn::ref::testing;

namespace {


//===-- AST builders ------------------------------------------------------===//

ast::SourceRange at(unsigned line, unsigned col) {
  return {{line, col}, {line, col}};
}
ExprPtr num(double v) {
  auto e = std::make_unique<ast::Expr>(ExprKind::FloatLit, at(1, 1));
  e->fval = v;
  return e;
}
ExprPtr inum(int64_t v) {
  auto e = std::make_unique<ast::Expr>(ExprKind::IntLit, at(1, 1));
  e->ival = v;
  return e;
}
ExprPtr name(const std::string &n) {
  auto e = std::make_unique<ast::Expr>(ExprKind::Name, at(1, 1));
  e->name = n;
  return e;
}
ExprPtr bin(OpKind op, ExprPtr a, ExprPtr b) {
  auto e = std::make_unique<ast::Expr>(ExprKind::Binary, at(1, 1));
  e->op = op;
  e->args.push_back(std::move(a));
  e->args.push_back(std::move(b));
  return e;
}
ExprPtr neg(ExprPtr a) {
  auto e = std::make_unique<ast::Expr>(ExprKind::Unary, at(1, 1));
  e->op = OpKind::Neg;
  e->args.push_back(std::move(a));
  return e;
}
template <typename... Args>
ExprPtr call(const std::string &n, Args... args) {
  auto e = std::make_unique<ast::Expr>(ExprKind::Call, at(1, 1));
  e->name = n;
  (e->args.push_back(std::move(args)), ...);
  return e;
}
template <typename... Args>
ExprPtr index(const std::string &n, unsigned line, unsigned col, Args... args) {
  auto e = std::make_unique<ast::Expr>(ExprKind::Index, at(line, col));
  e->name = n;
  (e->args.push_back(std::move(args)), ...);
  return e;
}
ExprPtr sumd(ExprPtr body) {
  auto e = std::make_unique<ast::Expr>(ExprKind::SumD, at(1, 1));
  e->name = "d";
  e->args.push_back(std::move(body));
  return e;
}
ast::SingleStmt stmt(ExprPtr e) {
  ast::SingleStmt s;
  s.value = std::move(e);
  return s;
}
ExprPtr causal() { return bin(OpKind::Le, name("j"), name("i")); }

Result run(const ast::Variant &v, const Problem &p) {
  Result r;
  auto err = evaluateDirect(v, p, r);
  EXPECT_FALSE(err) << *err;
  return r;
}

//===-- Tests -------------------------------------------------------------===//

TEST(DirectEval, PlainSoftmaxMHA) {
  ast::Variant v;
  v.name = "full";
  Problem p = randomProblem(2, 3, 3, 5, 7, 8, 1);
  Result got = run(v, p);
  Result want = formula(p, scaledDot(8), all(), softmaxNorm);
  expectNear(got.o, want.o);
  ASSERT_TRUE(got.lse);
  expectNear(*got.lse, *want.lse);
  // The output is not trivially zero.
  double mx = 0;
  for (double x : got.o.data)
    mx = std::max(mx, std::fabs(x));
  EXPECT_GT(mx, 1e-2);
}

TEST(DirectEval, SoftmaxGQAAndMQA) {
  ast::Variant v;
  for (int64_t Hkv : {2, 1}) {
    Problem p = randomProblem(2, 4, Hkv, 6, 6, 4, 2 + Hkv);
    Result got = run(v, p);
    Result want = formula(p, scaledDot(4), all(), softmaxNorm);
    expectNear(got.o, want.o);
    expectNear(*got.lse, *want.lse);
  }
}

TEST(DirectEval, CausalIsBottomRightAligned) {
  ast::Variant v;
  v.mask = stmt(causal());
  Problem p = randomProblem(1, 2, 1, 4, 9, 4, 5);
  Result got = run(v, p);
  // Row r is query position 5 + r and sees keys 0 .. 5 + r.
  Result want = formula(
      p, scaledDot(4), [](const Pair &x) { return x.j <= x.i; }, softmaxNorm);
  expectNear(got.o, want.o);
  expectNear(*got.lse, *want.lse);
}

TEST(DirectEval, ExplicitQOffsetAndFullyMaskedRows) {
  ast::Variant v;
  v.mask = stmt(causal());
  Problem p = randomProblem(2, 2, 2, 5, 5, 4, 6);
  p.qOffset = -2; // rows 0 and 1 (i = -2, -1) see no key
  Result got = run(v, p);
  Result want = formula(
      p, scaledDot(4), [](const Pair &x) { return x.j <= x.i; }, softmaxNorm,
      -2);
  expectNear(got.o, want.o);
  expectNear(*got.lse, *want.lse);
  for (int64_t d = 0; d < 4; ++d) {
    EXPECT_EQ(got.o.data[d], 0.0);     // b0 h0 row 0
    EXPECT_EQ(got.o.data[4 + d], 0.0); // b0 h0 row 1
  }
  EXPECT_EQ(got.lse->data[0], -kInf);
  EXPECT_EQ(got.lse->data[1], -kInf);
  EXPECT_TRUE(std::isfinite(got.lse->data[2]));
}

TEST(DirectEval, DecodeSingleQuery) {
  ast::Variant v;
  v.mask = stmt(causal());
  Problem p = randomProblem(3, 4, 2, 1, 11, 8, 7);
  Result got = run(v, p);
  // Sq = 1: i = Skv - 1, so every key is kept.
  Result want = formula(p, scaledDot(8), all(), softmaxNorm);
  expectNear(got.o, want.o);
  expectNear(*got.lse, *want.lse);
}

TEST(DirectEval, SigmoidWithParamBias) {
  ast::Variant v;
  ast::ParamDecl b0;
  b0.name = "b0";
  b0.type = ast::DeclType::F32;
  b0.defaultValue = neg(num(6.0));
  v.params.push_back(std::move(b0));
  v.bias = stmt(name("b0"));
  v.norm = ast::NormSpec();
  v.norm->kind = ast::NormKind::Sigmoid;
  Problem p = randomProblem(1, 2, 2, 3, 5, 4, 8);
  for (std::optional<double> given : {std::optional<double>(), std::optional<double>(0.5)}) {
    if (given)
      p.params["b0"] = *given;
    double bias = given ? *given : -6.0;
    Result got = run(v, p);
    Result want = formula(p, scaledDot(4), all(),
                          [bias](const std::vector<double> &s, const Pair &, double *) {
                            std::vector<double> w;
                            for (double x : s)
                              w.push_back(1.0 / (1.0 + std::exp(-(x + bias))));
                            return w;
                          });
    expectNear(got.o, want.o);
    EXPECT_FALSE(got.lse); // no lse for a non-softmax norm
  }
}

TEST(DirectEval, ElementwiseAndLinearNorms) {
  Problem p = randomProblem(1, 2, 1, 4, 6, 4, 9);
  struct Case {
    ast::NormKind kind;
    std::function<double(double)> f;
  } cases[] = {
      {ast::NormKind::Relu, [](double x) { return x > 0 ? x : 0; }},
      {ast::NormKind::Relu2, [](double x) { return x > 0 ? x * x : 0; }},
      {ast::NormKind::Softplus, [](double x) { return std::log(1 + std::exp(x)); }},
      {ast::NormKind::None, [](double x) { return x; }},
  };
  for (auto &c : cases) {
    ast::Variant v;
    v.norm = ast::NormSpec();
    v.norm->kind = c.kind;
    Result got = run(v, p);
    auto f = c.f;
    Result want = formula(p, scaledDot(4), all(),
                          [f](const std::vector<double> &s, const Pair &, double *) {
                            std::vector<double> w;
                            for (double x : s)
                              w.push_back(f(x));
                            return w;
                          });
    expectNear(got.o, want.o);
  }
  // linear with a positive feature map: score = exp(qk).
  ast::Variant v;
  v.score = stmt(call("exp", name("qk")));
  v.norm = ast::NormSpec();
  v.norm->kind = ast::NormKind::Linear;
  Result got = run(v, p);
  Result want = formula(
      p, [](const Pair &x) { return std::exp(x.dot / 2.0); }, all(),
      [](const std::vector<double> &s, const Pair &, double *) {
        double z = 0;
        for (double x : s)
          z += x;
        std::vector<double> w;
        for (double x : s)
          w.push_back(x / z);
        return w;
      });
  expectNear(got.o, want.o);
}

ast::NormAssign assign(const std::string &n, ExprPtr e) {
  ast::NormAssign a;
  a.name = n;
  a.value = std::move(e);
  return a;
}

TEST(DirectEval, CustomSoftmaxEqualsSoftmax) {
  ast::Variant v;
  v.mask = stmt(causal());
  v.norm = ast::NormSpec();
  v.norm->kind = ast::NormKind::Custom;
  v.norm->custom.push_back(assign("m", call("max_j", name("s"))));
  v.norm->custom.push_back(assign(
      "z", call("sum_j", call("exp", bin(OpKind::Sub, name("s"), name("m"))))));
  v.norm->custom.push_back(
      assign("w", bin(OpKind::Div, call("exp", bin(OpKind::Sub, name("s"), name("m"))),
                      name("z"))));
  Problem p = randomProblem(2, 4, 2, 5, 8, 4, 10);
  Result got = run(v, p);
  Result want = formula(
      p, scaledDot(4), [](const Pair &x) { return x.j <= x.i; }, softmaxNorm);
  expectNear(got.o, want.o);
  ast::Variant builtin;
  builtin.mask = stmt(causal());
  expectNear(got.o, run(builtin, p).o);
}

TEST(DirectEval, CustomL1ReluAndSoftpick) {
  Problem p = randomProblem(1, 2, 2, 4, 6, 4, 11);
  // Non-negative q and k: every score is >= 0 and sum_j(relu(s)) > 0 (a row
  // of only negative scores is 0/0 = NaN by the language's semantics).
  for (int64_t hk = 0; hk < 2; ++hk)
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t d = 0; d < 4; ++d)
        p.q.data[(hk * 4 + r) * 4 + d] = std::fabs(p.q.data[(hk * 4 + r) * 4 + d]);
  for (int64_t e = 0; e < (int64_t)p.k.data.size(); ++e)
    p.k.data[e] = std::fabs(p.k.data[e]);
  ast::Variant v; // l1_relu
  v.norm = ast::NormSpec();
  v.norm->kind = ast::NormKind::Custom;
  v.norm->custom.push_back(assign("z", call("sum_j", call("relu", name("s")))));
  v.norm->custom.push_back(
      assign("w", bin(OpKind::Div, call("relu", name("s")), name("z"))));
  Result want = formula(p, scaledDot(4), all(),
                        [](const std::vector<double> &s, const Pair &, double *) {
                          double z = 0;
                          for (double x : s)
                            z += std::max(x, 0.0);
                          std::vector<double> w;
                          for (double x : s)
                            w.push_back(std::max(x, 0.0) / z);
                          return w;
                        });
  expectNear(run(v, p).o, want.o);

  ast::Variant sp; // softpick
  sp.mask = stmt(causal());
  sp.norm = ast::NormSpec();
  sp.norm->kind = ast::NormKind::Custom;
  sp.norm->custom.push_back(assign("m", call("max_j", name("s"))));
  auto em = [] { return call("exp", bin(OpKind::Sub, name("s"), name("m"))); };
  auto e0 = [] { return call("exp", neg(name("m"))); };
  sp.norm->custom.push_back(
      assign("n", call("sum_j", call("abs", bin(OpKind::Sub, em(), e0())))));
  sp.norm->custom.push_back(assign(
      "w", bin(OpKind::Div, call("relu", bin(OpKind::Sub, em(), e0())), name("n"))));
  Result want2 = formula(
      p, scaledDot(4), [](const Pair &x) { return x.j <= x.i; },
      [](const std::vector<double> &s, const Pair &, double *) {
        double m = *std::max_element(s.begin(), s.end());
        double n = 0;
        for (double x : s)
          n += std::fabs(std::exp(x - m) - std::exp(-m));
        std::vector<double> w;
        for (double x : s)
          w.push_back(std::max(std::exp(x - m) - std::exp(-m), 0.0) / n);
        return w;
      });
  expectNear(run(sp, p).o, want2.o);
}

TEST(DirectEval, SoftmaxWithSinks) {
  ast::Variant v;
  ast::TensorDecl t;
  t.name = "sinks";
  t.elemType = ast::DeclType::F32;
  t.dims.push_back({"H", 0, {}});
  v.tensors.push_back(std::move(t));
  v.mask = stmt(causal());
  v.norm = ast::NormSpec();
  v.norm->sink = index("sinks", 1, 1, name("h"));
  Problem p = randomProblem(2, 4, 2, 5, 5, 4, 12);
  std::mt19937_64 rng(99);
  p.tensors["sinks"] = randomArray({4}, rng, -1, 3);
  const Array sinks = p.tensors["sinks"];
  p.qOffset = -1; // row 0 sees nothing: zeros even with a sink
  Result got = run(v, p);
  Result want = formula(
      p, scaledDot(4), [](const Pair &x) { return x.j <= x.i; },
      [&](const std::vector<double> &s, const Pair &x, double *lse) {
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
      },
      -1);
  expectNear(got.o, want.o);
  expectNear(*got.lse, *want.lse);
}

TEST(DirectEval, SumDScoreAndScaleOverride) {
  ast::Variant v; // l2_distance with scale = 0.5
  auto diff = [] {
    return bin(OpKind::Sub, index("q", 1, 1, name("d")), index("k", 1, 1, name("d")));
  };
  v.score = stmt(bin(OpKind::Mul, neg(sumd(bin(OpKind::Mul, diff(), diff()))),
                     name("scale")));
  v.scale = stmt(num(0.5));
  Problem p = randomProblem(1, 2, 2, 3, 5, 6, 13);
  Result want = formula(
      p, [](const Pair &x) { return -x.l2 * 0.5; }, all(), softmaxNorm);
  expectNear(run(v, p).o, want.o);
  // dot(q, k) is unscaled; qk uses the overridden scale.
  ast::Variant v2;
  v2.score = stmt(bin(OpKind::Add, call("dot", name("q"), name("k")), name("qk")));
  v2.scale = stmt(num(0.25));
  Result want2 = formula(
      p, [](const Pair &x) { return x.dot * 1.25; }, all(), softmaxNorm);
  expectNear(run(v2, p).o, want2.o);
}

TEST(DirectEval, IntegerFloorSemanticsAndTensors) {
  // bias = (j - i) / 3 + (j - i) % 4 + table[h, clamp(j - i, -2, 1) + 2]
  //        + 0.5 * (i / 0) ; mask = doc[b, i] == doc[b, j]
  ast::Variant v;
  ast::TensorDecl table;
  table.name = "table";
  table.dims.push_back({"H", 0, {}});
  table.dims.push_back({"", 4, {}});
  v.tensors.push_back(std::move(table));
  ast::TensorDecl doc;
  doc.name = "doc";
  doc.elemType = ast::DeclType::I32;
  doc.dims.push_back({"B", 0, {}});
  doc.dims.push_back({"Skv", 0, {}});
  v.tensors.push_back(std::move(doc));
  auto rel = [] { return bin(OpKind::Sub, name("j"), name("i")); };
  ast::LetDecl let;
  let.name = "bucket";
  let.value = bin(OpKind::Add, call("clamp", rel(), neg(inum(2)), inum(1)), inum(2));
  v.lets.push_back(std::move(let));
  v.bias = stmt(bin(
      OpKind::Add,
      bin(OpKind::Add,
          bin(OpKind::Add, bin(OpKind::Div, rel(), inum(3)),
              bin(OpKind::Mod, rel(), inum(4))),
          index("table", 1, 1, name("h"), name("bucket"))),
      bin(OpKind::Mul, num(0.5), bin(OpKind::Div, name("i"), inum(0)))));
  v.mask = stmt(bin(OpKind::Eq, index("doc", 1, 1, name("b"), name("i")),
                    index("doc", 1, 1, name("b"), name("j"))));
  Problem p = randomProblem(2, 2, 1, 7, 7, 4, 14);
  std::mt19937_64 rng(5);
  p.tensors["table"] = randomArray({2, 4}, rng);
  Array docs;
  docs.shape = {2, 7};
  docs.data = {0, 0, 0, 1, 1, 2, 2, 0, 1, 1, 1, 1, 1, 3};
  p.tensors["doc"] = docs;
  const Array tab = p.tensors["table"];
  auto pyDiv = [](int64_t a, int64_t b) { return (int64_t)std::floor((double)a / b); };
  auto pyMod = [&](int64_t a, int64_t b) { return a - b * pyDiv(a, b); };
  Result want = formula(
      p,
      [&](const Pair &x) {
        int64_t d = x.j - x.i;
        int64_t bucket = std::min<int64_t>(std::max<int64_t>(d, -2), 1) + 2;
        return x.dot / 2.0 + (double)(pyDiv(d, 3) + pyMod(d, 4)) +
               tab.data[x.h * 4 + bucket];
      },
      [&](const Pair &x) { return docs.data[x.b * 7 + x.i] == docs.data[x.b * 7 + x.j]; },
      softmaxNorm);
  Result got = run(v, p);
  expectNear(got.o, want.o);
  expectNear(*got.lse, *want.lse);
}

TEST(DirectEval, Errors) {
  Problem p = randomProblem(1, 2, 2, 3, 4, 4, 15);
  auto errorOf = [](const ast::Variant &v, const Problem &p) {
    Result r;
    auto e = evaluateDirect(v, p, r);
    return e ? *e : std::string("<no error>");
  };
  // Out-of-range tensor read, with the location of the index.
  ast::Variant oob;
  ast::TensorDecl t;
  t.name = "slopes";
  t.dims.push_back({"H", 0, {}});
  oob.tensors.push_back(std::move(t));
  oob.bias = stmt(index("slopes", 3, 10, bin(OpKind::Add, name("h"), name("j"))));
  Problem p2 = p;
  p2.tensors["slopes"] = Array{{2}, {0.5, 0.25}};
  std::string e = errorOf(oob, p2);
  EXPECT_NE(e.find("1:1: error: index 2 is out of range for dimension 1 of tensor 'slopes' (size 2)"),
            std::string::npos) << e;
  EXPECT_NE(e.find("(at b=0, h=0, i=1, j=2)"), std::string::npos) << e;
  // Missing and wrongly shaped tensors, undeclared tensor.
  EXPECT_NE(errorOf(oob, p).find("missing tensor 'slopes' (declared as f32[H])"),
            std::string::npos);
  Problem p3 = p;
  p3.tensors["slopes"] = Array{{3}, {1, 2, 3}};
  EXPECT_NE(errorOf(oob, p3).find("tensor 'slopes' has shape [3], expected f32[H] = [2]"),
            std::string::npos) << errorOf(oob, p3);
  ast::Variant plain;
  EXPECT_NE(errorOf(plain, p2).find("tensor 'slopes' is not declared"),
            std::string::npos);
  // Params: unknown, missing, wrong type.
  Problem p4 = p;
  p4.params["window"] = 3;
  EXPECT_NE(errorOf(plain, p4).find("unknown param 'window'"), std::string::npos);
  ast::Variant win;
  ast::ParamDecl pd;
  pd.name = "window";
  pd.type = ast::DeclType::I32;
  win.params.push_back(std::move(pd));
  win.mask = stmt(bin(OpKind::Lt, bin(OpKind::Sub, name("i"), name("j")), name("window")));
  EXPECT_NE(errorOf(win, p).find("missing value for param 'window'"), std::string::npos);
  p4.params["window"] = 1.5;
  EXPECT_NE(errorOf(win, p4).find("param 'window' is i32 but got 1.5"), std::string::npos);
  p4.params["window"] = 2;
  EXPECT_EQ(errorOf(win, p4), "<no error>");
  // Shapes of q/k/v.
  Problem p5 = randomProblem(1, 3, 2, 3, 4, 4, 16);
  EXPECT_NE(errorOf(plain, p5).find("H = 3 is not a multiple of"), std::string::npos);
  Problem p6 = p;
  p6.v.shape = {1, 2, 5, 4};
  p6.v.data.resize(40);
  EXPECT_NE(errorOf(plain, p6).find("v has shape [1, 2, 5, 4], expected the shape of k [1, 2, 4, 4]"),
            std::string::npos) << errorOf(plain, p6);
  Problem p7 = p;
  p7.q.shape = {2, 3, 4};
  EXPECT_NE(errorOf(plain, p7).find("'q' must have rank 4"), std::string::npos);
}

} // namespace
