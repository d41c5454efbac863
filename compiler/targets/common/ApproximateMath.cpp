//===- ApproximateMath.cpp - math ops as polynomials for the targets ------===//
#include "compiler/targets/common/ApproximateMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

using namespace mlir;

namespace {

constexpr double kLog2E = 1.44269504088896340736;

/// A float constant of `like`'s type (a splat for vectors).
Value floatConstant(PatternRewriter &rewriter, Location loc, Type like, double value) {
  Type elem = getElementTypeOrSelf(like);
  auto attr = rewriter.getFloatAttr(elem, value);
  if (auto vt = dyn_cast<VectorType>(like))
    return arith::ConstantOp::create(rewriter, loc, DenseElementsAttr::get(vt, attr));
  return arith::ConstantOp::create(rewriter, loc, attr);
}

Value intConstant(PatternRewriter &rewriter, Location loc, Type like, int64_t value) {
  Type elem = getElementTypeOrSelf(like);
  auto attr = rewriter.getIntegerAttr(elem, value);
  if (auto vt = dyn_cast<VectorType>(like))
    return arith::ConstantOp::create(rewriter, loc, DenseElementsAttr::get(vt, attr));
  return arith::ConstantOp::create(rewriter, loc, attr);
}

/// `v` is a float constant (scalar or splat): its value.
std::optional<double> constantValue(Value v) {
  FloatAttr attr;
  if (matchPattern(v, m_Constant(&attr)))
    return attr.getValueAsDouble();
  SplatElementsAttr splat;
  if (matchPattern(v, m_Constant(&splat)) && isa<FloatType>(splat.getElementType()))
    return splat.getSplatValue<APFloat>().convertToDouble();
  return std::nullopt;
}

/// exp(x) -> exp2(x * log2(e)), with log2(e) folded into a multiply by a
/// constant that produces x (c * y -> (c * log2 e) * y), e.g. the rescale
/// factors exp(-(m_cur - m_prev)) of the online cascade.
struct ExpAsExp2 : public OpRewritePattern<math::ExpOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::ExpOp op, PatternRewriter &rewriter) const override {
    Type type = op.getType();
    if (!getElementTypeOrSelf(type).isF32())
      return rewriter.notifyMatchFailure(op, "f32 only");
    Location loc = op.getLoc();
    Value x = op.getOperand();
    Value scaled;
    if (auto mul = x.getDefiningOp<arith::MulFOp>(); mul && mul->hasOneUse()) {
      for (int k = 0; k < 2 && !scaled; ++k)
        if (std::optional<double> c = constantValue(mul->getOperand(k)))
          scaled = arith::MulFOp::create(rewriter, loc, mul->getOperand(1 - k),
                                         floatConstant(rewriter, loc, type, *c * kLog2E),
                                         mul.getFastmathAttr());
    }
    if (!scaled)
      scaled = arith::MulFOp::create(rewriter, loc, x, floatConstant(rewriter, loc, type, kLog2E));
    rewriter.replaceOpWithNewOp<math::Exp2Op>(op, scaled);
    return success();
  }
};

/// exp2(y) = 2^n * p(f), n = round(y) (at most 127), f = y - n in [-0.5,
/// 0.5], p a degree-6 polynomial for 2^f (Cephes' exp2f, relative error
/// 1.7e-7 on [-0.5, 0.5]), 2^n built in the exponent bits. y is clamped to
/// [-127, 129] first: results below 2^-126.5 flush to 0 (as MLIR's exp
/// approximation does); above 2^127.5, f runs up to 2 and 2^f * 2^127
/// overflows to +inf where it should (the last finite half-octave is less
/// exact); NaN stays NaN.
///
/// exp(x) through it (ExpAsExp2) has relative error below 2e-7 + 1.2e-7 |x|
/// (test/unit/cpu/ApproximateMathTest): the f32 rounding of x * log2(e)
/// grows with |x|, up to 1e-5 at |x| = 88, where MLIR's exp (Cody-Waite
/// reduction) stays near 2e-7. In attention the exponent is s - max <= 0,
/// so the large-|x| terms are the tiny weights, and the absolute error of
/// e^x stays below 5e-8.
struct Exp2Approximation : public OpRewritePattern<math::Exp2Op> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::Exp2Op op, PatternRewriter &rewriter) const override {
    Type type = op.getType();
    if (!getElementTypeOrSelf(type).isF32())
      return rewriter.notifyMatchFailure(op, "f32 only");
    Location loc = op.getLoc();
    auto cst = [&](double v) { return floatConstant(rewriter, loc, type, v); };
    auto fma = [&](Value a, Value b, Value c) { return math::FmaOp::create(rewriter, loc, a, b, c); };
    // NaN-preserving clamp: select(y < hi, y, hi) keeps a NaN y (unordered).
    Value y = op.getOperand();
    Value lo = cst(-127.0), hi = cst(129.0);
    y = arith::SelectOp::create(
        rewriter, loc, arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::ULT, y, hi), y, hi);
    y = arith::SelectOp::create(
        rewriter, loc, arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::UGT, y, lo), y, lo);
    // n in [-127, 127]; the ordered compare also makes a NaN n 127, so the
    // conversion below never sees a NaN (poison). One vminps on x86.
    Value n = math::RoundEvenOp::create(rewriter, loc, y);
    Value c127 = cst(127.0);
    n = arith::SelectOp::create(
        rewriter, loc, arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::OLT, n, c127), n,
        c127);
    Value f = arith::SubFOp::create(rewriter, loc, y, n);
    Value p = fma(f, cst(1.535336188319500e-4), cst(1.339887440266574e-3));
    p = fma(p, f, cst(9.618437357674640e-3));
    p = fma(p, f, cst(5.550332471162809e-2));
    p = fma(p, f, cst(2.402264791363012e-1));
    p = fma(p, f, cst(6.931472028550421e-1));
    p = fma(p, f, cst(1.0));
    // 2^n: (n + 127) << 23 as f32 bits; n = -127 gives 0.
    Type intType = rewriter.getI32Type();
    if (auto vt = dyn_cast<VectorType>(type))
      intType = vt.clone(rewriter.getI32Type());
    Value bits = arith::FPToSIOp::create(rewriter, loc, intType, n);
    bits = arith::AddIOp::create(rewriter, loc, bits, intConstant(rewriter, loc, intType, 127));
    bits = arith::ShLIOp::create(rewriter, loc, bits, intConstant(rewriter, loc, intType, 23));
    Value pow2 = arith::BitcastOp::create(rewriter, loc, type, bits);
    rewriter.replaceOpWithNewOp<arith::MulFOp>(op, p, pow2);
    return success();
  }
};

struct ApproximateMathPass : public PassWrapper<ApproximateMathPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ApproximateMathPass)
  StringRef getArgument() const override { return "attn-approximate-math"; }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, math::MathDialect>();
  }
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    // Before MLIR's exp approximation (benefit 1), which they replace for f32.
    patterns.add<ExpAsExp2, Exp2Approximation>(&getContext(), /*benefit=*/2);
    populateMathPolynomialApproximationPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

std::unique_ptr<Pass> attn::createApproximateMathPass() {
  return std::make_unique<ApproximateMathPass>();
}
