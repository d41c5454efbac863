//===- spatial_variants.cpp - every example through the compiler + model --===//
//
// For each examples/*.attn variant: the front end, attn-to-cascade, the
// rewrites (partition with m0 = 256, online), cascade-to-spatial (FuseMax
// binding), the model on arch/fusemax.json; against the same variant without
// the online rewrite (FLAT binding, arch/flat.json). Tiles are classified by
// the compiler's interval analysis of each variant's own mask with its
// default params (documents: fixed 4096-token documents; prefix_lm: a prefix
// of Skv / 8). BERT-Base shapes (12 heads, D 64), batch 64.
//
// Usage: spatial-variants [--arch-dir DIR] [--examples-dir DIR]
//                         [--seqs 1024,4096,...] [--csv FILE]
//
//===----------------------------------------------------------------------===//
#include "compiler/Pipeline/Pipeline.h"
#include "compiler/targets/spatial/CascadeToSpatial.h"
#include "compiler/targets/spatial/MaskTiles.h"
#include "compiler/targets/spatial/ToSimProgram.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"
#include "dialects/spatial/SpatialDialect.h"
#include "frontend/Frontend.h"
#include "frontend/emit/EmitAttn.h"
#include "runtime/simulator/Arch.h"
#include "runtime/simulator/Model.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <sstream>

namespace sim = attn::sim;

namespace {
constexpr int64_t kDocLen = 4096;

struct Mapped {
  sim::Program program;
  std::function<sim::TileClass(int64_t, int64_t, int64_t, int64_t)> classify;
  unsigned passes = 0;
};

/// Lowers a clone of `module`, maps `variant`, and builds its classifier for
/// sequence length `s`.
bool mapVariant(mlir::ModuleOp module, const std::string &variant, bool online, int64_t s,
                Mapped &out) {
  mlir::OwningOpRef<mlir::ModuleOp> clone(module.clone());
  attn::PipelineOptions po;
  po.mTile = 256;
  po.pTile = 0;
  po.online = online;
  po.deferDivision = online;
  po.splitKV = 0;
  if (mlir::failed(attn::lowerToCascade(*clone, po)))
    return false;
  attn::VariantOp v;
  clone->walk([&](attn::VariantOp op) {
    if (op.getSymName() == variant)
      v = op;
  });
  spatial::MappingOptions mo;
  mo.lse = false; // the attention output only, as FuseMax measures it
  auto program = spatial::mapVariant(v, mo);
  if (mlir::failed(program))
    return false;
  auto p = spatial::toSimProgram(*program);
  if (!p) {
    llvm::errs() << llvm::toString(p.takeError()) << "\n";
    return false;
  }
  out.program = *p;
  out.passes = static_cast<unsigned>(program->getPasses());
  attn::MaskTileEnv env;
  env.sizes = {{"B", 64}, {"H", 12}, {"Hkv", 12}, {"Sq", s}, {"Skv", s}, {"D", 64}};
  env.tensorRange = [s](llvm::StringRef name, llvm::ArrayRef<cascade::Interval> box)
      -> std::optional<cascade::Interval> {
    if (name.contains("doc") && box.size() == 2)
      return cascade::Interval{std::floor(std::max(0.0, box[1].lo) / kDocLen),
                               std::floor(std::min(double(s - 1), box[1].hi) / kDocLen)};
    if (name.contains("prefix"))
      return cascade::Interval::point(double(s / 8));
    return std::nullopt;
  };
  auto classify = attn::maskTileClassifier(v, env);
  if (!classify) {
    llvm::errs() << llvm::toString(classify.takeError()) << "\n";
    return false;
  }
  out.classify = *classify;
  return true;
}
} // namespace

