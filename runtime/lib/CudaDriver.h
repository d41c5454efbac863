//===- CudaDriver.h - the CUDA driver API, loaded with dlopen ---*- C++ -*-===//
//
// libattnrt never links libcuda: the driver is opened with
// dlopen("libcuda.so.1") at first use, so the library loads (and says why
// the GPU is unavailable) on machines with no driver. The handful of driver
// types and entry points the runtime uses are declared here by hand, with the
// ABI of cuda.h (the versioned `_v2` symbols where cuda.h maps to them).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_RUNTIME_LIB_CUDADRIVER_H
#define ATTNC_RUNTIME_LIB_CUDADRIVER_H

#include "attn/attn.h"

#include <cstddef>
#include <string>

namespace attn::rt::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_NO_DEVICE = 100;
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2;
constexpr unsigned CU_EVENT_DEFAULT = 0;
constexpr int CU_TENSOR_MAP_DATA_TYPE_UINT16 = 1;
constexpr int CU_TENSOR_MAP_INTERLEAVE_NONE = 0;
constexpr int CU_TENSOR_MAP_SWIZZLE_128B = 3;
constexpr int CU_TENSOR_MAP_L2_PROMOTION_L2_256B = 3;
constexpr int CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0; // zeros
/// Bytes and alignment of a CUtensorMap.
constexpr size_t kTensorMapBytes = 128;
constexpr size_t kTensorMapAlign = 64;

/// The oldest driver the runtime accepts (CUDA 12.0: sm_90a cubins).
constexpr int kMinDriverVersion = 12000;

/// The entry points, filled by dlsym.
struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDriverGetVersion)(int *);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDeviceTotalMem)(size_t *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxGetCurrent)(CUcontext *);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxPushCurrent)(CUcontext);
  CUresult (*cuCtxPopCurrent)(CUcontext *);
  CUresult (*cuCtxGetDevice)(CUdevice *);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuCtxGetLimit)(size_t *, int);
  CUresult (*cuCtxSetLimit)(int, size_t);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuModuleGetGlobal)(CUdeviceptr *, size_t *, CUmodule, const char *);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, CUstream, void **, void **);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemGetAddressRange)(CUdeviceptr *, size_t *, CUdeviceptr);
  CUresult (*cuPointerGetAttribute)(void *, int, CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*cuEventDestroy)(CUevent);
  /// Optional (null when the driver lacks it: no TMA loads).
  CUresult (*cuTensorMapEncodeTiled)(void *tensorMap, int dataType, uint32_t rank, void *globalAddress,
                                     const uint64_t *globalDim, const uint64_t *globalStrides,
                                     const uint32_t *boxDim, const uint32_t *elementStrides,
                                     int interleave, int swizzle, int l2Promotion, int oobFill);
};

/// The driver, loaded and initialised once (thread-safe). Returns null and
/// records ATTN_ERROR_UNSUPPORTED with the reason (no libcuda.so.1, a missing
/// entry point, cuInit failed, driver too old, no device) in `*status`.
const Driver *driver(attn_status *status);

/// "CUDA_ERROR_X (text)" for a driver result.
std::string errorText(const Driver &d, CUresult result);

/// Records "<what>: CUDA_ERROR_X (text)" and returns the matching status
/// (ATTN_ERROR_UNSUPPORTED for missing devices/binaries, else
/// ATTN_ERROR_INTERNAL; ATTN_ERROR_INVALID_ARGUMENT for invalid values).
attn_status fail(const Driver &d, CUresult result, const std::string &what);

} // namespace attn::rt::cuda

#endif
