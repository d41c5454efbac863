//===- attnc.cpp - the attnc compiler driver ------------------------------===//
//
//   attnc FILE.attn [--variant NAME] [--emit mlir|cascade|llvm|header|lib|cubin|ptx]
//         [--explain] [--target cpu|gpu|spatial|all] [--dtypes LIST]
//         [--row-tile N] [--key-tile N] [-v] [-o OUT]
//   attnc run FILE.attn --variant NAME --q q.npy ... -o out.npy [--target ...]
//
// Without --emit the output file decides: `-o X.so` builds a shared library
// (with the CPU kernels, the GPU ones for --target gpu, or both for --target
// all), `-o X.h` writes its header, anything else (or no -o) prints the attn
// dialect. docs/cli.md has every option.
//
//===----------------------------------------------------------------------===//
#include "compiler/targets/cpu/CpuCompiler.h"
#include "compiler/targets/gpu/GpuCompiler.h"
#include "compiler/targets/gpu/MmaKernel.h"
#include "compiler/tools/attnc/Driver.h"

#include "attn/compiler.hpp"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstring>

using namespace llvm;

namespace {
cl::OptionCategory attncCategory("attnc options");
cl::opt<std::string> inputFile(cl::Positional, cl::cat(attncCategory), cl::desc("<file.attn>"), cl::Required);
cl::opt<std::string> variantName("variant", cl::cat(attncCategory), cl::desc("Only this variant"), cl::init(""));
cl::opt<std::string> outputFile("o", cl::cat(attncCategory), cl::desc("Output file ('-' for stdout)"),
                                cl::value_desc("file"), cl::init("-"));
enum class EmitKind { Default, Mlir, Cascade, Llvm, Header, Lib, Cubin, Ptx };
cl::opt<EmitKind> emitKind(
    "emit", cl::cat(attncCategory), cl::desc("What to produce (default: from -o: .so a library, .h the header, "
                     "else the attn dialect)"),
    cl::init(EmitKind::Default),
    cl::values(clEnumValN(EmitKind::Mlir, "mlir", "the attn dialect"),
               clEnumValN(EmitKind::Cascade, "cascade", "the rewritten Einsum cascade"),
               clEnumValN(EmitKind::Llvm, "llvm", "the optimised LLVM IR of the CPU kernels"),
               clEnumValN(EmitKind::Header, "header", "the C header of the shared library"),
               clEnumValN(EmitKind::Lib, "lib",
                          "a shared library with the kernels of --target cpu, gpu or all"),
               clEnumValN(EmitKind::Cubin, "cubin",
                          "with --target gpu: -o DIR gets <variant>_<dtype>.cubin (sm_90a) "
                          "and <variant>.info per variant"),
               clEnumValN(EmitKind::Ptx, "ptx", "with --target gpu: as cubin, but PTX text")));
cl::opt<bool> explain("explain", cl::cat(attncCategory),
                      cl::desc("Print the cascade before/after the rewrites and its pass count"));
cl::opt<std::string> target("target", cl::cat(attncCategory), cl::desc("cpu (default), gpu, spatial or all"),
                            cl::init("cpu"));
cl::opt<std::string> dtypeList("dtypes", cl::cat(attncCategory),
                               cl::desc("Input dtypes to build kernels for (default "
                                        "f32,bf16,f16)"),
                               cl::init("f32,bf16,f16"));
cl::opt<int64_t> rowTile("row-tile", cl::cat(attncCategory), cl::desc("Query rows per tile-kernel call"), cl::init(64));
cl::opt<int64_t> keyTile("key-tile", cl::cat(attncCategory), cl::desc("Keys per inner tile"), cl::init(64));
cl::opt<std::string> gpuHeadDims(
    "gpu-head-dims", cl::cat(attncCategory),
    cl::desc("Head-dimension tiers of the GPU tensor-core kernels (multiples of 32 up to 256; "
             "default 64,128; larger D runs the row kernel)"),
    cl::init("64,128"));
cl::opt<std::string> gpuMma(
    "gpu-mma", cl::cat(attncCategory),
    cl::desc("Tensor-core instructions of the GPU kernels: wgmma (default; warpgroup MMAs on "
             "sm_90a, split-KV kernels use mma.sync) or sync (mma.sync everywhere)"),
    cl::init("wgmma"));
cl::opt<bool> gpuTileRange(
    "gpu-tile-range", cl::cat(attncCategory),
    cl::desc("GPU tensor-core kernels visit only the key tiles between the spans that the "
             "mask's interval arithmetic shows empty for a block (default true; "
             "--gpu-tile-range=false: every tile is visited and classified)"),
    cl::init(true));
cl::opt<bool> gpuPingPong(
    "gpu-pingpong", cl::cat(attncCategory),
    cl::desc("GPU tensor-core kernels: the two warpgroups of a block take turns on the tensor "
             "cores (FlashAttention-3's ping-pong) in the kernels with a producer warpgroup "
             "(--gpu-producer); inert in the others, whose consumers load the tiles themselves. "
             "Default true"),
    cl::init(true));
cl::opt<bool> gpuPairedMma(
    "gpu-paired-mma", cl::cat(attncCategory),
    cl::desc("GPU tensor-core kernels with the ping-pong: a key tile's PV is issued in the same "
             "turn as the next tile's QK, ahead of it, and both are waited for after (default "
             "false: each PV is waited for before the next QK is issued; =true: GPU ABI 11, not "
             "yet measured on a GPU)"),
    cl::init(false));
cl::opt<bool> gpuWarpgroupVotes(
    "gpu-warpgroup-votes", cl::cat(attncCategory),
    cl::desc("GPU tensor-core kernels: each warpgroup votes on a mask's partial tiles when it "
             "computes them, unless the mask reads a tensor (default true; =false: the block "
             "votes when it loads them)"),
    cl::init(true));
cl::opt<std::string> gpuMaskedSums(
    "gpu-masked-sums", cl::cat(attncCategory),
    cl::desc("GPU tensor-core kernels, partial mask tiles: auto (default: select for a mask "
             "that reads a tensor by key, else fast), fast (the softmax's sums read the max's masked "
             "scores, with a warp vote that falls back to the keep values where that would not "
             "be exact), select (the keep values selected at every masked sum) or recompute "
             "(always the fallback; for tests)"),
    cl::init("auto"));
cl::opt<bool> gpuTileClasses(
    "gpu-tile-classes", cl::cat(attncCategory),
    cl::desc("GPU tensor-core kernels: a mask that reads a tensor has its tiles classed "
             "(empty / partial / full) by a `_classes` kernel launched before each call "
             "(default true; =false: the block votes on every tile in range)"),
    cl::init(true));
cl::opt<bool> gpuOverlap(
    "gpu-overlap", cl::cat(attncCategory),
    cl::desc("GPU warpgroup-MMA kernels: the PV of a key tile runs on the tensor cores during "
             "the next tile's softmax (FlashAttention-3's in-warpgroup overlap; three "
             "shared-memory stages). Default false"),
    cl::init(false));
cl::opt<cl::boolOrDefault> gpuPersistent(
    "gpu-persistent", cl::cat(attncCategory),
    cl::desc("GPU warpgroup-MMA kernels: one block per SM computes (b, h, query tile) items and "
             "loads the next item's Q and first K / V tile during the current one (with the "
             "producer warpgroup, the producer takes each block's next item from a counter: ABI "
             "10; without, the items are dealt in rounds: ABI 6; not with --gpu-overlap). "
             "Default: on where the producer warpgroup is; --gpu-persistent=false or =true for "
             "every variant"));
cl::opt<cl::boolOrDefault> gpuProducer(
    "gpu-producer", cl::cat(attncCategory),
    cl::desc("GPU warpgroup-MMA kernels: a third warpgroup loads the K / V tiles (TMA, or "
             "cp.async) while the two consumer warpgroups compute, with its registers moved "
             "to the consumers (setmaxnreg; "
             "FlashAttention-3's warp specialisation; not with --gpu-overlap). Default: on unless the variant's mask reads a tensor by key "
             "(document); --gpu-producer=false or =true for every variant"));
cl::opt<int> gpuMaxRegisters(
    "gpu-max-registers", cl::cat(attncCategory),
    cl::desc("GPU warpgroup-MMA kernels: registers per thread (.maxnreg; 168..255), 0 for no "
             "limit, -1 (default): 240 for the tier-96 and tier-128 kernels of a variant with "
             "a mask, no limit otherwise"),
    cl::init(-1));
cl::opt<bool> verbose("v", cl::cat(attncCategory), cl::desc("Say what is being compiled and how long it took"));

int usageError(const std::string &message) {
  errs() << "attnc: error: " << message << "\n";
  return 1;
}
} // namespace

