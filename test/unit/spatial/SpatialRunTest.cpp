//===- SpatialRunTest.cpp - every example on the spatial target -----------===//
//
// For every examples/*.attn: parse, check, emit, then `runSpatial` on the
// 4x4 array of arch/tiny4x4.json (P0 = M0 = 4, so every problem below spans
// several p1 tiles and m1 epochs), with the FuseMax binding of the online
// cascade and the FLAT binding of the multi-pass one, against the direct
// float64 evaluator within 1e-9 relative.
//
//===----------------------------------------------------------------------===//
#include "compiler/reference/DirectEval.h"
#include "compiler/Pipeline/Pipeline.h"
#include "compiler/targets/spatial/CascadeToSpatial.h"
#include "compiler/targets/spatial/RunSpatial.h"
#include "compiler/targets/spatial/ToSimProgram.h"
#include "runtime/simulator/Arch.h"
#include "runtime/simulator/Programs.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"
#include "dialects/spatial/SpatialDialect.h"
#include "frontend/Frontend.h"
#include "frontend/emit/EmitAttn.h"
#include "test/unit/common/TestSupport.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

using attn::ref::Array;
using attn::ref::Problem;
using attn::ref::Result;

namespace {

/// The example names (stems), sorted.
std::vector<std::string> listExamples() {
  std::vector<std::string> names;
  for (const std::string &f : attn::test::listAttnFiles(ATTNC_EXAMPLES_DIR))
    names.push_back(f.substr(0, f.size() - 5));
  return names;
}

Array randomArray(std::vector<int64_t> shape, std::mt19937_64 &rng) {
  Array a;
  a.shape = std::move(shape);
  a.data.resize(a.numElements());
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (double &x : a.data)
    x = u(rng);
  return a;
}

/// A problem for `v`: random q, k, v; declared tensors filled sensibly
/// (sorted document ids, prefix lengths in range); small params so that
/// windows and radii bite at these sizes.
Problem makeProblem(const attn::ast::Variant &v, int64_t B, int64_t H, int64_t Hkv,
                    int64_t Sq, int64_t Skv, int64_t D, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Problem p;
  p.q = randomArray({B, H, Sq, D}, rng);
  p.k = randomArray({B, Hkv, Skv, D}, rng);
  p.v = randomArray({B, Hkv, Skv, D}, rng);
  for (const attn::ast::TensorDecl &t : v.tensors) {
    std::vector<int64_t> shape;
    for (const attn::ast::TensorDim &d : t.dims) {
      const std::string &n = d.sizeName;
      shape.push_back(n.empty() ? d.extent
                      : n == "B"   ? B
                      : n == "H"   ? H
                      : n == "Hkv" ? Hkv
                      : n == "Sq"  ? Sq
                      : n == "Skv" ? Skv
                                   : D);
    }
    Array a = randomArray(shape, rng);
    if (t.elemType == attn::ast::DeclType::I32) {
      bool doc = t.name.find("doc") != std::string::npos;
      int64_t inner = shape.empty() ? 1 : shape.back();
      for (size_t k = 0; k < a.data.size(); ++k)
        a.data[k] = doc ? double((k % inner) / 3) : double((k * 7) % (Skv + 1));
    }
    p.tensors[t.name] = a;
  }
  static const std::map<std::string, double> small = {
      {"window", 3}, {"sinks", 2}, {"W", 3}, {"radius", 1}, {"cap", 0.5}, {"b0", 0.5}};
  for (const attn::ast::ParamDecl &par : v.params) {
    auto it = small.find(par.name);
    if (it != small.end())
      p.params[par.name] = it->second;
    else if (!par.defaultValue)
      p.params[par.name] = 1;
  }
  return p;
}

std::string compare(const Result &got, const Result &want) {
  if (got.o.shape != want.o.shape)
    return "o has another shape";
  for (size_t k = 0; k < want.o.data.size(); ++k) {
    double a = got.o.data[k], b = want.o.data[k];
    if (std::isnan(a) && std::isnan(b))
      continue;
    if (!(std::fabs(a - b) <= 1e-9 * (1 + std::fabs(b)))) {
      std::ostringstream os;
      os.precision(17);
      os << "o[" << k << "] = " << a << ", direct " << b;
      return os.str();
    }
  }
  if (want.lse && got.lse)
    for (size_t k = 0; k < want.lse->data.size(); ++k) {
      double a = got.lse->data[k], b = want.lse->data[k];
      bool ok = std::isinf(b) ? a == b : std::fabs(a - b) <= 1e-9 * (1 + std::fabs(b));
      if (!ok)
        return "lse[" + std::to_string(k) + "] differs";
    }
  return "";
}

class SpatialRun : public ::testing::TestWithParam<std::string> {
protected:
  SpatialRun() {
    ctx.loadDialect<attn::AttnDialect, cascade::CascadeDialect, spatial::SpatialDialect,
                    mlir::arith::ArithDialect, mlir::math::MathDialect>();
  }
  mlir::MLIRContext ctx;
};

TEST_P(SpatialRun, MatchesDirect) {
  const std::string example = GetParam();
  std::string path = std::string(ATTNC_EXAMPLES_DIR) + "/" + example + ".attn";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  attn::DiagnosticEngine diags(path, ss.str());
  std::unique_ptr<attn::ast::Module> ast = attn::parseAndCheck(diags);
  ASSERT_TRUE(ast) << example;
  mlir::OwningOpRef<mlir::ModuleOp> module = attn::emitAttnModule(ctx, *ast);
  ASSERT_TRUE(module) << example;

  struct Shape {
    int64_t B, H, Hkv, Sq, Skv;
  } shapes[] = {{1, 2, 2, 9, 11}, {2, 4, 2, 1, 11}, {1, 3, 1, 6, 4}, {1, 2, 1, 13, 13}};
  for (const attn::ast::Variant &v : ast->variants)
    for (bool online : {true, false})
      for (const Shape &s : shapes) {
        Problem p = makeProblem(v, s.B, s.H, s.Hkv, s.Sq, s.Skv, 4, 7 * s.Sq + s.Skv);
        Result want, got;
        // Sq > Skv puts i below 0: a tensor indexed by i is then out of
        // range, an error on every target.
        if (attn::ref::evaluateDirect(v, p, want))
          continue;
        attn::SpatialRunOptions o;
        o.archPath = ATTNC_ARCH_DIR "/tiny4x4.json";
        o.online = online;
        attn::SpatialRunInfo info;
        llvm::Error e = attn::runSpatial(*module, v.name, o, p, got, &info);
        ASSERT_FALSE(e) << example << ": " << llvm::toString(std::move(e));
        EXPECT_EQ(info.binding, online ? "fusemax" : "flat");
        EXPECT_EQ(info.pTiles, (s.Sq + 3) / 4);
        EXPECT_EQ(compare(got, want), "")
            << example << "/" << v.name << (online ? " fusemax" : " flat") << " Sq=" << s.Sq
            << " Skv=" << s.Skv << "\n"
            << info.program;
      }
}

INSTANTIATE_TEST_SUITE_P(Examples, SpatialRun, ::testing::ValuesIn(listExamples()),
                         [](const auto &info) { return info.param; });

/// The compiler's programs for plain softmax are the reference programs:
/// the 1-pass one is FuseMax's binding, the multi-pass one FLAT's, to the
/// cycle, on BERT-Base at 1K and 64K.
TEST(SpatialRunPrograms, CompilerMatchesReferencePrograms) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<attn::AttnDialect, cascade::CascadeDialect, spatial::SpatialDialect,
                  mlir::arith::ArithDialect, mlir::math::MathDialect>();
  for (bool online : {true, false}) {
    mlir::OwningOpRef<mlir::ModuleOp> m =
        mlir::parseSourceString<mlir::ModuleOp>("attn.variant @full {\n}\n", &ctx);
    ASSERT_TRUE(m);
    attn::PipelineOptions po;
    po.mTile = 256;
    po.online = online;
    po.deferDivision = online;
    po.splitKV = 0;
    ASSERT_TRUE(mlir::succeeded(attn::lowerToCascade(*m, po)));
    attn::VariantOp v;
    m->walk([&](attn::VariantOp op) { v = op; });
    spatial::MappingOptions mo;
    mo.lse = false;
    auto program = spatial::mapVariant(v, mo);
    ASSERT_TRUE(mlir::succeeded(program));
    auto got = spatial::toSimProgram(*program);
    ASSERT_TRUE(bool(got));
    attn::sim::Program want = online ? attn::sim::onePassSoftmax() : attn::sim::threePassSoftmax();
    attn::sim::ArchConfig arch;
    if (!online)
      ASSERT_FALSE(attn::sim::loadArch(ATTNC_ARCH_DIR "/flat.json", arch));
    for (int64_t s : {1024, 65536}) {
      attn::sim::Workload w;
      w.batch = 64;
      w.heads = 12;
      w.sq = w.skv = s;
      attn::sim::Report a, b;
      ASSERT_FALSE(attn::sim::simulate(arch, *got, w, a));
      ASSERT_FALSE(attn::sim::simulate(arch, want, w, b));
      EXPECT_EQ(got->passes, want.passes);
      EXPECT_DOUBLE_EQ(a.computeCycles, b.computeCycles) << (online ? "1-pass " : "3-pass ") << s;
      EXPECT_DOUBLE_EQ(a.busy2d, b.busy2d);
      EXPECT_DOUBLE_EQ(a.dramBytes, b.dramBytes);
      EXPECT_DOUBLE_EQ(a.bufferBytes, b.bufferBytes);
    }
  }
}

TEST(SpatialRunErrors, BadArchAndVariant) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<attn::AttnDialect>();
  mlir::OwningOpRef<mlir::ModuleOp> m = mlir::ModuleOp::create(mlir::UnknownLoc::get(&ctx));
  Problem p;
  p.q.shape = p.k.shape = p.v.shape = {1, 1, 1, 1};
  p.q.data = p.k.data = p.v.data = {1.0};
  Result r;
  attn::SpatialRunOptions o;
  o.archPath = "/nonexistent.json";
  llvm::Error e = attn::runSpatial(*m, "x", o, p, r);
  ASSERT_TRUE(bool(e));
  EXPECT_NE(llvm::toString(std::move(e)).find("cannot open"), std::string::npos);
  o.archPath.clear();
  e = attn::runSpatial(*m, "x", o, p, r);
  ASSERT_TRUE(bool(e));
  EXPECT_NE(llvm::toString(std::move(e)).find("no variant named 'x'"), std::string::npos);
}

} // namespace
