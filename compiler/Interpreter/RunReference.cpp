//===- RunReference.cpp - lower an attn module and interpret it -----------===//
#include "compiler/Interpreter/RunReference.h"

#include "compiler/Interpreter/Interpreter.h"
#include "dialects/attn/AttnDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace {
llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}
} // namespace

llvm::Error attn::runLoweredReference(ModuleOp loweredModule, llvm::StringRef variant,
                                      const attn::ref::Problem &problem,
                                      attn::ref::Result &result) {
  attn::VariantOp found;
  loweredModule.walk([&](attn::VariantOp v) {
    if (v.getSymName() == variant)
      found = v;
  });
  if (!found)
    return err("no variant named '" + variant + "'");
  return attn::interpretCascade(found, problem, result);
}

llvm::Error attn::runCascadeReference(ModuleOp attnModule, llvm::StringRef variant,
                                      const PipelineOptions &options,
                                      const attn::ref::Problem &problem,
                                      attn::ref::Result &result) {
  OwningOpRef<ModuleOp> clone(attnModule.clone());
  std::string diags;
  {
    llvm::raw_string_ostream os(diags);
    ScopedDiagnosticHandler handler(attnModule.getContext(), [&](Diagnostic &d) {
      if (d.getSeverity() == DiagnosticSeverity::Error) {
        if (!diags.empty())
          os << "\n";
        os << d.getLocation() << ": " << d.str();
      }
      return success();
    });
    if (failed(lowerToCascade(*clone, options)))
      return err("lowering to the cascade failed" + (diags.empty() ? "" : ": " + diags));
  }
  return runLoweredReference(*clone, variant, problem, result);
}
