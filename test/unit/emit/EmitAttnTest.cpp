//===- EmitAttnTest.cpp - AST -> attn emission on hand-built trees --------===//
//
// Builds checked ASTs by hand (as Sema would leave them), emits the attn
// dialect and checks its structure. Numerical checks fold the emitted IR with
// the canonicaliser (constant operands) and compare against an independent
// float64 evaluation on random inputs.
//
//===----------------------------------------------------------------------===//
#include "frontend/emit/EmitAttn.h"

#include "dialects/attn/AttnDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace attn;
using namespace attn::ast;

namespace {

//===----------------------------------------------------------------------===//
// AST construction helpers (the annotations Sema would fill in)
//===----------------------------------------------------------------------===//

SourceRange at(unsigned line, unsigned col = 1) { return {{line, col}, {line, col}}; }

ExprPtr intLit(int64_t v) {
  auto e = std::make_unique<Expr>(ExprKind::IntLit, at(1));
  e->ival = v;
  e->type = Type::Int;
  return e;
}
ExprPtr floatLit(double v) {
  auto e = std::make_unique<Expr>(ExprKind::FloatLit, at(1));
  e->fval = v;
  e->type = Type::Float;
  return e;
}
ExprPtr name(const char *n, RefKind ref, int idx, Type t) {
  auto e = std::make_unique<Expr>(ExprKind::Name, at(1));
  e->name = n;
  e->ref = ref;
  e->refIndex = idx;
  e->type = t;
  return e;
}
ExprPtr var(int k) {
  static const char *names[] = {"b", "h", "i", "j"};
  return name(names[k], RefKind::IndexVar, k, Type::Int);
}
ExprPtr bin(OpKind op, ExprPtr a, ExprPtr b, Type t) {
  auto e = std::make_unique<Expr>(ExprKind::Binary, at(2, 5));
  e->op = op;
  e->args.push_back(std::move(a));
  e->args.push_back(std::move(b));
  e->type = t;
  return e;
}
ExprPtr neg(ExprPtr a) {
  auto e = std::make_unique<Expr>(ExprKind::Unary, at(1));
  e->op = OpKind::Neg;
  e->type = a->type;
  e->args.push_back(std::move(a));
  return e;
}
ExprPtr call(const char *n, std::vector<ExprPtr> args, Type t,
             RefKind ref = RefKind::Builtin) {
  auto e = std::make_unique<Expr>(ExprKind::Call, at(3));
  e->name = n;
  e->ref = ref;
  e->type = t;
  for (auto &a : args)
    e->args.push_back(std::move(a));
  return e;
}
ExprPtr call1(const char *n, ExprPtr a, Type t, RefKind ref = RefKind::Builtin) {
  std::vector<ExprPtr> args;
  args.push_back(std::move(a));
  return call(n, std::move(args), t, ref);
}
ExprPtr floatConst(double v) {
  return v < 0 ? neg(floatLit(-v)) : floatLit(v);
}
ExprPtr intConst(int64_t v) { return v < 0 ? neg(intLit(-v)) : intLit(v); }

SingleStmt stmt(ExprPtr e) {
  SingleStmt s;
  s.loc = at(4, 3);
  s.value = std::move(e);
  return s;
}

//===----------------------------------------------------------------------===//
// Fixture
//===----------------------------------------------------------------------===//

class EmitAttnTest : public ::testing::Test {
protected:
  EmitAttnTest() { ctx.loadDialect<AttnDialect>(); }

