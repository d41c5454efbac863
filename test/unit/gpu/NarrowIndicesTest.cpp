//===- NarrowIndicesTest.cpp - narrowIndexArithmetic on small functions ---===//
//
// Which i64 comparisons and conversions narrowIndexArithmetic rewrites to
// i32, and which it must leave: the rewrite is exact only when every value
// on the way fits in i32.
//
//===----------------------------------------------------------------------===//
#include "compiler/targets/common/NarrowIndices.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

/// `body` inside a function of i64 arguments %x, %y and i32 %p, where %i and
/// %j are seeds in [0, 2^29) and %q one in [-2^29, 2^29) (as the kernels'); returns the number
/// rewritten and the predicates' operand widths of the compares after it.
struct Result {
  unsigned rewritten = 0;
  std::string widths; ///< per cmpi / sitofp in order: "32" or "64"
  bool ok = false;
};

/// The seeds of x, y and p as the kernels write them (i, j, q, w).
constexpr const char *kSeeds = "  %ti = arith.trunci %x : i64 to i29\n"
                               "  %i = arith.extui %ti : i29 to i64\n"
                               "  %tj = arith.trunci %y : i64 to i29\n"
                               "  %j = arith.extui %tj : i29 to i64\n"
                               "  %tq = arith.trunci %x : i64 to i30\n"
                               "  %q = arith.extsi %tq : i30 to i64\n"
                               "  %w = arith.extsi %p : i32 to i64\n";

Result run(const std::string &body, const std::string &results) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<mlir::arith::ArithDialect, mlir::func::FuncDialect>();
  std::string text = "func.func @f(%x: i64, %y: i64, %p: i32) -> (" + results + ") {\n" +
                     std::string(kSeeds) +
                     body + "}\n";
  mlir::OwningOpRef<mlir::ModuleOp> m = mlir::parseSourceString<mlir::ModuleOp>(text, &ctx);
  Result r;
  if (!m)
    return r;
  r.rewritten = attn::narrowIndexArithmetic(*m);
  m->walk([&](mlir::Operation *op) {
    if (auto c = llvm::dyn_cast<mlir::arith::CmpIOp>(op))
      r.widths += c.getLhs().getType().isInteger(32) ? "32 " : "64 ";
    if (auto s = llvm::dyn_cast<mlir::arith::SIToFPOp>(op))
      r.widths += s.getIn().getType().isInteger(32) ? "32 " : "64 ";
  });
  r.ok = mlir::succeeded(mlir::verify(*m));
  return r;
}

TEST(NarrowIndices, CausalAndWindowMasksCompareIn32Bits) {
  // j <= i && i - j < window (sliding_window), j + 127 < Skv-like sums.
  Result r = run("  %a = arith.cmpi sle, %j, %i : i64\n"
                 "  %d = arith.subi %i, %j : i64\n"
                 "  %b = arith.cmpi slt, %d, %w : i64\n"
                 "  %c127 = arith.constant 127 : i64\n"
                 "  %e = arith.addi %j, %c127 : i64\n"
                 "  %c = arith.cmpi slt, %e, %i : i64\n"
                 "  return %a, %b, %c : i1, i1, i1\n",
                 "i1, i1, i1");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.rewritten, 3u);
  EXPECT_EQ(r.widths, "32 32 32 ");
}

TEST(NarrowIndices, SignedQueryPositionsAndConversions) {
  // q - j with q possibly negative, converted to f32 (ALiBi's i - j).
  Result r = run("  %d = arith.subi %q, %j : i64\n"
                 "  %f = arith.sitofp %d : i64 to f32\n"
                 "  %c64 = arith.constant 64 : i64\n"
                 "  %bi = arith.floordivsi %q, %c64 : i64\n"
                 "  %bj = arith.floordivsi %j, %c64 : i64\n"
                 "  %e = arith.cmpi eq, %bi, %bj : i64\n"
                 "  return %f, %e : f32, i1\n",
                 "f32, i1");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.rewritten, 2u);
  EXPECT_EQ(r.widths, "32 32 ");
}

TEST(NarrowIndices, TensorReadRangeChecksCompareIn32Bits) {
  // A read of an extra tensor checks 0 <= index < extent as one unsigned
  // compare (BodyInliner); with an extent that is a size (a seed) and an
  // index of the query position and a key, it is narrowed.
  Result r = run("  %d = arith.subi %q, %j : i64\n"
                 "  %a = arith.cmpi ult, %d, %i : i64\n"
                 "  %c5 = arith.constant 5 : i64\n"
                 "  %e = arith.addi %j, %c5 : i64\n"
                 "  %b = arith.cmpi ult, %e, %i : i64\n"
                 "  return %a, %b : i1, i1\n",
                 "i1, i1");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.rewritten, 2u);
  EXPECT_EQ(r.widths, "32 32 ");
}

