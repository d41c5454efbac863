//===- GpuCompiler.cpp - variants -> GPU kernels -> PTX / cubin -----------===//
#include "compiler/targets/gpu/GpuCompiler.h"

#include "compiler/targets/common/ApproximateMath.h"
#include "compiler/Pipeline/Pipeline.h"
#include "compiler/Transforms/Passes.h"
#include "compiler/targets/common/TileKernel.h"
#include "compiler/targets/common/VariantDescription.h"
#include "compiler/targets/gpu/MmaKernel.h"
#include "dialects/attn/AttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace mlir;

namespace attn {

void registerGpuCodegenDialects(DialectRegistry &registry) {
  registry.insert<arith::ArithDialect, func::FuncDialect, gpu::GPUDialect, LLVM::LLVMDialect,
                  NVVM::NVVMDialect, math::MathDialect, memref::MemRefDialect, nvgpu::NVGPUDialect, scf::SCFDialect,
                  vector::VectorDialect>();
  registerAllExtensions(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
}

LogicalResult lowerToGpuCascade(ModuleOp module, const GpuCompileOptions &options) {
  PipelineOptions po;
  po.mTile = options.keyTile;
  po.pTile = 0;
  return lowerToCascade(module, po);
}

/// The GPU's mapping: one row per thread, no vectors, K and V read in place.
static TileKernelOptions gpuKernelOptions(attn_dtype dtype) {
  TileKernelOptions ko;
  ko.target = KernelTarget::Gpu;
  ko.rowTile = 1;
  ko.vectorLanes = 1;
  ko.directInputs = true;
  ko.inputType = dtype;
  return ko;
}

static void loadGpuDialects(MLIRContext *ctx) {
  DialectRegistry registry;
  registerGpuCodegenDialects(registry);
  ctx->appendDialectRegistry(registry);
  ctx->loadAllAvailableDialects();
}

FailureOr<std::string> compileVariantBinary(VariantOp variant, attn_dtype dtype,
                                            const GpuCompileOptions &options, bool ptx) {
  loadGpuDialects(variant.getContext());
  // One module per (variant, dtype): each binary holds one kernel.
  OwningOpRef<ModuleOp> kernels = ModuleOp::create(variant.getLoc());
  if (failed(addVariantKernels(variant, dtype, options, *kernels)))
    return failure();
  return compileGpuKernels(*kernels, options, ptx);
}

LogicalResult addVariantKernels(VariantOp variant, attn_dtype dtype,
                                const GpuCompileOptions &options, ModuleOp kernels) {
  if (failed(buildTileKernel(variant, kernels, gpuKernelOptions(dtype))))
    return failure();
  if (dtype != ATTN_BF16 && dtype != ATTN_F16)
    return success();
  // Split-KV (decode): the same mapping over the split cascade
  // (cascade-split-kv) gives `_split` (one chunk of the key tiles per block)
  // and `_merge` kernels; the variant is split in a copy.
  OwningOpRef<ModuleOp> splitCopy;
  VariantOp splitVariant;
  if (canSplitKeys(variant)) {
    splitCopy = ModuleOp::create(variant.getLoc());
    OpBuilder b(splitCopy->getBodyRegion());
    splitVariant = cast<VariantOp>(b.clone(*variant.getOperation()));
    PassManager pm(variant.getContext());
    pm.addPass(cascade::createSplitKVPass(/*workers=*/2));
    if (failed(pm.run(splitVariant)))
      splitVariant = nullptr;
  }
  for (int64_t hd : options.mmaHeadDims) {
    MmaKernelOptions mo;
    mo.inputType = dtype;
    mo.headDim = hd;
    mo.wgmma = options.wgmma && options.chip == "sm_90a";
    mo.tileRange = options.tileRange;
    std::string why;
    FailureOr<bool> built = buildMmaKernel(variant, kernels, mo, &why);
    if (failed(built))
      return failure();
    if (!*built)
      break; // the cascade does not fit the mapping: the row kernel serves
    if (splitVariant && failed(buildMmaKernel(splitVariant, kernels, mo, &why)))
      return failure();
  }
  return success();
}

LogicalResult writeGpuArtifacts(ModuleOp attnModule, const GpuCompileOptions &options,
                                const std::string &dir, bool ptx, std::string &error) {
  loadGpuDialects(attnModule.getContext());
  if (failed(lowerToGpuCascade(attnModule, options))) {
    error = "lowering to the cascade failed";
    return failure();
  }
  auto writeFile = [&](const std::string &name, llvm::StringRef bytes) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, name);
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
    if (ec) {
      error = "cannot write " + std::string(path) + ": " + ec.message();
      return false;
    }
    os << bytes;
    return true;
  };
  for (auto variant : attnModule.getOps<VariantOp>()) {
    std::string v = variant.getSymName().str();
    for (attn_dtype t : options.dtypes) {
      auto binary = compileVariantBinary(variant, t, options, ptx);
      if (failed(binary)) {
        error = "compiling the kernel of '" + v + "' (" + dtypeShortName(t) + ") failed";
        return failure();
      }
      if (!writeFile(v + "_" + dtypeShortName(t) + (ptx ? ".ptx" : ".cubin"), *binary))
        return failure();
    }
    if (!writeFile(v + ".info", toInfoText(*describeVariant(variant, options.dtypes.front(), 1))))
      return failure();
  }
  return success();
}

FailureOr<OwningOpRef<ModuleOp>> buildGpuKernels(ModuleOp cascades,
                                                 const GpuCompileOptions &options) {
  loadGpuDialects(cascades.getContext());
  OwningOpRef<ModuleOp> kernels = ModuleOp::create(UnknownLoc::get(cascades.getContext()));
  for (auto variant : cascades.getOps<VariantOp>())
    for (attn_dtype t : options.dtypes)
      if (failed(addVariantKernels(variant, t, options, *kernels)))
        return failure();
  return kernels;
}


FailureOr<std::string> compileGpuKernels(ModuleOp kernels, const GpuCompileOptions &options,
                                         bool ptx) {
  // gpu-module-to-binary finds ptxas through CUDA_HOME (TOOLCHAIN.md).
  if (!ptx && !std::getenv("CUDA_HOME") && llvm::sys::fs::exists("/usr/local/cuda/bin/ptxas"))
    ::setenv("CUDA_HOME", "/usr/local/cuda", 0);
  PassManager pm(kernels.getContext());
  pm.addPass(createApproximateMathPass());
  gpu::GPUToNVVMPipelineOptions gpuOpts;
  gpuOpts.cubinChip = options.chip;
  gpuOpts.cubinFeatures = options.features;
  gpuOpts.cubinFormat = ptx ? "isa" : "bin";
  gpuOpts.optLevel = options.optLevel;
  // ptxas compiles the module's kernels (row, tensor-core tiers, split,
  // merge) on as many threads as the machine has: the cubins are the same
  // kernels, and a JIT compile waits on ptxas for about half its time.
  gpuOpts.cmdOptions = "--split-compile 0";
  gpuOpts.kernelUseBarePtrCallConv = true;
  gpu::buildLowerToNVVMPassPipeline(pm, gpuOpts);
  if (failed(pm.run(kernels)))
    return failure();
  for (auto binary : kernels.getOps<gpu::BinaryOp>())
    for (Attribute obj : binary.getObjects())
      if (auto o = dyn_cast<gpu::ObjectAttr>(obj))
        return o.getObject().getValue().str();
  return kernels.emitError("gpu target: no binary was produced");
}

} // namespace attn
