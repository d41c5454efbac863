/*===- attn/kernel.h - the ABI between compiled CPU kernels and libattnrt -===*
 *
 * attnc compiles a variant into a *tile kernel*: a function that computes
 * rows [row0, row0 + nrows) of the output for one (b, h). libattnrt checks the
 * call, fills an argument block and runs the tile kernel over (b, h, row tile)
 * on a thread pool. JIT kernels and AOT shared libraries use the same ABI.
 *
 * Split-KV (decode): a kernel whose norm rescales in the online cascade
 * (softmax-like norms) can also run over one chunk of the key tiles and leave
 * its unnormalised per-row state (running max, sums, the [row, D] numerator)
 * in a scratch area, and merge the chunks' states into o and lse afterwards;
 * the launcher does this when there are fewer (b, h, row tile) items than
 * threads (ATTN_ARG_SPLIT and below).
 *
 *===----------------------------------------------------------------------===*/
#ifndef ATTN_KERNEL_H
#define ATTN_KERNEL_H

#include "attn/attn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A runtime scalar of the variant (`param NAME: TYPE [= DEFAULT]`). */
typedef struct attn_param_info {
  const char *name;
  attn_dtype type;      /* ATTN_I32, ATTN_F32, or ATTN_BOOL */
  int32_t has_default;
  double default_value; /* ints and bools are exact */
} attn_param_info;

/* Size names a tensor dimension may refer to. */
enum { ATTN_SIZE_B = 0, ATTN_SIZE_H, ATTN_SIZE_HKV, ATTN_SIZE_SQ, ATTN_SIZE_SKV, ATTN_SIZE_D };

/* An extra tensor of the variant (`tensor NAME: TYPE[DIMS]`). dims[k] >= 0
 * is a literal extent; dims[k] < 0 is -(1 + size) with size an ATTN_SIZE_*. */
typedef struct attn_tensor_info {
  const char *name;
  attn_dtype dtype; /* ATTN_I32 or ATTN_F32 */
  int32_t rank;
  int64_t dims[ATTN_MAX_RANK];
} attn_tensor_info;

/* Everything the runtime needs to know about a compiled variant. */
typedef struct attn_variant_info {
  const char *name;
  attn_dtype input_dtype; /* q, k, v (and o) element type the kernel was built for */
  int32_t num_params;
  const attn_param_info *params;
  int32_t num_tensors;
  const attn_tensor_info *tensors;
  int32_t has_lse;   /* the norm defines a log-sum-exp (softmax norms) */
  int64_t row_tile;  /* the kernel handles at most this many rows per call */
} attn_variant_info;

/* Layout of the argument block (an array of int64 words; pointers stored as
 * integers, strides in elements). */
enum {
  ATTN_ARG_Q = 0, ATTN_ARG_K, ATTN_ARG_V, ATTN_ARG_O, ATTN_ARG_LSE,
  ATTN_ARG_B, ATTN_ARG_H, ATTN_ARG_HKV, ATTN_ARG_SQ, ATTN_ARG_SKV, ATTN_ARG_D,
  ATTN_ARG_QOFFSET,
  ATTN_ARG_Q_STRIDES,                       /* 4 words: b, h, s, d */
  ATTN_ARG_K_STRIDES = ATTN_ARG_Q_STRIDES + 4,
  ATTN_ARG_V_STRIDES = ATTN_ARG_K_STRIDES + 4,
  ATTN_ARG_O_STRIDES = ATTN_ARG_V_STRIDES + 4,
  ATTN_ARG_LSE_STRIDES = ATTN_ARG_O_STRIDES + 4, /* 3 words: b, h, s */
  ATTN_ARG_PARAMS = ATTN_ARG_LSE_STRIDES + 3,    /* const double * (declaration order) */
  ATTN_ARG_TENSORS,                               /* const attn_tensor * (declaration order) */
  ATTN_ARG_SPLIT,      /* what a CPU call does: an ATTN_SPLIT_* (0: whole rows) */
  ATTN_ARG_CHUNK,      /* ATTN_SPLIT_PARTIAL: this call's chunk c, 0 <= c < W */
  ATTN_ARG_NUM_CHUNKS, /* W: chunk c runs key tiles c, c + W, c + 2W, ... */
  ATTN_ARG_PARTIALS,   /* float *: the chunks' states (ATTN_SPLIT_DESCRIBE: int64_t[2]) */
  ATTN_ARG_COUNT
};

/* The word ATTN_ARG_SPLIT of a CPU call. A kernel's state for one row is
 * `floats` f32 (see DESCRIBE); the state of row r of (b, h) from chunk c is
 * at partials + (((b * H + h) * Sq + r) * W + c) * floats. */
enum {
  ATTN_SPLIT_NONE = 0,    /* rows [row0, row0 + nrows): every key tile, write o and lse */
  ATTN_SPLIT_PARTIAL = 1, /* the same rows over chunk ATTN_ARG_CHUNK's key tiles only: write
                             their state to ATTN_ARG_PARTIALS, not o and lse */
  ATTN_SPLIT_MERGE = 2,   /* merge the W chunks' states of the rows, write o and lse */
  ATTN_SPLIT_DESCRIBE = 3 /* touch nothing but ATTN_ARG_PARTIALS, an int64_t[2]: the key tile
                             and `floats` (0: the kernel cannot split); call with nrows = 0 */
};

/* A tile kernel. Returns 0, or ATTN_ERROR_OUT_OF_RANGE when a tensor index
 * was out of range (the offending read returned 0). */
typedef int32_t (*attn_tile_fn)(const int64_t *args, int64_t b, int64_t h,
                                int64_t row0, int64_t nrows);

/* Checks every argument against `info` (null pointers, ranks, shapes, dtypes,
 * H % Hkv, tensor shapes, params; o and lse must not share memory with the
 * inputs or each other, refused where the views' spans show it, docs/api.md)
 * and runs `fn` over all (b, h, row tiles) on
 * `num_threads` threads (0: the number of cores). `params` holds one value per
 * declared param in order, or is null when every param has a default; NaN in
 * a slot means "use the default". `q_offset` < 0 means the default Skv - Sq.
 * `lse` may be null.
 *
 * Split-KV: when B * H * ceil(Sq / row_tile) < num_threads and the kernel can
 * split (ATTN_SPLIT_DESCRIBE), the key tiles of each row tile are cut into W
 * chunks (at least 4 key tiles each) so that every thread has work, and the
 * chunks are merged. The environment variable ATTN_SPLIT_KV overrides the
 * choice: 0 or 1 never splits, N >= 2 splits every call of a kernel that can
 * into min(N, key tiles) chunks (for tests and measurements). */
attn_status attn_cpu_launch(const attn_variant_info *info, attn_tile_fn fn,
                            const attn_tensor *q, const attn_tensor *k,
                            const attn_tensor *v, attn_tensor *o,
                            attn_tensor *lse, const double *params,
                            const attn_tensor *tensors, int64_t q_offset,
                            int32_t num_threads);

/* The number of key chunks W of the calling thread's last successful
 * attn_cpu_launch (1: not split; 0: no launch yet). */
int32_t attn_cpu_last_key_chunks(void);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_KERNEL_H */
