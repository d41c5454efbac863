//===- GpuBinary.cpp - compiled GPU variants: pick by dtype, load, launch --===//
//
// attn_gpu_binary_run checks the call (as attn_gpu_launch does, before any
// CUDA call), picks the binary for q's dtype, loads its image with
// attn_gpu_module_load and launches through attn_gpu_launch. The first load
// of an image in a context keeps its reference (held below, per image); a
// later load of the same image in the same context returns the module held
// already (the runtime's module cache) and its extra reference is dropped at
// once, so a run costs a cache lookup, not a cuModuleLoadData.
//
//===----------------------------------------------------------------------===//
#include "attn/gpu_binary.h"

#include "runtime/lib/Error.h"
#include "runtime/lib/LaunchChecks.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace {

/// The modules attn_gpu_binary_run keeps loaded, per image (one per context).
struct HeldModules {
  std::mutex mutex;
  std::map<const void *, std::vector<attn_gpu_module *>> byImage;
};

HeldModules &heldModules() {
  static HeldModules *held = new HeldModules; // never destroyed: used at exit
  return *held;
}

/// Loads `b`'s image into the current context; keeps the first reference per
/// context and drops the others.
attn_status acquireModule(const attn_gpu_binary &b, attn_gpu_module **out) {
  if (attn_status s = attn_gpu_module_load(b.image, (size_t)b.size, out))
    return s;
  HeldModules &held = heldModules();
  std::lock_guard<std::mutex> lock(held.mutex);
  std::vector<attn_gpu_module *> &modules = held.byImage[b.image];
  if (std::find(modules.begin(), modules.end(), *out) == modules.end()) {
    modules.push_back(*out);
    return ATTN_OK;
  }
  // Held already: this load only added a reference, so this never unloads.
  return attn_gpu_module_unload(*out);
}

} // namespace

extern "C" const attn_gpu_binary *attn_gpu_binary_find(const attn_gpu_binary *binaries,
                                                       int32_t count, attn_dtype dtype) {
  for (int32_t i = 0; binaries && i < count; ++i)
    if (binaries[i].info && binaries[i].info->input_dtype == dtype)
      return &binaries[i];
  return nullptr;
}

namespace {

/// The binary for q's dtype, its module loaded in the current context, after
/// the call's checks (bad arguments before the driver is asked for anything).
attn_status binaryFor(const char *what, const attn_gpu_binary *binaries, int32_t count,
                      const attn_tensor *q, const attn_tensor *k, const attn_tensor *v,
                      const attn_tensor *o, const attn_tensor *lse, const double *params,
                      const attn_tensor *tensors, int64_t q_offset,
                      const attn_gpu_binary **binary, attn_gpu_module **module) {
  using namespace attn::rt;
  if (!binaries || count <= 0 || !binaries[0].info)
    return invalidArgument(std::string(what) + ": no binaries");
  if (!q)
    return invalidArgument("q: tensor is null");
  const attn_gpu_binary *b = attn_gpu_binary_find(binaries, count, q->dtype);
  if (!b) {
    std::string builtFor;
    for (int32_t i = 0; i < count; ++i)
      if (binaries[i].info)
        builtFor += (builtFor.empty() ? "" : ", ") +
                    std::string(attn_dtype_name(binaries[i].info->input_dtype));
    const char *name = binaries[0].info->name ? binaries[0].info->name : "?";
    return fail(ATTN_ERROR_UNSUPPORTED, std::string("variant '") + name +
                                            "': no GPU kernel for q's dtype " +
                                            attn_dtype_name(q->dtype) + " (built for " + builtFor +
                                            ")");
  }
  if (!b->image || b->size == 0 || !b->kernel)
    return invalidArgument(std::string("variant '") + (b->info->name ? b->info->name : "?") +
                           "': its GPU binary has no image or kernel name");
  CheckedCall call;
  if (attn_status s =
          checkLaunchArguments(b->info, q, k, v, o, lse, params, tensors, q_offset, call))
    return s;
  *binary = b;
  return acquireModule(*b, module);
}

} // namespace

extern "C" attn_status attn_gpu_binary_run(const attn_gpu_binary *binaries, int32_t count,
                                           const attn_tensor *q, const attn_tensor *k,
                                           const attn_tensor *v, attn_tensor *o,
                                           attn_tensor *lse, const double *params,
                                           const attn_tensor *tensors, int64_t q_offset,
                                           void *stream) {
  return attn_gpu_binary_run_with_table(binaries, count, q, k, v, o, lse, params, tensors,
                                        q_offset, nullptr, stream);
}

extern "C" attn_status attn_gpu_binary_run_with_table(
    const attn_gpu_binary *binaries, int32_t count, const attn_tensor *q, const attn_tensor *k,
    const attn_tensor *v, attn_tensor *o, attn_tensor *lse, const double *params,
    const attn_tensor *tensors, int64_t q_offset, attn_gpu_class_table *table, void *stream) {
  try {
    const attn_gpu_binary *b = nullptr;
    attn_gpu_module *module = nullptr;
    if (attn_status s = binaryFor("attn_gpu_binary_run_with_table", binaries, count, q, k, v, o,
                                  lse, params, tensors, q_offset, &b, &module))
      return s;
    return attn_gpu_launch_with_table(b->info, module, b->kernel, q, k, v, o, lse, params,
                                      tensors, q_offset, table, stream);
  } catch (const std::exception &e) {
    return attn::rt::fail(ATTN_ERROR_INTERNAL,
                          std::string("attn_gpu_binary_run_with_table: ") + e.what());
  }
}

extern "C" attn_status attn_gpu_binary_class_table_bytes(
    const attn_gpu_binary *binaries, int32_t count, const attn_tensor *q, const attn_tensor *k,
    const attn_tensor *v, const attn_tensor *o, const attn_tensor *lse, const double *params,
    const attn_tensor *tensors, int64_t q_offset, size_t *bytes) {
  try {
    if (!bytes)
      return attn::rt::invalidArgument("attn_gpu_binary_class_table_bytes: bytes is null");
    *bytes = 0;
    const attn_gpu_binary *b = nullptr;
    attn_gpu_module *module = nullptr;
    if (attn_status s = binaryFor("attn_gpu_binary_class_table_bytes", binaries, count, q, k, v,
                                  o, lse, params, tensors, q_offset, &b, &module))
      return s;
    return attn_gpu_class_table_bytes(b->info, module, b->kernel, q, k, v, o, lse, params,
                                      tensors, q_offset, bytes);
  } catch (const std::exception &e) {
    return attn::rt::fail(ATTN_ERROR_INTERNAL,
                          std::string("attn_gpu_binary_class_table_bytes: ") + e.what());
  }
}

extern "C" attn_status attn_gpu_binary_release(const attn_gpu_binary *binaries, int32_t count) {
  attn_status result = ATTN_OK;
  for (int32_t i = 0; binaries && i < count; ++i) {
    std::vector<attn_gpu_module *> modules;
    {
      HeldModules &held = heldModules();
      std::lock_guard<std::mutex> lock(held.mutex);
      auto it = held.byImage.find(binaries[i].image);
      if (it == held.byImage.end())
        continue;
      modules.swap(it->second);
      held.byImage.erase(it);
    }
    for (attn_gpu_module *m : modules)
      if (attn_status s = attn_gpu_module_unload(m); s != ATTN_OK && result == ATTN_OK)
        result = s;
  }
  return result;
}
