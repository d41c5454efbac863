//===- GpuEntryPoints.cpp - GPU binaries embedded in a host library -------===//
//
// The constants mirror the C structs of attn/kernel.h and attn/gpu_binary.h
// field by field (LLVM's natural struct layout is the C layout on the
// targets attnc builds for); the entry points only forward to libattnrt.
//
//===----------------------------------------------------------------------===//
#include "compiler/targets/cpu/GpuEntryPoints.h"

#include "compiler/targets/common/TileKernel.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace attn {

namespace {

/// Builds constant globals and functions at the end of a module.
class HostConstants {
public:
  explicit HostConstants(ModuleOp module)
      : module(module), ctx(module.getContext()), loc(module.getLoc()),
        b(OpBuilder::atBlockEnd(module.getBody())) {
    ctx->loadDialect<LLVM::LLVMDialect>();
    ptr = LLVM::LLVMPointerType::get(ctx);
    i32 = b.getI32Type();
    i64 = b.getI64Type();
    f64 = b.getF64Type();
    paramType = LLVM::LLVMStructType::getLiteral(ctx, {ptr, i32, i32, f64});
    tensorType = LLVM::LLVMStructType::getLiteral(
        ctx, {ptr, i32, i32, LLVM::LLVMArrayType::get(i64, ATTN_MAX_RANK)});
    infoType = LLVM::LLVMStructType::getLiteral(ctx, {ptr, i32, i32, ptr, i32, ptr, i32, i64});
    binaryType = LLVM::LLVMStructType::getLiteral(ctx, {ptr, ptr, i64, ptr});
  }

  /// An internal constant holding `bytes` (a NUL is appended when
  /// `cString`); returns its name.
  std::string bytes(const std::string &base, llvm::StringRef data, bool cString,
                    uint64_t alignment = 1) {
    std::string text = data.str();
    if (cString)
      text.push_back('\0');
    std::string name = unique(base);
    auto type = LLVM::LLVMArrayType::get(b.getI8Type(), text.size());
    LLVM::GlobalOp::create(b, loc, type, /*isConstant=*/true, LLVM::Linkage::Internal, name,
                           b.getStringAttr(text), alignment);
    return name;
  }

  /// A constant of `type` whose initializer `fill` computes; returns its name.
  std::string constant(const std::string &base, Type type, LLVM::Linkage linkage,
                       llvm::function_ref<Value(OpBuilder &)> fill) {
    std::string name = unique(base);
    auto global = LLVM::GlobalOp::create(b, loc, type, /*isConstant=*/true, linkage, name,
                                         Attribute(), /*alignment=*/8);
    OpBuilder ib = OpBuilder::atBlockBegin(b.createBlock(&global.getInitializerRegion()));
    LLVM::ReturnOp::create(ib, loc, fill(ib));
    b.setInsertionPointToEnd(module.getBody());
    return name;
  }

  /// A struct or array value of `type` from its fields (zero elsewhere).
  Value aggregate(OpBuilder &ib, Type type, llvm::ArrayRef<Value> fields) {
    Value v = LLVM::ZeroOp::create(ib, loc, type);
    for (auto [i, field] : llvm::enumerate(fields))
      v = LLVM::InsertValueOp::create(ib, loc, v, field, llvm::ArrayRef<int64_t>{(int64_t)i});
    return v;
  }

  Value address(OpBuilder &ib, const std::string &global) {
    return LLVM::AddressOfOp::create(ib, loc, ptr, global);
  }
  Value null(OpBuilder &ib) { return LLVM::ZeroOp::create(ib, loc, ptr); }
  Value int32(OpBuilder &ib, int64_t v) {
    return LLVM::ConstantOp::create(ib, loc, i32, ib.getI32IntegerAttr((int32_t)v));
  }
  Value int64(OpBuilder &ib, int64_t v) {
    return LLVM::ConstantOp::create(ib, loc, i64, ib.getI64IntegerAttr(v));
  }
  Value float64(OpBuilder &ib, double v) {
    return LLVM::ConstantOp::create(ib, loc, f64, ib.getF64FloatAttr(v));
  }

