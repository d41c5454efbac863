//===- GpuLaunch.cpp - attn_gpu_*: modules, launches, device memory -------===//
//
// The GPU face of libattnrt (attn/gpu.h) on the CUDA driver API, which
// CudaDriver.cpp opens with dlopen. A launch checks its arguments with the
// CPU launcher's checks (LaunchChecks.h), checks that every view lies in a
// device allocation, writes the argument block, params and attn_tensor array
// into one host staging buffer, copies it with one cuMemcpyHtoDAsync into a
// per-(context, stream) scratch buffer that is reused across launches,
// launches one thread per output row and reads the error flag back.
//
//===----------------------------------------------------------------------===//
#include "attn/gpu.h"
#include "runtime/lib/CudaDriver.h"
#include "runtime/lib/Error.h"
#include "runtime/lib/LaunchChecks.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

using namespace attn::rt::cuda;
using attn::rt::invalidArgument;

/// A loaded cubin in one context, shared by every load of the same image.
struct attn_gpu_module {
  CUcontext ctx = nullptr;
  CUmodule mod = nullptr;
  const void *image = nullptr;
  size_t size = 0;
  uint64_t sample = 0; ///< a checksum of a few bytes of the image
  int refs = 0;        ///< guarded by the module cache's mutex
  std::mutex fnMutex;
  std::unordered_map<std::string, CUfunction> functions;
  /// Tensor-core functions whose dynamic shared-memory limit is raised.
  std::unordered_map<CUfunction, int64_t> sharedLimit;
  /// The image's `attn_gpu_abi_version` (attn/gpu.h): 1 when it has none.
  uint32_t abi = 1;
  /// Unique per load in the process (class tables' fingerprints: a later
  /// module may reuse an unloaded one's addresses).
  uint64_t serial = 0;
};

namespace {

//===----------------------------------------------------------------------===//
// Contexts
//===----------------------------------------------------------------------===//

/// The device ATTN_GPU_DEVICE names (default 0).
attn_status selectedDevice(const Driver &d, CUdevice *out) {
  int ordinal = 0;
  if (const char *env = std::getenv("ATTN_GPU_DEVICE"); env && *env) {
    char *end = nullptr;
    long value = std::strtol(env, &end, 10);
    if (*end || value < 0 || value > 1 << 20)
      return invalidArgument(std::string("ATTN_GPU_DEVICE='") + env +
                             "' is not a device ordinal");
    ordinal = static_cast<int>(value);
  }
  int count = 0;
  if (CUresult rc = d.cuDeviceGetCount(&count))
    return fail(d, rc, "cuDeviceGetCount");
  if (ordinal >= count)
    return attn::rt::fail(ATTN_ERROR_UNSUPPORTED,
                          "ATTN_GPU_DEVICE=" + std::to_string(ordinal) + " but the driver sees " +
                              std::to_string(count) + " device(s)");
  if (CUresult rc = d.cuDeviceGet(out, ordinal))
    return fail(d, rc, "cuDeviceGet(" + std::to_string(ordinal) + ")");
  return ATTN_OK;
}

/// The current context of this thread; when there is none, the primary
/// context of the selected device, retained once for the process and made
/// current on this thread.
attn_status currentContext(const Driver &d, CUcontext *out) {
  if (CUresult rc = d.cuCtxGetCurrent(out))
    return fail(d, rc, "cuCtxGetCurrent");
  if (*out)
    return ATTN_OK;
  static std::mutex mutex;
  static CUcontext primary = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!primary) {
      CUdevice dev = 0;
      if (attn_status s = selectedDevice(d, &dev))
        return s;
      if (CUresult rc = d.cuDevicePrimaryCtxRetain(&primary, dev))
        return fail(d, rc, "cuDevicePrimaryCtxRetain");
    }
    *out = primary;
  }
  if (CUresult rc = d.cuCtxSetCurrent(*out))
    return fail(d, rc, "cuCtxSetCurrent");
  return ATTN_OK;
}

/// The driver and a current context, or the reason there is none.
attn_status setUp(const Driver *&d, CUcontext &ctx) {
  attn_status s = ATTN_OK;
  d = driver(&s);
  if (!d)
    return s;
  return currentContext(*d, &ctx);
}

/// Makes `ctx` current for the lifetime of the guard (when it is not already).
class ContextScope {
public:
  ContextScope(const Driver &d, CUcontext ctx) : d(d) {
    CUcontext current = nullptr;
    if (d.cuCtxGetCurrent(&current) == CUDA_SUCCESS && current == ctx)
      return;
    rc = d.cuCtxPushCurrent(ctx);
    pushed = rc == CUDA_SUCCESS;
  }
  ~ContextScope() {
    if (pushed) {
      CUcontext popped = nullptr;
      d.cuCtxPopCurrent(&popped);
    }
  }
  CUresult result() const { return rc; }

private:
  const Driver &d;
  bool pushed = false;
  CUresult rc = CUDA_SUCCESS;
};

//===----------------------------------------------------------------------===//
// Module cache
//===----------------------------------------------------------------------===//

/// A cheap checksum of up to 64 bytes spread over the image, so that a new
/// image at the address of an unloaded one is not mistaken for it.
uint64_t sampleImage(const void *image, size_t size) {
  const unsigned char *p = static_cast<const unsigned char *>(image);
  uint64_t h = 1469598103934665603ull ^ size;
  const size_t n = std::min<size_t>(size, 64);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[size <= 64 ? i : i * (size - 1) / 63];
    h *= 1099511628211ull;
  }
  return h;
}

struct ModuleCache {
  std::mutex mutex;
  std::map<std::tuple<CUcontext, const void *, size_t>, attn_gpu_module *> modules;
};

ModuleCache &moduleCache() {
  static ModuleCache *cache = new ModuleCache; // never destroyed: used at exit
  return *cache;
}

//===----------------------------------------------------------------------===//
// Scratch buffers: one per (context, stream), reused across launches
//===----------------------------------------------------------------------===//

struct Scratch {
  std::mutex mutex; ///< held from the copy of the block to the read of the flag
  CUdeviceptr ptr = 0;
  size_t capacity = 0;
  std::vector<unsigned char> staging;
};

struct ScratchCache {
  std::mutex mutex;
  std::map<std::pair<CUcontext, CUstream>, std::unique_ptr<Scratch>> buffers;
};

Scratch &scratchFor(CUcontext ctx, CUstream stream) {
  static ScratchCache *cache = new ScratchCache;
  std::lock_guard<std::mutex> lock(cache->mutex);
  auto &slot = cache->buffers[{ctx, stream}];
  if (!slot)
    slot = std::make_unique<Scratch>();
  return *slot;
}

constexpr size_t align16(size_t n) { return (n + 15) & ~size_t(15); }

//===----------------------------------------------------------------------===//
// Launch
//===----------------------------------------------------------------------===//

/// The first and one-past-last byte offsets a (non-empty) view touches.
size_t viewBytes(const attn_tensor &t) {
  int64_t last = 0;
  for (int i = 0; i < t.rank; ++i)
    if (t.shape[i] > 1)
      last += (t.shape[i] - 1) * t.strides[i];
  return static_cast<size_t>(last + 1) * attn_dtype_size(t.dtype);
}

bool isEmpty(const attn_tensor &t) {
  for (int i = 0; i < t.rank; ++i)
    if (t.shape[i] == 0)
      return true;
  return false;
}

