//===- CudaDriver.cpp - dlopen("libcuda.so.1") and its entry points -------===//
#include "runtime/lib/CudaDriver.h"
#include "runtime/lib/Error.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>

namespace attn::rt::cuda {

namespace {

/// The outcome of the one attempt to load the driver.
struct Loaded {
  Driver driver{};
  attn_status status = ATTN_OK;
  std::string message;
};

/// Looks up the first of `names` that the library exports.
template <typename Fn>
bool lookup(void *lib, Fn &fn, std::initializer_list<const char *> names, std::string &missing) {
  for (const char *name : names)
    if (void *p = dlsym(lib, name)) {
      fn = reinterpret_cast<Fn>(p);
      return true;
    }
  missing = *names.begin();
  return false;
}

Loaded load() {
  Loaded r;
  auto unsupported = [&](std::string message) {
    r.status = ATTN_ERROR_UNSUPPORTED;
    r.message = std::move(message);
    return r;
  };
  // ATTN_CUDA_DRIVER names another library (tests, unusual installs).
  const char *path = std::getenv("ATTN_CUDA_DRIVER");
  if (!path || !*path)
    path = "libcuda.so.1";
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    return unsupported(std::string("no CUDA driver: cannot open ") + path + " (" +
                       (why ? why : "unknown reason") +
                       "); the GPU target needs an NVIDIA driver (R525 or newer)");
  }
  Driver &d = r.driver;
  std::string missing;
  bool ok = lookup(lib, d.cuInit, {"cuInit"}, missing) &&
            lookup(lib, d.cuDriverGetVersion, {"cuDriverGetVersion"}, missing) &&
            lookup(lib, d.cuGetErrorName, {"cuGetErrorName"}, missing) &&
            lookup(lib, d.cuGetErrorString, {"cuGetErrorString"}, missing) &&
            lookup(lib, d.cuDeviceGetCount, {"cuDeviceGetCount"}, missing) &&
            lookup(lib, d.cuDeviceGet, {"cuDeviceGet"}, missing) &&
            lookup(lib, d.cuDeviceGetName, {"cuDeviceGetName"}, missing) &&
            lookup(lib, d.cuDeviceGetAttribute, {"cuDeviceGetAttribute"}, missing) &&
            lookup(lib, d.cuDeviceTotalMem, {"cuDeviceTotalMem_v2"}, missing) &&
            lookup(lib, d.cuDevicePrimaryCtxRetain, {"cuDevicePrimaryCtxRetain"}, missing) &&
            lookup(lib, d.cuCtxGetCurrent, {"cuCtxGetCurrent"}, missing) &&
            lookup(lib, d.cuCtxSetCurrent, {"cuCtxSetCurrent"}, missing) &&
            lookup(lib, d.cuCtxPushCurrent, {"cuCtxPushCurrent_v2"}, missing) &&
            lookup(lib, d.cuCtxPopCurrent, {"cuCtxPopCurrent_v2"}, missing) &&
            lookup(lib, d.cuCtxGetDevice, {"cuCtxGetDevice"}, missing) &&
            lookup(lib, d.cuCtxSynchronize, {"cuCtxSynchronize"}, missing) &&
            lookup(lib, d.cuCtxGetLimit, {"cuCtxGetLimit"}, missing) &&
            lookup(lib, d.cuCtxSetLimit, {"cuCtxSetLimit"}, missing) &&
            lookup(lib, d.cuModuleLoadData, {"cuModuleLoadData"}, missing) &&
            lookup(lib, d.cuModuleUnload, {"cuModuleUnload"}, missing) &&
            lookup(lib, d.cuModuleGetFunction, {"cuModuleGetFunction"}, missing) &&
            lookup(lib, d.cuModuleGetGlobal, {"cuModuleGetGlobal_v2"}, missing) &&
            lookup(lib, d.cuFuncSetAttribute, {"cuFuncSetAttribute"}, missing) &&
            lookup(lib, d.cuLaunchKernel, {"cuLaunchKernel"}, missing) &&
            lookup(lib, d.cuMemAlloc, {"cuMemAlloc_v2"}, missing) &&
            lookup(lib, d.cuMemFree, {"cuMemFree_v2"}, missing) &&
            lookup(lib, d.cuMemGetAddressRange, {"cuMemGetAddressRange_v2"}, missing) &&
            lookup(lib, d.cuPointerGetAttribute, {"cuPointerGetAttribute"}, missing) &&
            lookup(lib, d.cuMemcpyHtoD, {"cuMemcpyHtoD_v2"}, missing) &&
            lookup(lib, d.cuMemcpyDtoH, {"cuMemcpyDtoH_v2"}, missing) &&
            lookup(lib, d.cuMemcpyHtoDAsync, {"cuMemcpyHtoDAsync_v2"}, missing) &&
            lookup(lib, d.cuMemcpyDtoHAsync, {"cuMemcpyDtoHAsync_v2"}, missing) &&
            lookup(lib, d.cuMemsetD8Async, {"cuMemsetD8Async"}, missing) &&
            lookup(lib, d.cuMemsetD32Async, {"cuMemsetD32Async"}, missing) &&
            lookup(lib, d.cuStreamSynchronize, {"cuStreamSynchronize"}, missing) &&
            lookup(lib, d.cuEventCreate, {"cuEventCreate"}, missing) &&
            lookup(lib, d.cuEventRecord, {"cuEventRecord"}, missing) &&
            lookup(lib, d.cuEventSynchronize, {"cuEventSynchronize"}, missing) &&
            lookup(lib, d.cuEventElapsedTime, {"cuEventElapsedTime_v2", "cuEventElapsedTime"},
                   missing) &&
            lookup(lib, d.cuEventDestroy, {"cuEventDestroy_v2"}, missing);
  std::string optional;
  if (!lookup(lib, d.cuTensorMapEncodeTiled, {"cuTensorMapEncodeTiled"}, optional))
    d.cuTensorMapEncodeTiled = nullptr;
  if (!ok)
    return unsupported(std::string("CUDA driver too old: ") + path + " has no entry point " +
                       missing);
  int version = 0;
  if (CUresult rc = d.cuDriverGetVersion(&version))
    return unsupported(std::string("CUDA driver unusable: cuDriverGetVersion failed (") +
                       std::to_string(rc) + ") in " + path +
                       (rc == 34 ? ", which is the toolkit's stub library, not a driver" : ""));
  if (version < kMinDriverVersion)
    return unsupported("CUDA driver too old: it supports CUDA " + std::to_string(version / 1000) +
                       "." + std::to_string(version % 1000 / 10) + ", the GPU target needs " +
                       std::to_string(kMinDriverVersion / 1000) + "." +
                       std::to_string(kMinDriverVersion % 1000 / 10) + " or newer");
  if (CUresult rc = d.cuInit(0)) {
    std::string text = errorText(d, rc);
    return unsupported(rc == CUDA_ERROR_NO_DEVICE ? "no CUDA device: cuInit: " + text
                                                  : "CUDA driver failed to initialise: cuInit: " +
                                                        text);
  }
  int count = 0;
  if (CUresult rc = d.cuDeviceGetCount(&count))
    return unsupported("no CUDA device: cuDeviceGetCount: " + errorText(d, rc));
  if (count == 0)
    return unsupported("no CUDA device: the driver sees none");
  return r;
}

const Loaded &loaded() {
  static const Loaded r = load();
  return r;
}

} // namespace

