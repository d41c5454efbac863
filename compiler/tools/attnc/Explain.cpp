//===- Explain.cpp - `attnc --explain` / `--emit cascade` -----------------===//
#include "compiler/tools/attnc/Driver.h"
#include "llvm/Support/raw_ostream.h"

int attn::driver::explainMain(mlir::ModuleOp attnModule, bool explain,
                              llvm::raw_ostream &os) {
  llvm::errs() << "attnc: --explain / --emit cascade not implemented yet\n";
  return 1;
}
