//===- FrontendTest.cpp - Unit tests of the AST, Sema and diagnostics -----===//
#include "frontend/Frontend.h"

#include <gtest/gtest.h>

#include <random>
#include <sstream>

using namespace attn;
using namespace attn::ast;

namespace {

struct Parsed {
  std::unique_ptr<DiagnosticEngine> diags;
  std::unique_ptr<Module> module;
  bool ok = false;
};

Parsed parseCheck(const std::string &src) {
  Parsed p;
  p.diags = std::make_unique<DiagnosticEngine>("t.attn", src);
  p.module = parseSource(*p.diags);
  if (!p.diags->hasErrors())
    checkModule(*p.module, *p.diags);
  p.ok = !p.diags->hasErrors();
  return p;
}

std::string allDiags(const DiagnosticEngine &d) {
  std::ostringstream os;
  d.print(os);
  return os.str();
}

/// Checks `let t = EXPR;` in a variant with a few declarations and returns
/// the let's type (Unknown and a failure when it does not check).
Type typeOf(const std::string &expr) {
  std::string src = "variant v { param x: f32 = 1.0; param n: i32 = 2; "
                    "param c: bool = true; tensor tab: f32[H, 8]; "
                    "tensor doc: i32[B, Skv]; let t = " +
                    expr + "; }";
  Parsed p = parseCheck(src);
  EXPECT_TRUE(p.ok) << expr << "\n" << allDiags(*p.diags);
  if (!p.ok)
    return Type::Unknown;
  return p.module->variants[0].lets.back().value->type;
}

TEST(Sema, ExpressionTypes) {
  struct Case {
    const char *expr;
    Type type;
  } cases[] = {
      {"1", Type::Int},
      {"1.5", Type::Float},
      {"true", Type::Bool},
      {"i - j", Type::Int},
      {"i / 2 % 3", Type::Int},
      {"i * 0.5", Type::Float},
      {"x + n", Type::Float},
      {"n + n", Type::Int},
      {"exp(i)", Type::Float},
      {"exp2(n) + log(1) + log2(2) + sqrt(4) + rsqrt(4)", Type::Float},
      {"tanh(1) + sigmoid(1) + softplus(1)", Type::Float},
      {"abs(i)", Type::Int},
      {"abs(x)", Type::Float},
      {"min(i, j)", Type::Int},
      {"max(i, 1.0)", Type::Float},
      {"clamp(j - i, -16, 15)", Type::Int},
      {"clamp(x, 0, 1)", Type::Float},
      {"floor(i) + ceil(j) + relu(i)", Type::Int},
      {"floor(x)", Type::Float},
      {"select(c, 1, 2)", Type::Int},
      {"select(c, 1, 2.0)", Type::Float},
      {"select(c, c, false)", Type::Bool},
      {"c ? n : x", Type::Float},
      {"i < j", Type::Bool},
      {"x >= n", Type::Bool},
      {"c == false", Type::Bool},
      {"i != 1.0", Type::Bool},
      {"c && !c || i == j", Type::Bool},
      {"tab[h, 3]", Type::Float},
      {"doc[b, j]", Type::Int},
      {"-doc[b, j]", Type::Int},
      {"-x", Type::Float},
      {"scale", Type::Float},
      {"B + H + Hkv + Sq + Skv + D", Type::Int},
      {"qk", Type::Float},
      {"dot(q, k)", Type::Float},
      {"sum[d](q[d] * k[d])", Type::Float},
      {"sum[e](q[e] * k[e] * h)", Type::Float},
  };
  for (const Case &c : cases)
    EXPECT_EQ(typeOf(c.expr), c.type) << c.expr;
}

TEST(Sema, Resolution) {
  Parsed p = parseCheck(R"(
variant v {
  param w0: f32 = 1.0;
  param n: i32 = 2;
  tensor t1: f32[H];
  tensor t2: i32[B, Skv];
  let r = j - i;
  let r2 = r * n;
  score = qk + dot(q, k) + sum[e](q[e] * k[e]) + t1[h] + w0 + r2 + D + scale;
  norm = custom {
    m = max_j(s);
    w = exp(s - m) + t2[b, j];
  };
})");
  ASSERT_TRUE(p.ok) << allDiags(*p.diags);
  const Variant &v = p.module->variants[0];
  // let r2 = r * n
  const Expr &r2 = *v.lets[1].value;
  EXPECT_EQ(r2.args[0]->ref, RefKind::Let);
  EXPECT_EQ(r2.args[0]->refIndex, 0);
  EXPECT_EQ(r2.args[1]->ref, RefKind::Param);
  EXPECT_EQ(r2.args[1]->refIndex, 1);
  const Expr &r = *v.lets[0].value;
  EXPECT_EQ(r.args[0]->ref, RefKind::IndexVar);
  EXPECT_EQ(r.args[0]->refIndex, 3);
  EXPECT_EQ(r.args[1]->refIndex, 2);

  // Flatten the score's left-nested sum.
  std::vector<const Expr *> terms;
  const Expr *e = v.score->value.get();
  while (e->kind == ExprKind::Binary && e->op == OpKind::Add) {
    terms.insert(terms.begin(), e->args[1].get());
    e = e->args[0].get();
  }
  terms.insert(terms.begin(), e);
  ASSERT_EQ(terms.size(), 8u);
  EXPECT_EQ(terms[0]->ref, RefKind::QK);
  EXPECT_EQ(terms[1]->ref, RefKind::Dot);
  EXPECT_EQ(terms[2]->kind, ExprKind::SumD);
  EXPECT_EQ(terms[2]->name, "e");
  const Expr &prod = *terms[2]->args[0];
  EXPECT_EQ(prod.args[0]->ref, RefKind::QElem);
  EXPECT_EQ(prod.args[1]->ref, RefKind::KElem);
  EXPECT_EQ(prod.args[0]->args[0]->ref, RefKind::HeadIndex);
  EXPECT_EQ(terms[3]->ref, RefKind::Tensor);
  EXPECT_EQ(terms[3]->refIndex, 0);
  EXPECT_EQ(terms[3]->args[0]->ref, RefKind::IndexVar);
  EXPECT_EQ(terms[3]->args[0]->refIndex, 1);
  EXPECT_EQ(terms[4]->ref, RefKind::Param);
  EXPECT_EQ(terms[4]->refIndex, 0);
  EXPECT_EQ(terms[5]->ref, RefKind::Let);
  EXPECT_EQ(terms[5]->refIndex, 1);
  EXPECT_EQ(terms[6]->ref, RefKind::Size);
  EXPECT_EQ(terms[6]->refIndex, 5);
  EXPECT_EQ(terms[7]->ref, RefKind::Scale);

  ASSERT_TRUE(v.norm);
  EXPECT_EQ(v.norm->kind, NormKind::Custom);
  ASSERT_EQ(v.norm->custom.size(), 2u);
  const Expr &m = *v.norm->custom[0].value;
  EXPECT_EQ(m.ref, RefKind::RowReduce);
  EXPECT_EQ(m.args[0]->ref, RefKind::NormScore);
  const Expr &w = *v.norm->custom[1].value;
  const Expr &expCall = *w.args[0];
  EXPECT_EQ(expCall.ref, RefKind::Builtin);
  EXPECT_EQ(expCall.args[0]->args[1]->ref, RefKind::NormLocal);
  EXPECT_EQ(expCall.args[0]->args[1]->refIndex, 0);
  EXPECT_EQ(w.args[1]->ref, RefKind::Tensor);
  EXPECT_EQ(w.args[1]->refIndex, 1);
}

TEST(Sema, ParamDefaultsBecomeLiteralsOfTheDeclaredType) {
  Parsed p = parseCheck("variant v { param a: f32 = 3; param p2: f32 = -2.5; "
                        "param c: i32 = -7; param d: bool = false; param e: f32; }");
  ASSERT_TRUE(p.ok) << allDiags(*p.diags);
  const auto &ps = p.module->variants[0].params;
  EXPECT_EQ(ps[0].defaultValue->kind, ExprKind::FloatLit);
  EXPECT_EQ(ps[0].defaultValue->fval, 3.0);
  EXPECT_EQ(ps[0].defaultValue->type, Type::Float);
  EXPECT_EQ(ps[1].defaultValue->kind, ExprKind::FloatLit);
  EXPECT_EQ(ps[1].defaultValue->fval, -2.5);
  EXPECT_EQ(ps[2].defaultValue->kind, ExprKind::IntLit);
  EXPECT_EQ(ps[2].defaultValue->ival, -7);
  EXPECT_EQ(ps[3].defaultValue->kind, ExprKind::BoolLit);
  EXPECT_EQ(ps[3].defaultValue->ival, 0);
  EXPECT_EQ(ps[4].defaultValue, nullptr);
}

TEST(Sema, ErrorCounts) {
  struct Case {
    const char *src;
    unsigned errors;
    const char *firstMessage;
  } cases[] = {
      {"variant v { mask = j <= i; }", 0, ""},
      {"variant v { bias = foo; }", 1, "unknown name 'foo'"},
      {"variant v { mask = i; }", 1, "mask must be a boolean"},
      {"variant v { bias = qk; mask = qk > 0; }", 2, "'qk' is only allowed in 'score'"},
      {"variant v { let a = qk; score = a; bias = a; }", 1, "let 'a' uses 'qk'"},
      {"variant v { let a = p; let p = a; bias = a; }", 1, "depends on itself"},
      {"variant v { bias = 1 / 0; }", 1, "division by zero"},
      {"variant v { tensor t: f32[4]; bias = t[4] + t[3] + t[-1]; }", 2, "out of range"},
      {"variant v { bias = exp(1, 2) + clamp(1); }", 2, "'exp' takes 1 argument"},
      {"variant v { param p: i32 = 1.5; }", 1, "is not an integer"},
      {"variant v { norm = custom { m = max_j(s); }; }", 1, "must end by assigning 'w'"},
      {"variant v { norm = softmax(sink = j); }", 1, "cannot depend on 'j'"},
      {"variant v { scale = scale; }", 1, "cannot refer to 'scale'"},
      {"variant v { } variant v { }", 1, "redefinition of variant 'v'"},
      {"variant v { param x: f32; let x = 1; }", 1, "redefinition of 'x'"},
      {"variant v { param h: f32; }", 1, "the name is built in"},
      {"variant v { bias = sum_j(1); }", 1, "only allowed inside a custom norm"},
      {"variant v { score = q[d]; }", 1, "can only be used inside sum[d]"},
      {"variant v { score = sum[d](q[d] * k[d] * d); }", 1, "'d' can only index q and k"},
      {"variant v { bias = 1 +; mask = ; }", 2, "expected an expression"},
      {"variant v { tensor f: bool[Skv]; mask = f[j]; }", 1, "element type bool"},
  };
  for (const Case &c : cases) {
    Parsed p = parseCheck(c.src);
    EXPECT_EQ(p.diags->errorCount(), c.errors) << c.src << "\n" << allDiags(*p.diags);
    if (c.errors && !p.diags->diagnostics().empty())
      EXPECT_NE(p.diags->diagnostics()[0].message.find(c.firstMessage),
                std::string::npos)
          << c.src << "\n" << allDiags(*p.diags);
  }
}

TEST(Frontend, ParseAndCheckReturnsNullOnError) {
  DiagnosticEngine good("g.attn", "variant causal { mask = j <= i; }");
  auto m = parseAndCheck(good);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->fileName, "g.attn");
  EXPECT_EQ(m->variants.size(), 1u);
  DiagnosticEngine bad("b.attn", "variant causal { mask = j <= ii; }");
  EXPECT_EQ(parseAndCheck(bad), nullptr);
  EXPECT_EQ(bad.errorCount(), 1u);
  // Reentrant: a second parse in the same process sees fresh state.
  DiagnosticEngine again("g.attn", "variant causal { mask = j <= i; }");
  EXPECT_NE(parseAndCheck(again), nullptr);
}

