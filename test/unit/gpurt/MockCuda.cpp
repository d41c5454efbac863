//===- MockCuda.cpp - a host-memory stand-in for libcuda, for tests -------===//
//
// libattnrt opens the CUDA driver with dlopen; ATTN_CUDA_DRIVER=<this .so>
// makes it open this library instead, so the launcher's whole path (contexts,
// module cache, allocation checks, the argument block in its scratch buffer,
// the launch, the error flag, events) runs on a machine without a GPU.
// "Device" memory is host memory; a launch runs every thread of the grid on
// the calling thread, in order. A module image is any text: each
// `.entry NAME` in it (PTX style) names a kernel, which must be one of the
// host kernels below:
//
//   attn_test_rows_gpu, attn_test_flag_gpu  - the PTX kernels of GpuLaunchTest
//   attn_<anchor>_<f32|f16|bf16>_gpu        - the anchor variants (full, causal,
//       sliding_window, alibi_causal, softcap, prefix_lm, document,
//       sigmoid_attn), one thread per row, fp32 online softmax, written from
//       LANGUAGE.md against the ABI of attn/gpu.h: what attnc's GPU kernels
//       must compute, and what lets attn-gpu-bench run end to end here.
//
//===----------------------------------------------------------------------===//
#include "attn/gpu.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace {

using CUresult = int;
using CUdeviceptr = unsigned long long;
constexpr CUresult OK = 0, INVALID_VALUE = 1, NOT_INITIALIZED = 3, INVALID_IMAGE = 200,
                   NOT_FOUND = 500;

using Kernel = void (*)(const int64_t *args, int64_t id);

struct Module {
  std::map<std::string, Kernel> kernels;
  /// `attn_gpu_abi_version` when the PTX defines it (cuModuleGetGlobal).
  bool hasAbi = false;
  uint32_t abi = 0;
};

std::mutex mutex;
std::map<uintptr_t, size_t> allocations; // base -> size
bool initialised = false;
int ctxToken = 1;                        // the one context
thread_local void *current = nullptr;

//===----------------------------------------------------------------------===//
// Host kernels
//===----------------------------------------------------------------------===//

void rowsKernel(const int64_t *a, int64_t id) {
  int64_t B = a[ATTN_ARG_B], H = a[ATTN_ARG_H], Sq = a[ATTN_ARG_SQ];
  if (id >= B * H * Sq)
    return;
  int64_t row = id % Sq, h = id / Sq % H, b = id / Sq / H;
  float *o = reinterpret_cast<float *>(a[ATTN_ARG_O]);
  const int64_t *os = &a[ATTN_ARG_O_STRIDES];
  float *at = o + b * os[0] + h * os[1] + row * os[2];
  const double *params = reinterpret_cast<const double *>(a[ATTN_ARG_PARAMS]);
  at[0] = static_cast<float>(static_cast<double>(id) + params[0]);
  const attn_tensor *t = reinterpret_cast<const attn_tensor *>(a[ATTN_ARG_TENSORS]);
  at[os[3]] = static_cast<float>(static_cast<const int32_t *>(t[0].data)[b * t[0].strides[0]]);
}

void flagKernel(const int64_t *a, int64_t) {
  *reinterpret_cast<int32_t *>(a[ATTN_ARG_GPU_ERROR]) |= ATTN_ERROR_OUT_OF_RANGE;
}