/// Checks that the view `t` lies inside one device allocation of the current
/// context (or is memory the device can address, such as managed memory).
/// Checks that `bytes` bytes from `ptr` lie in one device allocation;
/// `what` names them in messages ("q: the view (shape ..., strides ...)").
attn_status checkDeviceBytes(const Driver &d, const std::string &name, const std::string &what,
                             CUdeviceptr ptr, size_t bytes) {
  CUdeviceptr base = 0;
  size_t size = 0;
  char addr[32];
  std::snprintf(addr, sizeof addr, "0x%llx", static_cast<unsigned long long>(ptr));
  if (d.cuMemGetAddressRange(&base, &size, ptr) == CUDA_SUCCESS) {
    if (ptr + bytes > base + size)
      return invalidArgument(name + ": " + what + " spans " + std::to_string(bytes) +
                             " bytes from " + addr + " but its device allocation ends " +
                             std::to_string(base + size - ptr) + " bytes after it");
    return ATTN_OK;
  }
  // Not a cuMemAlloc allocation: accept memory the driver knows (managed,
  // mapped host memory), reject the rest (a host pointer, a freed buffer).
  unsigned memoryType = 0;
  if (d.cuPointerGetAttribute(&memoryType, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, ptr) ==
      CUDA_SUCCESS)
    return ATTN_OK;
  return invalidArgument(name + ": data " + addr +
                         " is not device memory of the current CUDA context (a host "
                         "pointer, or a freed buffer?)");
}

attn_status checkDeviceView(const Driver &d, const char *name, const attn_tensor &t) {
  if (isEmpty(t))
    return ATTN_OK;
  return checkDeviceBytes(d, name,
                          "the view (shape " + attn::rt::shapeString(t.shape, t.rank) +
                              ", strides " + attn::rt::shapeString(t.strides, t.rank) + ")",
                          reinterpret_cast<uintptr_t>(t.data), viewBytes(t));
}

/// A checked call, ready to launch.
struct Prepared {
  attn::rt::CheckedCall call;
  const Driver *d = nullptr;
  CUfunction fn = nullptr;
  CUstream stream = nullptr;
  unsigned grid[3] = {0, 1, 1};
  unsigned block = ATTN_GPU_BLOCK_SIZE;
  bool tensorCore = false; ///< the _d<N> kernel, not the row kernel
  unsigned sharedBytes = 0; ///< dynamic shared memory of fn
  /// Split-KV (decode): W > 1 runs `_split` over W chunks of the key tiles
  /// into a scratch area of `partialFloats` per (row, chunk), then `_merge`.
  CUfunction splitFn = nullptr, mergeFn = nullptr;
  unsigned splitSharedBytes = 0;
  int64_t splitW = 1, partialFloats = 0, tier = 0;
  /// The tile classes of a mask that reads a tensor (attn/gpu.h): `_classes`
  /// runs first over grid (classGrid[0], classGrid[1], classGrid[2] = B) into a table of
  /// `classBytes`; null when the kernel has none (or the call is split).
  CUfunction classesFn = nullptr;
  unsigned classGrid[3] = {0, 0, 0};
  size_t classBytes = 0;
  /// The caller's table (attn_gpu_class_table) instead of the scratch's, and
  /// whether it already holds this call's classes (fingerprint).
  CUdeviceptr callerTable = 0;
  bool tableFilled = false;
  uint64_t fingerprint = 0;
  bool nothingToDo = false; ///< B == 0 or Sq == 0
  bool noKeys = false;      ///< Skv == 0: zeros and -inf, no kernel
};

/// The checks that need no CUDA call (LaunchChecks.h, the kernel name, the
/// module, the grid), then the driver.
attn_status checkCall(const attn_variant_info *info, attn_gpu_module *m, const char *kernel,
                      const attn_tensor *q, const attn_tensor *k, const attn_tensor *v,
                      const attn_tensor *o, const attn_tensor *lse, const double *params,
                      const attn_tensor *tensors, int64_t qOffset, void *stream, Prepared &p) {
  if (attn_status s =
          attn::rt::checkLaunchArguments(info, q, k, v, o, lse, params, tensors, qOffset, p.call))
    return s;
  if (!kernel || !*kernel)
    return invalidArgument("variant '" + p.call.variant + "': kernel name is null or empty");
  if (!m)
    return invalidArgument("variant '" + p.call.variant + "': GPU module is null");
  const auto &c = p.call;
  uint64_t rows = static_cast<uint64_t>(c.B) * static_cast<uint64_t>(c.H) *
                  static_cast<uint64_t>(c.Sq);
  uint64_t blocks = (rows + ATTN_GPU_BLOCK_SIZE - 1) / ATTN_GPU_BLOCK_SIZE;
  if (blocks > 0x7fffffffull)
    return attn::rt::fail(ATTN_ERROR_UNSUPPORTED,
                          "variant '" + c.variant + "': B*H*Sq = " + std::to_string(rows) +
                              " rows is more than one launch can cover");
  p.grid[0] = static_cast<unsigned>(blocks);
  p.stream = static_cast<CUstream>(stream);
  p.nothingToDo = c.B == 0 || c.Sq == 0;
  p.noKeys = !p.nothingToDo && c.Skv == 0;
  attn_status s = ATTN_OK;
  p.d = driver(&s);
  return s;
}

/// A kernel of the module that may be absent (the tensor-core and split-KV
/// kernels): null when it is not there; hits and misses are cached in the
/// module (fnMutex held).
CUfunction optionalFunction(const Driver &d, attn_gpu_module *m, const std::string &name) {
  auto it = m->functions.find(name);
  if (it == m->functions.end()) {
    CUfunction fn = nullptr;
    if (d.cuModuleGetFunction(&fn, m->mod, name.c_str()) != CUDA_SUCCESS)
      fn = nullptr;
    it = m->functions.emplace(name, fn).first;
  }
  return it->second;
}

/// Lets `fn` (a tensor-core kernel) take `bytes` of dynamic shared memory
/// (above 48 KiB a function must ask for it), once per function.
attn_status allowShared(const Driver &d, attn_gpu_module *m, CUfunction fn, int64_t bytes) {
  int64_t &have = m->sharedLimit[fn];
  if (have >= bytes)
    return ATTN_OK;
  constexpr int kMaxDynamicShared = 8; // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
  if (CUresult rc = d.cuFuncSetAttribute(fn, kMaxDynamicShared, static_cast<int>(bytes)))
    return fail(d, rc, "cuFuncSetAttribute (" + std::to_string(bytes) +
                           " bytes of dynamic shared memory)");
  have = bytes;
  return ATTN_OK;
}

/// The device's SM count (132 on an H100 SXM), once per process.
int64_t smCount(const Driver &d) {
  static int64_t count = [&] {
    CUdevice dev = 0;
    int n = 0;
    constexpr int kMultiprocessorCount = 16; // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
    if (d.cuCtxGetDevice(&dev) != CUDA_SUCCESS ||
        d.cuDeviceGetAttribute(&n, kMultiprocessorCount, dev) != CUDA_SUCCESS || n <= 0)
      return int64_t(132);
    return int64_t(n);
  }();
  return count;
}

/// Tiles of `keys` keys over Skv keys.
int64_t keyTileCount(int64_t skv, int64_t keys) { return (skv + keys - 1) / keys; }