TEST(AST, DumpIsStable) {
  Parsed p = parseCheck("variant a { param m: f32 = 8.0; tensor t: f32[H, 32];\n"
                        "  let r = clamp(j - i, -16, 15) + 16;\n"
                        "  bias = -exp2(-m * (h + 1) / H) * (i - j) + t[h, r];\n"
                        "  mask = j <= i; norm = softmax(sink = t[h, 0]); }");
  ASSERT_TRUE(p.ok) << allDiags(*p.diags);
  EXPECT_EQ(dump(*p.module),
            "(module\n"
            "  (variant a\n"
            "    (param m f32 8.0)\n"
            "    (tensor t f32 [H 32])\n"
            "    (let r (+ (call clamp (- j i) -16 15) 16))\n"
            "    (bias (+ (* (neg (call exp2 (/ (* (neg m) (+ h 1)) H))) (- i j)) "
            "(index t h r)))\n"
            "    (mask (<= j i))\n"
            "    (norm softmax (sink (index t h 0)))))\n");
}

TEST(AST, Names) {
  EXPECT_STREQ(typeName(Type::Float), "float");
  EXPECT_STREQ(declTypeName(DeclType::I32), "i32");
  EXPECT_EQ(declTypeToType(DeclType::Bool), Type::Bool);
  EXPECT_STREQ(normKindName(NormKind::Relu2), "relu2");
  EXPECT_STREQ(kIndexNames[3], "j");
  EXPECT_STREQ(kSizeNames[2], "Hkv");
  EXPECT_EQ(formatFloat(30.0), "30.0");
  EXPECT_EQ(formatFloat(0.001), "0.001");
  EXPECT_EQ(formatFloat(-2.5), "-2.5");
}