  /// Emits `m`; on failure returns null and leaves the diagnostics in `errors`.
  mlir::OwningOpRef<mlir::ModuleOp> emit(const Module &m, llvm::StringRef only = "") {
    mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &d) {
      errors += d.str() + "\n";
      return mlir::success();
    });
    return emitAttnModule(ctx, m, only);
  }
  static std::string print(mlir::Operation *op) {
    std::string s;
    llvm::raw_string_ostream os(s);
    op->print(os);
    return s;
  }
  static size_t count(const std::string &text, const std::string &what) {
    size_t n = 0;
    for (size_t p = text.find(what); p != std::string::npos;
         p = text.find(what, p + 1))
      ++n;
    return n;
  }
  /// Canonicalises `m` and returns the constant the bias statement yields.
  std::optional<double> foldedBias(mlir::ModuleOp m) {
    mlir::PassManager pm(&ctx);
    pm.addPass(mlir::createCanonicalizerPass());
    if (mlir::failed(pm.run(m)))
      return std::nullopt;
    std::optional<double> result;
    m.walk([&](BiasOp bias) {
      auto yield = llvm::cast<YieldOp>(bias.getBody().front().getTerminator());
      mlir::FloatAttr f;
      if (mlir::matchPattern(yield.getValues()[0], mlir::m_Constant(&f)))
        result = f.getValueAsDouble();
    });
    return result;
  }
  /// A module with one variant whose bias is `e`.
  static Module biasModule(ExprPtr e) {
    Module m;
    m.fileName = "t.attn";
    Variant v;
    v.name = "v";
    v.bias = stmt(std::move(e));
    m.variants.push_back(std::move(v));
    return m;
  }

  mlir::MLIRContext ctx;
  std::string errors;
};

//===----------------------------------------------------------------------===//
// Structure
//===----------------------------------------------------------------------===//

