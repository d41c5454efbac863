//===- CpuCompiler.cpp - variants -> CPU tile kernels, .so, header --------===//
#include "compiler/targets/cpu/CpuCompiler.h"

#include "compiler/Pipeline/Pipeline.h"
#include "compiler/targets/common/TileKernel.h"
#include "compiler/targets/cpu/CpuCodegen.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include <cmath>

using namespace mlir;

namespace attn {

static attn_dtype declType(Type t) {
  if (t.isF32())
    return ATTN_F32;
  if (t.isInteger(1))
    return ATTN_BOOL;
  return ATTN_I32;
}

static const char *dtypeName(attn_dtype t) {
  switch (t) {
  case ATTN_BF16: return "bf16";
  case ATTN_F16: return "f16";
  default: return "f32";
  }
}

static const char *dtypeEnum(attn_dtype t) {
  switch (t) {
  case ATTN_F32: return "ATTN_F32";
  case ATTN_F16: return "ATTN_F16";
  case ATTN_BF16: return "ATTN_BF16";
  case ATTN_F64: return "ATTN_F64";
  case ATTN_I32: return "ATTN_I32";
  case ATTN_BOOL: return "ATTN_BOOL";
  }
  return "ATTN_F32";
}

std::unique_ptr<VariantDescription> describeVariant(VariantOp variant, attn_dtype dtype,
                                                    int64_t rowTile) {
  auto d = std::make_unique<VariantDescription>();
  d->name = variant.getSymName().str();
  bool hasLse = false;
  for (Operation &op : variant.getBody().front()) {
    if (auto p = dyn_cast<ParamOp>(op)) {
      d->paramNames.push_back(p.getSymName().str());
      attn_param_info info{};
      info.type = declType(p.getType());
      if (auto def = p.getDefaultValueAttr()) {
        info.has_default = 1;
        if (auto f = dyn_cast<FloatAttr>(def))
          info.default_value = f.getValueAsDouble();
        else if (auto i = dyn_cast<IntegerAttr>(def))
          info.default_value = p.getType().isInteger(1) ? (double)(i.getValue().getBoolValue())
                                                        : (double)i.getInt();
      }
      d->params.push_back(info);
    } else if (auto t = dyn_cast<TensorOp>(op)) {
      d->tensorNames.push_back(t.getSymName().str());
      attn_tensor_info info{};
      info.dtype = t.getElementType().isF32() ? ATTN_F32 : ATTN_I32;
      info.rank = (int32_t)t.getDims().size();
      int k = 0;
      for (Attribute dim : t.getDims()) {
        if (auto n = dyn_cast<IntegerAttr>(dim))
          info.dims[k] = n.getInt();
        else if (auto s = symbolizeSizeKind(cast<StringAttr>(dim).getValue()))
          info.dims[k] = -(1 + (int64_t)*s);
        ++k;
      }
      d->tensors.push_back(info);
    } else if (auto c = dyn_cast<cascade::CascadeOp>(op)) {
      auto out = cast<cascade::OutputOp>(c.getBody().front().getTerminator());
      hasLse = (bool)out.getLse();
    }
  }
  for (size_t k = 0; k < d->params.size(); ++k)
    d->params[k].name = d->paramNames[k].c_str();
  for (size_t k = 0; k < d->tensors.size(); ++k)
    d->tensors[k].name = d->tensorNames[k].c_str();
  d->info.name = d->name.c_str();
  d->info.input_dtype = dtype;
  d->info.num_params = (int32_t)d->params.size();
  d->info.params = d->params.data();
  d->info.num_tensors = (int32_t)d->tensors.size();
  d->info.tensors = d->tensors.data();
  d->info.has_lse = hasLse;
  d->info.row_tile = rowTile;
  return d;
}

LogicalResult lowerToCpuCascade(ModuleOp module, const CpuCompileOptions &options) {
  PipelineOptions po;
  po.mTile = options.keyTile;
  po.pTile = 0; // the runtime splits rows; the kernel loops over its row tile
  return lowerToCascade(module, po);
}

FailureOr<OwningOpRef<ModuleOp>> buildCpuKernels(ModuleOp cascades,
                                                 const CpuCompileOptions &options) {
  MLIRContext *ctx = cascades.getContext();
  DialectRegistry registry;
  registerCpuCodegenDialects(registry);
  ctx->appendDialectRegistry(registry);
  ctx->loadAllAvailableDialects();
  OwningOpRef<ModuleOp> kernels = ModuleOp::create(UnknownLoc::get(ctx));
  for (auto variant : cascades.getOps<VariantOp>())
    for (attn_dtype t : options.dtypes) {
      TileKernelOptions ko;
      ko.rowTile = options.gpuMapping ? 1 : options.rowTile;
      ko.inputType = t;
      if (options.gpuMapping) {
        ko.vectorLanes = 1;
        ko.directInputs = true;
      }
      if (failed(buildTileKernel(variant, *kernels, ko)))
        return failure();
    }
  if (failed(lowerCpuKernelsToLLVM(*kernels)))
    return failure();
  return kernels;
}

llvm::Error writeSharedLibrary(ModuleOp kernels, const std::string &path) {
  auto tm = createHostTargetMachine();
  if (!tm)
    return tm.takeError();
  llvm::LLVMContext llvmCtx;
  auto mod = translateAndOptimize(kernels, llvmCtx, **tm);
  if (!mod)
    return mod.takeError();
  llvm::SmallVector<char, 0> object;
  if (llvm::Error e = emitObject(**mod, **tm, object))
    return e;
  llvm::SmallString<128> objPath;
  int fd;
  if (auto ec = llvm::sys::fs::createTemporaryFile("attnc", "o", fd, objPath))
    return llvm::createStringError(ec, "cannot create a temporary object file");
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os.write(object.data(), object.size());
  }
  std::string lld = ATTNC_LLD_PATH;
  std::string err;
  llvm::SmallVector<llvm::StringRef> argv = {lld, "-shared", "--as-needed", "-o", path, objPath};
  int rc = llvm::sys::ExecuteAndWait(lld, argv, std::nullopt, {}, 0, 0, &err);
  llvm::sys::fs::remove(objPath);
  if (rc != 0)
    return llvm::createStringError("linking " + path + " with " + lld + " failed" +
                                   (err.empty() ? "" : ": " + err));
  return llvm::Error::success();
}