TEST(NarrowIndices, KernelKeyOffsetsAgainstSignedPositions) {
  // The kernels' key is a seed plus the lane's offset in the tile (up to
  // 127) and the query position is signed: with seeds of [0, 2^29) and
  // [-2^29, 2^29), q - (j + 127) fits in i32, so a window's `i - j < window`
  // is narrowed for every key of a lane (with [0, 2^30) and [-2^30, 2^30) it
  // was not past the first two).
  Result r = run("  %c1 = arith.constant 1 : i64\n"
                 "  %k1 = arith.addi %j, %c1 : i64\n"
                 "  %d1 = arith.subi %q, %k1 : i64\n"
                 "  %a = arith.cmpi slt, %d1, %w : i64\n"
                 "  %c127 = arith.constant 127 : i64\n"
                 "  %k = arith.addi %j, %c127 : i64\n"
                 "  %d = arith.subi %q, %k : i64\n"
                 "  %b = arith.cmpi slt, %d, %w : i64\n"
                 "  return %a, %b : i1, i1\n",
                 "i1, i1");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.widths, "32 32 ");
}

TEST(NarrowIndices, LeavesWhatMayNotFit) {
  // i * j reaches 2^60; i + window + j can pass 2^31; %x is no seed; so
  // does an unsigned compare of the product.
  Result r = run("  %m = arith.muli %i, %j : i64\n"
                 "  %a = arith.cmpi slt, %m, %w : i64\n"
                 "  %s = arith.addi %i, %w : i64\n"
                 "  %s2 = arith.addi %s, %j : i64\n"
                 "  %b = arith.cmpi slt, %s2, %j : i64\n"
                 "  %c = arith.cmpi slt, %x, %j : i64\n"
                 "  %u = arith.cmpi ult, %m, %j : i64\n"
                 "  %f = arith.sitofp %m : i64 to f32\n"
                 "  return %a, %b, %c, %u, %f : i1, i1, i1, i1, f32\n",
                 "i1, i1, i1, i1, f32");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.rewritten, 0u);
  EXPECT_EQ(r.widths, "64 64 64 64 64 ");
}

/// The results of `body` (as in run(), returning `results`) for inputs x, y,
/// p, computed by MLIR's folders: with narrowIndexArithmetic first (true) or
/// without it (false). Each result printed; empty when something did not fold.
std::vector<std::string> folded(const std::string &body, const std::string &results, int64_t x,
                                int64_t y, int32_t p, bool narrow) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<mlir::arith::ArithDialect, mlir::func::FuncDialect>();
  std::string text = "func.func @f() -> (" + results + ") {\n" +
                     "  %x = arith.constant " + std::to_string(x) + " : i64\n" +
                     "  %y = arith.constant " + std::to_string(y) + " : i64\n" +
                     "  %p = arith.constant " + std::to_string(p) + " : i32\n" + kSeeds +
                     body + "}\n";
  mlir::OwningOpRef<mlir::ModuleOp> m = mlir::parseSourceString<mlir::ModuleOp>(text, &ctx);
  std::vector<std::string> out;
  if (!m)
    return out;
  if (narrow)
    attn::narrowIndexArithmetic(*m);
  if (mlir::failed(mlir::verify(*m)) ||
      mlir::failed(mlir::applyPatternsGreedily(*m, mlir::RewritePatternSet(&ctx))))
    return out;
  m->walk([&](mlir::func::ReturnOp ret) {
    for (mlir::Value v : ret.getOperands()) {
      mlir::Attribute a;
      if (auto c = v.getDefiningOp<mlir::arith::ConstantOp>())
        a = c.getValue();
      std::string str;
      llvm::raw_string_ostream os(str);
      if (a)
        a.print(os);
      out.push_back(a ? str : std::string("?"));
    }
  });
  return out;
}

