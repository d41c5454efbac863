//===- Pipeline.cpp - attn -> rewritten cascade, stage by stage -----------===//
//
// Each stage is its own PassManager run (built in C++, never parsed: see
// TOOLCHAIN.md) so that the caller can look at the module between stages.
//
//===----------------------------------------------------------------------===//
#include "compiler/Pipeline/Pipeline.h"

#include "compiler/Conversion/AttnToCascade/AttnToCascade.h"
#include "compiler/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"

#include <memory>

using namespace mlir;

namespace {
/// Runs one pass on `module`; reports the stage to `onStage` on success.
LogicalResult runStage(ModuleOp module, StringRef stage, std::unique_ptr<Pass> pass,
                       const std::function<void(StringRef, ModuleOp)> &onStage) {
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  pm.addPass(std::move(pass));
  if (failed(pm.run(module)))
    return failure();
  if (onStage)
    onStage(stage, module);
  return success();
}
} // namespace

LogicalResult attn::lowerToCascade(ModuleOp module, const PipelineOptions &options,
                                   std::function<void(StringRef, ModuleOp)> onStage) {
  if (failed(runStage(module, "attn-to-cascade", createAttnToCascadePass(), onStage)))
    return failure();
  if (options.deferDivision &&
      failed(runStage(module, "defer-division", cascade::createDeferDivisionPass(), onStage)))
    return failure();
  if (options.mTile <= 0)
    return success();
  if (failed(runStage(module, "partition",
                      cascade::createPartitionPass(options.mTile, options.pTile), onStage)))
    return failure();
  if (!options.online)
    return success();
  if (failed(runStage(module, "online", cascade::createOnlinePass(), onStage)))
    return failure();
  if (options.splitKV > 1 &&
      failed(runStage(module, "split-kv", cascade::createSplitKVPass(options.splitKV),
                      onStage)))
    return failure();
  return success();
}

std::string attn::formatDiagnostic(Diagnostic &diag) {
  std::string text;
  llvm::raw_string_ostream os(text);
  auto line = [&](Diagnostic &d) {
    if (auto fl = dyn_cast<FileLineColLoc>(d.getLocation()))
      os << fl.getFilename().getValue() << ":" << fl.getLine() << ":" << fl.getColumn();
    else
      d.getLocation().print(os);
    switch (d.getSeverity()) {
    case DiagnosticSeverity::Error: os << ": error: "; break;
    case DiagnosticSeverity::Warning: os << ": warning: "; break;
    case DiagnosticSeverity::Note: os << ": note: "; break;
    case DiagnosticSeverity::Remark: os << ": remark: "; break;
    }
    os << d.str();
    if (!StringRef(text).ends_with("\n"))
      os << "\n";
  };
  line(diag);
  for (Diagnostic &note : diag.getNotes())
    line(note);
  return text;
}
