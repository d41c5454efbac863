//===- attnc.cpp - the attnc compiler driver ------------------------------===//
//
//   attnc FILE.attn [--variant NAME] [--emit mlir|cascade] [--explain] [-o OUT]
//   attnc run FILE.attn --variant NAME --q q.npy ... -o out.npy --target ref
//
//===----------------------------------------------------------------------===//
#include "compiler/tools/attnc/Driver.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/ToolOutputFile.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace llvm;

namespace {
cl::opt<std::string> inputFile(cl::Positional, cl::desc("<file.attn>"), cl::Required);
cl::opt<std::string> variantName("variant", cl::desc("Only this variant"), cl::init(""));
cl::opt<std::string> outputFile("o", cl::desc("Output file ('-' for stdout)"),
                                cl::value_desc("file"), cl::init("-"));
enum class EmitKind { Mlir, Cascade };
cl::opt<EmitKind> emitKind(
    "emit", cl::desc("What to produce"), cl::init(EmitKind::Mlir),
    cl::values(clEnumValN(EmitKind::Mlir, "mlir", "the attn dialect"),
               clEnumValN(EmitKind::Cascade, "cascade", "the rewritten Einsum cascade")));
cl::opt<bool> explain("explain",
                      cl::desc("Print the cascade before/after the rewrites and its pass count"));
} // namespace

int main(int argc, char **argv) {
  if (argc >= 2 && std::strcmp(argv[1], "run") == 0)
    return attn::driver::runMain(argc - 1, argv + 1);

  // --mlir-print-debuginfo, --mlir-print-op-generic, ... for --emit mlir.
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  cl::ParseCommandLineOptions(argc, argv, "attnc: a compiler for attention variants\n");
  mlir::MLIRContext ctx;
  attn::driver::registerDialects(ctx);
  auto loaded = attn::driver::loadAttnFile(ctx, inputFile, variantName);
  if (!loaded)
    return 1;

  std::string err;
  auto out = mlir::openOutputFile(outputFile, &err);
  if (!out) {
    errs() << "attnc: error: " << err << "\n";
    return 1;
  }
  int rc = 0;
  if (explain || emitKind == EmitKind::Cascade)
    rc = attn::driver::explainMain(*loaded->attnModule, explain, out->os());
  else
    loaded->attnModule->print(out->os(), mlir::OpPrintingFlags());
  if (rc == 0)
    out->keep();
  return rc;
}