const Driver *driver(attn_status *status) {
  const Loaded &r = loaded();
  if (r.status != ATTN_OK) {
    *status = rt::fail(r.status, r.message);
    return nullptr;
  }
  *status = ATTN_OK;
  return &r.driver;
}

std::string errorText(const Driver &d, CUresult result) {
  const char *name = nullptr, *text = nullptr;
  if (d.cuGetErrorName(result, &name) != CUDA_SUCCESS || !name)
    name = "CUDA_ERROR_UNKNOWN";
  if (d.cuGetErrorString(result, &text) != CUDA_SUCCESS || !text)
    text = "unknown error";
  return std::string(name) + " (" + std::to_string(result) + ": " + text + ")";
}

attn_status fail(const Driver &d, CUresult result, const std::string &what) {
  attn_status status = ATTN_ERROR_INTERNAL;
  switch (result) {
  case 1:   // CUDA_ERROR_INVALID_VALUE
  case 200: // CUDA_ERROR_INVALID_IMAGE
  case 400: // CUDA_ERROR_INVALID_HANDLE
  case 500: // CUDA_ERROR_NOT_FOUND
    status = ATTN_ERROR_INVALID_ARGUMENT;
    break;
  case 35:  // CUDA_ERROR_INSUFFICIENT_DRIVER
  case 100: // CUDA_ERROR_NO_DEVICE
  case 209: // CUDA_ERROR_NO_BINARY_FOR_GPU
  case 218: // CUDA_ERROR_INVALID_PTX
  case 222: // CUDA_ERROR_UNSUPPORTED_PTX_VERSION
  case 801: // CUDA_ERROR_NOT_SUPPORTED
    status = ATTN_ERROR_UNSUPPORTED;
    break;
  default:
    break;
  }
  return rt::fail(status, what + ": " + errorText(d, result));
}

} // namespace attn::rt::cuda
