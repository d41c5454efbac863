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
#include "mlir/Target/LLVM/NVVM/Utils.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
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

/// The tensor-core kernel options of a compile, for one dtype and tier.
static MmaKernelOptions mmaKernelOptions(const GpuCompileOptions &options, attn_dtype dtype,
                                         int64_t hd) {
  MmaKernelOptions mo;
  static_cast<MmaMapping &>(mo) = options;
  mo.inputType = dtype;
  mo.headDim = hd;
  mo.wgmma = options.wgmma && options.chip == "sm_90a";
  return mo;
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
    MmaKernelOptions mo = mmaKernelOptions(options, dtype, hd);
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


/// The NVVM lowering of the kernels of every module nested in `outer` (the
/// pipeline runs on each nested module, in parallel when the context has
/// threads), ending in their gpu.binary ops: PTX text (`isa`) or a cubin.
static LogicalResult lowerNestedModules(ModuleOp outer, const GpuCompileOptions &options,
                                        llvm::StringRef format) {
  PassManager pm(outer.getContext());
  OpPassManager &each = pm.nest<ModuleOp>();
  each.addPass(createApproximateMathPass());
  gpu::GPUToNVVMPipelineOptions gpuOpts;
  gpuOpts.cubinChip = options.chip;
  gpuOpts.cubinFeatures = options.features;
  gpuOpts.cubinFormat = format.str();
  gpuOpts.optLevel = options.optLevel;
  gpuOpts.kernelUseBarePtrCallConv = true;
  gpu::buildLowerToNVVMPassPipeline(each, gpuOpts);
  return pm.run(outer);
}

/// The objects of the gpu.binary ops under `op`, in order.
static std::vector<std::string> binaryObjects(Operation *op) {
  std::vector<std::string> objects;
  op->walk([&](gpu::BinaryOp binary) {
    for (Attribute obj : binary.getObjects())
      if (auto o = dyn_cast<gpu::ObjectAttr>(obj))
        objects.push_back(o.getObject().getValue().str());
  });
  return objects;
}

/// ptxas as gpu-module-to-binary finds it: CUDA_HOME / the toolkit path MLIR
/// was built with, then PATH.
static std::optional<std::string> findPtxas() {
  llvm::SmallString<256> path(NVVM::getCUDAToolkitPath());
  if (!path.empty()) {
    llvm::sys::path::append(path, "bin", "ptxas");
    if (llvm::sys::fs::can_execute(path))
      return std::string(path);
  }
  if (auto found = llvm::sys::findProgramByName("ptxas"))
    return *found;
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas")) // TOOLCHAIN.md's toolkit
    return std::string("/usr/local/cuda/bin/ptxas");
  return std::nullopt;
}

/// One whole-program ptxas run over several PTX modules: one cubin holding
/// all their kernels, byte for byte the cubin of one module holding them all
/// (each module keeps its own module-scope symbols). The kernels are
/// compiled on every core (`--split-compile 0`).
static FailureOr<std::string> ptxasModules(Location loc, const std::vector<std::string> &ptx,
                                           const GpuCompileOptions &options) {
  std::optional<std::string> ptxas = findPtxas();
  if (!ptxas)
    return emitError(loc) << "gpu target: ptxas not found (set CUDA_HOME or add the CUDA "
                             "toolkit's bin folder to PATH)";
  std::vector<llvm::SmallString<128>> files;
  std::vector<llvm::FileRemover> removers;
  auto temp = [&](llvm::StringRef suffix) -> FailureOr<llvm::StringRef> {
    llvm::SmallString<128> name;
    if (std::error_code ec = llvm::sys::fs::createTemporaryFile("attnc-gpu", suffix, name))
      return emitError(loc) << "gpu target: cannot create a temporary file: " << ec.message();
    files.push_back(name);
    removers.emplace_back(files.back());
    return llvm::StringRef(files.back());
  };
  files.reserve(ptx.size() + 2);
  removers.reserve(ptx.size() + 2);
  std::string optLevel = std::to_string(options.optLevel);
  llvm::SmallVector<llvm::StringRef> args = {"ptxas", "-arch", options.chip, "--opt-level",
                                             optLevel, "--split-compile", "0"};
  for (const std::string &text : ptx) {
    FailureOr<llvm::StringRef> name = temp("ptx");
    if (failed(name))
      return failure();
    std::error_code ec;
    llvm::raw_fd_ostream os(*name, ec);
    os << text;
    os.close();
    if (ec || os.has_error())
      return emitError(loc) << "gpu target: cannot write " << *name;
    args.push_back(*name);
  }
  FailureOr<llvm::StringRef> cubin = temp("cubin");
  FailureOr<llvm::StringRef> log = temp("log");
  if (failed(cubin) || failed(log))
    return failure();
  args.push_back("-o");
  args.push_back(*cubin);
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, *log, *log};
  std::string message;
  if (llvm::sys::ExecuteAndWait(*ptxas, args, std::nullopt, redirects, 0, 0, &message)) {
    auto text = llvm::MemoryBuffer::getFile(*log);
    return emitError(loc) << "gpu target: ptxas failed"
                          << (message.empty() ? "" : ": " + message) << "\n"
                          << (text ? (*text)->getBuffer() : "");
  }
  auto binary = llvm::MemoryBuffer::getFile(*cubin);
  if (!binary)
    return emitError(loc) << "gpu target: cannot read ptxas's output";
  return (*binary)->getBuffer().str();
}

