//===- Explain.cpp - `attnc --explain` / `--emit cascade` -----------------===//
//
// Runs the attn -> cascade pipeline and prints either the final cascade
// (`--emit cascade`) or, per variant, the cascade after every stage with its
// pass count over K/V and the Einsum that forces each pass (`--explain`).
//
//===----------------------------------------------------------------------===//
#include "compiler/tools/attnc/Driver.h"

#include "compiler/Analysis/PassCount.h"
#include "compiler/Pipeline/Pipeline.h"
#include "compiler/targets/gpu/MmaKernel.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

using namespace mlir;

namespace {
/// One variant's cascade after one pipeline stage.
struct Snapshot {
  std::string stage;
  std::string ir;
  cascade::PassInfo info;
};

/// One variant's history through the pipeline, in stage order.
struct VariantHistory {
  std::string name;
  std::vector<Snapshot> stages;
  std::string gpuMapping; ///< which GPU kernel the final cascade gets, and why
};

cascade::CascadeOp findCascade(attn::VariantOp v) {
  for (Operation &op : v.getBody().front())
    if (auto c = dyn_cast<cascade::CascadeOp>(op))
      return c;
  return nullptr;
}

std::string passes(unsigned n) {
  return std::to_string(n) + (n == 1 ? " pass" : " passes");
}

/// A reason without its "pass N: " prefix.
llvm::StringRef withoutPass(llvm::StringRef reason) {
  size_t colon = reason.find(": ");
  return colon == llvm::StringRef::npos ? reason : reason.substr(colon + 2);
}

void printSummary(const VariantHistory &h, llvm::raw_ostream &os) {
  const cascade::PassInfo &first = h.stages.front().info;
  const cascade::PassInfo &last = h.stages.back().info;
  os << "variant " << h.name << ": " << passes(first.numPasses)
     << " before the rewrites, " << last.numPasses << " after\n";
  for (size_t s = 1; s < h.stages.size(); ++s) {
    const cascade::PassInfo &before = h.stages[s - 1].info;
    const cascade::PassInfo &after = h.stages[s].info;
    if (after.numPasses == before.numPasses)
      continue;
    os << "  " << h.stages[s].stage << ": " << before.numPasses << " -> "
       << passes(after.numPasses);
    // The boundaries that disappeared: each reason is a pass p >= 2.
    std::vector<std::string> gone;
    for (const std::string &r : before.reasons) {
      bool kept = llvm::any_of(after.reasons, [&](const std::string &a) {
        return withoutPass(a) == withoutPass(r);
      });
      if (!kept)
        gone.push_back(withoutPass(r).str());
    }
    for (auto [k, g] : llvm::enumerate(gone))
      os << (k ? "; " : " (no longer: ") << g;
    os << (gone.empty() ? "\n" : ")\n");
  }
  if (last.numPasses <= 1) {
    if (first.numPasses <= 1)
      os << "  no Einsum that iterates K/V reads a value that needs a full pass over K/V\n";
  } else {
    for (const std::string &r : last.reasons)
      os << "  still needed: " << r << "\n";
  }
  os << "  gpu: " << h.gpuMapping << "\n";
}
} // namespace

int attn::driver::explainMain(mlir::ModuleOp attnModule, bool explain,
                              const MmaMapping &gpuMapping, bool gpuWgmma,
                              llvm::raw_ostream &os) {
  std::vector<VariantHistory> history;
  auto record = [&](llvm::StringRef stage, ModuleOp module) {
    if (!explain)
      return;
    size_t k = 0;
    module.walk([&](attn::VariantOp v) {
      cascade::CascadeOp c = findCascade(v);
      if (!c)
        return;
      if (k == history.size())
        history.push_back({v.getSymName().str(), {}, {}});
      Snapshot snap{stage.str(), "", cascade::computePassCount(c)};
      llvm::raw_string_ostream irOs(snap.ir);
      v->print(irOs);
      history[k++].stages.push_back(std::move(snap));
    });
  };
  PipelineOptions options;
  if (failed(lowerToCascade(attnModule, options, record)))
    return 1;
  if (!explain) {
    attnModule.print(os);
    os << "\n";
    return 0;
  }
  size_t k = 0;
  attnModule.walk([&](attn::VariantOp v) {
    if (k >= history.size() || history[k].name != v.getSymName())
      return;
    std::string why;
    history[k++].gpuMapping =
        fitsMmaKernel(v, &why)
            ? (gpuWgmma ? "tensor-core kernel (wgmma on sm_90a, mma.sync for split-KV) for bf16 / fp16; " +
                              describeMmaSchedule(v, gpuMapping)
                        : std::string("tensor-core kernel (mma.sync) for bf16 / fp16"))
            : "one thread per row (no tensor-core kernel: " + why + ")";
  });
  for (const VariantHistory &h : history) {
    os << "=== variant " << h.name << "\n";
    for (const Snapshot &s : h.stages) {
      os << "\n--- after " << s.stage << ": " << passes(s.info.numPasses) << "\n";
      os << s.ir << "\n";
      cascade::printPassInfo(s.info, os);
    }
    os << "\n";
    printSummary(h, os);
    os << "\n";
  }
  return 0;
}
