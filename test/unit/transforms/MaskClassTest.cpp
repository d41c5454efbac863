//===- MaskClassTest.cpp - mask tile classes vs brute force ---------------===//
//
// Each mask is written as the attn dialect the front end emits; its class on
// random tiles (and params) is checked against a brute-force count of the
// kept points computed by an independent C++ formula. Soundness: Empty and
// Full must never be contradicted. Precision: the obvious tiles (causal
// strictly above / below the diagonal, inside a window band) are decided.
//
//===----------------------------------------------------------------------===//
#include "compiler/Analysis/MaskClass.h"

#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <string>

using namespace cascade;

namespace {

using KeepFn = std::function<bool(int64_t b, int64_t h, int64_t i, int64_t j,
                                  const std::map<std::string, double> &params)>;

/// Parses `variant` text and builds the classifier of its attn.mask body.
class Mask {
public:
  explicit Mask(const std::string &text) {
    ctx.loadDialect<attn::AttnDialect, cascade::CascadeDialect, mlir::arith::ArithDialect,
                    mlir::math::MathDialect>();
    module = mlir::parseSourceString<mlir::ModuleOp>(text, &ctx);
    EXPECT_TRUE(module) << text;
    if (!module)
      return;
    module->walk([&](attn::MaskOp m) { body = &m.getBody().front(); });
    module->walk([&](cascade::EinsumOp e) {
      if (e.getName() == "KEEP")
        body = &e.getBody().front();
    });
    EXPECT_NE(body, nullptr);
    auto c = MaskClassifier::build(*body);
    EXPECT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
    classifier.emplace(std::move(*c));
  }
  mlir::MLIRContext ctx;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  mlir::Block *body = nullptr;
  std::optional<MaskClassifier> classifier;
};

struct Stats {
  int decided = 0, uniform = 0, tiles = 0;
};

/// Checks soundness on random tiles; returns how many uniform tiles were
/// decided.
Stats checkRandom(const Mask &mask, KeepFn keep, const std::map<std::string, double> &params,
                  uint64_t seed, int tiles = 3000, int64_t extent = 300,
                  const MaskEnv *baseEnv = nullptr) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> pos(0, extent - 1), len(1, 48), bh(0, 1);
  MaskEnv env;
  if (baseEnv)
    env = *baseEnv;
  env.sizes["B"] = 2;
  env.sizes["H"] = 2;
  for (auto &[k, v] : params)
    env.params[k] = v;
  Stats st;
  for (int t = 0; t < tiles; ++t) {
    Tile tile;
    tile.i0 = pos(rng);
    tile.i1 = tile.i0 + len(rng);
    tile.j0 = pos(rng);
    tile.j1 = tile.j0 + len(rng);
    tile.b = bh(rng);
    tile.h = bh(rng);
    int64_t kept = 0, area = (tile.i1 - tile.i0) * (tile.j1 - tile.j0);
    for (int64_t i = tile.i0; i < tile.i1; ++i)
      for (int64_t j = tile.j0; j < tile.j1; ++j)
        kept += keep(*tile.b, *tile.h, i, j, params);
    TileClass c = mask.classifier->classify(tile, env);
    std::string where = "tile i[" + std::to_string(tile.i0) + "," + std::to_string(tile.i1) +
                        ") j[" + std::to_string(tile.j0) + "," + std::to_string(tile.j1) +
                        ") b=" + std::to_string(*tile.b);
    if (c == TileClass::Empty)
      EXPECT_EQ(kept, 0) << "said empty: " << where;
    if (c == TileClass::Full)
      EXPECT_EQ(kept, area) << "said full: " << where;
    bool uniform = kept == 0 || kept == area;
    st.tiles++;
    st.uniform += uniform;
    st.decided += uniform && c != TileClass::Partial;
  }
  // Single points are exact: the classifier agrees with the formula.
  for (int t = 0; t < 300; ++t) {
    Tile p{pos(rng), 0, pos(rng), 0, bh(rng), bh(rng)};
    p.i1 = p.i0 + 1;
    p.j1 = p.j0 + 1;
    TileClass c = mask.classifier->classify(p, env);
    bool k = keep(*p.b, *p.h, p.i0, p.j0, params);
    if (c != TileClass::Partial)
      EXPECT_EQ(c, k ? TileClass::Full : TileClass::Empty)
          << "point i=" << p.i0 << " j=" << p.j0;
  }
  return st;
}

const char *kCausal = R"(
attn.variant @causal {
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %0 = arith.cmpi sle, %j, %i : i64
    attn.yield %0 : i1
  }
})";

