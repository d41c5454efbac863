//===- GpuEntryPoints.h - GPU binaries embedded in a host library -*- C++ -*-===//
//
// What `attnc F.attn --target gpu|all -o libF.so` adds to the host (LLVM
// dialect) module of the shared library, per variant: its cubins as constant
// byte arrays, their descriptions (attn_variant_info), an attn_gpu_binary
// array (attn/gpu_binary.h), and two exported C functions over that array,
//
//   attn_status attn_<v>_gpu_run(const attn_tensor *q, const attn_tensor *k,
//       const attn_tensor *v, attn_tensor *o, attn_tensor *lse,
//       const double *params, const attn_tensor *tensors, int64_t q_offset,
//       void *stream);                  // attn_gpu_binary_run
//   const attn_gpu_binary *attn_<v>_gpu_binary(attn_dtype dtype);
//                                       // attn_gpu_binary_find
//
// which call libattnrt; and the header declarations of those functions.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_TARGETS_CPU_GPUENTRYPOINTS_H
#define ATTNC_COMPILER_TARGETS_CPU_GPUENTRYPOINTS_H

#include "compiler/targets/common/VariantDescription.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ArrayRef.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace attn {

/// One variant's GPU kernels: its description (row tile 1) and one cubin per
/// input dtype, each holding the base kernel attn_<variant>_<dtype>_gpu.
struct GpuVariantBinaries {
  std::unique_ptr<VariantDescription> description;
  std::vector<std::pair<attn_dtype, std::string>> cubins;
};

/// Adds every variant's cubins, descriptions and entry points to `module`
/// (the LLVM dialect, host code; e.g. from buildCpuKernels).
void addGpuEntryPoints(mlir::ModuleOp module, llvm::ArrayRef<GpuVariantBinaries> variants);

/// The C declarations of the entry points of `variants` (built for `dtypes`),
/// for a header that includes <attn/gpu_binary.h>.
std::string emitGpuDeclarations(llvm::ArrayRef<std::string> variants,
                                llvm::ArrayRef<attn_dtype> dtypes);

} // namespace attn

#endif