  /// The declaration of an external function, made once.
  LLVM::LLVMFuncOp declare(llvm::StringRef name, LLVM::LLVMFunctionType type) {
    if (auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(name))
      return fn;
    OpBuilder db = OpBuilder::atBlockBegin(module.getBody());
    return LLVM::LLVMFuncOp::create(db, loc, name, type);
  }

  /// An exported function `name` of `callee`'s type less its first two
  /// parameters, which calls `callee(&array, count, its arguments...)`.
  void forwarder(const std::string &name, LLVM::LLVMFuncOp callee, const std::string &array,
                 int64_t count) {
    LLVM::LLVMFunctionType calleeType = callee.getFunctionType();
    auto type = LLVM::LLVMFunctionType::get(calleeType.getReturnType(),
                                            calleeType.getParams().drop_front(2));
    auto fn = LLVM::LLVMFuncOp::create(b, loc, name, type);
    OpBuilder fb = OpBuilder::atBlockBegin(fn.addEntryBlock(b));
    llvm::SmallVector<Value> args = {address(fb, array), int32(fb, count)};
    llvm::append_range(args, fn.getArguments());
    auto call = LLVM::CallOp::create(fb, loc, callee, args);
    LLVM::ReturnOp::create(fb, loc, call.getResult());
    b.setInsertionPointToEnd(module.getBody());
  }

  Type ptr, i32, i64, f64;
  LLVM::LLVMStructType paramType, tensorType, infoType, binaryType;

private:
  std::string unique(const std::string &base) {
    std::string name = base;
    for (int k = 1; module.lookupSymbol(name); ++k)
      name = base + "." + std::to_string(k);
    return name;
  }

  ModuleOp module;
  MLIRContext *ctx;
  Location loc;
  OpBuilder b;
};

/// Adds one variant's constants and entry points.
void addVariant(HostConstants &h, const GpuVariantBinaries &variant,
                LLVM::LLVMFuncOp run, LLVM::LLVMFuncOp find) {
  const VariantDescription &d = *variant.description;
  std::string prefix = "attn_" + d.name + "_gpu";
  std::string name = h.bytes(prefix + ".name", d.name, /*cString=*/true);
  std::string params, tensors;
  if (!d.params.empty()) {
    std::vector<std::string> names;
    for (const std::string &n : d.paramNames)
      names.push_back(h.bytes(prefix + ".param_name", n, true));
    auto type = LLVM::LLVMArrayType::get(h.paramType, d.params.size());
    params = h.constant(prefix + ".params", type, LLVM::Linkage::Internal, [&](OpBuilder &ib) {
      llvm::SmallVector<Value> elements;
      for (auto [p, n] : llvm::zip(d.params, names))
        elements.push_back(h.aggregate(ib, h.paramType,
                                       {h.address(ib, n), h.int32(ib, p.type),
                                        h.int32(ib, p.has_default),
                                        h.float64(ib, p.default_value)}));
      return h.aggregate(ib, type, elements);
    });
  }
  if (!d.tensors.empty()) {
    std::vector<std::string> names;
    for (const std::string &n : d.tensorNames)
      names.push_back(h.bytes(prefix + ".tensor_name", n, true));
    auto type = LLVM::LLVMArrayType::get(h.tensorType, d.tensors.size());
    auto dimsType = LLVM::LLVMArrayType::get(h.i64, ATTN_MAX_RANK);
    tensors = h.constant(prefix + ".tensors", type, LLVM::Linkage::Internal, [&](OpBuilder &ib) {
      llvm::SmallVector<Value> elements;
      for (auto [t, n] : llvm::zip(d.tensors, names)) {
        llvm::SmallVector<Value> dims;
        for (int k = 0; k < t.rank; ++k)
          dims.push_back(h.int64(ib, t.dims[k]));
        elements.push_back(h.aggregate(ib, h.tensorType,
                                       {h.address(ib, n), h.int32(ib, t.dtype),
                                        h.int32(ib, t.rank), h.aggregate(ib, dimsType, dims)}));
      }
      return h.aggregate(ib, type, elements);
    });
  }

  struct Binary {
    std::string info, image, kernel;
    uint64_t size;
  };
  std::vector<Binary> binaries;
  for (const auto &entry : variant.cubins) {
    attn_dtype dtype = entry.first;
    const std::string &cubin = entry.second;
    std::string dt = dtypeShortName(dtype);
    Binary bin;
    bin.size = cubin.size();
    bin.image = h.bytes(prefix + "." + dt + ".cubin", cubin, /*cString=*/false, 64);
    bin.kernel = h.bytes(prefix + "." + dt + ".kernel",
                         tileKernelName(d.name, dtype, KernelTarget::Gpu), /*cString=*/true);
    bin.info = h.constant(prefix + "." + dt + ".info", h.infoType, LLVM::Linkage::Internal,
                          [&](OpBuilder &ib) {
                            return h.aggregate(
                                ib, h.infoType,
                                {h.address(ib, name), h.int32(ib, dtype),
                                 h.int32(ib, d.params.size()),
                                 params.empty() ? h.null(ib) : h.address(ib, params),
                                 h.int32(ib, d.tensors.size()),
                                 tensors.empty() ? h.null(ib) : h.address(ib, tensors),
                                 h.int32(ib, d.info.has_lse), h.int64(ib, d.info.row_tile)});
                          });
    binaries.push_back(bin);
  }
  auto arrayType = LLVM::LLVMArrayType::get(h.binaryType, binaries.size());
  std::string array =
      h.constant(prefix + ".binaries", arrayType, LLVM::Linkage::Internal, [&](OpBuilder &ib) {
        llvm::SmallVector<Value> elements;
        for (const Binary &bin : binaries)
          elements.push_back(h.aggregate(ib, h.binaryType,
                                         {h.address(ib, bin.info), h.address(ib, bin.image),
                                          h.int64(ib, bin.size), h.address(ib, bin.kernel)}));
        return h.aggregate(ib, arrayType, elements);
      });
  h.forwarder(prefix + "_run", run, array, binaries.size());
  h.forwarder(prefix + "_binary", find, array, binaries.size());
}

} // namespace