int main(int argc, char **argv) {
  if (argc >= 2 && std::strcmp(argv[1], "run") == 0)
    return attn::driver::runMain(argc - 1, argv + 1);

  // --mlir-print-debuginfo, --mlir-print-op-generic, ... for --emit mlir.
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  // --help lists attnc's own options (LLVM's and MLIR's still parse).
  cl::HideUnrelatedOptions(attncCategory);
  cl::SetVersionPrinter(
      [](raw_ostream &os) { os << attn::Compiler::versionString() << "\n"; });
  cl::ParseCommandLineOptions(argc, argv,
                              "attnc: a compiler for attention variants\n\n"
                              "  attnc FILE.attn [options]      compile (see --emit)\n"
                              "  attnc run FILE.attn ...        run a variant on .npy files "
                              "(attnc run --help)\n");

  // What to do: --emit, else --explain, else the output file's extension.
  EmitKind kind = emitKind;
  if (kind == EmitKind::Default) {
    StringRef out = outputFile;
    kind = explain                 ? EmitKind::Cascade
           : out.ends_with(".so")  ? EmitKind::Lib
           : out.ends_with(".h")   ? EmitKind::Header
                                   : EmitKind::Mlir;
  }
  if (target != "cpu" && target != "gpu" && target != "spatial" && target != "all")
    return usageError("unknown --target '" + target + "' (expected cpu, gpu, spatial or all)");
  attn::driver::AotOptions aot;
  aot.dtypes.clear();
  for (StringRef d : split(StringRef(dtypeList), ',')) {
    d = d.trim();
    if (d == "f32")
      aot.dtypes.push_back(ATTN_F32);
    else if (d == "bf16")
      aot.dtypes.push_back(ATTN_BF16);
    else if (d == "f16")
      aot.dtypes.push_back(ATTN_F16);
    else
      return usageError("unknown dtype '" + d.str() + "' in --dtypes (expected f32, bf16, f16)");
  }
  if (aot.dtypes.empty())
    return usageError("--dtypes is empty");
  for (auto it = aot.dtypes.begin(); it != aot.dtypes.end(); ++it)
    if (std::find(aot.dtypes.begin(), it, *it) != it)
      return usageError(std::string("--dtypes lists ") + attn_dtype_name(*it) + " twice");
  if (rowTile < 1 || keyTile < 1)
    return usageError("--row-tile and --key-tile must be >= 1");
  if (target == "cpu" || target == "all")
    if (std::string why = attn::checkCpuTiles(rowTile, keyTile); !why.empty())
      return usageError("--row-tile / --key-tile: " + why);
  // --key-tile other than its default overrides the GPU target's own default.
  aot.gpuKeyTile = keyTile == 64 ? attn::GpuCompileOptions().keyTile : keyTile;
  aot.gpuHeadDims.clear();
  SmallVector<StringRef> tiers;
  // An empty value: no tensor-core tier (row kernels only); an empty entry in
  // a list is a typo.
  if (!StringRef(gpuHeadDims).trim().empty())
    StringRef(gpuHeadDims).split(tiers, ',', -1, true);
  for (StringRef t : tiers) {
    int64_t n = 0;
    if (t.trim().getAsInteger(10, n) || !attn::isMmaHeadDim(n))
      return usageError("--gpu-head-dims: '" + t.str() + "' is not a multiple of 32 up to 256");
    if (llvm::is_contained(aot.gpuHeadDims, n))
      return usageError("--gpu-head-dims lists " + std::to_string(n) + " twice");
    aot.gpuHeadDims.push_back(n);
  }
  if (gpuMma != "wgmma" && gpuMma != "sync")
    return usageError("--gpu-mma: '" + gpuMma + "' is neither wgmma nor sync");
  aot.gpuWgmma = gpuMma == "wgmma";
  aot.gpuMapping.tileRange = gpuTileRange;
  aot.gpuMapping.pingPong = gpuPingPong;
  aot.gpuMapping.pairedMma = gpuPairedMma;
  aot.gpuMapping.warpgroupVotes = gpuWarpgroupVotes;
  aot.gpuMapping.tileClasses = gpuTileClasses;
  if (gpuMaskedSums == "auto")
    aot.gpuMapping.maskedSums = attn::kMmaMaskedSumsAuto;
  else if (gpuMaskedSums == "fast")
    aot.gpuMapping.maskedSums = 1;
  else if (gpuMaskedSums == "select")
    aot.gpuMapping.maskedSums = 0;
  else if (gpuMaskedSums == "recompute")
    aot.gpuMapping.maskedSums = 2;
  else
    return usageError("--gpu-masked-sums: '" + gpuMaskedSums + "' is not auto, fast, select or recompute");
  aot.gpuMapping.overlap = gpuOverlap;
  // An unset --gpu-X=[true|false] is the mapping's auto value.
  auto onOffAuto = [](cl::boolOrDefault v, int autoValue) {
    return v == cl::BOU_UNSET ? autoValue : v == cl::BOU_TRUE ? 1 : 0;
  };
  aot.gpuMapping.persistent = onOffAuto(gpuPersistent, attn::kMmaPersistentAuto);
  aot.gpuMapping.producer = onOffAuto(gpuProducer, attn::kMmaProducerAuto);
  if (gpuMaxRegisters != -1 && gpuMaxRegisters != 0 &&
      (gpuMaxRegisters < attn::kMmaMinRegisters || gpuMaxRegisters > 255))
    return usageError("--gpu-max-registers: " + std::to_string(gpuMaxRegisters) + " is not -1, 0 or in [" +
                      std::to_string(attn::kMmaMinRegisters) + ", 255] (fewer do not hold the " +
                      "kernels' accumulators)");
  aot.gpuMapping.maxRegisters = gpuMaxRegisters;

  mlir::MLIRContext ctx;
  attn::driver::registerDialects(ctx);
  auto loaded = attn::driver::loadAttnFile(ctx, inputFile, variantName);
  if (!loaded)
    return 1;

  if (kind == EmitKind::Cubin || kind == EmitKind::Ptx) {
    if (target != "gpu")
      return usageError("--emit cubin/ptx needs --target gpu");
    if (outputFile == "-")
      return usageError("--emit cubin/ptx needs -o DIR (a directory)");
    if (std::error_code ec = sys::fs::create_directories(outputFile))
      return usageError("cannot create directory '" + outputFile + "': " + ec.message());
    attn::GpuCompileOptions gpu = attn::driver::gpuCompileOptions(aot);
    if (verbose)
      errs() << "attnc: compiling GPU kernels into " << outputFile << "\n";
    std::string error;
    if (mlir::failed(attn::writeGpuArtifacts(*loaded->attnModule, gpu, outputFile,
                                             kind == EmitKind::Ptx, error))) {
      if (!error.empty())
        errs() << "attnc: error: " << error << "\n";
      return 1;
    }
    return 0;
  }

  if (kind == EmitKind::Lib || kind == EmitKind::Header || kind == EmitKind::Llvm) {
    aot.kind = kind == EmitKind::Lib      ? attn::driver::AotKind::Library
               : kind == EmitKind::Header ? attn::driver::AotKind::Header
                                          : attn::driver::AotKind::Llvm;
    aot.input = inputFile;
    aot.output = outputFile;
    aot.target = target;
    aot.rowTile = rowTile;
    aot.keyTile = keyTile;
    aot.verbose = verbose;
    return attn::driver::aotMain(*loaded->attnModule, aot);
  }

  std::string err;
  auto out = mlir::openOutputFile(outputFile, &err);
  if (!out) {
    errs() << "attnc: error: " << err << "\n";
    return 1;
  }
  int rc = 0;
  if (explain || kind == EmitKind::Cascade)
    rc = attn::driver::explainMain(*loaded->attnModule, explain, aot.gpuMapping, aot.gpuWgmma,
                                   out->os());
  else
    loaded->attnModule->print(out->os(), mlir::OpPrintingFlags());
  if (rc == 0)
    out->keep();
  return rc;
}