// The rewrite computes the same values as the 64-bit code for inputs over the
// seeds' whole ranges (ends, 2^16-scale products that pass 2^31, negative
// query positions, extreme params), checked by folding both on constants:
// in particular min / max / floor division over a product that may pass
// 2^31 must not be recomputed in i32 from wrapped operands
// (clamp(i * j, 0, 5): 50000 * 50000 wraps in i32).
TEST(NarrowIndices, SameValuesAsTheWideCode) {
  const char *bodies[] = {
      // clamp of a product, compared (the bug: max over a wrapped i32 product)
      "  %m = arith.muli %i, %j : i64\n  %c0 = arith.constant 0 : i64\n"
      "  %c5 = arith.constant 5 : i64\n  %lo = arith.maxsi %m, %c0 : i64\n"
      "  %cl = arith.minsi %lo, %c5 : i64\n  %c3 = arith.constant 3 : i64\n"
      "  %r = arith.cmpi sgt, %cl, %c3 : i64\n  return %r : i1\n",
      // floor division and remainder of a product by a constant, then a compare
      "  %m = arith.muli %q, %j : i64\n  %c7 = arith.constant 7 : i64\n"
      "  %d = arith.remsi %m, %c7 : i64\n  %r = arith.cmpi eq, %d, %w : i64\n"
      "  %f = arith.floordivsi %m, %c7 : i64\n  %big = arith.constant 4294967296 : i64\n"
      "  %g = arith.minsi %f, %big : i64\n  %c1 = arith.constant 1 : i64\n"
      "  %s = arith.cmpi slt, %g, %c1 : i64\n  return %r, %s : i1, i1\n",
      // sliding window, ALiBi-style conversion, a block id compare
      "  %a = arith.cmpi sle, %j, %q : i64\n  %d = arith.subi %q, %j : i64\n"
      "  %b = arith.cmpi slt, %d, %w : i64\n  %f = arith.sitofp %d : i64 to f32\n"
      "  %c64 = arith.constant 64 : i64\n  %bi = arith.floordivsi %q, %c64 : i64\n"
      "  %bj = arith.floordivsi %j, %c64 : i64\n  %e = arith.cmpi eq, %bi, %bj : i64\n"
      "  return %a, %b, %f, %e : i1, i1, f32, i1\n",
      // a select of a wide value and a small one, then clamped and converted
      "  %m = arith.muli %i, %i : i64\n  %c = arith.cmpi slt, %j, %w : i64\n"
      "  %s = arith.select %c, %m, %j : i64\n  %c9 = arith.constant 9 : i64\n"
      "  %t = arith.minsi %s, %c9 : i64\n  %u = arith.maxsi %t, %w : i64\n"
      "  %cm9 = arith.constant -9 : i64\n  %v = arith.maxsi %u, %cm9 : i64\n"
      "  %f = arith.sitofp %v : i64 to f32\n  return %f : f32\n",
      // a difference of two large sums (fits, though its operands do not)
      "  %big = arith.constant 1099511627776 : i64\n  %a = arith.addi %i, %big : i64\n"
      "  %b = arith.addi %j, %big : i64\n  %d = arith.subi %a, %b : i64\n"
      "  %r = arith.cmpi slt, %d, %w : i64\n  return %r : i1\n",
      // unsigned compares of values of either sign (a tensor read's range
      // check, 0 <= v < extent, is one ult): negative query positions and
      // params order above every non-negative value in both widths
      "  %d = arith.subi %q, %j : i64\n  %a = arith.cmpi ult, %d, %w : i64\n"
      "  %b = arith.cmpi uge, %j, %q : i64\n  %c = arith.cmpi ugt, %d, %j : i64\n"
      "  %e = arith.cmpi ule, %w, %q : i64\n  return %a, %b, %c, %e : i1, i1, i1, i1\n",
  };
  const char *results[] = {"i1", "i1, i1", "i1, i1, f32, i1", "f32", "i1", "i1, i1, i1, i1"};
  const int64_t xs[] = {0, 1, 50000, 65535, 123456789, (int64_t(1) << 29) - 1, (int64_t(1) << 30) - 1,
                        (int64_t(1) << 30) + 5, -1};
  const int32_t ps[] = {INT32_MIN, -1, 0, 3, 1024, INT32_MAX};
  for (size_t k = 0; k < std::size(bodies); ++k)
    for (int64_t x : xs)
      for (int64_t y : {int64_t(0), int64_t(50000), int64_t(65535), (int64_t(1) << 30) - 1})
        for (int32_t p : ps) {
          std::vector<std::string> wide = folded(bodies[k], results[k], x, y, p, false);
          std::vector<std::string> narrow = folded(bodies[k], results[k], x, y, p, true);
          ASSERT_FALSE(wide.empty()) << "body " << k;
          for (const std::string &v : wide)
            ASSERT_NE(v, "?") << "body " << k << " did not fold";
          EXPECT_EQ(narrow, wide) << "body " << k << " x " << x << " y " << y << " p " << p;
        }
}

TEST(NarrowIndices, SeedsAreWhatTheKernelsEmit) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<mlir::arith::ArithDialect, mlir::func::FuncDialect>();
  mlir::OpBuilder b(&ctx);
  mlir::Location loc = b.getUnknownLoc();
  mlir::OwningOpRef<mlir::ModuleOp> m = mlir::ModuleOp::create(loc);
  // In a function (an SSACFG region), so that verify() checks dominance too.
  b.setInsertionPointToEnd(m->getBody());
  auto fn = mlir::func::FuncOp::create(b, loc, "f", b.getFunctionType({}, {}));
  b.setInsertionPointToEnd(fn.addEntryBlock());
  mlir::Value x = mlir::arith::ConstantIntOp::create(b, loc, b.getI64Type(), 5);
  mlir::Value i = attn::assumeIndexRange(b, loc, x), q = attn::assumeSignedIndexRange(b, loc, x);
  auto cmp = mlir::arith::CmpIOp::create(b, loc, mlir::arith::CmpIPredicate::slt,
                                         mlir::arith::SubIOp::create(b, loc, q, i), i);
  (void)cmp;
  mlir::func::ReturnOp::create(b, loc);
  EXPECT_EQ(attn::narrowIndexArithmetic(*m), 1u);
  EXPECT_TRUE(mlir::succeeded(mlir::verify(*m)));
}

} // namespace