/// Split-KV for a tensor-core kernel `name` of head-dimension tier `tier`
/// (lock held): when its `_split` / `_merge` kernels exist and the blocks of
/// one launch do not fill the GPU twice over, the key tiles are cut into W
/// chunks (at least 4 tiles each, at most 64 chunks). ATTN_SPLIT_KV
/// overrides: 0 or 1 never splits, N >= 2 asks for N chunks.
void chooseSplit(const Driver &d, attn_gpu_module *m, const std::string &name, int64_t tier,
                 Prepared &p) {
  CUfunction split = optionalFunction(d, m, name + "_split");
  CUfunction merge = optionalFunction(d, m, name + "_merge");
  if (!split || !merge)
    return;
  const auto &c = p.call;
  int64_t tiles = keyTileCount(c.Skv, attn_gpu_split_key_tile(tier));
  int64_t blocks = int64_t(p.grid[0]) * c.H * c.B;
  // A split block's rows are (query, head) pairs of one KV head's group.
  int64_t group = c.H / c.Hkv;
  int64_t rowBlocks =
      (c.Sq * group + ATTN_GPU_SPLIT_ROWS_PER_BLOCK - 1) / ATTN_GPU_SPLIT_ROWS_PER_BLOCK;
  int64_t splitBlocks = rowBlocks * c.Hkv * c.B;
  int64_t w = 1;
  const char *env = std::getenv("ATTN_SPLIT_KV");
  if (env && *env) {
    w = std::max<int64_t>(1, std::min<int64_t>(std::atoll(env), tiles));
  } else if ((blocks < 2 * smCount(d) || c.Sq <= ATTN_GPU_SPLIT_ROWS_PER_BLOCK) && tiles >= 8) {
    // At most 4 split blocks per SM (decode B=8, 32/8 heads on an H100, session 6's sweep of
    // ATTN_SPLIT_KV: W = 8 (3.9 blocks per SM) ran 2.49 / 2.87 TB/s at Skv 8192 / 32768, W = 9
    // (4.4, the rounding up used before) 2.37 / 2.78, W = 12 2.41 / 2.84, W = 16 2.19 / 2.53,
    // W = 4 2.03 / 2.27).
    w = std::min<int64_t>({4 * smCount(d) / splitBlocks, tiles / 4, 64});
  }
  if (w < 2 || c.B * w > 65535)
    return;
  p.grid[0] = static_cast<unsigned>(rowBlocks);
  p.grid[1] = static_cast<unsigned>(c.Hkv);
  p.splitFn = split;
  p.mergeFn = merge;
  p.splitW = w;
  p.tier = tier;
  p.splitSharedBytes = static_cast<unsigned>(attn_gpu_split_smem_bytes(tier));
  p.partialFloats = ATTN_GPU_SPLIT_ROW_SLOTS + ATTN_GPU_SPLIT_O_ITERATES * tier;
}

/// With the module's context current: every view lies in device memory, and
/// the kernel's function (cached in the module).
attn_status resolve(const attn_variant_info *info, attn_gpu_module *m, const char *kernel,
                    const attn_tensor *q, const attn_tensor *k, const attn_tensor *v,
                    const attn_tensor *o, const attn_tensor *lse, const attn_tensor *tensors,
                    Prepared &p) {
  const auto &c = p.call;
  const Driver &d = *p.d;
  if (attn_status s = checkDeviceView(d, "q", *q)) return s;
  if (attn_status s = checkDeviceView(d, "k", *k)) return s;
  if (attn_status s = checkDeviceView(d, "v", *v)) return s;
  if (attn_status s = checkDeviceView(d, "o", *o)) return s;
  if (lse)
    if (attn_status s = checkDeviceView(d, "lse", *lse)) return s;
  for (int32_t t = 0; t < info->num_tensors; ++t) {
    std::string name =
        std::string("tensor '") + (info->tensors[t].name ? info->tensors[t].name : "?") + "'";
    if (attn_status s = checkDeviceView(d, name.c_str(), tensors[t])) return s;
  }
  if (p.noKeys)
    return ATTN_OK;
  std::lock_guard<std::mutex> lock(m->fnMutex);
  // The tensor-core kernel of the smallest head-dimension tier >= D, when the
  // module has one (attn/gpu.h), unless ATTN_GPU_KERNEL=rows asks for the
  // one-row-per-thread kernel.
  const char *choice = std::getenv("ATTN_GPU_KERNEL");
  bool rowsOnly = choice && std::string(choice) == "rows";
  // The tensor-core kernels compute indices in 32 bits (attn/gpu.h).
  bool indicesFit = c.Skv <= ATTN_GPU_MAX_INDEX && c.Sq <= ATTN_GPU_MAX_INDEX &&
                    c.qOffset >= -ATTN_GPU_MAX_INDEX && c.qOffset <= ATTN_GPU_MAX_INDEX - c.Sq;
  if (!rowsOnly && c.H <= 65535 && c.B <= 65535 && indicesFit) {
    // Every tier attnc can build (attn_gpu_is_tier), smallest first.
    int64_t first = std::max<int64_t>(1, (c.D + ATTN_GPU_TIER_STEP - 1) / ATTN_GPU_TIER_STEP);
    for (int64_t tier = first * ATTN_GPU_TIER_STEP; tier <= ATTN_GPU_MAX_TIER;
         tier += ATTN_GPU_TIER_STEP) {
      std::string name = std::string(kernel) + "_d" + std::to_string(tier);
      CUfunction fn = optionalFunction(d, m, name);
      if (!fn)
        continue;
      // Its geometry (key tiles, shared memory, argument words) is the one
      // of the attnc that built it: refuse another ABI rather than launch it
      // with this runtime's.
      if (m->abi != ATTN_GPU_ABI_VERSION && m->abi != ATTN_GPU_ABI_THREE_STAGES &&
          m->abi != ATTN_GPU_ABI_PERSISTENT && m->abi != ATTN_GPU_ABI_PRODUCER &&
          m->abi != ATTN_GPU_ABI_PERSISTENT_PRODUCER && m->abi != ATTN_GPU_ABI_PAIRED)
        return attn::rt::fail(
            ATTN_ERROR_UNSUPPORTED,
            "kernel '" + name + "' was built for GPU ABI " + std::to_string(m->abi) +
                (m->abi == 1 ? " (no attn_gpu_abi_version: an attnc from before the marker)" : "") +
                " but this libattnrt runs ABI " + std::to_string(ATTN_GPU_ABI_VERSION) + " (and " +
                std::to_string(ATTN_GPU_ABI_THREE_STAGES) + ", " +
                std::to_string(ATTN_GPU_ABI_PERSISTENT) + ", " +
                std::to_string(ATTN_GPU_ABI_PRODUCER) + ", " +
                std::to_string(ATTN_GPU_ABI_PERSISTENT_PRODUCER) + " and " +
                std::to_string(ATTN_GPU_ABI_PAIRED) +
                ", its three-stage, persistent, producer, persistent producer and paired forms)" +
                ": rebuild the variant with the attnc of this libattnrt (ATTN_GPU_KERNEL=rows "
                "runs its row kernel meanwhile)");
      p.fn = fn;
      p.tensorCore = true;
      p.grid[0] = static_cast<unsigned>((c.Sq + ATTN_GPU_MMA_ROWS_PER_BLOCK - 1) /
                                        ATTN_GPU_MMA_ROWS_PER_BLOCK);
      p.grid[1] = static_cast<unsigned>(c.H);
      p.grid[2] = static_cast<unsigned>(c.B);
      const bool persistentAbi = m->abi == ATTN_GPU_ABI_PERSISTENT ||
                                 m->abi == ATTN_GPU_ABI_PERSISTENT_PRODUCER ||
                                 m->abi == ATTN_GPU_ABI_PAIRED;
      p.block = m->abi == ATTN_GPU_ABI_PRODUCER || m->abi == ATTN_GPU_ABI_PERSISTENT_PRODUCER ||
                        m->abi == ATTN_GPU_ABI_PAIRED
                    ? ATTN_GPU_MMA_PRODUCER_BLOCK_SIZE
                    : ATTN_GPU_MMA_BLOCK_SIZE;
      p.tier = tier;
      p.sharedBytes = static_cast<unsigned>(
          m->abi == ATTN_GPU_ABI_PRODUCER ? attn_gpu_mma_producer_smem_bytes(tier)
                                          : attn_gpu_mma_smem_bytes(
                                                tier, m->abi == ATTN_GPU_ABI_THREE_STAGES
                                                          ? ATTN_GPU_MMA_OVERLAP_STAGES
                                                          : ATTN_GPU_MMA_STAGES));
      chooseSplit(d, m, name, tier, p);
      if (p.splitW > 1)
        return allowShared(d, m, p.splitFn, p.splitSharedBytes);
      // `_classes_h`: the mask reads h, one table per (b, h); `_classes`: per b.
      CUfunction perHead = optionalFunction(d, m, name + "_classes_h");
      CUfunction classes = perHead ? perHead : optionalFunction(d, m, name + "_classes");
      if (classes) {
        int64_t keyTiles = keyTileCount(c.Skv, attn_gpu_mma_key_tile(tier));
        // Grid x: key tiles; y: query tiles (the driver's limit 65535).
        if (keyTiles > 0x7fffffff || p.grid[0] > 65535)
          return attn::rt::fail(ATTN_ERROR_UNSUPPORTED,
                                "variant '" + c.variant + "': Sq = " + std::to_string(c.Sq) +
                                    ", Skv = " + std::to_string(c.Skv) +
                                    " is more tiles than the mask's tile-class kernel covers "
                                    "(at most 65535 query tiles of " +
                                    std::to_string(ATTN_GPU_MMA_ROWS_PER_BLOCK) +
                                    " rows); compile with attnc --gpu-tile-classes=false");
        p.classesFn = classes;
        p.classGrid[0] = static_cast<unsigned>(keyTiles);
        p.classGrid[1] = p.grid[0];
        p.classGrid[2] = p.grid[2];
        uint64_t bytes = 0;
        if (__builtin_mul_overflow(static_cast<uint64_t>(c.B * (perHead ? c.H : 1)) * p.grid[0],
                                   static_cast<uint64_t>(keyTiles), &bytes) ||
            bytes > (uint64_t(1) << 40))
          return attn::rt::fail(ATTN_ERROR_UNSUPPORTED,
                                "variant '" + c.variant + "': the mask's tile-class table (" +
                                    (perHead ? "B*H" : "B") + " * " +
                                    std::to_string(p.grid[0]) + " query tiles * " +
                                    std::to_string(keyTiles) + " key tiles) is too large");
        p.classBytes = static_cast<size_t>(bytes);
      }
      if (persistentAbi) {
        // One block per SM (at most one per item), which takes the items
        // (b, h, query tile) in rounds (attn/gpu.h).
        int64_t items = int64_t(p.grid[0]) * c.H * c.B;
        if (items > 0x7fffffff)
          return attn::rt::fail(ATTN_ERROR_UNSUPPORTED,
                                "variant '" + c.variant + "': " + std::to_string(items) +
                                    " query tiles of B * H (b, h) pairs is more than a persistent "
                                    "kernel counts (2^31 - 1); compile without --gpu-persistent");
        p.grid[0] = static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(items, smCount(d))));
        p.grid[1] = p.grid[2] = 1;
        p.sharedBytes = static_cast<unsigned>(
            m->abi == ATTN_GPU_ABI_PERSISTENT           ? attn_gpu_mma_persistent_smem_bytes(tier)
            : m->abi == ATTN_GPU_ABI_PERSISTENT_PRODUCER ? attn_gpu_mma_persistent_producer_smem_bytes(tier)
                                                         : attn_gpu_mma_paired_smem_bytes(tier));
      }
      return allowShared(d, m, fn, p.sharedBytes);
    }
  }
  auto it = m->functions.find(kernel);
  if (it == m->functions.end()) {
    CUfunction fn = nullptr;
    if (CUresult rc = d.cuModuleGetFunction(&fn, m->mod, kernel))
      return fail(d, rc, "variant '" + c.variant + "': kernel '" + kernel +
                             "' not found in the module (cuModuleGetFunction)");
    it = m->functions.emplace(kernel, fn).first;
  }
  p.fn = it->second;
  return ATTN_OK;
}