void addGpuEntryPoints(ModuleOp module, llvm::ArrayRef<GpuVariantBinaries> variants) {
  HostConstants h(module);
  Type ptr = h.ptr, i32 = h.i32, i64 = h.i64;
  // attn_status attn_gpu_binary_run(const attn_gpu_binary *, int32_t, q, k, v, o, lse,
  //                                 params, tensors, int64_t q_offset, void *stream)
  auto run = h.declare("attn_gpu_binary_run",
                       LLVM::LLVMFunctionType::get(
                           i32, {ptr, i32, ptr, ptr, ptr, ptr, ptr, ptr, ptr, i64, ptr}));
  // const attn_gpu_binary *attn_gpu_binary_find(const attn_gpu_binary *, int32_t, attn_dtype)
  auto find = h.declare("attn_gpu_binary_find", LLVM::LLVMFunctionType::get(ptr, {ptr, i32, i32}));
  for (const GpuVariantBinaries &v : variants)
    addVariant(h, v, run, find);
}

std::string emitGpuDeclarations(llvm::ArrayRef<std::string> variants,
                                llvm::ArrayRef<attn_dtype> dtypes) {
  std::string dtypeList;
  for (attn_dtype t : dtypes)
    dtypeList += std::string(dtypeList.empty() ? "" : ", ") + dtypeShortName(t);
  std::string out;
  llvm::raw_string_ostream os(out);
  for (const std::string &v : variants) {
    os << "/* variant " << v << " on the GPU: sm_90a cubins for " << dtypeList
       << " in the library. */\n"
       << "/* Runs it on device tensors with the kernel of q's dtype (attn_gpu_binary_run: the "
       << "cubin is loaded at the first call; a dtype without a kernel, or no CUDA driver or "
       << "device, is ATTN_ERROR_UNSUPPORTED). params, tensors, q_offset as the CPU entry "
       << "points; stream: a CUstream, null for the default stream. */\n"
       << "attn_status attn_" << v << "_gpu_run(const attn_tensor *q, const attn_tensor *k, "
       << "const attn_tensor *v, attn_tensor *o, attn_tensor *lse, const double *params, "
       << "const attn_tensor *tensors, int64_t q_offset, void *stream);\n"
       << "/* The cubin, base kernel name and attn_variant_info for `dtype`; NULL when the "
       << "library has no kernel for it. */\n"
       << "const attn_gpu_binary *attn_" << v << "_gpu_binary(attn_dtype dtype);\n\n";
  }
  return out;
}

} // namespace attn
