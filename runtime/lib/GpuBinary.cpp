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

extern "C" attn_status attn_gpu_binary_run(const attn_gpu_binary *binaries, int32_t count,
                                           const attn_tensor *q, const attn_tensor *k,
                                           const attn_tensor *v, attn_tensor *o,
                                           attn_tensor *lse, const double *params,
                                           const attn_tensor *tensors, int64_t q_offset,
                                           void *stream) {
  using namespace attn::rt;
  try {
    if (!binaries || count <= 0 || !binaries[0].info)
      return invalidArgument("attn_gpu_binary_run: no binaries");
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
    // Bad arguments are reported before the driver is asked for anything.
    CheckedCall call;
    if (attn_status s = checkLaunchArguments(b->info, q, k, v, o, lse, params, tensors,
                                             q_offset, call))
      return s;
    attn_gpu_module *module = nullptr;
    if (attn_status s = acquireModule(*b, &module))
      return s;
    return attn_gpu_launch(b->info, module, b->kernel, q, k, v, o, lse, params, tensors,
                           q_offset, stream);
  } catch (const std::exception &e) {
    return fail(ATTN_ERROR_INTERNAL, std::string("attn_gpu_binary_run: ") + e.what());
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