/// Writes zeros to o and -inf to lse on the stream (rows with no key).
attn_status writeEmptyRows(const Prepared &p, const attn_tensor &o, const attn_tensor *lse) {
  const Driver &d = *p.d;
  size_t es = attn_dtype_size(o.dtype);
  for (int64_t b = 0; b < o.shape[0]; ++b)
    for (int64_t h = 0; h < o.shape[1]; ++h)
      for (int64_t s = 0; s < o.shape[2]; ++s) {
        CUdeviceptr row = reinterpret_cast<uintptr_t>(o.data) +
                          (b * o.strides[0] + h * o.strides[1] + s * o.strides[2]) * es;
        if (o.strides[3] == 1 || o.shape[3] == 1) {
          if (CUresult rc = d.cuMemsetD8Async(row, 0, o.shape[3] * es, p.stream))
            return fail(d, rc, "cuMemsetD8Async (o)");
        } else {
          for (int64_t e = 0; e < o.shape[3]; ++e)
            if (CUresult rc = d.cuMemsetD8Async(row + e * o.strides[3] * es, 0, es, p.stream))
              return fail(d, rc, "cuMemsetD8Async (o)");
        }
        if (lse) {
          CUdeviceptr at = reinterpret_cast<uintptr_t>(lse->data) +
                           (b * lse->strides[0] + h * lse->strides[1] + s * lse->strides[2]) * 4;
          if (CUresult rc = d.cuMemsetD32Async(at, 0xff800000u, 1, p.stream)) // -inf
            return fail(d, rc, "cuMemsetD32Async (lse)");
        }
      }
  if (CUresult rc = d.cuStreamSynchronize(p.stream))
    return fail(d, rc, "cuStreamSynchronize");
  return ATTN_OK;
}