float load(const void *p, int64_t i, attn_dtype t) {
  if (t == ATTN_F32)
    return static_cast<const float *>(p)[i];
  uint16_t h = static_cast<const uint16_t *>(p)[i];
  if (t == ATTN_BF16) {
    uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
  float f = e == 0 ? std::ldexp(static_cast<float>(m), -24)
                   : e == 31 ? (m ? NAN : INFINITY)
                             : std::ldexp(static_cast<float>(m | 0x400), static_cast<int>(e) - 25);
  return (h & 0x8000u) ? -f : f;
}

void store(void *p, int64_t i, attn_dtype t, float f) {
  if (t == ATTN_F32) {
    static_cast<float *>(p)[i] = f;
    return;
  }
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t h;
  if (t == ATTN_BF16) {
    h = static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  } else {
    uint32_t sign = (u >> 16) & 0x8000u, x = u & 0x7fffffffu;
    if (x >= 0x477ff000u)
      h = static_cast<uint16_t>(sign | 0x7c00u);
    else if (x < 0x38800000u) {
      float a;
      std::memcpy(&a, &x, 4);
      h = static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
    } else
      h = static_cast<uint16_t>(sign | ((x + 0xfffu + ((x >> 13) & 1u) - 0x38000000u) >> 13));
  }
  static_cast<uint16_t *>(p)[i] = h;
}

enum Anchor { Full, Causal, Sliding, Alibi, Softcap, Prefix, Document, Sigmoid };

/// One output row of an anchor variant (the kernel of thread `id`).
template <Anchor A, attn_dtype T> void anchorKernel(const int64_t *a, int64_t id) {
  const int64_t B = a[ATTN_ARG_B], H = a[ATTN_ARG_H], Hkv = a[ATTN_ARG_HKV], Sq = a[ATTN_ARG_SQ],
                Skv = a[ATTN_ARG_SKV], D = a[ATTN_ARG_D];
  if (id >= B * H * Sq)
    return;
  const int64_t row = id % Sq, h = id / Sq % H, b = id / Sq / H, hk = h / (H / Hkv);
  const int64_t i = a[ATTN_ARG_QOFFSET] + row;
  const double *params = reinterpret_cast<const double *>(a[ATTN_ARG_PARAMS]);
  const attn_tensor *tensors = reinterpret_cast<const attn_tensor *>(a[ATTN_ARG_TENSORS]);
  int32_t *flag = reinterpret_cast<int32_t *>(a[ATTN_ARG_GPU_ERROR]);
  const void *q = reinterpret_cast<const void *>(a[ATTN_ARG_Q]);
  const void *k = reinterpret_cast<const void *>(a[ATTN_ARG_K]);
  const void *v = reinterpret_cast<const void *>(a[ATTN_ARG_V]);
  void *o = reinterpret_cast<void *>(a[ATTN_ARG_O]);
  float *lse = reinterpret_cast<float *>(a[ATTN_ARG_LSE]);
  const int64_t *qs = &a[ATTN_ARG_Q_STRIDES], *ks = &a[ATTN_ARG_K_STRIDES],
                *vs = &a[ATTN_ARG_V_STRIDES], *ost = &a[ATTN_ARG_O_STRIDES],
                *ls = &a[ATTN_ARG_LSE_STRIDES];
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  // tensor reads with bounds checks (out of range: 0 and the flag).
  auto read1 = [&](const attn_tensor &t, int64_t x) -> int32_t {
    if (x < 0 || x >= t.shape[0]) {
      *flag |= ATTN_ERROR_OUT_OF_RANGE;
      return 0;
    }
    return static_cast<const int32_t *>(t.data)[x * t.strides[0]];
  };
  auto read2 = [&](const attn_tensor &t, int64_t x, int64_t y) -> int32_t {
    if (x < 0 || x >= t.shape[0] || y < 0 || y >= t.shape[1]) {
      *flag |= ATTN_ERROR_OUT_OF_RANGE;
      return 0;
    }
    return static_cast<const int32_t *>(t.data)[x * t.strides[0] + y * t.strides[1]];
  };
  std::vector<float> acc(static_cast<size_t>(D), 0.0f);
  float m = -INFINITY, z = 0;
  for (int64_t j = 0; j < Skv; ++j) {
    bool keep = true;
    if (A == Causal || A == Alibi || A == Softcap)
      keep = j <= i;
    else if (A == Sliding)
      keep = j <= i && i - j < static_cast<int64_t>(params[0]);
    else if (A == Prefix)
      keep = j < read1(tensors[0], b) || j <= i;
    else if (A == Document)
      keep = read2(tensors[0], b, i) == read2(tensors[0], b, j) && j <= i;
    if (!keep)
      continue;
    float s = 0;
    for (int64_t d = 0; d < D; ++d)
      s += load(q, b * qs[0] + h * qs[1] + row * qs[2] + d * qs[3], T) *
           load(k, b * ks[0] + hk * ks[1] + j * ks[2] + d * ks[3], T);
    s *= scale;
    if (A == Softcap)
      s = static_cast<float>(params[0]) * std::tanh(s / static_cast<float>(params[0]));
    if (A == Alibi)
      s += -std::exp2(-static_cast<float>(params[0]) * static_cast<float>(h + 1) /
                      static_cast<float>(H)) *
           static_cast<float>(i - j);
    float w;
    if (A == Sigmoid) {
      w = 1.0f / (1.0f + std::exp(-(s + static_cast<float>(params[0]))));
    } else {
      float mNew = std::max(m, s);
      float rescale = std::exp(m - mNew);
      for (auto &x : acc)
        x *= rescale;
      z = z * rescale;
      m = mNew;
      w = std::exp(s - m);
      z += w;
    }
    for (int64_t d = 0; d < D; ++d)
      acc[d] += w * load(v, b * vs[0] + hk * vs[1] + j * vs[2] + d * vs[3], T);
  }
  for (int64_t d = 0; d < D; ++d) {
    float x = A == Sigmoid ? acc[d] : (z > 0 ? acc[d] / z : 0.0f);
    store(o, b * ost[0] + h * ost[1] + row * ost[2] + d * ost[3], T, x);
  }
  if (lse && A != Sigmoid)
    lse[b * ls[0] + h * ls[1] + row * ls[2]] = z > 0 ? m + std::log(z) : -INFINITY;
}

template <Anchor A> void addAnchor(std::map<std::string, Kernel> &k, const std::string &name) {
  k["attn_" + name + "_f32_gpu"] = anchorKernel<A, ATTN_F32>;
  k["attn_" + name + "_f16_gpu"] = anchorKernel<A, ATTN_F16>;
  k["attn_" + name + "_bf16_gpu"] = anchorKernel<A, ATTN_BF16>;
}

/// Kernels the mock only records (GpuMockLaunch: the launcher's geometry of
/// the tensor-core, split-KV and merge kernels); one function each, so that
/// a launch names its kernel.
template <int N> void recordOnly(const int64_t *, int64_t) {}

const std::map<std::string, Kernel> &hostKernels() {
  static const std::map<std::string, Kernel> kernels = [] {
    std::map<std::string, Kernel> k;
    k["attn_test_rows_gpu"] = rowsKernel;
    k["attn_test_flag_gpu"] = flagKernel;
    k["attn_geom_bf16_gpu"] = recordOnly<0>;
    k["attn_geom_bf16_gpu_d128"] = recordOnly<1>;
    k["attn_geom_bf16_gpu_d128_split"] = recordOnly<2>;
    k["attn_geom_bf16_gpu_d128_merge"] = recordOnly<3>;
    k["attn_geom_bf16_gpu_d128_classes"] = recordOnly<4>;
    k["attn_geom_bf16_gpu_d128_classes_h"] = recordOnly<5>;
    k["attn_geom_bf16_gpu_d96"] = recordOnly<6>;
    k["attn_geom_bf16_gpu_d224"] = recordOnly<7>;
    addAnchor<Full>(k, "full");
    addAnchor<Causal>(k, "causal");
    addAnchor<Sliding>(k, "sliding_window");
    addAnchor<Alibi>(k, "alibi_causal");
    addAnchor<Softcap>(k, "softcap");
    addAnchor<Prefix>(k, "prefix_lm");
    addAnchor<Document>(k, "document");
    addAnchor<Sigmoid>(k, "sigmoid_attn");
    return k;
  }();
  return kernels;
}

bool isRecordOnly(Kernel k) {
  return k == recordOnly<0> || k == recordOnly<1> || k == recordOnly<2> || k == recordOnly<3> ||
         k == recordOnly<4> || k == recordOnly<5> || k == recordOnly<6> || k == recordOnly<7>;
}

/// What the mock cuTensorMapEncodeTiled writes into a CUtensorMap (128
/// bytes): its arguments, so that a test can read back what the launcher
/// asked for.
struct TensorMapRecord {
  uint64_t magic; ///< kTensorMapMagic
  uint64_t address;
  uint32_t dataType, rank, interleave, swizzle, l2, oobFill;
  uint64_t dims[4], strides[3];
  uint32_t box[4];
};
static_assert(sizeof(TensorMapRecord) <= 128, "a CUtensorMap is 128 bytes");
constexpr uint64_t kTensorMapMagic = 0x5445'4e53'4f52'4d41ull;

struct LaunchRecord {
  std::string name;
  unsigned grid[3], block[3], shared;
  /// The tensor maps of K, V and Q in the argument block (ATTN_ARG_K_TMAP,
  /// ATTN_ARG_V_TMAP, ATTN_ARG_Q_TMAP), decoded; magic 0 when the word was 0.
  TensorMapRecord maps[3];
  /// ATTN_ARG_TILE_CLASSES, and the bytes from it to the end of its
  /// allocation (-1: in none).
  int64_t table = 0, tableRoom = -1;
};
std::vector<LaunchRecord> launchLog;         // guarded by mutex
std::map<std::string, int> sharedLimits;     // cuFuncSetAttribute, by kernel name

std::string kernelName(Kernel k) {
  for (const auto &[name, fn] : hostKernels())
    if (fn == k)
      return name;
  return "?";
}

/// The allocation holding `p`, or false.
bool findAllocation(uintptr_t p, uintptr_t &base, size_t &size) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = allocations.upper_bound(p);
  if (it == allocations.begin())
    return false;
  --it;
  if (p >= it->first + it->second)
    return false;
  base = it->first;
  size = it->second;
  return true;
}

double nowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace

#define MOCK extern "C" __attribute__((visibility("default"))) CUresult

MOCK cuInit(unsigned) {
  initialised = true;
  return OK;
}
MOCK cuDriverGetVersion(int *v) {
  *v = 13000;
  return OK;
}
MOCK cuGetErrorName(CUresult r, const char **s) {
  *s = r == INVALID_VALUE ? "CUDA_ERROR_INVALID_VALUE"
       : r == INVALID_IMAGE ? "CUDA_ERROR_INVALID_IMAGE"
       : r == NOT_FOUND     ? "CUDA_ERROR_NOT_FOUND"
                            : "CUDA_ERROR_MOCK";
  return OK;
}
MOCK cuGetErrorString(CUresult, const char **s) {
  *s = "mock driver error";
  return OK;
}
MOCK cuDeviceGetCount(int *n) {
  *n = 1;
  return OK;
}
MOCK cuDeviceGet(int *d, int ordinal) {
  *d = ordinal;
  return ordinal == 0 ? OK : INVALID_VALUE;
}
MOCK cuDeviceGetName(char *name, int len, int) {
  std::snprintf(name, static_cast<size_t>(len), "attnc mock GPU (host memory)");
  return OK;
}
MOCK cuDeviceGetAttribute(int *v, int attr, int) {
  *v = attr == 75 ? 9 : attr == 76 ? 0 : attr == 16 ? 1 : 0;
  return OK;
}
MOCK cuDeviceTotalMem_v2(size_t *bytes, int) {
  *bytes = size_t(1) << 34;
  return OK;
}
MOCK cuDevicePrimaryCtxRetain(void **ctx, int) {
  *ctx = &ctxToken;
  return OK;
}
MOCK cuCtxGetCurrent(void **ctx) {
  *ctx = current;
  return initialised ? OK : NOT_INITIALIZED;
}
MOCK cuCtxSetCurrent(void *ctx) {
  current = ctx;
  return OK;
}
MOCK cuCtxPushCurrent_v2(void *ctx) {
  current = ctx;
  return OK;
}
MOCK cuCtxPopCurrent_v2(void **ctx) {
  *ctx = current;
  current = nullptr;
  return OK;
}
MOCK cuCtxGetDevice(int *d) {
  *d = 0;
  return OK;
}
MOCK cuCtxSynchronize() { return OK; }
MOCK cuCtxGetLimit(size_t *value, int) {
  *value = 1024;
  return OK;
}
MOCK cuCtxSetLimit(int, size_t) { return OK; }
MOCK cuModuleLoadData(void **mod, const void *image) {
  const char *text = static_cast<const char *>(image);
  auto *m = new Module;
  const auto &kernels = hostKernels();
  for (const char *p = std::strstr(text, ".entry "); p; p = std::strstr(p + 1, ".entry ")) {
    const char *name = p + 7;
    size_t n = std::strcspn(name, " (\n\t");
    auto it = kernels.find(std::string(name, n));
    if (it == kernels.end()) {
      delete m;
      return INVALID_IMAGE;
    }
    m->kernels[it->first] = it->second;
  }
  if (m->kernels.empty()) {
    delete m;
    return INVALID_IMAGE;
  }
  // `.visible .global .align 4 .u32 attn_gpu_abi_version = N;`
  if (const char *abi = std::strstr(text, "attn_gpu_abi_version = ")) {
    m->hasAbi = true;
    m->abi = static_cast<uint32_t>(std::strtoul(abi + 23, nullptr, 10));
  }
  *mod = m;
  return OK;
}
MOCK cuModuleGetGlobal_v2(CUdeviceptr *ptr, size_t *bytes, void *mod, const char *name) {
  auto *m = static_cast<Module *>(mod);
  if (std::string(name) != "attn_gpu_abi_version" || !m->hasAbi)
    return NOT_FOUND;
  *ptr = reinterpret_cast<CUdeviceptr>(&m->abi);
  *bytes = sizeof(uint32_t);
  return OK;
}
MOCK cuModuleUnload(void *mod) {
  delete static_cast<Module *>(mod);
  return OK;
}
MOCK cuModuleGetFunction(void **fn, void *mod, const char *name) {
  auto &k = static_cast<Module *>(mod)->kernels;
  auto it = k.find(name);
  if (it == k.end())
    return NOT_FOUND;
  *fn = reinterpret_cast<void *>(it->second);
  return OK;
}
MOCK cuFuncSetAttribute(void *fn, int attr, int value) {
  constexpr int kMaxDynamicShared = 8;
  if (attr == kMaxDynamicShared) {
    std::lock_guard<std::mutex> lock(mutex);
    sharedLimits[kernelName(reinterpret_cast<Kernel>(fn))] = value;
  }
  return OK;
}
MOCK cuLaunchKernel(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                    unsigned bz, unsigned shared, void *, void **params, void **extra) {
  int64_t table = 0;
  {
    std::lock_guard<std::mutex> lock(mutex);
    LaunchRecord r{kernelName(reinterpret_cast<Kernel>(fn)), {gx, gy, gz}, {bx, by, bz}, shared, {}};
    const int64_t *words =
        params ? reinterpret_cast<const int64_t *>(*static_cast<CUdeviceptr *>(params[0])) : nullptr;
    const int mapWords[3] = {ATTN_ARG_K_TMAP, ATTN_ARG_V_TMAP, ATTN_ARG_Q_TMAP};
    for (int w = 0; words && w < 3; ++w)
      if (int64_t at = words[mapWords[w]])
        std::memcpy(&r.maps[w], reinterpret_cast<const void *>(at), sizeof(TensorMapRecord));
    if (words)
      table = r.table = words[ATTN_ARG_TILE_CLASSES];
    launchLog.push_back(r);
  }
  if (table) {
    uintptr_t base;
    size_t size; // findAllocation takes the mutex
    if (findAllocation(static_cast<uintptr_t>(table), base, size)) {
      std::lock_guard<std::mutex> lock(mutex);
      launchLog.back().tableRoom = static_cast<int64_t>(base + size - static_cast<uintptr_t>(table));
    }
  }
  if (isRecordOnly(reinterpret_cast<Kernel>(fn)))
    return extra || !params ? INVALID_VALUE : OK;
  if (gy != 1 || gz != 1 || by != 1 || bz != 1 || shared != 0 || extra || !params)
    return INVALID_VALUE;
  const int64_t *args = reinterpret_cast<const int64_t *>(*static_cast<CUdeviceptr *>(params[0]));
  uintptr_t base;
  size_t size;
  if (!findAllocation(reinterpret_cast<uintptr_t>(args), base, size))
    return INVALID_VALUE; // the block must be "device" memory
  Kernel k = reinterpret_cast<Kernel>(fn);
  int64_t threads = static_cast<int64_t>(gx) * bx;
  for (int64_t t = 0; t < threads; ++t)
    k(args, t);
  return OK;
}
MOCK cuTensorMapEncodeTiled(void *map, int dataType, uint32_t rank, void *address,
                            const uint64_t *dims, const uint64_t *strides, const uint32_t *box,
                            const uint32_t *elementStrides, int interleave, int swizzle, int l2,
                            int oobFill) {
  // The driver's documented limits that the launcher must respect.
  if (reinterpret_cast<uintptr_t>(map) % 64 || rank != 4 || reinterpret_cast<uintptr_t>(address) % 16)
    return INVALID_VALUE;
  TensorMapRecord r{};
  r.magic = kTensorMapMagic;
  r.address = reinterpret_cast<uintptr_t>(address);
  r.dataType = static_cast<uint32_t>(dataType);
  r.rank = rank;
  r.interleave = static_cast<uint32_t>(interleave);
  r.swizzle = static_cast<uint32_t>(swizzle);
  r.l2 = static_cast<uint32_t>(l2);
  r.oobFill = static_cast<uint32_t>(oobFill);
  for (uint32_t d = 0; d < 4; ++d) {
    if (elementStrides[d] != 1 || box[d] == 0 || box[d] > 256 || (d < 3 && strides[d] % 16))
      return INVALID_VALUE;
    r.dims[d] = dims[d];
    r.box[d] = box[d];
    if (d < 3)
      r.strides[d] = strides[d];
  }
  std::memset(map, 0, 128);
  std::memcpy(map, &r, sizeof r);
  return OK;
}
MOCK cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
  void *m = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!m)
    return 2;
  std::lock_guard<std::mutex> lock(mutex);
  allocations[reinterpret_cast<uintptr_t>(m)] = bytes;
  *p = reinterpret_cast<uintptr_t>(m);
  return OK;
}
MOCK cuMemFree_v2(CUdeviceptr p) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = allocations.find(static_cast<uintptr_t>(p));
  if (it == allocations.end())
    return INVALID_VALUE;
  allocations.erase(it);
  std::free(reinterpret_cast<void *>(p));
  return OK;
}
MOCK cuMemGetAddressRange_v2(CUdeviceptr *base, size_t *size, CUdeviceptr p) {
  uintptr_t b;
  size_t s;
  if (!findAllocation(static_cast<uintptr_t>(p), b, s))
    return NOT_FOUND;
  *base = b;
  *size = s;
  return OK;
}
MOCK cuPointerGetAttribute(void *, int, CUdeviceptr) { return INVALID_VALUE; }
MOCK cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n) {
  std::memcpy(reinterpret_cast<void *>(d), s, n);
  return OK;
}
MOCK cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n) {
  std::memcpy(d, reinterpret_cast<const void *>(s), n);
  return OK;
}
MOCK cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, void *) {
  return cuMemcpyHtoD_v2(d, s, n);
}
MOCK cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, void *) {
  return cuMemcpyDtoH_v2(d, s, n);
}
MOCK cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, void *) {
  std::memset(reinterpret_cast<void *>(d), v, n);
  return OK;
}
MOCK cuMemsetD32Async(CUdeviceptr d, unsigned v, size_t n, void *) {
  for (size_t i = 0; i < n; ++i)
    reinterpret_cast<uint32_t *>(d)[i] = v;
  return OK;
}
MOCK cuStreamSynchronize(void *) { return OK; }
MOCK cuEventCreate(void **e, unsigned) {
  *e = new double(0);
  return OK;
}
MOCK cuEventRecord(void *e, void *) {
  *static_cast<double *>(e) = nowMs();
  return OK;
}
MOCK cuEventSynchronize(void *) { return OK; }
MOCK cuEventElapsedTime_v2(float *ms, void *a, void *b) {
  *ms = static_cast<float>(*static_cast<double *>(b) - *static_cast<double *>(a));
  if (*ms <= 0)
    *ms = 1e-6f;
  return OK;
}
MOCK cuEventDestroy_v2(void *e) {
  delete static_cast<double *>(e);
  return OK;
}