/// Float `%` (arith.remf) as a call of libdevice's fmodf / fmod: the NVVM
/// lowering has no pattern for the llvm.frem that arith-to-llvm makes of it.
static void callLibdeviceFmod(ModuleOp kernels) {
  SmallVector<arith::RemFOp> rems;
  kernels.walk([&](arith::RemFOp op) { rems.push_back(op); });
  for (arith::RemFOp op : rems) {
    Type t = op.getType();
    if (!t.isF32() && !t.isF64())
      continue;
    auto gm = op->getParentOfType<gpu::GPUModuleOp>();
    if (!gm)
      continue;
    StringRef name = t.isF32() ? "__nv_fmodf" : "__nv_fmod";
    auto fn = gm.lookupSymbol<LLVM::LLVMFuncOp>(name);
    if (!fn) {
      OpBuilder b(gm.getBody(), gm.getBody()->begin());
      fn = LLVM::LLVMFuncOp::create(b, op.getLoc(), name, LLVM::LLVMFunctionType::get(t, {t, t}));
    }
    OpBuilder b(op);
    auto call = LLVM::CallOp::create(b, op.getLoc(), fn, ValueRange{op.getLhs(), op.getRhs()});
    op.replaceAllUsesWith(call.getResult());
    op.erase();
  }
}

FailureOr<std::string> compileGpuKernels(ModuleOp kernels, const GpuCompileOptions &options,
                                         bool ptx) {
  callLibdeviceFmod(kernels);
  // The NVVM target finds libdevice (math functions such as __nv_rsqrtf)
  // through CUDA_HOME (TOOLCHAIN.md): default it to the toolkit's place.
  if (!std::getenv("CUDA_HOME") && llvm::sys::fs::exists("/usr/local/cuda/nvvm/libdevice"))
    ::setenv("CUDA_HOME", "/usr/local/cuda", 0);
  MLIRContext *ctx = kernels.getContext();
  Location loc = kernels.getLoc();
  // Every kernel in a module of its own, nested in `outer`: the lowering,
  // LLVM's NVPTX backend and (for a cubin) ptxas then run on each kernel in
  // parallel. PTX text is one module (what ptxas takes as one file).
  OwningOpRef<ModuleOp> outer = ModuleOp::create(loc);
  OpBuilder b(ctx);
  auto nest = [&]() {
    b.setInsertionPointToEnd(outer->getBody());
    auto m = ModuleOp::create(b, loc);
    m->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), UnitAttr::get(ctx));
    return m;
  };
  for (Operation &op : *kernels.getBody()) {
    auto gm = dyn_cast<gpu::GPUModuleOp>(op);
    if (!gm)
      return op.emitError("gpu target: expected only gpu.module ops in the kernels' module");
    if (ptx) {
      ModuleOp m = outer->getBody()->empty() ? nest() : *outer->getOps<ModuleOp>().begin();
      b.setInsertionPointToEnd(m.getBody());
      b.clone(op);
      continue;
    }
    // The module's own symbols (anything but its kernels) go with each kernel.
    for (auto fn : gm.getOps<gpu::GPUFuncOp>()) {
      if (!fn.isKernel())
        continue;
      ModuleOp m = nest();
      b.setInsertionPointToEnd(m.getBody());
      auto copy = gpu::GPUModuleOp::create(b, gm.getLoc(), gm.getName());
      copy->setAttrs(gm->getAttrs());
      b.setInsertionPointToStart(copy.getBody());
      for (Operation &inner : *gm.getBody()) {
        auto other = dyn_cast<gpu::GPUFuncOp>(inner);
        if (!inner.hasTrait<OpTrait::IsTerminator>() && (!other || !other.isKernel() || other == fn))
          b.clone(inner);
      }
    }
  }
  if (outer->getBody()->empty())
    return kernels.emitError("gpu target: no kernels to compile");
  // The ABI marker (attn/gpu.h), once per image: in the first module only
  // (ptxas links the modules into one cubin). It is the launch geometry that
  // the tensor-core kernels were built for (their kGpuAbiAttrName; MmaBuilder
  // decides it per variant: the producer warpgroup's blocks, three stages,
  // persistent blocks), one for the whole image.
  std::optional<int32_t> kernelAbi;
  WalkResult mixed = outer->walk([&](gpu::GPUFuncOp fn) {
    auto attr = fn->getAttrOfType<IntegerAttr>(kGpuAbiAttrName);
    if (!attr)
      return WalkResult::advance();
    fn->removeAttr(kGpuAbiAttrName);
    int32_t abi = static_cast<int32_t>(attr.getInt());
    if (kernelAbi && *kernelAbi != abi)
      return WalkResult::interrupt();
    kernelAbi = abi;
    return WalkResult::advance();
  });
  if (mixed.wasInterrupted())
    return kernels.emitError("gpu target: the tensor-core kernels of one image need different "
                             "launch ABIs (attn/gpu.h); compile their variants apart");
  int32_t abi = kernelAbi.value_or(ATTN_GPU_ABI_VERSION);
  {
    auto gm = *(*outer->getOps<ModuleOp>().begin()).getOps<gpu::GPUModuleOp>().begin();
    b.setInsertionPointToStart(gm.getBody());
    LLVM::GlobalOp::create(b, loc, b.getI32Type(), /*isConstant=*/true, LLVM::Linkage::External,
                           "attn_gpu_abi_version",
                           b.getI32IntegerAttr(abi),
                           /*alignment=*/4, /*addrSpace=*/1);
  }
  if (failed(lowerNestedModules(*outer, options, "isa")))
    return failure();
  std::vector<std::string> objects = binaryObjects(*outer);
  if (objects.empty())
    return kernels.emitError("gpu target: no binary was produced");
  if (ptx)
    return objects.front();
  return ptxasModules(loc, objects, options);
}

} // namespace attn
