//===- RunSpatial.cpp - `attnc run --target spatial` ----------------------===//
#include "compiler/targets/spatial/RunSpatial.h"
#include "compiler/Interpreter/Interpreter.h"
#include "compiler/Pipeline/Pipeline.h"
#include "compiler/targets/spatial/CascadeToSpatial.h"
#include "compiler/targets/spatial/MaskTiles.h"
#include "compiler/targets/spatial/ToSimProgram.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/spatial/SpatialDialect.h"
#include "runtime/simulator/Arch.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
namespace sim = attn::sim;

namespace {
llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// Rows [r0, r1) of a [B, H, S, D] (or [B, H, S]) array.
attn::ref::Array sliceRows(const attn::ref::Array &a, int64_t r0, int64_t r1) {
  attn::ref::Array out;
  out.shape = a.shape;
  out.shape[2] = r1 - r0;
  int64_t outer = a.shape[0] * a.shape[1], s = a.shape[2];
  int64_t inner = a.shape.size() > 3 ? a.shape[3] : 1;
  out.data.resize(outer * (r1 - r0) * inner);
  for (int64_t o = 0; o < outer; ++o)
    std::copy(a.data.begin() + (o * s + r0) * inner, a.data.begin() + (o * s + r1) * inner,
              out.data.begin() + o * (r1 - r0) * inner);
  return out;
}

/// The range of `a` over a box of (clamped) indices; unknown past 2^20
/// elements or on a rank mismatch.
std::optional<cascade::Interval> boxRange(const attn::ref::Array &a,
                                          llvm::ArrayRef<cascade::Interval> box) {
  if (box.size() != a.shape.size())
    return std::nullopt;
  std::vector<int64_t> lo(box.size()), hi(box.size());
  double count = 1;
  for (size_t d = 0; d < box.size(); ++d) {
    if (!std::isfinite(box[d].lo) || !std::isfinite(box[d].hi))
      return std::nullopt;
    lo[d] = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(box[d].lo)));
    hi[d] = std::min<int64_t>(a.shape[d] - 1, static_cast<int64_t>(std::floor(box[d].hi)));
    if (lo[d] > hi[d])
      return std::nullopt; // out of range: the interpreter reports it
    count *= double(hi[d] - lo[d] + 1);
  }
  if (count > double(1 << 20))
    return std::nullopt;
  cascade::Interval r{INFINITY, -INFINITY};
  std::vector<int64_t> idx(lo);
  while (true) {
    int64_t flat = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      flat = flat * a.shape[d] + idx[d];
    r.lo = std::min(r.lo, a.data[flat]);
    r.hi = std::max(r.hi, a.data[flat]);
    size_t d = idx.size();
    while (d > 0 && idx[d - 1] == hi[d - 1]) {
      idx[d - 1] = lo[d - 1];
      --d;
    }
    if (d == 0)
      break;
    ++idx[d - 1];
  }
  return r;
}

/// Writes `part` (rows [r0, r0 + part rows)) into `whole`.
void placeRows(attn::ref::Array &whole, const attn::ref::Array &part, int64_t r0) {
  int64_t outer = whole.shape[0] * whole.shape[1], s = whole.shape[2], rows = part.shape[2];
  int64_t inner = whole.shape.size() > 3 ? whole.shape[3] : 1;
  for (int64_t o = 0; o < outer; ++o)
    std::copy(part.data.begin() + o * rows * inner, part.data.begin() + (o + 1) * rows * inner,
              whole.data.begin() + (o * s + r0) * inner);
}
} // namespace