/// Encodes the tiled tensor map of a Q, K or V view for the TMA loads of a
/// tensor-core kernel of tier `tier` (attn/gpu.h), boxes of 64 columns and
/// `rows` rows, into `map`; false when the driver or the view does not allow
/// one (the kernel then copies with cp.async).
bool encodeTileMap(const Driver &d, const attn_tensor &t, int64_t tier, int64_t rows, void *map) {
  if (!d.cuTensorMapEncodeTiled || tier % 64 != 0 || attn_dtype_size(t.dtype) != 2)
    return false;
  if (reinterpret_cast<uintptr_t>(t.data) % 16 != 0 || t.strides[3] != 1)
    return false;
  uint64_t dims[4], strides[3];
  for (int i = 0; i < 4; ++i) {
    if (t.shape[3 - i] < 1 || t.shape[3 - i] > (int64_t(1) << 31))
      return false;
    dims[i] = static_cast<uint64_t>(t.shape[3 - i]);
  }
  for (int i = 0; i < 3; ++i) {
    int64_t bytes = t.strides[2 - i] * 2;
    if (bytes <= 0 || bytes % 16 != 0 || bytes >= (int64_t(1) << 40))
      return false;
    strides[i] = static_cast<uint64_t>(bytes);
  }
  uint32_t box[4] = {64, static_cast<uint32_t>(rows), 1, 1};
  uint32_t elementStrides[4] = {1, 1, 1, 1};
  return d.cuTensorMapEncodeTiled(map, CU_TENSOR_MAP_DATA_TYPE_UINT16, 4, t.data, dims, strides, box,
                                  elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                  CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                                  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

/// ATTN_GPU_TMA: 0 turns the TMA loads off (every thread then copies with
/// cp.async, the path the kernels take when a view allows no tensor map);
/// `kv` keeps K's and V's maps but not Q's (a producer kernel's consumers
/// then copy Q with cp.async: an A/B of the Q map); anything else or unset:
/// all on.
enum class TmaMode { Off, KV, All };
TmaMode tmaMode() {
  const char *env = std::getenv("ATTN_GPU_TMA");
  if (env && std::string(env) == "0")
    return TmaMode::Off;
  if (env && std::string(env) == "kv")
    return TmaMode::KV;
  return TmaMode::All;
}

/// Fills the scratch buffer of the stream with the argument block (lock held).
attn_status stageArguments(const Prepared &p, Scratch &scratch, const attn_variant_info *info,
                           const attn_tensor *q, const attn_tensor *k, const attn_tensor *v,
                           const attn_tensor *o, const attn_tensor *lse,
                           const attn_tensor *tensors) {
  const Driver &d = *p.d;
  const auto &c = p.call;
  const size_t argsBytes = align16(ATTN_GPU_ARG_COUNT * sizeof(int64_t));
  const size_t flagOffset = argsBytes;
  // The flag and a persistent producer kernel's ticket counters (attn/gpu.h).
  static_assert(ATTN_GPU_TICKETS_OFFSET + 8 <= 16, "the flag's 16 bytes hold the counters");
  const size_t paramsOffset = flagOffset + 16;
  const size_t tensorsOffset = paramsOffset + align16(c.params.size() * sizeof(double));
  // The tensor maps of K, V and Q (a whole-tile kernel of a tier that is a
  // multiple of 64; attn/gpu.h).
  const TmaMode mapsWanted = tmaMode();
  const bool tmaTier = p.tensorCore && p.splitW <= 1 && p.tier % 64 == 0 && mapsWanted != TmaMode::Off;
  const size_t mapsOffset =
      (tensorsOffset + align16(static_cast<size_t>(info->num_tensors) * sizeof(attn_tensor)) +
       kTensorMapAlign - 1) / kTensorMapAlign * kTensorMapAlign;
  const size_t staged = mapsOffset + (tmaTier ? 3 * kTensorMapBytes : 0);
  // Split-KV states follow (written and read by the kernels only).
  const size_t partialBytes = p.splitW > 1 ? static_cast<size_t>(c.B * c.H * c.Sq) *
                                                 static_cast<size_t>(p.splitW * p.partialFloats) *
                                                 sizeof(float)
                                           : 0;
  // The tile classes, likewise (after the states: one of the two is empty).
  const size_t ownTable = p.callerTable ? 0 : p.classBytes;
  const size_t total = staged + partialBytes + ownTable;
  if (scratch.capacity < total) {
    if (scratch.ptr) {
      // Earlier launches on this stream may still read the old buffer.
      if (CUresult rc = d.cuStreamSynchronize(p.stream))
        return fail(d, rc, "cuStreamSynchronize");
      d.cuMemFree(scratch.ptr);
      scratch.ptr = 0;
      scratch.capacity = 0;
    }
    size_t capacity = std::max<size_t>(total, 4096);
    if (CUresult rc = d.cuMemAlloc(&scratch.ptr, capacity))
      return fail(d, rc, "cuMemAlloc (argument block, " + std::to_string(capacity) + " bytes)");
    scratch.capacity = capacity;
  }
  scratch.staging.assign(staged, 0);
  unsigned char *host = scratch.staging.data();
  int64_t *args = reinterpret_cast<int64_t *>(host);
  auto addr = [](const void *ptr) { return static_cast<int64_t>(reinterpret_cast<intptr_t>(ptr)); };
  args[ATTN_ARG_Q] = addr(q->data);
  args[ATTN_ARG_K] = addr(k->data);
  args[ATTN_ARG_V] = addr(v->data);
  args[ATTN_ARG_O] = addr(o->data);
  args[ATTN_ARG_LSE] = lse ? addr(lse->data) : 0;
  args[ATTN_ARG_B] = c.B;
  args[ATTN_ARG_H] = c.H;
  args[ATTN_ARG_HKV] = c.Hkv;
  args[ATTN_ARG_SQ] = c.Sq;
  args[ATTN_ARG_SKV] = c.Skv;
  args[ATTN_ARG_D] = c.D;
  args[ATTN_ARG_QOFFSET] = c.qOffset;
  for (int i = 0; i < 4; ++i) {
    args[ATTN_ARG_Q_STRIDES + i] = q->strides[i];
    args[ATTN_ARG_K_STRIDES + i] = k->strides[i];
    args[ATTN_ARG_V_STRIDES + i] = v->strides[i];
    args[ATTN_ARG_O_STRIDES + i] = o->strides[i];
  }
  for (int i = 0; i < 3; ++i)
    args[ATTN_ARG_LSE_STRIDES + i] = lse ? lse->strides[i] : 0;
  const int64_t base = static_cast<int64_t>(scratch.ptr);
  args[ATTN_ARG_PARAMS] = base + static_cast<int64_t>(paramsOffset);
  args[ATTN_ARG_TENSORS] = base + static_cast<int64_t>(tensorsOffset);
  args[ATTN_ARG_GPU_ERROR] = base + static_cast<int64_t>(flagOffset);
  args[ATTN_ARG_NUM_CHUNKS] = p.splitW;
  args[ATTN_ARG_PARTIALS] = partialBytes ? base + static_cast<int64_t>(staged) : 0;
  args[ATTN_ARG_TILE_CLASSES] =
      p.callerTable ? static_cast<int64_t>(p.callerTable)
      : ownTable    ? base + static_cast<int64_t>(staged + partialBytes)
                    : 0;
  if (tmaTier) {
    alignas(kTensorMapAlign) unsigned char maps[3][kTensorMapBytes];
    const int64_t keys = attn_gpu_mma_key_tile(p.tier);
    if (encodeTileMap(d, *k, p.tier, keys, maps[0]) && encodeTileMap(d, *v, p.tier, keys, maps[1])) {
      std::memcpy(host + mapsOffset, maps, 2 * kTensorMapBytes);
      args[ATTN_ARG_K_TMAP] = base + static_cast<int64_t>(mapsOffset);
      args[ATTN_ARG_V_TMAP] = base + static_cast<int64_t>(mapsOffset + kTensorMapBytes);
      // Q's: each consumer warpgroup's 64 rows (a producer kernel's).
      if (mapsWanted == TmaMode::All && encodeTileMap(d, *q, p.tier, ATTN_GPU_MMA_ROWS_PER_BLOCK / 2, maps[2])) {
        std::memcpy(host + mapsOffset + 2 * kTensorMapBytes, maps[2], kTensorMapBytes);
        args[ATTN_ARG_Q_TMAP] = base + static_cast<int64_t>(mapsOffset + 2 * kTensorMapBytes);
      }
    }
  }
  if (!c.params.empty())
    std::memcpy(host + paramsOffset, c.params.data(), c.params.size() * sizeof(double));
  if (info->num_tensors > 0)
    std::memcpy(host + tensorsOffset, tensors,
                static_cast<size_t>(info->num_tensors) * sizeof(attn_tensor));
  // The flag and the ticket counters (host + flagOffset) are zero: staging
  // was zero-filled.
  if (CUresult rc = d.cuMemcpyHtoDAsync(scratch.ptr, host, staged, p.stream))
    return fail(d, rc, "cuMemcpyHtoDAsync (argument block)");
  return ATTN_OK;
}

/// attnc's GPU kernels keep one row's per-tile values (head-dim vectors
/// among them) in per-thread stack buffers whose size depends on D: raise
/// the context's per-thread stack (1 KiB by default) to what D needs.
attn_status ensureStack(const Driver &d, int64_t D) {
  constexpr int kLimitStackSize = 0x00; // CU_LIMIT_STACK_SIZE
  size_t want = 4096 + static_cast<size_t>(D) * 4 * 16;
  size_t have = 0;
  if (CUresult rc = d.cuCtxGetLimit(&have, kLimitStackSize))
    return fail(d, rc, "cuCtxGetLimit (stack size)");
  if (have >= want)
    return ATTN_OK;
  if (CUresult rc = d.cuCtxSetLimit(kLimitStackSize, want))
    return fail(d, rc, "cuCtxSetLimit (stack size " + std::to_string(want) + " bytes)");
  return ATTN_OK;
}

/// Enqueues one launch of the prepared kernel (lock held), after its
/// `_classes` kernel if it has one and `classes`.
attn_status enqueue(const Prepared &p, Scratch &scratch, bool classes) {
  const Driver &d = *p.d;
  CUdeviceptr argsPtr = scratch.ptr;
  void *kernelParams[] = {&argsPtr};
  if (p.splitW > 1) {
    const auto &c = p.call;
    // The merge: one thread per output element (b, h, row, f < tier).
    unsigned mergeBlocks = static_cast<unsigned>(
        (c.B * c.H * c.Sq * p.tier + ATTN_GPU_BLOCK_SIZE - 1) / ATTN_GPU_BLOCK_SIZE);
    if (CUresult rc = d.cuLaunchKernel(p.splitFn, p.grid[0], p.grid[1],
                                       static_cast<unsigned>(c.B * p.splitW),
                                       ATTN_GPU_SPLIT_BLOCK_SIZE, 1, 1, p.splitSharedBytes,
                                       p.stream, kernelParams, nullptr))
      return fail(d, rc, "variant '" + c.variant + "': cuLaunchKernel (split-KV, " +
                             std::to_string(p.splitW) + " chunks)");
    if (CUresult rc = d.cuLaunchKernel(p.mergeFn, mergeBlocks, 1, 1, ATTN_GPU_BLOCK_SIZE, 1, 1, 0,
                                       p.stream, kernelParams, nullptr))
      return fail(d, rc, "variant '" + c.variant + "': cuLaunchKernel (split-KV merge)");
    return ATTN_OK;
  }
  if (p.classesFn && classes)
    if (CUresult rc = d.cuLaunchKernel(p.classesFn, p.classGrid[0], p.classGrid[1], p.classGrid[2],
                                       ATTN_GPU_CLASSES_BLOCK_SIZE, 1, 1, 0, p.stream, kernelParams,
                                       nullptr))
      return fail(d, rc, "variant '" + p.call.variant + "': cuLaunchKernel (tile classes, grid " +
                             std::to_string(p.classGrid[0]) + "x" +
                             std::to_string(p.classGrid[1]) + "x" + std::to_string(p.classGrid[2]) + ")");
  if (CUresult rc = d.cuLaunchKernel(p.fn, p.grid[0], p.grid[1], p.grid[2], p.block, 1, 1,
                                     p.sharedBytes, p.stream, kernelParams, nullptr))
    return fail(d, rc, "variant '" + p.call.variant + "': cuLaunchKernel (grid " +
                           std::to_string(p.grid[0]) + "x" + std::to_string(p.grid[1]) + "x" +
                           std::to_string(p.grid[2]) + ", block " + std::to_string(p.block) + ")");
  return ATTN_OK;
}

/// Waits for the stream and reads the error flag (lock held).
attn_status readFlag(const Prepared &p, Scratch &scratch) {
  const Driver &d = *p.d;
  int32_t flag = 0;
  const size_t flagOffset = align16(ATTN_GPU_ARG_COUNT * sizeof(int64_t));
  if (CUresult rc = d.cuMemcpyDtoHAsync(&flag, scratch.ptr + flagOffset, sizeof flag, p.stream))
    return fail(d, rc, "variant '" + p.call.variant + "': reading the error flag");
  if (CUresult rc = d.cuStreamSynchronize(p.stream))
    return fail(d, rc, "variant '" + p.call.variant + "': cuStreamSynchronize after the kernel");
  if (flag & ATTN_ERROR_OUT_OF_RANGE)
    return attn::rt::fail(ATTN_ERROR_OUT_OF_RANGE,
                          "tensor index out of range in variant '" + p.call.variant + "'");
  if (flag != 0)
    return attn::rt::fail(ATTN_ERROR_INTERNAL, "GPU kernel of variant '" + p.call.variant +
                                                   "' set error flag " + std::to_string(flag));
  return ATTN_OK;
}

/// FNV-1a over `n` bytes, continuing from `h`.
uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *b = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < n; ++i)
    h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/// Uses the caller's class table for a call whose kernel reads one: checks
/// its size and memory, and whether it holds this call's classes.
attn_status attachTable(const attn_variant_info *info, attn_gpu_module *m, const attn_tensor *q,
                        const attn_tensor *k, const attn_tensor *v, const attn_tensor *o,
                        const attn_tensor *lse, const attn_tensor *tensors,
                        attn_gpu_class_table *table, Prepared &p) {
  if (!table || !p.classesFn)
    return ATTN_OK;
  const Driver &d = *p.d;
  const auto &c = p.call;
  if (!table->data || table->bytes < p.classBytes)
    return invalidArgument("variant '" + c.variant + "': the class table has " +
                           std::to_string(table->data ? table->bytes : 0) +
                           " bytes, this call needs " + std::to_string(p.classBytes) +
                           " (attn_gpu_class_table_bytes)");
  CUdeviceptr ptr = reinterpret_cast<uintptr_t>(table->data);
  if (attn_status s = checkDeviceBytes(d, "variant '" + c.variant + "': the class table",
                                       "the table this call needs", ptr, p.classBytes))
    return s;
  // The `_classes` kernel writes the table: not over a tensor of the call.
  std::vector<attn::rt::NamedView> views, outputs;
  attn::rt::callViews(info, q, k, v, o, lse, tensors, views, outputs);
  views.insert(views.end(), outputs.begin(), outputs.end());
  for (const auto &view : views)
    if (attn::rt::viewSpanMeets(*view.second, ptr, ptr + p.classBytes))
      return invalidArgument("variant '" + c.variant + "': the class table shares memory with " +
                             view.first);
  // The fingerprint: the table's place, the module (its load) and kernels,
  // the sizes, q_offset, the params, the views of the extra tensors (never
  // 0, which means empty).
  uint64_t h = 0xcbf29ce484222325ull;
  const void *fns[3] = {table->data, p.fn, p.classesFn};
  const int64_t sizes[9] = {static_cast<int64_t>(m->serial), c.B, c.H, c.Hkv, c.Sq, c.Skv, c.D,
                            c.qOffset, static_cast<int64_t>(p.classBytes)};
  h = fnv1a(h, fns, sizeof fns);
  h = fnv1a(h, sizes, sizeof sizes);
  if (!c.params.empty())
    h = fnv1a(h, c.params.data(), c.params.size() * sizeof(double));
  for (int32_t t = 0; t < info->num_tensors; ++t) {
    const attn_tensor &x = tensors[t];
    h = fnv1a(h, &x.data, sizeof x.data);
    h = fnv1a(h, x.shape, sizeof(int64_t) * static_cast<size_t>(x.rank));
    h = fnv1a(h, x.strides, sizeof(int64_t) * static_cast<size_t>(x.rank));
  }
  p.fingerprint = h | 1;
  p.callerTable = ptr;
  p.tableFilled = table->filled_for == p.fingerprint;
  return ATTN_OK;
}

/// What a launch and attn_gpu_class_table_bytes share: the checks, then
/// (unless the call has nothing to do) the module's context made current in
/// `scope` and the kernels resolved.
attn_status prepareCall(const attn_variant_info *info, attn_gpu_module *m, const char *kernel,
                        const attn_tensor *q, const attn_tensor *k, const attn_tensor *v,
                        const attn_tensor *o, const attn_tensor *lse, const double *params,
                        const attn_tensor *tensors, int64_t qOffset, void *stream, Prepared &p,
                        std::optional<ContextScope> &scope) {
  if (attn_status s =
          checkCall(info, m, kernel, q, k, v, o, lse, params, tensors, qOffset, stream, p))
    return s;
  if (p.nothingToDo)
    return ATTN_OK;
  scope.emplace(*p.d, m->ctx);
  if (CUresult rc = scope->result())
    return fail(*p.d, rc, "cuCtxPushCurrent (the module's context)");
  return resolve(info, m, kernel, q, k, v, o, lse, tensors, p);
}

/// attn_gpu_launch and attn_gpu_time_launches (medianMs null: one plain
/// launch), with the caller's class table or null.
attn_status launch(const attn_variant_info *info, attn_gpu_module *m, const char *kernel,
                   const attn_tensor *q, const attn_tensor *k, const attn_tensor *v,
                   attn_tensor *o, attn_tensor *lse, const double *params,
                   const attn_tensor *tensors, int64_t qOffset, attn_gpu_class_table *table,
                   void *stream, int32_t warmup, int32_t reps, float *timesMs, double *medianMs) {
  const bool timing = medianMs != nullptr;
  if (timing) {
    *medianMs = 0;
    if (warmup < 0 || reps <= 0)
      return invalidArgument("attn_gpu_time_launches: warmup must be >= 0 and reps > 0, got " +
                             std::to_string(warmup) + " and " + std::to_string(reps));
  }
  Prepared p;
  std::optional<ContextScope> scope;
  if (attn_status s = prepareCall(info, m, kernel, q, k, v, o, lse, params, tensors, qOffset,
                                  stream, p, scope))
    return s;
  if (p.nothingToDo)
    return ATTN_OK;
  const Driver &d = *p.d;
  if (p.noKeys)
    return writeEmptyRows(p, *o, lse);
  if (attn_status s = attachTable(info, m, q, k, v, o, lse, tensors, table, p))
    return s;
  // The caller's table is emptied while a launch may write it, and marked
  // filled when the launches that filled it succeeded.
  bool classes = !p.tableFilled;
  if (p.callerTable && classes)
    table->filled_for = 0;
  auto filled = [&](attn_status s) {
    if (s == ATTN_OK && p.callerTable)
      table->filled_for = p.fingerprint;
    return s;
  };

  if (!p.tensorCore)
    if (attn_status s = ensureStack(d, p.call.D))
      return s;
  Scratch &scratch = scratchFor(m->ctx, p.stream);
  std::lock_guard<std::mutex> lock(scratch.mutex);
  if (attn_status s = stageArguments(p, scratch, info, q, k, v, o, lse, tensors))
    return s;
  // Without a caller's table every launch classes the tiles; with one, the
  // first that needs to.
  auto enqueueOne = [&]() {
    attn_status s = enqueue(p, scratch, classes);
    classes = classes && !p.callerTable;
    return s;
  };
  if (!timing) {
    if (attn_status s = enqueueOne())
      return s;
    return filled(readFlag(p, scratch));
  }

  for (int32_t i = 0; i < warmup; ++i)
    if (attn_status s = enqueueOne())
      return s;
  std::vector<CUevent> events(2 * static_cast<size_t>(reps), nullptr);
  struct EventGuard {
    const Driver &d;
    std::vector<CUevent> &events;
    ~EventGuard() {
      for (CUevent e : events)
        if (e)
          d.cuEventDestroy(e);
    }
  } guard{d, events};
  for (CUevent &e : events)
    if (CUresult rc = d.cuEventCreate(&e, CU_EVENT_DEFAULT))
      return fail(d, rc, "cuEventCreate");
  for (int32_t r = 0; r < reps; ++r) {
    if (CUresult rc = d.cuEventRecord(events[2 * r], p.stream))
      return fail(d, rc, "cuEventRecord");
    if (attn_status s = enqueueOne())
      return s;
    if (CUresult rc = d.cuEventRecord(events[2 * r + 1], p.stream))
      return fail(d, rc, "cuEventRecord");
  }
  if (attn_status s = filled(readFlag(p, scratch)))
    return s;
  std::vector<float> times(static_cast<size_t>(reps));
  for (int32_t r = 0; r < reps; ++r)
    if (CUresult rc = d.cuEventElapsedTime(&times[r], events[2 * r], events[2 * r + 1]))
      return fail(d, rc, "cuEventElapsedTime");
  if (timesMs)
    std::copy(times.begin(), times.end(), timesMs);
  std::sort(times.begin(), times.end());
  size_t n = times.size();
  *medianMs = n % 2 ? times[n / 2] : 0.5 * (double(times[n / 2 - 1]) + double(times[n / 2]));
  return ATTN_OK;
}

} // namespace

