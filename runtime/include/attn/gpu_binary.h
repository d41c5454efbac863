/*===- attn/gpu_binary.h - compiled GPU variants: run by input dtype -------===*
 *
 * A compiled variant for the GPU is one cubin per input dtype, each with its
 * description and the name of its base kernel (`attn_<variant>_<dtype>_gpu`).
 * attnc's AOT libraries (`attnc F.attn --target gpu|all -o libF.so`) embed
 * them as an array of attn_gpu_binary per variant, and attn::GpuKernel (the
 * C++ JIT, attn/compiler.hpp) holds the same array; both run through
 * attn_gpu_binary_run, which picks the binary for q's dtype, loads its cubin
 * into the current CUDA context the first time (attn_gpu_module_load) and
 * launches through attn_gpu_launch (attn/gpu.h). The cubin is opaque: it may
 * hold more kernels than the base one, among which attn_gpu_launch chooses.
 *
 * Without a CUDA driver or device every call returns ATTN_ERROR_UNSUPPORTED
 * with the reason in attn_last_error(). All functions are thread-safe.
 *
 *===----------------------------------------------------------------------===*/
#ifndef ATTN_GPU_BINARY_H
#define ATTN_GPU_BINARY_H

#include "attn/gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One dtype's kernel of a compiled variant. */
typedef struct attn_gpu_binary {
  const attn_variant_info *info; /* info->input_dtype: the q/k/v/o dtype it runs */
  const void *image;             /* the cubin (sm_90a ELF) */
  uint64_t size;                 /* its size in bytes */
  const char *kernel;            /* the base kernel: attn_<variant>_<dtype>_gpu */
} attn_gpu_binary;

/* The binary of binaries[0 .. count) built for `dtype`, or NULL. */
const attn_gpu_binary *attn_gpu_binary_find(const attn_gpu_binary *binaries, int32_t count,
                                            attn_dtype dtype);

/* Runs the binary of binaries[0 .. count) built for q's dtype on device
 * tensors: loads its image into the current CUDA context the first time (the
 * module then stays loaded, see attn_gpu_binary_release) and calls
 * attn_gpu_launch(info, module, kernel, ...). Arguments as attn_gpu_launch.
 * Errors: a null q or array is ATTN_ERROR_INVALID_ARGUMENT; a dtype without
 * a binary is ATTN_ERROR_UNSUPPORTED ("variant 'v': no GPU kernel for q's
 * dtype f32 (built for bf16, f16)"); no driver or device is
 * ATTN_ERROR_UNSUPPORTED with attn_gpu_module_load's reason; the rest is what
 * attn_gpu_launch returns. */
attn_status attn_gpu_binary_run(const attn_gpu_binary *binaries, int32_t count,
                                const attn_tensor *q, const attn_tensor *k,
                                const attn_tensor *v, attn_tensor *o, attn_tensor *lse,
                                const double *params, const attn_tensor *tensors,
                                int64_t q_offset, void *stream);

/* attn_gpu_binary_run with the caller's tile-class table (attn/gpu.h's
 * attn_gpu_class_table: kept across calls whose mask's tensors are the same,
 * as FlexAttention's BlockMask; null: none), and the bytes that table needs
 * for a call (0: the call's kernel reads none). */
attn_status attn_gpu_binary_run_with_table(const attn_gpu_binary *binaries, int32_t count,
                                           const attn_tensor *q, const attn_tensor *k,
                                           const attn_tensor *v, attn_tensor *o, attn_tensor *lse,
                                           const double *params, const attn_tensor *tensors,
                                           int64_t q_offset, attn_gpu_class_table *table,
                                           void *stream);
attn_status attn_gpu_binary_class_table_bytes(const attn_gpu_binary *binaries, int32_t count,
                                              const attn_tensor *q, const attn_tensor *k,
                                              const attn_tensor *v, const attn_tensor *o,
                                              const attn_tensor *lse, const double *params,
                                              const attn_tensor *tensors, int64_t q_offset,
                                              size_t *bytes);

/* Unloads the modules that attn_gpu_binary_run loaded for the images of
 * binaries[0 .. count), in every context. Call it before freeing an image;
 * images that live as long as the process (an AOT library's) need not. */
attn_status attn_gpu_binary_release(const attn_gpu_binary *binaries, int32_t count);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_GPU_BINARY_H */