TEST(MaskClass, CausalObviousTiles) {
  Mask m(kCausal);
  MaskEnv env;
  // Strictly below the diagonal (every j <= i): full.
  EXPECT_EQ(m.classifier->classify({64, 128, 0, 64, 0, 0}, env), TileClass::Full);
  EXPECT_EQ(m.classifier->classify({64, 128, 0, 65, 0, 0}, env), TileClass::Full);
  // Strictly above (every j > i): empty.
  EXPECT_EQ(m.classifier->classify({0, 64, 64, 128, 0, 0}, env), TileClass::Empty);
  // On the diagonal: partial.
  EXPECT_EQ(m.classifier->classify({0, 64, 0, 64, 0, 0}, env), TileClass::Partial);
  // Whole slices (b, h unknown) classify the same.
  EXPECT_EQ(m.classifier->classify({64, 128, 0, 64, std::nullopt, std::nullopt}, env),
            TileClass::Full);
}

TEST(MaskClass, CausalRandom) {
  Mask m(kCausal);
  KeepFn keep = [](int64_t, int64_t, int64_t i, int64_t j, auto &) { return j <= i; };
  Stats s = checkRandom(m, keep, {}, 1);
  // Interval arithmetic is exact for one comparison of i and j.
  EXPECT_EQ(s.decided, s.uniform);
}

const char *kSliding = R"(
attn.variant @sliding_window {
  attn.param @window : i32 = 1024 : i32
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %0 = arith.cmpi sle, %j, %i : i64
    %1 = arith.subi %i, %j : i64
    %window = attn.get_param @window : i64
    %2 = arith.cmpi slt, %1, %window : i64
    %3 = arith.andi %0, %2 : i1
    attn.yield %3 : i1
  }
})";

TEST(MaskClass, SlidingWindow) {
  Mask m(kSliding);
  KeepFn keep = [](int64_t, int64_t, int64_t i, int64_t j, auto &p) {
    return j <= i && i - j < int64_t(p.at("window"));
  };
  for (double w : {1.0, 7.0, 32.0, 100.0, 1000.0}) {
    Stats s = checkRandom(m, keep, {{"window", w}}, 2 + int(w));
    EXPECT_GT(s.decided, 0);
  }
  MaskEnv env;
  env.params["window"] = 64;
  // Inside the band: i - j in [1, 63].
  EXPECT_EQ(m.classifier->classify({100, 116, 60, 84, 0, 0}, env), TileClass::Full);
  // Past the window: i - j >= 64.
  EXPECT_EQ(m.classifier->classify({200, 216, 0, 64, 0, 0}, env), TileClass::Empty);
  // The same classifier with another window, no rebuild.
  env.params["window"] = 1000;
  EXPECT_EQ(m.classifier->classify({200, 216, 0, 64, 0, 0}, env), TileClass::Full);
  // Without the param's value: sound but undecided.
  MaskEnv none;
  EXPECT_EQ(m.classifier->classify({200, 216, 0, 64, 0, 0}, none), TileClass::Partial);
  EXPECT_EQ(m.classifier->classify({0, 64, 100, 164, 0, 0}, none), TileClass::Empty);
}

const char *kStreaming = R"(
attn.variant @streaming {
  attn.param @sinks : i32 = 4 : i32
  attn.param @window : i32 = 4096 : i32
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %0 = arith.cmpi sle, %j, %i : i64
    %sinks = attn.get_param @sinks : i64
    %1 = arith.cmpi slt, %j, %sinks : i64
    %2 = arith.subi %i, %j : i64
    %window = attn.get_param @window : i64
    %3 = arith.cmpi slt, %2, %window : i64
    %4 = arith.ori %1, %3 : i1
    %5 = arith.andi %0, %4 : i1
    attn.yield %5 : i1
  }
})";

TEST(MaskClass, Streaming) {
  Mask m(kStreaming);
  KeepFn keep = [](int64_t, int64_t, int64_t i, int64_t j, auto &p) {
    return j <= i && (j < int64_t(p.at("sinks")) || i - j < int64_t(p.at("window")));
  };
  for (auto [s, w] : {std::pair{4.0, 16.0}, {0.0, 50.0}, {10.0, 5.0}, {64.0, 64.0}}) {
    Stats st = checkRandom(m, keep, {{"sinks", s}, {"window", w}}, 40 + int(s + w));
    EXPECT_GT(st.decided, 0);
  }
  MaskEnv env;
  env.params["sinks"] = 4;
  env.params["window"] = 32;
  // The sink columns of far rows are kept; the middle is not.
  EXPECT_EQ(m.classifier->classify({200, 216, 0, 4, 0, 0}, env), TileClass::Full);
  EXPECT_EQ(m.classifier->classify({200, 216, 8, 64, 0, 0}, env), TileClass::Empty);
}

