//===- ApproximateMathTest.cpp - the targets' polynomial exp / exp2 -------===//
//
// Scalar functions `exp(x)`, `exp(c * x)` (log2(e) folded into c) and
// `exp2(x)` go through the CPU target's lowering (attn-approximate-math
// included) and the JIT, and are compared with the C library over a dense
// sweep and at the special values. The bound is the one ApproximateMath.cpp
// states: relative error below 2e-7 + 1.2e-7 * |x| (the f32 rounding of
// x * log2(e), and of a folded constant c * log2(e), grows with |x|) where
// the result is a normal float; seen: 2e-7 + 1.2e-7 * |x| times 0.8.
//
//===----------------------------------------------------------------------===//
#include "compiler/targets/cpu/CpuCodegen.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <functional>
#include <limits>

namespace {

using Fn = float (*)(float);

/// A JIT-compiled module of f32 -> f32 functions built by `body`.
struct Jit {
  mlir::MLIRContext ctx;
  std::unique_ptr<mlir::ExecutionEngine> engine;

  Jit(const std::vector<std::pair<std::string, std::function<mlir::Value(mlir::OpBuilder &,
                                                                        mlir::Value)>>> &fns) {
    mlir::DialectRegistry registry;
    attn::registerCpuCodegenDialects(registry);
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
    mlir::OpBuilder b(&ctx);
    auto loc = b.getUnknownLoc();
    auto module = mlir::ModuleOp::create(loc);
    b.setInsertionPointToEnd(module.getBody());
    for (auto &[name, body] : fns) {
      auto fn = mlir::func::FuncOp::create(b, loc, name,
                                           b.getFunctionType({b.getF32Type()}, {b.getF32Type()}));
      mlir::OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(fn.addEntryBlock());
      mlir::func::ReturnOp::create(b, loc, body(b, fn.getArgument(0)));
    }
    EXPECT_TRUE(mlir::succeeded(attn::lowerCpuKernelsToLLVM(module)));
    auto e = attn::jitCompile(module);
    if (!e) {
      ADD_FAILURE() << llvm::toString(e.takeError());
      return;
    }
    engine = std::move(*e);
    module->erase();
  }
  Fn get(const std::string &name) {
    auto sym = engine->lookup(name);
    if (!sym) {
      ADD_FAILURE() << llvm::toString(sym.takeError());
      return nullptr;
    }
    return reinterpret_cast<Fn>(*sym);
  }
};

mlir::Value cst(mlir::OpBuilder &b, double v) {
  return mlir::arith::ConstantFloatOp::create(b, b.getUnknownLoc(), b.getF32Type(),
                                              llvm::APFloat(static_cast<float>(v)));
}

/// Checks fn(x) against want(x) (double) over [lo, hi] and the special values.
void sweep(Fn fn, double (*want)(double), double scale, double lo, double hi) {
  double worst = 0, worstX = 0;
  for (double x = lo; x <= hi; x += 1.0 / 1024) {
    double w = want(scale * static_cast<double>(static_cast<float>(x)));
    double got = fn(static_cast<float>(x));
    if (w < FLT_MIN) { // flushed or denormal: 0 or close to it
      EXPECT_LE(std::fabs(got), 2 * FLT_MIN) << "x = " << x;
      continue;
    }
    if (w > FLT_MAX / 2) // near overflow: finite or +inf, never NaN
      continue;
    double rel = std::fabs(got - w) / w;
    double bound = 2e-7 + 1.2e-7 * std::fabs(scale * x);
    if (rel / bound > worst) {
      worst = rel / bound;
      worstX = x;
    }
  }
  EXPECT_LE(worst, 1.0) << "worst relative error / bound at x = " << worstX;
}

double exp2d(double x) { return std::exp2(x); }
double expd(double x) { return std::exp(x); }

TEST(ApproximateMath, ExpExp2AndFoldedScale) {
  Jit jit({{"e", [](mlir::OpBuilder &b, mlir::Value x) -> mlir::Value {
              return mlir::math::ExpOp::create(b, b.getUnknownLoc(), x);
            }},
           {"e2", [](mlir::OpBuilder &b, mlir::Value x) -> mlir::Value {
              return mlir::math::Exp2Op::create(b, b.getUnknownLoc(), x);
            }},
           {"escaled", [](mlir::OpBuilder &b, mlir::Value x) -> mlir::Value {
              auto loc = b.getUnknownLoc();
              return mlir::math::ExpOp::create(
                  b, loc, mlir::arith::MulFOp::create(b, loc, cst(b, -1.5), x));
            }}});
  ASSERT_TRUE(jit.engine);
  Fn e = jit.get("e"), e2 = jit.get("e2"), es = jit.get("escaled");
  ASSERT_TRUE(e && e2 && es);
  sweep(e, expd, 1.0, -104, 89);
  sweep(e2, exp2d, 1.0, -150, 128.5);
  sweep(es, expd, -1.5, -59, 69);

  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (Fn f : {e, e2, es}) {
    EXPECT_EQ(f(0.0f), 1.0f);
    EXPECT_TRUE(std::isnan(f(nan)));
  }
  EXPECT_EQ(e(-inf), 0.0f); // masked scores: exp(-inf - m)
  EXPECT_EQ(e(inf), inf);
  EXPECT_EQ(e(100.0f), inf);
  EXPECT_EQ(e(-100.0f), 0.0f);
  EXPECT_EQ(e2(-inf), 0.0f);
  EXPECT_EQ(e2(inf), inf);
  EXPECT_EQ(e2(1e30f), inf);
  EXPECT_EQ(e2(-1e30f), 0.0f);
  EXPECT_EQ(e2(10.0f), 1024.0f);
  EXPECT_EQ(e2(-3.0f), 0.125f);
  EXPECT_EQ(es(inf), 0.0f);
  EXPECT_EQ(es(-inf), inf);
}

} // namespace