TEST_F(EmitAttnTest, DeclarationsAndEmptyVariant) {
  Module m;
  m.fileName = "decls.attn";
  Variant v;
  v.name = "decls";
  ParamDecl w;
  w.name = "window";
  w.type = DeclType::I32;
  w.defaultValue = intLit(1024);
  v.params.push_back(std::move(w));
  ParamDecl mb;
  mb.name = "max_bias";
  mb.type = DeclType::F32;
  mb.defaultValue = intLit(8); // an int default of an f32 param
  v.params.push_back(std::move(mb));
  ParamDecl b0;
  b0.name = "b0";
  b0.type = DeclType::F32;
  b0.defaultValue = neg(floatLit(6.0));
  v.params.push_back(std::move(b0));
  ParamDecl flag;
  flag.name = "flag";
  flag.type = DeclType::Bool;
  v.params.push_back(std::move(flag));
  TensorDecl t;
  t.name = "table";
  t.elemType = DeclType::F32;
  t.dims.push_back({"H", 0, at(1)});
  t.dims.push_back({"", 32, at(1)});
  v.tensors.push_back(std::move(t));
  m.variants.push_back(std::move(v));
  Variant full;
  full.name = "full";
  m.variants.push_back(std::move(full));

  auto mod = emit(m);
  ASSERT_TRUE(mod) << errors;
  std::string text = print(*mod);
  EXPECT_NE(text.find("attn.param @window : i32 = 1024 : i32"), std::string::npos) << text;
  EXPECT_NE(text.find("attn.param @max_bias : f32 = 8.000000e+00 : f32"), std::string::npos) << text;
  EXPECT_NE(text.find("attn.param @b0 : f32 = -6.000000e+00 : f32"), std::string::npos) << text;
  EXPECT_NE(text.find("attn.param @flag : i1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("attn.tensor @table : f32 [\"H\", 32]"), std::string::npos) << text;
  EXPECT_NE(text.find("attn.variant @full {\n  }"), std::string::npos) << text;

  // --variant selection.
  auto one = emit(m, "full");
  ASSERT_TRUE(one);
  EXPECT_EQ(count(print(*one), "attn.variant"), 1u);
  EXPECT_FALSE(emit(m, "nosuch"));
}

TEST_F(EmitAttnTest, IntToFloatPromotion) {
  // bias = i + 0.5  ->  sitofp %i, addf
  Module m = biasModule(bin(OpKind::Add, var(2), floatLit(0.5), Type::Float));
  auto mod = emit(m);
  ASSERT_TRUE(mod) << errors;
  std::string text = print(*mod);
  EXPECT_NE(text.find("arith.sitofp %i : i64 to f32"), std::string::npos) << text;
  EXPECT_NE(text.find("arith.addf"), std::string::npos) << text;
  EXPECT_EQ(text.find("arith.addi"), std::string::npos) << text;

  // bias = i - j (an int bias) is computed on i64 and converted at the end.
  Module m2 = biasModule(bin(OpKind::Sub, var(2), var(3), Type::Int));
  auto mod2 = emit(m2);
  ASSERT_TRUE(mod2) << errors;
  std::string t2 = print(*mod2);
  EXPECT_NE(t2.find("arith.subi %i, %j : i64"), std::string::npos) << t2;
  EXPECT_NE(t2.find("arith.sitofp"), std::string::npos) << t2;
}

TEST_F(EmitAttnTest, IntegerDivisionIsFloorDivision) {
  // mask = (i - j) / 2 % W == 0   with W an i32 param read as i64
  Module m;
  m.fileName = "fd.attn";
  Variant v;
  v.name = "fd";
  ParamDecl w;
  w.name = "W";
  w.type = DeclType::I32;
  w.defaultValue = intLit(64);
  v.params.push_back(std::move(w));
  auto quot = bin(OpKind::Div, bin(OpKind::Sub, var(2), var(3), Type::Int),
                  intLit(2), Type::Int);
  auto rem = bin(OpKind::Mod, std::move(quot), name("W", RefKind::Param, 0, Type::Int),
                 Type::Int);
  v.mask = stmt(bin(OpKind::Eq, std::move(rem), intLit(0), Type::Bool));
  m.variants.push_back(std::move(v));
  auto mod = emit(m);
  ASSERT_TRUE(mod) << errors;
  std::string text = print(*mod);
  EXPECT_NE(text.find("%W = attn.get_param @W : i64"), std::string::npos) << text;
  EXPECT_NE(text.find("attn.floordiv"), std::string::npos) << text;
  EXPECT_NE(text.find("attn.floormod"), std::string::npos) << text;
  EXPECT_NE(text.find("arith.cmpi eq"), std::string::npos) << text;
  EXPECT_EQ(text.find("arith.divsi"), std::string::npos) << text;
}

TEST_F(EmitAttnTest, FloorDivModMatchPythonOnRandomInts) {
  // Reference: float64 floor(a / b) and a - b * floor(a / b) (exact here).
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> dist(-50, 50);
  for (int iter = 0; iter < 40; ++iter) {
    int64_t a = dist(rng), b = dist(rng);
    if (b == 0)
      b = 3;
    double q = std::floor(double(a) / double(b));
    double r = double(a) - double(b) * q;
    // bias = (a / b) * 1000 + a % b
    auto e = bin(OpKind::Add,
                 bin(OpKind::Mul, bin(OpKind::Div, intConst(a), intConst(b), Type::Int),
                     intLit(1000), Type::Int),
                 bin(OpKind::Mod, intConst(a), intConst(b), Type::Int), Type::Int);
    Module m = biasModule(std::move(e));
    auto mod = emit(m);
    ASSERT_TRUE(mod) << errors;
    auto got = foldedBias(*mod);
    ASSERT_TRUE(got) << print(*mod);
    EXPECT_EQ(*got, q * 1000 + r) << a << " / " << b;
  }
}

TEST_F(EmitAttnTest, FloatModIsPythonModOnRandomFloats) {
  // Reference: float64 a - b * floor(a / b) on the f32-rounded inputs;
  // tolerance 1e-5 * |b| (f32 remainder).
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> da(-100, 100), db(0.5, 10);
  for (int iter = 0; iter < 40; ++iter) {
    double a = float(da(rng));
    double b = float(db(rng) * (iter % 2 ? -1 : 1));
    double want = a - b * std::floor(a / b);
    Module m = biasModule(bin(OpKind::Mod, floatConst(a), floatConst(b), Type::Float));
    auto mod = emit(m);
    ASSERT_TRUE(mod) << errors;
    auto got = foldedBias(*mod);
    ASSERT_TRUE(got) << print(*mod);
    EXPECT_NEAR(*got, want, 1e-5 * std::fabs(b)) << a << " % " << b;
  }
}

TEST_F(EmitAttnTest, BuiltinsMatchFloat64OnRandomInputs) {
  // Each built-in on random constants, folded, against <cmath> in float64.
  // Tolerance: 2e-6 relative + 1e-6 absolute (f32 evaluation).
  struct Case {
    const char *fn;
    double (*ref)(double);
  };
  const Case cases[] = {
      {"exp", [](double x) { return std::exp(x); }},
      {"exp2", [](double x) { return std::exp2(x); }},
      {"tanh", [](double x) { return std::tanh(x); }},
      {"abs", [](double x) { return std::fabs(x); }},
      {"relu", [](double x) { return x > 0 ? x : 0.0; }},
      {"sigmoid", [](double x) { return 1.0 / (1.0 + std::exp(-x)); }},
      {"softplus", [](double x) { return std::log(1.0 + std::exp(x)); }},
      {"floor", [](double x) { return std::floor(x); }},
      {"ceil", [](double x) { return std::ceil(x); }},
  };
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> dist(-8, 8);
  for (const Case &c : cases) {
    for (int iter = 0; iter < 8; ++iter) {
      double x = float(dist(rng));
      Module m = biasModule(call1(c.fn, floatConst(x), Type::Float));
      auto mod = emit(m);
      ASSERT_TRUE(mod) << errors;
      auto got = foldedBias(*mod);
      ASSERT_TRUE(got) << c.fn << ": did not fold\n" << print(*mod);
      double want = c.ref(x);
      EXPECT_NEAR(*got, want, 2e-6 * std::fabs(want) + 1e-6) << c.fn << "(" << x << ")";
    }
  }
  // clamp(x, lo, hi) and min/max on ints and floats.
  for (int iter = 0; iter < 16; ++iter) {
    double x = float(dist(rng)), lo = float(dist(rng)), hi = float(dist(rng));
    if (lo > hi)
      std::swap(lo, hi);
    std::vector<ExprPtr> args;
    args.push_back(floatConst(x));
    args.push_back(floatConst(lo));
    args.push_back(floatConst(hi));
    Module m = biasModule(call("clamp", std::move(args), Type::Float));
    auto mod = emit(m);
    ASSERT_TRUE(mod) << errors;
    auto got = foldedBias(*mod);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, std::min(std::max(x, lo), hi));

    int64_t a = int64_t(dist(rng) * 4), b = int64_t(dist(rng) * 4);
    std::vector<ExprPtr> mm;
    mm.push_back(intConst(a));
    mm.push_back(intConst(b));
    Module m2 = biasModule(call(iter % 2 ? "min" : "max", std::move(mm), Type::Int));
    auto mod2 = emit(m2);
    ASSERT_TRUE(mod2) << errors;
    auto got2 = foldedBias(*mod2);
    ASSERT_TRUE(got2);
    EXPECT_EQ(*got2, double(iter % 2 ? std::min(a, b) : std::max(a, b)));
  }
}

