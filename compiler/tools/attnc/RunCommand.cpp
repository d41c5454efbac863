//===- RunCommand.cpp - `attnc run`: run a variant on .npy files ----------===//
#include "compiler/tools/attnc/Driver.h"
#include "llvm/Support/raw_ostream.h"

int attn::driver::runMain(int argc, char **argv) {
  llvm::errs() << "attnc run: not implemented yet\n";
  return 1;
}