llvm::Error attn::runSpatial(ModuleOp attnModule, llvm::StringRef variantName,
                             const SpatialRunOptions &options, const ref::Problem &problem,
                             ref::Result &result, SpatialRunInfo *info) {
  sim::ArchConfig arch;
  if (!options.archPath.empty())
    if (auto e = sim::loadArch(options.archPath, arch))
      return err(*e);
  if (problem.q.shape.size() != 4 || problem.k.shape.size() != 4)
    return err("q and k must be [B, H, S, D]");
  const int64_t p0 = options.pTile ? options.pTile : arch.rows2d;
  const int64_t m0 = options.mTile ? options.mTile : arch.cols2d;

  // Lower a clone with the array's key tile; map it.
  OwningOpRef<ModuleOp> clone(attnModule.clone());
  std::string diags;
  attn::VariantOp variant;
  FailureOr<spatial::ProgramOp> program = failure();
  {
    llvm::raw_string_ostream os(diags);
    ScopedDiagnosticHandler handler(attnModule.getContext(), [&](Diagnostic &d) {
      if (d.getSeverity() == DiagnosticSeverity::Error)
        os << (diags.empty() ? "" : "\n") << d.getLocation() << ": " << d.str();
      return success();
    });
    PipelineOptions po;
    po.mTile = m0;
    po.pTile = 0;
    po.online = options.online;
    po.deferDivision = options.online;
    po.splitKV = 0;
    if (failed(lowerToCascade(*clone, po)))
      return err("lowering to the cascade failed" + (diags.empty() ? "" : ": " + diags));
    clone->walk([&](attn::VariantOp v) {
      if (v.getSymName() == variantName)
        variant = v;
    });
    if (!variant)
      return err("no variant named '" + variantName + "'");
    spatial::MappingOptions mo;
    mo.binding = options.binding;
    mo.p0 = options.pTile;
    program = spatial::mapVariant(variant, mo);
    if (failed(program))
      return err("mapping to the spatial array failed" + (diags.empty() ? "" : ": " + diags));
  }
  llvm::Expected<sim::Program> simProgram = spatial::toSimProgram(*program);
  if (!simProgram)
    return simProgram.takeError();

  // Functional execution, p1 tile by p1 tile (the loop order's p1): each
  // tile's epochs are the partitioned cascade's m1 steps over m0 = the
  // array's columns.
  const int64_t sq = problem.q.shape[2], skv = problem.k.shape[2];
  const int64_t base = problem.qOffset.value_or(skv - sq);
  const int64_t tiles = (sq + p0 - 1) / p0;
  result = ref::Result();
  result.o.shape = problem.q.shape;
  result.o.data.assign(problem.q.numElements(), 0.0);
  for (int64_t t = 0; t < tiles; ++t) {
    int64_t r0 = t * p0, r1 = std::min(sq, r0 + p0);
    ref::Problem sub = problem;
    sub.q = sliceRows(problem.q, r0, r1);
    sub.qOffset = base + r0;
    ref::Result part;
    if (llvm::Error e = interpretCascade(variant, sub, part)) {
      // A tensor sized by Sq cannot be sliced by rows: run the whole problem.
      llvm::consumeError(std::move(e));
      if (llvm::Error whole = interpretCascade(variant, problem, result))
        return whole;
      break;
    }
    placeRows(result.o, part.o, r0);
    if (part.lse) {
      if (!result.lse) {
        result.lse.emplace();
        result.lse->shape = {problem.q.shape[0], problem.q.shape[1], sq};
        result.lse->data.assign(result.lse->numElements(), 0.0);
      }
      placeRows(*result.lse, *part.lse, r0);
    }
  }

  if (info) {
    info->binding = program->getBinding().str();
    info->passes = static_cast<unsigned>(program->getPasses());
    info->pTiles = tiles;
    sim::Workload w;
    w.batch = problem.q.shape[0];
    w.heads = problem.q.shape[1];
    w.kvHeads = problem.k.shape[1];
    w.sq = sq;
    w.skv = skv;
    w.e = w.f = problem.q.shape[3];
    w.qOffset = base;
    // The model skips the tiles the variant's mask leaves empty.
    MaskTileEnv env;
    env.sizes = {{"B", w.batch}, {"H", w.heads}, {"Hkv", problem.k.shape[1]},
                 {"Sq", sq},     {"Skv", skv},   {"D", w.e}};
    for (const auto &[name, value] : problem.params)
      env.params[name] = value;
    env.tensorRange = [&problem](llvm::StringRef name, llvm::ArrayRef<cascade::Interval> box)
        -> std::optional<cascade::Interval> {
      auto it = problem.tensors.find(name.str());
      if (it == problem.tensors.end())
        return std::nullopt;
      return boxRange(it->second, box);
    };
    auto classify = maskTileClassifier(variant, env);
    if (!classify)
      return classify.takeError();
    w.classify = std::move(*classify);
    if (auto e = sim::simulate(arch, *simProgram, w, info->report))
      return err(*e);
    llvm::raw_string_ostream os(info->program);
    program->print(os);
  }
  return llvm::Error::success();
}