TEST(Diagnostics, CaretAndRange) {
  DiagnosticEngine d("f.attn", "line one\n\tx = foo + 1;\n");
  d.error({{2, 6}, {2, 8}}, "unknown name 'foo'");
  d.warning({{1, 1}, {1, 1}}, "careful");
  d.note({}, "no location");
  std::ostringstream os;
  d.print(os);
  EXPECT_EQ(os.str(), "f.attn:2:6: error: unknown name 'foo'\n"
                      "\tx = foo + 1;\n"
                      "\t    ^~~\n"
                      "f.attn:1:1: warning: careful\n"
                      "line one\n"
                      "^\n"
                      "f.attn: note: no location\n");
  EXPECT_EQ(d.errorCount(), 1u);
}

TEST(Diagnostics, ErrorLimit) {
  DiagnosticEngine d("f.attn", "x\n");
  for (int i = 0; i < 100; ++i) {
    d.error({{1, 1}, {1, 1}}, "e");
    d.note({{1, 1}, {1, 1}}, "n");
  }
  unsigned errors = 0, notes = 0;
  for (const Diagnostic &x : d.diagnostics())
    (x.severity == Severity::Error ? errors : notes)++;
  EXPECT_EQ(errors, DiagnosticEngine::kMaxErrors);
  EXPECT_EQ(notes, DiagnosticEngine::kMaxErrors + 1); // one note per error + "too many"
  EXPECT_EQ(d.diagnostics().back().message, "too many errors emitted, stopping now");
}

TEST(Frontend, RandomTokenSoupNeverCrashes) {
  const char *pieces[] = {"variant", "v", "{", "}", "param", "tensor", "let", "norm",
                          "custom", "sum", "[", "]", "(", ")", ";", ":", ",", "=",
                          "==", "+", "-", "*", "/", "%", "?", "!", "&&", "||", "<",
                          "i", "j", "qk", "q", "k", "s", "d", "1", "0", "2.5", "f32",
                          "i32", "bool", "score", "bias", "mask", "scale", "w",
                          "max_j", "exp", "softmax", "sink", "\n", "#", "\x01", "@"};
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string src;
    int n = rng() % 60;
    for (int t = 0; t < n; ++t) {
      src += pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))];
      src += ' ';
    }
    DiagnosticEngine d("r.attn", src);
    auto m = parseAndCheck(d);
    EXPECT_EQ(m == nullptr, d.hasErrors()) << src;
    std::ostringstream os;
    d.print(os);
  }
}

} // namespace