TEST_F(EmitAttnTest, MathOfIntConvertsToFloat) {
  Module m = biasModule(call1("exp2", var(1), Type::Float));
  auto mod = emit(m);
  ASSERT_TRUE(mod) << errors;
  std::string text = print(*mod);
  EXPECT_NE(text.find("arith.sitofp %h : i64 to f32"), std::string::npos) << text;
  EXPECT_NE(text.find("math.exp2"), std::string::npos) << text;
  // floor of an int is the int itself.
  Module m2 = biasModule(call1("floor", var(2), Type::Int));
  auto mod2 = emit(m2);
  ASSERT_TRUE(mod2) << errors;
  EXPECT_EQ(print(*mod2).find("math.floor"), std::string::npos);
}

TEST_F(EmitAttnTest, LetIsEmittedOncePerRegion) {
  // let rel = i - j;  bias = rel * rel + rel;  mask = rel >= 0;
  Module m;
  m.fileName = "let.attn";
  Variant v;
  v.name = "lets";
  LetDecl rel;
  rel.name = "rel";
  rel.value = bin(OpKind::Sub, var(2), var(3), Type::Int);
  v.lets.push_back(std::move(rel));
  auto relRef = [] { return name("rel", RefKind::Let, 0, Type::Int); };
  v.bias = stmt(bin(OpKind::Add, bin(OpKind::Mul, relRef(), relRef(), Type::Int),
                    relRef(), Type::Int));
  v.mask = stmt(bin(OpKind::Ge, relRef(), intLit(0), Type::Bool));
  m.variants.push_back(std::move(v));
  auto mod = emit(m);
  ASSERT_TRUE(mod) << errors;
  std::string text = print(*mod);
  // Once in the bias region, once in the mask region.
  EXPECT_EQ(count(text, "arith.subi %i, %j"), 2u) << text;
  EXPECT_EQ(count(text, "arith.muli"), 1u) << text;
}