std::string emitCpuHeader(ModuleOp cascades, const CpuCompileOptions &options,
                          const std::string &guard) {
  std::string out;
  llvm::raw_string_ostream os(out);
  os << "/* Generated by attnc: the CPU kernels of a shared library and their entry points. */\n"
     << "#ifndef " << guard << "\n#define " << guard << "\n\n#include <attn/kernel.h>\n\n"
     << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";
  for (auto variant : cascades.getOps<VariantOp>()) {
    std::string v = variant.getSymName().str();
    auto desc = describeVariant(variant, ATTN_F32, options.rowTile);
    os << "/* variant " << v << " */\n";
    if (!desc->params.empty()) {
      os << "static const attn_param_info attn_" << v << "_params[] = {\n";
      for (auto &p : desc->params) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", p.default_value);
        os << "  {\"" << p.name << "\", " << dtypeEnum(p.type) << ", " << p.has_default
           << ", " << buf << "},\n";
      }
      os << "};\n";
    }
    if (!desc->tensors.empty()) {
      os << "static const attn_tensor_info attn_" << v << "_tensors[] = {\n";
      for (auto &t : desc->tensors) {
        os << "  {\"" << t.name << "\", " << dtypeEnum(t.dtype) << ", " << t.rank << ", {";
        for (int k = 0; k < t.rank; ++k)
          os << (k ? ", " : "") << t.dims[k];
        os << "}},\n";
      }
      os << "};\n";
    }
    for (attn_dtype t : options.dtypes) {
      std::string kernel = tileKernelName(v, t);
      std::string fn = "attn_" + v + "_" + dtypeName(t);
      os << "int32_t " << kernel << "(const int64_t *args, int64_t b, int64_t h, int64_t row0, "
         << "int64_t nrows);\n"
         << "static const attn_variant_info " << fn << "_info = {\"" << v << "\", "
         << dtypeEnum(t) << ", " << desc->params.size() << ", "
         << (desc->params.empty() ? "0" : "attn_" + v + "_params") << ", "
         << desc->tensors.size() << ", "
         << (desc->tensors.empty() ? "0" : "attn_" + v + "_tensors") << ", "
         << desc->info.has_lse << ", " << options.rowTile << "};\n"
         << "/* Runs variant " << v << " on " << dtypeName(t)
         << " q/k/v/o. params: one double per declared param in order (NaN or a null array: "
         << "the defaults); tensors: one view per declared tensor in order; q_offset < 0: "
         << "Skv - Sq; threads 0: all cores. */\n"
         << "static inline attn_status " << fn
         << "(const attn_tensor *q, const attn_tensor *k, const attn_tensor *v, attn_tensor *o, "
         << "attn_tensor *lse, const double *params, const attn_tensor *tensors, "
         << "int64_t q_offset, int32_t threads) {\n"
         << "  return attn_cpu_launch(&" << fn << "_info, " << kernel
         << ", q, k, v, o, lse, params, tensors, q_offset, threads);\n}\n\n";
    }
  }
  os << "#ifdef __cplusplus\n}\n#endif\n\n#endif /* " << guard << " */\n";
  return out;
}

} // namespace attn
