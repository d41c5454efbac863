//===- PipelinePassCountTest.cpp - stages of lowerToCascade, pass counts --===//
#include "compiler/Analysis/PassCount.h"
#include "compiler/Pipeline/Pipeline.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

/// Parses `src`, runs the pipeline with `opts`, and returns, per stage, its
/// name and the pass count of the (only) variant's cascade.
struct Stage {
  std::string name;
  cascade::PassInfo info;
};

std::vector<Stage> runStages(const char *src, const attn::PipelineOptions &opts,
                             bool *ok = nullptr, std::string *errors = nullptr) {
  mlir::MLIRContext ctx;
  std::string sink;
  mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &d) {
    (errors ? *errors : sink) += d.str() + "\n";
    return mlir::success();
  });
  ctx.loadDialect<attn::AttnDialect, cascade::CascadeDialect, mlir::arith::ArithDialect,
                  mlir::math::MathDialect>();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(src, &ctx);
  EXPECT_TRUE(module);
  std::vector<Stage> stages;
  auto onStage = [&](llvm::StringRef name, mlir::ModuleOp m) {
    m.walk([&](cascade::CascadeOp c) {
      stages.push_back({name.str(), cascade::computePassCount(c)});
    });
  };
  bool good = mlir::succeeded(attn::lowerToCascade(*module, opts, onStage));
  if (ok)
    *ok = good;
  else
    EXPECT_TRUE(good);
  return stages;
}

const char *kCausal = R"(
attn.variant @causal {
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %c = arith.cmpi sle, %j, %i : i64
    attn.yield %c : i1
  }
}
)";

TEST(PipelinePassCount, SoftmaxThreeTwoOne) {
  std::vector<Stage> s = runStages(kCausal, attn::PipelineOptions());
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].name, "attn-to-cascade");
  EXPECT_EQ(s[1].name, "defer-division");
  EXPECT_EQ(s[2].name, "partition");
  EXPECT_EQ(s[3].name, "online");
  EXPECT_EQ(s[0].info.numPasses, 3u);
  EXPECT_EQ(s[1].info.numPasses, 2u);
  EXPECT_EQ(s[2].info.numPasses, 2u);
  EXPECT_EQ(s[3].info.numPasses, 1u);
  ASSERT_EQ(s[0].info.reasons.size(), 2u);
  EXPECT_EQ(s[0].info.reasons[0],
            "pass 2: SN reads GM, which needs a full pass over m (max over m)");
  EXPECT_EQ(s[0].info.reasons[1],
            "pass 3: A reads SD, which needs a full pass over m (sum over m)");
  EXPECT_TRUE(s[3].info.reasons.empty());
}

TEST(PipelinePassCount, PerEinsumPasses) {
  std::vector<Stage> s = runStages(kCausal, attn::PipelineOptions());
  ASSERT_FALSE(s.empty());
  std::vector<std::pair<std::string, unsigned>> got;
  for (const cascade::EinsumPass &e : s[0].info.einsums)
    got.push_back({e.name, e.pass});
  std::vector<std::pair<std::string, unsigned>> want = {
      {"QK", 1}, {"S", 1}, {"KEEP", 1}, {"GM", 1}, {"SN", 2}, {"SD", 2},
      {"A", 3},  {"LSE", 0}, {"AV", 3}, {"KN", 1}};
  EXPECT_EQ(got, want);
}

TEST(PipelinePassCount, OptionsSelectStages) {
  attn::PipelineOptions opts;
  opts.deferDivision = false;
  opts.online = false;
  std::vector<Stage> s = runStages(kCausal, opts);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].name, "partition");
  EXPECT_EQ(s[1].info.numPasses, 3u);

  opts = attn::PipelineOptions();
  opts.mTile = 0;
  s = runStages(kCausal, opts);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].name, "defer-division");

  opts = attn::PipelineOptions();
  opts.splitKV = 4;
  s = runStages(kCausal, opts);
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[4].name, "split-kv");
  EXPECT_EQ(s[4].info.numPasses, 1u);
}

TEST(PipelinePassCount, SigmoidOnePass) {
  std::vector<Stage> s = runStages(R"(
attn.variant @sig {
  attn.norm sigmoid
}
)",
                                   attn::PipelineOptions());
  ASSERT_FALSE(s.empty());
  for (const Stage &st : s)
    EXPECT_EQ(st.info.numPasses, 1u) << st.name;
}

TEST(PipelinePassCount, FailureIsReported) {
  bool ok = true;
  std::string errors;
  std::vector<Stage> s = runStages(R"(
attn.variant @bad {
  attn.score {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %s = attn.sum_d {
    ^bb0(%d: i64):
      %df = arith.sitofp %d : i64 to f32
      attn.yield %df : f32
    }
    attn.yield %s : f32
  }
}
)",
                                   attn::PipelineOptions(), &ok, &errors);
  EXPECT_FALSE(ok);
  EXPECT_NE(errors.find("cannot lower a use of argument #0 of 'attn.sum_d'"), std::string::npos)
      << errors;
  EXPECT_TRUE(s.empty());
}

} // namespace