TEST_F(EmitAttnTest, ScoreWithSumD) {
  // score = -sum[d]((q[d] - k[d]) * (q[d] - k[d])) * scale + qk
  auto qd = [] {
    auto e = std::make_unique<Expr>(ExprKind::Index, at(1));
    e->name = "q";
    e->ref = RefKind::QElem;
    e->type = Type::Float;
    e->args.push_back(name("d", RefKind::HeadIndex, 0, Type::Int));
    return e;
  };
  auto kd = [] {
    auto e = std::make_unique<Expr>(ExprKind::Index, at(1));
    e->name = "k";
    e->ref = RefKind::KElem;
    e->type = Type::Float;
    e->args.push_back(name("d", RefKind::HeadIndex, 0, Type::Int));
    return e;
  };
  auto diff = [&] { return bin(OpKind::Sub, qd(), kd(), Type::Float); };
  auto sum = std::make_unique<Expr>(ExprKind::SumD, at(1));
  sum->name = "d";
  sum->type = Type::Float;
  sum->args.push_back(bin(OpKind::Mul, diff(), diff(), Type::Float));
  auto e = bin(OpKind::Add,
               bin(OpKind::Mul, neg(std::move(sum)),
                   name("scale", RefKind::Scale, -1, Type::Float), Type::Float),
               name("qk", RefKind::QK, -1, Type::Float), Type::Float);
  Module m;
  m.fileName = "l2.attn";
  Variant v;
  v.name = "l2";
  v.score = stmt(std::move(e));
  m.variants.push_back(std::move(v));
  auto mod = emit(m);
  ASSERT_TRUE(mod) << errors;
  std::string text = print(*mod);
  EXPECT_NE(text.find("%sum_d = attn.sum_d {\n      ^bb0(%d: i64):"), std::string::npos) << text;
  // q[d] and k[d] are read once each and reused.
  EXPECT_EQ(count(text, "attn.q %d"), 1u) << text;
  EXPECT_EQ(count(text, "attn.k %d"), 1u) << text;
  EXPECT_NE(text.find("%scale = attn.get_scale"), std::string::npos) << text;
  EXPECT_NE(text.find("%qk = attn.qk"), std::string::npos) << text;

  // The same score as a bias is rejected (Sema's job; the emitter refuses too).
  Module bad = biasModule(name("qk", RefKind::QK, -1, Type::Float));
  EXPECT_FALSE(emit(bad));
  EXPECT_NE(errors.find("'qk' may only be used in score"), std::string::npos) << errors;
}