// The test's window on the launches (GpuLaunchTest, GpuMockLaunch).
extern "C" __attribute__((visibility("default"))) void attn_mock_reset_launches() {
  std::lock_guard<std::mutex> lock(mutex);
  launchLog.clear();
}
extern "C" __attribute__((visibility("default"))) int attn_mock_launch_count() {
  std::lock_guard<std::mutex> lock(mutex);
  return static_cast<int>(launchLog.size());
}
/// Launch i: its kernel's name (copied into name[0..size)), grid, block and
/// dynamic shared memory; 0, or -1 for no such launch.
extern "C" __attribute__((visibility("default"))) int
attn_mock_launch(int i, char *name, int size, unsigned *grid, unsigned *block, unsigned *shared) {
  std::lock_guard<std::mutex> lock(mutex);
  if (i < 0 || i >= static_cast<int>(launchLog.size()))
    return -1;
  const LaunchRecord &r = launchLog[static_cast<size_t>(i)];
  std::snprintf(name, static_cast<size_t>(size), "%s", r.name.c_str());
  for (int d = 0; d < 3; ++d) {
    grid[d] = r.grid[d];
    block[d] = r.block[d];
  }
  *shared = r.shared;
  return 0;
}
/// Launch i's tensor map of K (which 0), V (1) or Q (2) as 16 words: address,
/// dims[4], strides[3] (bytes), box[4], data type, swizzle, oob fill, l2
/// promotion; 0 when found, 1 when the launch had no map, -1 for no launch.
extern "C" __attribute__((visibility("default"))) int attn_mock_launch_tensor_map(int i, int which,
                                                                               int64_t *out) {
  std::lock_guard<std::mutex> lock(mutex);
  if (i < 0 || i >= static_cast<int>(launchLog.size()) || which < 0 || which > 2)
    return -1;
  const TensorMapRecord &r = launchLog[static_cast<size_t>(i)].maps[which];
  if (r.magic != kTensorMapMagic)
    return 1;
  int k = 0;
  out[k++] = static_cast<int64_t>(r.address);
  for (uint64_t d : r.dims) out[k++] = static_cast<int64_t>(d);
  for (uint64_t st : r.strides) out[k++] = static_cast<int64_t>(st);
  for (uint32_t bx : r.box) out[k++] = bx;
  out[k++] = r.dataType;
  out[k++] = r.swizzle;
  out[k++] = r.oobFill;
  out[k++] = r.l2;
  return 0;
}
/// Launch i's tile-class table word and the bytes from it to the end of its
/// allocation (-1: not in one); 0, or -1 for no such launch.
extern "C" __attribute__((visibility("default"))) int attn_mock_launch_table(int i, int64_t *table,
                                                                          int64_t *room) {
  std::lock_guard<std::mutex> lock(mutex);
  if (i < 0 || i >= static_cast<int>(launchLog.size()))
    return -1;
  *table = launchLog[static_cast<size_t>(i)].table;
  *room = launchLog[static_cast<size_t>(i)].tableRoom;
  return 0;
}
/// The dynamic shared-memory limit set on a kernel (cuFuncSetAttribute), or -1.
extern "C" __attribute__((visibility("default"))) int attn_mock_shared_limit(const char *name) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = sharedLimits.find(name);
  return it == sharedLimits.end() ? -1 : it->second;
}