int main(int argc, char **argv) {
  std::string archDir = ATTNC_ARCH_DIR, examplesDir = ATTNC_EXAMPLES_DIR, csvPath;
  std::vector<int64_t> seqs = {1 << 10, 1 << 12, 1 << 14, 1 << 16};
  for (int k = 1; k < argc; ++k) {
    std::string a = argv[k];
    if (a == "--arch-dir" && k + 1 < argc)
      archDir = argv[++k];
    else if (a == "--examples-dir" && k + 1 < argc)
      examplesDir = argv[++k];
    else if (a == "--csv" && k + 1 < argc)
      csvPath = argv[++k];
    else if (a == "--seqs" && k + 1 < argc) {
      seqs.clear();
      std::stringstream ss(argv[++k]);
      std::string item;
      while (std::getline(ss, item, ','))
        seqs.push_back(std::stoll(item));
    } else {
      std::fprintf(stderr, "usage: spatial-variants [--arch-dir DIR] [--examples-dir DIR] "
                           "[--seqs N,N,...] [--csv FILE]\n");
      return 2;
    }
  }
  sim::ArchConfig fm, flat;
  if (auto e = sim::loadArch(archDir + "/fusemax.json", fm)) {
    std::fprintf(stderr, "%s\n", e->c_str());
    return 1;
  }
  if (auto e = sim::loadArch(archDir + "/flat.json", flat)) {
    std::fprintf(stderr, "%s\n", e->c_str());
    return 1;
  }
  std::vector<std::string> files;
  if (DIR *d = opendir(examplesDir.c_str())) {
    while (dirent *e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 5 && n.substr(n.size() - 5) == ".attn")
        files.push_back(n);
    }
    closedir(d);
  }
  std::sort(files.begin(), files.end());

  mlir::MLIRContext ctx;
  ctx.loadDialect<attn::AttnDialect, cascade::CascadeDialect, spatial::SpatialDialect,
                  mlir::arith::ArithDialect, mlir::math::MathDialect>();
  FILE *csv = csvPath.empty() ? nullptr : std::fopen(csvPath.c_str(), "w");
  if (csv)
    std::fprintf(csv, "variant,seq,passes_1p,passes_base,tiles_kept,util1p,util_base,speedup,"
                      "energy_ratio,seconds1p,buffer1p,buffer_base\n");
  std::printf("## attnc variants through the compiler (BERT-Base shapes, batch 64)\n\n");
  std::printf("| variant | seq | passes (online / not) | tiles kept | 2D util 1-pass "
              "| 2D util FLAT | speedup | energy 1p/FLAT | time 1-pass s | buffer 1p / FLAT MiB "
              "| barrier schedule |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string &file : files) {
    std::string path = examplesDir + "/" + file;
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    attn::DiagnosticEngine diags(path, ss.str());
    std::unique_ptr<attn::ast::Module> ast = attn::parseAndCheck(diags);
    if (!ast)
      continue;
    mlir::OwningOpRef<mlir::ModuleOp> module = attn::emitAttnModule(ctx, *ast);
    if (!module)
      continue;
    for (const attn::ast::Variant &v : ast->variants)
      for (int64_t s : seqs) {
        Mapped one, base;
        if (!mapVariant(*module, v.name, true, s, one) ||
            !mapVariant(*module, v.name, false, s, base)) {
          std::fprintf(stderr, "spatial-variants: %s failed to map\n", v.name.c_str());
          continue;
        }
        sim::Workload w;
        w.batch = 64;
        w.heads = 12;
        w.sq = w.skv = s;
        w.e = w.f = 64;
        sim::Report a, b;
        w.classify = one.classify;
        if (auto e = sim::simulate(fm, one.program, w, a)) {
          std::fprintf(stderr, "%s\n", e->c_str());
          continue;
        }
        w.classify = base.classify;
        if (auto e = sim::simulate(flat, base.program, w, b)) {
          std::fprintf(stderr, "%s\n", e->c_str());
          continue;
        }
        double kept = double(a.epochs) / double(a.pTiles * a.mTiles);
        std::printf("| %s | %lld | %u / %u | %.2f%% | %.2f%% | %.2f%% | %.2fx | %.3f | %.4g "
                    "| %.2f / %.1f | +%.2f%% |\n",
                    v.name.c_str(), (long long)s, one.passes, base.passes, 100 * kept,
                    100 * a.util2d, 100 * b.util2d, b.seconds / a.seconds,
                    a.energyTotal / b.energyTotal, a.seconds, a.bufferBytes / (1 << 20),
                    b.bufferBytes / (1 << 20),
                    100 * (a.barrierCycles / a.computeCycles - 1));
        if (csv)
          std::fprintf(csv, "%s,%lld,%u,%u,%.6f,%.6f,%.6f,%.4f,%.4f,%.6e,%.0f,%.0f\n",
                       v.name.c_str(), (long long)s, one.passes, base.passes, kept, a.util2d,
                       b.util2d, b.seconds / a.seconds, a.energyTotal / b.energyTotal,
                       a.seconds, a.bufferBytes, b.bufferBytes);
        std::fflush(stdout);
      }
  }
  if (csv)
    std::fclose(csv);
  return 0;
}