TEST_F(EmitAttnTest, CustomNormReductions) {
  // m = max_j(s); z = sum_j(exp(s - m)); n = sum_j(exp(s - max_j(s)));
  // w = exp(s - m) / (z + n);
  auto s = [] { return name("s", RefKind::NormScore, -1, Type::Float); };
  auto local = [](const char *n, int k) { return name(n, RefKind::NormLocal, k, Type::Float); };
  NormSpec norm;
  norm.kind = ast::NormKind::Custom;
  norm.loc = at(5, 10);
  NormAssign a0{"m", at(6), call1("max_j", s(), Type::Float, RefKind::RowReduce)};
  NormAssign a1{"z", at(7),
                call1("sum_j",
                      call1("exp", bin(OpKind::Sub, s(), local("m", 0), Type::Float),
                            Type::Float),
                      Type::Float, RefKind::RowReduce)};
  NormAssign a2{"n", at(8),
                call1("sum_j",
                      call1("exp",
                            bin(OpKind::Sub, s(),
                                call1("max_j", s(), Type::Float, RefKind::RowReduce),
                                Type::Float),
                            Type::Float),
                      Type::Float, RefKind::RowReduce)};
  NormAssign a3{"w", at(9),
                bin(OpKind::Div,
                    call1("exp", bin(OpKind::Sub, s(), local("m", 0), Type::Float),
                          Type::Float),
                    bin(OpKind::Add, local("z", 1), local("n", 2), Type::Float),
                    Type::Float)};
  norm.custom.push_back(std::move(a0));
  norm.custom.push_back(std::move(a1));
  norm.custom.push_back(std::move(a2));
  norm.custom.push_back(std::move(a3));
  Module m;
  m.fileName = "custom.attn";
  Variant v;
  v.name = "custom";
  v.norm = std::move(norm);
  m.variants.push_back(std::move(v));
  auto mod = emit(m);
  ASSERT_TRUE(mod) << errors;
  std::string text = print(*mod);
  EXPECT_NE(text.find("attn.norm custom {\n    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):\n"
                      "      %max_j = attn.reduce_j max {\n        attn.yield %s : f32\n      }"),
            std::string::npos)
      << text;
  EXPECT_EQ(count(text, "attn.reduce_j max"), 2u) << text;
  EXPECT_EQ(count(text, "attn.reduce_j sum"), 2u) << text;
  // The nested max_j sits inside the second sum_j's region.
  size_t secondSum = text.find("attn.reduce_j sum", text.find("attn.reduce_j sum") + 1);
  EXPECT_NE(text.find("attn.reduce_j max", secondSum), std::string::npos) << text;
  // `m` is reused (one subf against %max_j per use: in sum_j and in w).
  EXPECT_EQ(count(text, "arith.subf %s, %max_j :"), 2u) << text;
  EXPECT_NE(text.find("arith.divf"), std::string::npos) << text;

  // A custom norm without `w` is refused.
  Module m2;
  m2.fileName = "now.attn";
  Variant v2;
  v2.name = "now";
  NormSpec n2;
  n2.kind = ast::NormKind::Custom;
  n2.custom.push_back(NormAssign{"m", at(1), call1("max_j", s(), Type::Float, RefKind::RowReduce)});
  v2.norm = std::move(n2);
  m2.variants.push_back(std::move(v2));
  EXPECT_FALSE(emit(m2));
  EXPECT_NE(errors.find("does not define 'w'"), std::string::npos) << errors;
}

TEST_F(EmitAttnTest, SoftmaxSinkAndLocations) {
  // tensor sinks: f32[H]; norm = softmax(sink = sinks[h]);
  Module m;
  m.fileName = "sinks.attn";
  Variant v;
  v.name = "sinks";
  TensorDecl t;
  t.name = "sinks";
  t.elemType = DeclType::F32;
  t.dims.push_back({"H", 0, at(2)});
  v.tensors.push_back(std::move(t));
  NormSpec norm;
  norm.kind = ast::NormKind::Softmax;
  norm.loc = at(5, 3);
  auto load = std::make_unique<Expr>(ExprKind::Index, at(5, 24));
  load->name = "sinks";
  load->ref = RefKind::Tensor;
  load->refIndex = 0;
  load->type = Type::Float;
  load->args.push_back(var(1));
  norm.sink = std::move(load);
  v.norm = std::move(norm);
  m.variants.push_back(std::move(v));
  auto mod = emit(m);
  ASSERT_TRUE(mod) << errors;
  std::string text = print(*mod);
  EXPECT_NE(text.find("attn.norm softmax {\n    ^bb0(%b: i64, %h: i64, %i: i64):\n"
                      "      %sinks = attn.load @sinks[%h] : f32\n      attn.yield %sinks : f32"),
            std::string::npos)
      << text;
  bool sawLoc = false;
  mod->walk([&](LoadOp op) {
    auto l = llvm::dyn_cast<mlir::FileLineColLoc>(op.getLoc());
    ASSERT_TRUE(l);
    EXPECT_EQ(l.getFilename(), "sinks.attn");
    EXPECT_EQ(l.getLine(), 5u);
    EXPECT_EQ(l.getColumn(), 24u);
    sawLoc = true;
  });
  EXPECT_TRUE(sawLoc);
}

} // namespace