//===----------------------------------------------------------------------===//
// C ABI
//===----------------------------------------------------------------------===//

#define ATTN_GUARD(name, body)                                                                    \
  try {                                                                                           \
    body                                                                                          \
  } catch (const std::exception &e) {                                                             \
    return attn::rt::fail(ATTN_ERROR_INTERNAL, std::string(name ": ") + e.what());                \
  } catch (...) {                                                                                 \
    return attn::rt::fail(ATTN_ERROR_INTERNAL, name ": unknown exception");                       \
  }

extern "C" attn_status attn_gpu_available(void) {
  ATTN_GUARD("attn_gpu_available", {
    attn_status s = ATTN_OK;
    driver(&s);
    return s;
  })
}

extern "C" attn_status attn_gpu_device_properties(attn_gpu_device_info *out) {
  ATTN_GUARD("attn_gpu_device_properties", {
    if (!out)
      return invalidArgument("attn_gpu_device_properties: out is null");
    std::memset(out, 0, sizeof *out);
    const Driver *d = nullptr;
    CUcontext ctx = nullptr;
    if (attn_status s = setUp(d, ctx))
      return s;
    CUdevice dev = 0;
    if (CUresult rc = d->cuCtxGetDevice(&dev))
      return fail(*d, rc, "cuCtxGetDevice");
    out->ordinal = dev;
    if (CUresult rc = d->cuDeviceGetName(out->name, sizeof out->name - 1, dev))
      return fail(*d, rc, "cuDeviceGetName");
    int value = 0;
    if (CUresult rc = d->cuDeviceGetAttribute(&value, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev))
      return fail(*d, rc, "cuDeviceGetAttribute");
    out->cc_major = value;
    if (CUresult rc = d->cuDeviceGetAttribute(&value, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev))
      return fail(*d, rc, "cuDeviceGetAttribute");
    out->cc_minor = value;
    if (CUresult rc = d->cuDeviceGetAttribute(&value, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev))
      return fail(*d, rc, "cuDeviceGetAttribute");
    out->sm_count = value;
    if (CUresult rc = d->cuDriverGetVersion(&value))
      return fail(*d, rc, "cuDriverGetVersion");
    out->driver_version = value;
    size_t bytes = 0;
    if (CUresult rc = d->cuDeviceTotalMem(&bytes, dev))
      return fail(*d, rc, "cuDeviceTotalMem");
    out->total_memory = bytes;
    return ATTN_OK;
  })
}

