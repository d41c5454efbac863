//===- SpatialEstimate.cpp - print the model's estimate of a program ------===//
#include "compiler/targets/spatial/CascadeToSpatial.h"
#include "compiler/targets/spatial/ToSimProgram.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/spatial/SpatialDialect.h"
#include "runtime/simulator/Arch.h"
#include "runtime/simulator/Model.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

namespace spatial {
#define GEN_PASS_DEF_SPATIALESTIMATE
#include "compiler/targets/spatial/Passes.h.inc"
} // namespace spatial

using namespace mlir;
namespace sim = attn::sim;

std::optional<std::string> spatial::parseMaskSpec(llvm::StringRef text, sim::MaskSpec &mask) {
  auto [kind, rest] = text.split('=');
  auto num = [](llvm::StringRef s, int64_t &out) { return !s.getAsInteger(10, out) && out > 0; };
  mask = sim::MaskSpec();
  if (kind == "none")
    return std::nullopt;
  if (kind == "causal") {
    mask.kind = sim::MaskKind::Causal;
    return std::nullopt;
  }
  if (kind == "window" && num(rest, mask.window)) {
    mask.kind = sim::MaskKind::Window;
    return std::nullopt;
  }
  if (kind == "document" && num(rest, mask.docLen)) {
    mask.kind = sim::MaskKind::Document;
    return std::nullopt;
  }
  auto [s, w] = rest.split(',');
  if (kind == "streaming" && num(s, mask.sinks) && num(w, mask.window)) {
    mask.kind = sim::MaskKind::Streaming;
    return std::nullopt;
  }
  return "bad mask '" + text.str() +
         "' (none, causal, window=W, document=L, streaming=S,W)";
}

namespace {
struct SpatialEstimatePass : spatial::impl::SpatialEstimateBase<SpatialEstimatePass> {
  using SpatialEstimateBase::SpatialEstimateBase;

  void runOnOperation() override {
    sim::ArchConfig cfg;
    if (!arch.empty())
      if (auto err = sim::loadArch(arch, cfg)) {
        getOperation().emitError("spatial-estimate: ") << *err;
        return signalPassFailure();
      }
    sim::Workload w;
    w.batch = batch;
    w.heads = heads;
    w.sq = sq;
    w.skv = skv;
    w.e = w.f = d;
    if (auto err = spatial::parseMaskSpec(mask, w.mask)) {
      getOperation().emitError("spatial-estimate: ") << *err;
      return signalPassFailure();
    }
    getOperation()->walk([&](attn::VariantOp variant) {
      variant.getBody().walk([&](spatial::ProgramOp program) {
        llvm::Expected<sim::Program> p = spatial::toSimProgram(program);
        if (!p) {
          program.emitError(llvm::toString(p.takeError()));
          return signalPassFailure();
        }
        sim::Report r;
        if (auto err = sim::simulate(cfg, *p, w, r)) {
          program.emitError("spatial-estimate: ") << *err;
          return signalPassFailure();
        }
        llvm::outs() << "spatial-estimate @" << variant.getSymName() << ": " << cfg.name << ", "
                     << program.getBinding() << " binding, " << program.getPasses()
                     << " pass(es), epochs " << r.epochs << " (empty " << r.emptyEpochs
                     << ", partial " << r.partialEpochs << "), cycles "
                     << llvm::format("%.0f", r.computeCycles) << ", 2D util "
                     << llvm::format("%.4f", r.util2d) << ", 1D util "
                     << llvm::format("%.4f", r.util1d) << ", DRAM "
                     << llvm::format("%.0f", r.dramBytes) << " B, buffer "
                     << llvm::format("%.0f", r.bufferBytes) << " B, energy "
                     << llvm::format("%.4g", r.energyTotal) << " pJ\n";
      });
    });
  }
};
} // namespace