const char *kPrefixParam = R"(
attn.variant @prefix_lm {
  attn.param @prefix : i32 = 16 : i32
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %prefix = attn.get_param @prefix : i64
    %0 = arith.cmpi slt, %j, %prefix : i64
    %1 = arith.cmpi sle, %j, %i : i64
    %2 = arith.ori %0, %1 : i1
    attn.yield %2 : i1
  }
})";

TEST(MaskClass, PrefixLMParam) {
  Mask m(kPrefixParam);
  KeepFn keep = [](int64_t, int64_t, int64_t i, int64_t j, auto &p) {
    return j < int64_t(p.at("prefix")) || j <= i;
  };
  for (double pre : {0.0, 16.0, 77.0, 250.0}) {
    Stats st = checkRandom(m, keep, {{"prefix", pre}}, 90 + int(pre));
    EXPECT_GT(st.decided, 0);
  }
  MaskEnv env;
  env.params["prefix"] = 128;
  // Above the diagonal but inside the prefix: kept.
  EXPECT_EQ(m.classifier->classify({0, 64, 64, 128, 0, 0}, env), TileClass::Full);
  EXPECT_EQ(m.classifier->classify({0, 64, 128, 192, 0, 0}, env), TileClass::Empty);
}

const char *kNeighborhood = R"(
attn.variant @neighborhood_2d {
  attn.param @W : i32 = 64 : i32
  attn.param @radius : i32 = 3 : i32
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %W = attn.get_param @W : i64
    %0 = attn.floordiv %i, %W
    %1 = attn.floordiv %j, %W
    %2 = arith.subi %0, %1 : i64
    %3 = math.absi %2 : i64
    %radius = attn.get_param @radius : i64
    %4 = arith.cmpi sle, %3, %radius : i64
    %5 = attn.floormod %i, %W
    %6 = attn.floormod %j, %W
    %7 = arith.subi %5, %6 : i64
    %8 = math.absi %7 : i64
    %9 = arith.cmpi sle, %8, %radius : i64
    %10 = arith.andi %4, %9 : i1
    attn.yield %10 : i1
  }
})";

int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t floorMod(int64_t a, int64_t b) { return a - b * floorDiv(a, b); }

TEST(MaskClass, Neighborhood2D) {
  Mask m(kNeighborhood);
  KeepFn keep = [](int64_t, int64_t, int64_t i, int64_t j, auto &p) {
    int64_t W = int64_t(p.at("W")), r = int64_t(p.at("radius"));
    return std::abs(floorDiv(i, W) - floorDiv(j, W)) <= r &&
           std::abs(floorMod(i, W) - floorMod(j, W)) <= r;
  };
  for (auto [W, r] : {std::pair{8.0, 1.0}, {16.0, 3.0}, {5.0, 0.0}, {64.0, 10.0}}) {
    Stats st = checkRandom(m, keep, {{"W", W}, {"radius", r}}, 7 + int(W * r), 3000, 600);
    EXPECT_GT(st.decided, 0);
  }
  MaskEnv env;
  env.params["W"] = 16;
  env.params["radius"] = 1;
  // Image rows far apart: empty.
  EXPECT_EQ(m.classifier->classify({0, 16, 160, 176, 0, 0}, env), TileClass::Empty);
}

const char *kDocument = R"(
attn.variant @document {
  attn.tensor @doc : i32 ["B", "Skv"]
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %0 = attn.load @doc[%b, %i] : i64
    %1 = attn.load @doc[%b, %j] : i64
    %2 = arith.cmpi eq, %0, %1 : i64
    %3 = arith.cmpi sle, %j, %i : i64
    %4 = arith.andi %2, %3 : i1
    attn.yield %4 : i1
  }
})";