extern "C" attn_status attn_gpu_module_load(const void *image, size_t size,
                                            attn_gpu_module **out) {
  ATTN_GUARD("attn_gpu_module_load", {
    if (!out)
      return invalidArgument("attn_gpu_module_load: out is null");
    *out = nullptr;
    if (!image || size == 0)
      return invalidArgument("attn_gpu_module_load: the image is null or empty");
    const Driver *d = nullptr;
    CUcontext ctx = nullptr;
    if (attn_status s = setUp(d, ctx))
      return s;
    uint64_t sample = sampleImage(image, size);
    ModuleCache &cache = moduleCache();
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto key = std::make_tuple(ctx, image, size);
    auto it = cache.modules.find(key);
    if (it != cache.modules.end() && it->second->sample == sample) {
      ++it->second->refs;
      *out = it->second;
      return ATTN_OK;
    }
    CUmodule mod = nullptr;
    if (CUresult rc = d->cuModuleLoadData(&mod, image))
      return fail(*d, rc, "cuModuleLoadData (" + std::to_string(size) + "-byte image)");
    static std::atomic<uint64_t> loads{0};
    auto *m = new attn_gpu_module;
    m->serial = ++loads;
    m->ctx = ctx;
    m->mod = mod;
    // The ABI marker that attnc writes into every cubin (attn/gpu.h).
    CUdeviceptr marker = 0;
    size_t markerBytes = 0;
    if (d->cuModuleGetGlobal(&marker, &markerBytes, mod, "attn_gpu_abi_version") == CUDA_SUCCESS &&
        markerBytes == sizeof(uint32_t)) {
      if (CUresult rc = d->cuMemcpyDtoH(&m->abi, marker, sizeof(uint32_t))) {
        d->cuModuleUnload(mod);
        delete m;
        return fail(*d, rc, "reading the module's attn_gpu_abi_version (cuMemcpyDtoH)");
      }
    }
    m->image = image;
    m->size = size;
    m->sample = sample;
    m->refs = 1;
    // A different image now lives at a cached address: the old module stays
    // valid for those holding it, but new loads get the new one.
    cache.modules[key] = m;
    *out = m;
    return ATTN_OK;
  })
}

extern "C" attn_status attn_gpu_module_unload(attn_gpu_module *m) {
  ATTN_GUARD("attn_gpu_module_unload", {
    if (!m)
      return ATTN_OK;
    attn_status s = ATTN_OK;
    const Driver *d = driver(&s);
    if (!d)
      return s;
    ModuleCache &cache = moduleCache();
    {
      std::lock_guard<std::mutex> lock(cache.mutex);
      if (--m->refs > 0)
        return ATTN_OK;
      auto it = cache.modules.find(std::make_tuple(m->ctx, m->image, m->size));
      if (it != cache.modules.end() && it->second == m)
        cache.modules.erase(it);
    }
    ContextScope scope(*d, m->ctx);
    CUresult rc = d->cuModuleUnload(m->mod);
    delete m;
    if (rc)
      return fail(*d, rc, "cuModuleUnload");
    return ATTN_OK;
  })
}

extern "C" attn_status attn_gpu_launch(const attn_variant_info *info, attn_gpu_module *module,
                                       const char *kernel, const attn_tensor *q,
                                       const attn_tensor *k, const attn_tensor *v,
                                       attn_tensor *o, attn_tensor *lse, const double *params,
                                       const attn_tensor *tensors, int64_t q_offset,
                                       void *stream) {
  ATTN_GUARD("attn_gpu_launch", {
    return launch(info, module, kernel, q, k, v, o, lse, params, tensors, q_offset, nullptr,
                  stream, 0, 0, nullptr, nullptr);
  })
}

extern "C" attn_status attn_gpu_launch_with_table(
    const attn_variant_info *info, attn_gpu_module *module, const char *kernel,
    const attn_tensor *q, const attn_tensor *k, const attn_tensor *v, attn_tensor *o,
    attn_tensor *lse, const double *params, const attn_tensor *tensors, int64_t q_offset,
    attn_gpu_class_table *table, void *stream) {
  ATTN_GUARD("attn_gpu_launch_with_table", {
    return launch(info, module, kernel, q, k, v, o, lse, params, tensors, q_offset, table,
                  stream, 0, 0, nullptr, nullptr);
  })
}

extern "C" attn_status attn_gpu_class_table_bytes(
    const attn_variant_info *info, attn_gpu_module *module, const char *kernel,
    const attn_tensor *q, const attn_tensor *k, const attn_tensor *v, const attn_tensor *o,
    const attn_tensor *lse, const double *params, const attn_tensor *tensors, int64_t q_offset,
    size_t *bytes) {
  ATTN_GUARD("attn_gpu_class_table_bytes", {
    if (!bytes)
      return invalidArgument("attn_gpu_class_table_bytes: bytes is null");
    *bytes = 0;
    Prepared p;
    std::optional<ContextScope> scope;
    if (attn_status s = prepareCall(info, module, kernel, q, k, v, o, lse, params, tensors,
                                    q_offset, nullptr, p, scope))
      return s;
    if (!p.nothingToDo && !p.noKeys && p.classesFn)
      *bytes = p.classBytes;
    return ATTN_OK;
  })
}

extern "C" attn_status attn_gpu_time_launches(const attn_variant_info *info,
                                              attn_gpu_module *module, const char *kernel,
                                              const attn_tensor *q, const attn_tensor *k,
                                              const attn_tensor *v, attn_tensor *o,
                                              attn_tensor *lse, const double *params,
                                              const attn_tensor *tensors, int64_t q_offset,
                                              void *stream, int32_t warmup, int32_t reps,
                                              float *times_ms, double *median_ms) {
  ATTN_GUARD("attn_gpu_time_launches", {
    if (!median_ms)
      return invalidArgument("attn_gpu_time_launches: median_ms is null");
    return launch(info, module, kernel, q, k, v, o, lse, params, tensors, q_offset, nullptr,
                  stream, warmup, reps, times_ms, median_ms);
  })
}

extern "C" attn_status attn_gpu_time_launches_with_table(
    const attn_variant_info *info, attn_gpu_module *module, const char *kernel,
    const attn_tensor *q, const attn_tensor *k, const attn_tensor *v, attn_tensor *o,
    attn_tensor *lse, const double *params, const attn_tensor *tensors, int64_t q_offset,
    attn_gpu_class_table *table, void *stream, int32_t warmup, int32_t reps, float *times_ms,
    double *median_ms) {
  ATTN_GUARD("attn_gpu_time_launches_with_table", {
    if (!median_ms)
      return invalidArgument("attn_gpu_time_launches_with_table: median_ms is null");
    return launch(info, module, kernel, q, k, v, o, lse, params, tensors, q_offset, table, stream,
                  warmup, reps, times_ms, median_ms);
  })
}

extern "C" attn_status attn_gpu_alloc(size_t bytes, void **out) {
  ATTN_GUARD("attn_gpu_alloc", {
    if (!out)
      return invalidArgument("attn_gpu_alloc: out is null");
    *out = nullptr;
    const Driver *d = nullptr;
    CUcontext ctx = nullptr;
    if (attn_status s = setUp(d, ctx))
      return s;
    if (bytes == 0)
      return ATTN_OK;
    CUdeviceptr ptr = 0;
    if (CUresult rc = d->cuMemAlloc(&ptr, bytes))
      return fail(*d, rc, "cuMemAlloc (" + std::to_string(bytes) + " bytes)");
    *out = reinterpret_cast<void *>(static_cast<uintptr_t>(ptr));
    return ATTN_OK;
  })
}

extern "C" attn_status attn_gpu_free(void *ptr) {
  ATTN_GUARD("attn_gpu_free", {
    if (!ptr)
      return ATTN_OK;
    const Driver *d = nullptr;
    CUcontext ctx = nullptr;
    if (attn_status s = setUp(d, ctx))
      return s;
    if (CUresult rc = d->cuMemFree(reinterpret_cast<uintptr_t>(ptr)))
      return fail(*d, rc, "cuMemFree");
    return ATTN_OK;
  })
}

extern "C" attn_status attn_gpu_copy_to_device(void *dst, const void *src, size_t bytes) {
  ATTN_GUARD("attn_gpu_copy_to_device", {
    if (bytes == 0)
      return ATTN_OK;
    if (!dst || !src)
      return invalidArgument("attn_gpu_copy_to_device: null pointer");
    const Driver *d = nullptr;
    CUcontext ctx = nullptr;
    if (attn_status s = setUp(d, ctx))
      return s;
    if (CUresult rc = d->cuMemcpyHtoD(reinterpret_cast<uintptr_t>(dst), src, bytes))
      return fail(*d, rc, "cuMemcpyHtoD (" + std::to_string(bytes) + " bytes)");
    return ATTN_OK;
  })
}

extern "C" attn_status attn_gpu_copy_to_host(void *dst, const void *src, size_t bytes) {
  ATTN_GUARD("attn_gpu_copy_to_host", {
    if (bytes == 0)
      return ATTN_OK;
    if (!dst || !src)
      return invalidArgument("attn_gpu_copy_to_host: null pointer");
    const Driver *d = nullptr;
    CUcontext ctx = nullptr;
    if (attn_status s = setUp(d, ctx))
      return s;
    if (CUresult rc = d->cuMemcpyDtoH(dst, reinterpret_cast<uintptr_t>(src), bytes))
      return fail(*d, rc, "cuMemcpyDtoH (" + std::to_string(bytes) + " bytes)");
    return ATTN_OK;
  })
}

extern "C" attn_status attn_gpu_synchronize(void) {
  ATTN_GUARD("attn_gpu_synchronize", {
    const Driver *d = nullptr;
    CUcontext ctx = nullptr;
    if (attn_status s = setUp(d, ctx))
      return s;
    if (CUresult rc = d->cuCtxSynchronize())
      return fail(*d, rc, "cuCtxSynchronize");
    return ATTN_OK;
  })
}