TEST(MaskClass, DocumentWithTensorSummary) {
  Mask m(kDocument);
  // Documents of length 37 (doc[b, x] = x / 37, the same for both b).
  auto doc = [](int64_t x) { return x / 37; };
  KeepFn keep = [&](int64_t, int64_t, int64_t i, int64_t j, auto &) {
    return doc(i) == doc(j) && j <= i;
  };
  // Without a summary a load is unknown: nothing above the diagonal is
  // decided as kept, but tiles above it are still empty.
  Stats none = checkRandom(m, keep, {}, 5);
  EXPECT_GT(none.decided, 0);
  MaskEnv env;
  EXPECT_EQ(m.classifier->classify({0, 16, 100, 116, 0, 0}, env), TileClass::Empty);
  EXPECT_EQ(m.classifier->classify({20, 30, 0, 10, 0, 0}, env), TileClass::Partial);
  // With the per-tile min/max of doc over the index box: decided.
  env.tensorRange = [&](llvm::StringRef name, llvm::ArrayRef<Interval> idx)
      -> std::optional<Interval> {
    if (name != "doc" || idx.size() != 2 || !std::isfinite(idx[1].lo) ||
        !std::isfinite(idx[1].hi))
      return std::nullopt;
    return Interval{double(doc(int64_t(idx[1].lo))), double(doc(int64_t(idx[1].hi)))};
  };
  EXPECT_EQ(m.classifier->classify({20, 30, 0, 10, 0, 0}, env), TileClass::Full);
  EXPECT_EQ(m.classifier->classify({80, 90, 0, 10, 0, 0}, env), TileClass::Empty);
  Stats with = checkRandom(m, keep, {}, 6, 3000, 300, &env);
  EXPECT_GT(with.decided, none.decided);
}

const char *kNotAbove = R"(
attn.variant @not_above {
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %0 = arith.cmpi sgt, %j, %i : i64
    %true = arith.constant true
    %1 = arith.xori %0, %true : i1
    %c2 = arith.constant 2 : i64
    %2 = arith.muli %j, %c2 : i64
    %3 = arith.addi %2, %c2 : i64
    %4 = arith.maxsi %3, %i : i64
    %5 = arith.minsi %4, %3 : i64
    %6 = arith.cmpi sge, %5, %i : i64
    %7 = arith.select %1, %6, %1 : i1
    attn.yield %7 : i1
  }
})";

TEST(MaskClass, NotMulMinMaxSelect) {
  // keep = !(j > i) && min(max(2j + 2, i), 2j + 2) >= i, i.e. j <= i && 2j + 2 >= i.
  Mask m(kNotAbove);
  KeepFn keep = [](int64_t, int64_t, int64_t i, int64_t j, auto &) {
    return j <= i && std::min(std::max(2 * j + 2, i), 2 * j + 2) >= i;
  };
  Stats s = checkRandom(m, keep, {}, 11);
  EXPECT_GT(s.decided, 0);
  MaskEnv env;
  EXPECT_EQ(m.classifier->classify({0, 64, 64, 128, 0, 0}, env), TileClass::Empty);
  EXPECT_EQ(m.classifier->classify({100, 110, 60, 90, 0, 0}, env), TileClass::Full);
}

TEST(MaskClass, CascadeKeepEinsum) {
  // The same classifier reads a cascade's KEEP einsum body.
  Mask m(R"(
attn.variant @causal {
  cascade.cascade {
    %KEEP = cascade.einsum "KEEP" [m, p] = () -> !cascade.fiber<i1> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.cmpi sle, %j, %i : i64
      cascade.yield %0 : i1
    }
    %KN = cascade.einsum "KN" [p] = sum [m] () keep %KEEP -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %KN kept %KN
  }
})");
  MaskEnv env;
  EXPECT_EQ(m.classifier->classify({64, 128, 0, 64, 0, 0}, env), TileClass::Full);
  EXPECT_EQ(m.classifier->classify({0, 64, 64, 128, 0, 0}, env), TileClass::Empty);
  // forVariant finds the KEEP einsum.
  auto byVariant = MaskClassifier::forVariant(&m.module->getBody()->front());
  ASSERT_TRUE(static_cast<bool>(byVariant));
  EXPECT_EQ(byVariant->classify({0, 64, 64, 128, 0, 0}, env), TileClass::Empty);
}

TEST(MaskClass, NoMaskIsFull) {
  Mask withMask(kCausal);
  mlir::MLIRContext ctx;
  ctx.loadDialect<attn::AttnDialect>();
  auto module = mlir::parseSourceString<mlir::ModuleOp>("attn.variant @full {\n}", &ctx);
  ASSERT_TRUE(module);
  auto c = MaskClassifier::forVariant(&module->getBody()->front());
  ASSERT_TRUE(static_cast<bool>(c));
  EXPECT_EQ(c->classify({0, 64, 64, 128, 0, 0}, MaskEnv()), TileClass::Full);
  auto causal = MaskClassifier::forVariant(&withMask.module->getBody()->front());
  ASSERT_TRUE(static_cast<bool>(causal));
  EXPECT_EQ(causal->classify({0, 64, 64, 128, 0, 0}, MaskEnv()), TileClass::Empty);
}

} // namespace
