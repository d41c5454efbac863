/*===- attn/gpu.h - running attnc's GPU kernels (CUDA driver API) ---------===*
 *
 * libattnrt loads the CUDA driver itself (dlopen("libcuda.so.1") at first
 * use; it never links libcuda), so a program built with the GPU entry points
 * runs on machines without a GPU and gets ATTN_ERROR_UNSUPPORTED with a
 * message (attn_last_error) saying why.
 *
 * A GPU kernel of a variant (cubin, `attn_<variant>_<dtype>_gpu`) takes ONE
 * kernel parameter: the device address of an int64 argument block with the
 * layout of attn/kernel.h (ATTN_ARG_Q .. ATTN_ARG_TENSORS) plus one word,
 * ATTN_ARG_GPU_ERROR. On the GPU every pointer in the block is a device
 * address: q/k/v/o/lse data, the params (a device array of double, one per
 * declared param, defaults filled in) and the extra tensors (a device array of
 * attn_tensor whose `data` are device addresses). ATTN_ARG_GPU_ERROR holds the
 * device address of 16 bytes that the launcher zeroes before the launch: an
 * int32 flag into which the kernel atomically ORs ATTN_ERROR_OUT_OF_RANGE when
 * a tensor index is out of range, and at ATTN_GPU_TICKETS_OFFSET a persistent
 * producer kernel's two uint32 counters (ATTN_GPU_ABI_PERSISTENT_PRODUCER).
 *
 * A cubin may also hold tensor-core kernels of the same variant and dtype,
 * `attn_<variant>_<dtype>_gpu_d<N>` for head-dimension tiers N (32, 64, 128,
 * 256), each handling D <= N. attn_gpu_launch, given the base name, runs the
 * one of the smallest tier >= D when the module has it (set the environment
 * variable ATTN_GPU_KERNEL=rows to force the row kernel), else the base one.
 * The tensor-core kernels compute masks and biases on 32-bit indices: they
 * run only when Skv and q_offset + Sq are at most ATTN_GPU_MAX_INDEX and
 * q_offset (after the -1 default) at least -ATTN_GPU_MAX_INDEX; other calls
 * run the row kernel.
 *
 * Launch geometry: the row kernel (the base name) has one thread per output
 * row (b, h, row), B*H*Sq threads in a 1-D grid of ATTN_GPU_BLOCK_SIZE-thread
 * blocks; it derives (b, h, row) from its global id (id = (b*H + h)*Sq + row)
 * and returns when the id is out of range. A tensor-core kernel has blocks of
 * ATTN_GPU_MMA_BLOCK_SIZE threads (8 warps, two warpgroups) that each own
 * ATTN_GPU_MMA_ROWS_PER_BLOCK query rows of one (b, h): grid
 * (ceil(Sq / ATTN_GPU_MMA_ROWS_PER_BLOCK), H, B), and
 * attn_gpu_mma_smem_bytes(N, ATTN_GPU_MMA_STAGES) bytes (three stages in a module of
 * ATTN_GPU_ABI_THREE_STAGES) of dynamic shared memory (more than the
 * default 48 KiB: the launcher raises the function's
 * CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES).
 *
 * Split-KV (decode): next to a tensor-core kernel, `..._d<N>_split` runs one
 * chunk of the key tiles per block (chunk c of W: tiles c, c + W, ...; blocks
 * of ATTN_GPU_SPLIT_BLOCK_SIZE threads owning ATTN_GPU_SPLIT_ROWS_PER_BLOCK
 * rows, which are (query i, head g) pairs of one KV head's group of
 * G = H / Hkv query heads, row = i * G + g, so that the group reads K and V
 * once: grid (ceil(Sq * G / ATTN_GPU_SPLIT_ROWS_PER_BLOCK), Hkv, B * W), W in
 * ATTN_ARG_NUM_CHUNKS; key tiles of attn_gpu_split_key_tile(N) keys;
 * attn_gpu_split_smem_bytes(N) bytes of dynamic shared memory) and leaves
 * each row's iterate states in a
 * scratch area (ATTN_ARG_PARTIALS, the state of (b, h, row, chunk c) at
 * (((b * H + h) * Sq + row) * W + c) * (ATTN_GPU_SPLIT_ROW_SLOTS +
 * ATTN_GPU_SPLIT_O_ITERATES * N) floats), and `..._d<N>_merge` (one thread
 * per output element (b, h, row, f < N) of a 1-D grid of
 * ATTN_GPU_BLOCK_SIZE-thread blocks) merges them into o and lse. The launcher
 * splits when one launch's blocks do not fill the GPU twice or Sq <= 16
 * (decode), into as many chunks as keep at most 4 split blocks per SM;
 * ATTN_SPLIT_KV=N forces N chunks, 0 or 1 none. docs/gpu.md has the details.
 *
 * Tensor maps: a tensor-core kernel of a tier that is a multiple of 64 (not
 * its split kernel) loads K and V tiles with the tensor copy engine (TMA)
 * when ATTN_ARG_K_TMAP and ATTN_ARG_V_TMAP hold the device addresses of tiled
 * tensor maps of K and V: 16-bit elements, 4 dimensions (D, Skv, Hkv, B)
 * innermost first, box (64, attn_gpu_mma_key_tile(N), 1, 1), 128-byte swizzle,
 * zero fill out of bounds. The launcher encodes them in the argument block
 * when the views allow (16-byte aligned data, unit element stride, the other
 * strides multiples of 8 elements) unless the variable ATTN_GPU_TMA is 0;
 * else the words are 0 and every thread copies with cp.async. With them,
 * ATTN_ARG_Q_TMAP holds Q's (D, Sq, H, B) map of box (64, 64, 1, 1), 128-byte
 * swizzle, zero fill, when Q's view allows one (else 0): a kernel of
 * ATTN_GPU_ABI_PRODUCER then loads each consumer warpgroup's 64 query rows
 * with it (else with cp.async).
 *
 * Tile classes: when the mask of a variant reads an extra tensor (document
 * masks), interval arithmetic cannot class its tiles, and a tensor-core
 * kernel (not its split kernel) reads them from a table that
 * `..._d<N>_classes` (or `..._d<N>_classes_h` when the mask reads h) writes
 * first on the same stream:
 * grid (ceil(Skv / attn_gpu_mma_key_tile(N)), ceil(Sq / ATTN_GPU_MMA_ROWS_PER_BLOCK), B),
 * ATTN_GPU_CLASSES_BLOCK_SIZE threads, no shared memory. ATTN_ARG_TILE_CLASSES
 * is the device address of the table, one byte per (b, h, query tile, key
 * tile) at ((b * H + h) * nQ + qt) * nK + kt for `_classes_h`, per (b, query
 * tile, key tile) at (b * nQ + qt) * nK + kt for `_classes` (nQ, nK the
 * grid's y and x extents above): 0 no point of the tile is kept, 2 every
 * point of it in range is, 1 some.
 *
 * Every function returns an attn_status; CUDA errors carry the driver's
 * error name and string in attn_last_error(). All functions are thread-safe.
 *
 *===----------------------------------------------------------------------===*/
#ifndef ATTN_GPU_H
#define ATTN_GPU_H

#include "attn/kernel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The GPU argument block: kernel.h's words plus the error flag's address. */
enum {
  ATTN_ARG_GPU_ERROR = ATTN_ARG_COUNT, /* int32_t * (device) error flag, zeroed per launch */
  ATTN_ARG_K_TMAP, /* const CUtensorMap * (device, 64-byte aligned) of K, or 0 (see below) */
  ATTN_ARG_V_TMAP, /* ... of V; set together with ATTN_ARG_K_TMAP */
  ATTN_ARG_TILE_CLASSES, /* uint8_t * (device): the tile classes (see above), or 0 */
  ATTN_ARG_Q_TMAP, /* const CUtensorMap * (device) of Q, or 0: read by ATTN_GPU_ABI_PRODUCER's kernels */
  ATTN_GPU_ARG_COUNT
};

/* Threads per block of every attnc GPU kernel launch. */
#define ATTN_GPU_BLOCK_SIZE 128
/* The largest Skv and |q_offset|, q_offset + Sq of a call the tensor-core
 * kernels run (2^29 - 2^16: every index, padding rows and keys of a tile
 * included, lies in [0, 2^29) or, for query positions, [-2^29, 2^29), so a
 * query position minus a key plus a tile offset fits in 32 bits; session 10,
 * 2^30 - 2^16 before). */
#define ATTN_GPU_MAX_INDEX ((1LL << 29) - (1LL << 16))
/* Threads per block and query rows per block of the tensor-core kernels. */
#define ATTN_GPU_MMA_BLOCK_SIZE 256
#define ATTN_GPU_MMA_ROWS_PER_BLOCK 128
/* Shared-memory stages of K / V tiles: the tensor-core kernel loads the next
 * key tile while it computes one (every thread is done with a stage before
 * it is loaded again, so the two warpgroups stay within a tile of each
 * other); a split kernel has one stage. A module of ABI
 * ATTN_GPU_ABI_THREE_STAGES (attnc --gpu-overlap: the PV of a tile runs
 * during the next tile's softmax, so its V stays in its stage longer) has
 * three unpadded stages instead. */
#define ATTN_GPU_MMA_STAGES 2
#define ATTN_GPU_MMA_OVERLAP_STAGES 3
#define ATTN_GPU_SPLIT_STAGES 1
/* Split-KV state of one (row, chunk): ATTN_GPU_SPLIT_ROW_SLOTS floats for the
 * row iterates, then N (the tier) per [row, D] iterate, at most
 * ATTN_GPU_SPLIT_O_ITERATES of them. */
#define ATTN_GPU_SPLIT_ROW_SLOTS 4
/* A split kernel's blocks: one warp, 16 query rows. */
#define ATTN_GPU_SPLIT_BLOCK_SIZE 32
#define ATTN_GPU_SPLIT_ROWS_PER_BLOCK 16
#define ATTN_GPU_SPLIT_O_ITERATES 2
/* Threads per block of a `_classes` kernel. */
#define ATTN_GPU_CLASSES_BLOCK_SIZE 256

/* The GPU ABI of attnc's tensor-core kernels (the geometry below: key tiles,
 * stages, shared memory, the argument block's words). Every cubin attnc
 * writes holds `.visible .global .u32 attn_gpu_abi_version` with this value;
 * attn_gpu_launch runs a module's tensor-core kernels (`_d<N>`) only when the
 * module's value is this one, and otherwise fails with ATTN_ERROR_UNSUPPORTED
 * naming both (a module without the symbol counts as version 1: built before
 * the marker, with 64-key tiles). Row kernels (the base name) run whatever
 * the marker. 2: 128-key tiles up to tier 128 (session 7); 3: 32-bit
 * indices, ATTN_GPU_MAX_INDEX (session 8); 4: seeds of [0, 2^29) and
 * [-2^29, 2^29), ATTN_GPU_MAX_INDEX 2^29 - 2^16 (session 10). The launcher also runs
 * modules of ATTN_GPU_ABI_THREE_STAGES: ABI 4's geometry with three unpadded
 * K / V stages (attn_gpu_mma_smem_bytes(N, 3); session 11). */
#define ATTN_GPU_ABI_VERSION 4
#define ATTN_GPU_ABI_THREE_STAGES 5
/* ABI 4's geometry with persistent tensor-core kernels (attnc
 * --gpu-persistent): grid (min(items, SMs), 1, 1) of the items (b, h, query
 * tile), which each block takes in rounds (item i is query tile
 * ceil(Sq / 128) - 1 - i / (H B) of b * H + h = i % (H B); block p of G takes
 * r G + p in even rounds r, r G + G - 1 - p in odd ones), and two Q buffers:
 * attn_gpu_mma_persistent_smem_bytes(N) bytes of shared memory. Split,
 * merge and classes kernels keep their grids. */
#define ATTN_GPU_ABI_PERSISTENT 6
/* ABI 4's geometry (two K / V stages, attn_gpu_mma_smem_bytes(N, 2)) with
 * blocks of ATTN_GPU_MMA_PRODUCER_BLOCK_SIZE threads (attnc --gpu-producer):
 * warpgroups 0 and 1 compute the block's 128 rows as in ABI 4, warpgroup 2
 * loads the K / V tiles (FlashAttention-3's producer warpgroup) and, through
 * ATTN_ARG_Q_TMAP, Q; two more 8-byte barriers (Q's, one per consumer
 * warpgroup) after the stages' make attn_gpu_mma_producer_smem_bytes(N)
 * (7 before session 19: no Q tensor map, no Q barriers). */
#define ATTN_GPU_ABI_PRODUCER 8
#define ATTN_GPU_MMA_PRODUCER_BLOCK_SIZE 384
/* ATTN_GPU_ABI_PRODUCER's blocks made persistent (attnc
 * --gpu-persistent, by default where the producer is):
 * ATTN_GPU_ABI_PERSISTENT's grid, two Q buffers, and after the stages' barriers eight more
 * 8-byte words (each Q buffer's full barriers, one per consumer warpgroup, then each buffer's
 * empty barrier, then each buffer's item slot): attn_gpu_mma_persistent_producer_smem_bytes(N).
 * The items are taken, not dealt: in each round a block's producer warpgroup takes the next
 * ticket of the counter at ATTN_GPU_TICKETS_OFFSET (zero at the launch's start), ticket t being
 * item t in groups of (b, h) pairs whose K and V fit 24 MB of L2, each group's items heaviest
 * query tile first; a block that takes a ticket past the last item counts itself in the second
 * counter, and the last block to do so sets both back to zero, so that launches enqueued again
 * without a new argument block (CUDA graphs, timing loops) start from zero too. The producer
 * loads each item's Q into buffer r % 2 of round r (TMA when ATTN_ARG_K_TMAP, ATTN_ARG_V_TMAP and
 * ATTN_ARG_Q_TMAP are all set, else cp.async) and its K / V tiles, so the next item's Q and
 * first tiles load during the current one. (9 before session 20: items dealt as ABI 6's.) */
#define ATTN_GPU_ABI_PERSISTENT_PRODUCER 10
#define ATTN_GPU_TICKETS_OFFSET 8
/* ATTN_GPU_ABI_PERSISTENT_PRODUCER with a full and an empty barrier for each stage's V tile
 * apart from its K tile's (attnc --gpu-paired-mma, by default with the ping-pong: a tile's PV
 * runs in the next tile's turn, so its V is released a tile after its K): four more 8-byte
 * words after the item slots (V's full barriers, then V's empty ones, per stage):
 * attn_gpu_mma_paired_smem_bytes(N). */
#define ATTN_GPU_ABI_PAIRED 11

/* Head-dimension tiers of the tensor-core kernels (`_d<N>`): N a multiple of
 * ATTN_GPU_TIER_STEP up to ATTN_GPU_MAX_TIER (attnc --gpu-head-dims). A call
 * of head dimension D runs the smallest tier >= D that the module holds; a D
 * above every tier runs the row kernel. */
#define ATTN_GPU_TIER_STEP 32
#define ATTN_GPU_MAX_TIER 256
static inline int attn_gpu_is_tier(int64_t n) {
  return n > 0 && n % ATTN_GPU_TIER_STEP == 0 && n <= ATTN_GPU_MAX_TIER;
}
/* The tier a call of head dimension D runs when the module holds the `n`
 * tiers `tiers`: the smallest one >= D, or 0 (the row kernel) when none is. */
static inline int64_t attn_gpu_tier_for(int64_t D, const int64_t *tiers, size_t n) {
  int64_t best = 0;
  for (size_t i = 0; i < n; ++i)
    if (tiers[i] >= D && attn_gpu_is_tier(tiers[i]) && (best == 0 || tiers[i] < best))
      best = tiers[i];
  return best;
}

/* Keys per tile of a tensor-core kernel of head-dimension tier `tier` (and of
 * its tile-class table): 128 up to tier 128 (session 7: +23-37% over 64 on an
 * H100, the per-tile work of the softmax, its shuffles and the MMA issue
 * amortised over twice the keys), 32 above (registers). */
static inline int64_t attn_gpu_mma_key_tile(int64_t tier) { return tier > 128 ? 32 : 128; }
/* Keys per tile of a split-KV kernel (`_split`, one warp per block). */
static inline int64_t attn_gpu_split_key_tile(int64_t tier) { return tier > 128 ? 32 : 64; }

/* Bytes of one K or V tile of `keys` keys in shared memory: keys x tier
 * elements of 2 bytes, rows padded by 8 elements when `padded` (the ldmatrix
 * reads of the mma.sync kernels), rounded up to 1024 bytes (the alignment of
 * a 128-byte-swizzled wgmma operand). */
static inline int64_t attn_gpu_tile_bytes(int64_t keys, int64_t tier, int padded) {
  return (keys * (tier + (padded ? 8 : 0)) * 2 + 1023) / 1024 * 1024;
}

/* Dynamic shared memory of a kernel with `keys`-key tiles of tier `tier`:
 * `stages` stages of a K and a V tile, then the block's `qRows` query rows
 * (tier elements each; the Q operand of the warpgroup MMAs), then two 8-byte
 * barriers per stage (at attn_gpu_barrier_offset from the aligned start: the
 * full ones, then the empty ones); plus 1024 bytes to align the start. */
static inline int64_t attn_gpu_barrier_offset(int64_t keys, int64_t tier, int64_t stages,
                                              int64_t qRows, int padded) {
  return stages * 2 * attn_gpu_tile_bytes(keys, tier, padded) + qRows * tier * 2;
}
static inline int64_t attn_gpu_smem_bytes(int64_t keys, int64_t tier, int64_t stages,
                                          int64_t qRows, int padded) {
  return attn_gpu_barrier_offset(keys, tier, stages, qRows, padded) + stages * 16 + 1024;
}
/* ... of a tensor-core kernel (`_d<N>`) of `stages` stages (ATTN_GPU_MMA_STAGES
 * padded ones, or ATTN_GPU_MMA_OVERLAP_STAGES unpadded ones in a module of
 * ATTN_GPU_ABI_THREE_STAGES)
 * and of a split kernel (`_d<N>_split`, mma.sync: padded rows). */
static inline int64_t attn_gpu_mma_smem_bytes(int64_t tier, int64_t stages) {
  return attn_gpu_smem_bytes(attn_gpu_mma_key_tile(tier), tier, stages,
                             ATTN_GPU_MMA_ROWS_PER_BLOCK, stages < ATTN_GPU_MMA_OVERLAP_STAGES);
}
static inline int64_t attn_gpu_mma_producer_smem_bytes(int64_t tier) {
  return attn_gpu_mma_smem_bytes(tier, ATTN_GPU_MMA_STAGES) + 16;
}
static inline int64_t attn_gpu_mma_persistent_smem_bytes(int64_t tier) {
  return attn_gpu_smem_bytes(attn_gpu_mma_key_tile(tier), tier, ATTN_GPU_MMA_STAGES,
                             2 * ATTN_GPU_MMA_ROWS_PER_BLOCK, 1);
}
static inline int64_t attn_gpu_mma_persistent_producer_smem_bytes(int64_t tier) {
  return attn_gpu_mma_persistent_smem_bytes(tier) + 8 * 8;
}
static inline int64_t attn_gpu_mma_paired_smem_bytes(int64_t tier) {
  return attn_gpu_mma_persistent_producer_smem_bytes(tier) + 2 * ATTN_GPU_MMA_STAGES * 8;
}
static inline int64_t attn_gpu_split_smem_bytes(int64_t tier) {
  return attn_gpu_smem_bytes(attn_gpu_split_key_tile(tier), tier, ATTN_GPU_SPLIT_STAGES, 0, 1);
}

/* A loaded cubin (CUmodule) in one CUDA context. */
typedef struct attn_gpu_module attn_gpu_module;

/* The device the runtime uses (the current context's, else ATTN_GPU_DEVICE
 * or device 0). */
typedef struct attn_gpu_device_info {
  char name[256];
  int32_t ordinal;
  int32_t cc_major, cc_minor;   /* compute capability: 9.0 for H100/H200 */
  int32_t sm_count;
  int32_t driver_version;       /* CUDA version of the driver, e.g. 13000 */
  uint64_t total_memory;        /* bytes */
} attn_gpu_device_info;

/* ATTN_OK when the driver loads and sees a device, else
 * ATTN_ERROR_UNSUPPORTED with the reason in attn_last_error(): no driver
 * (libcuda.so.1 not found), driver too old, or no device. Never crashes. */
attn_status attn_gpu_available(void);

/* Describes the device the runtime uses. */
attn_status attn_gpu_device_properties(attn_gpu_device_info *out);

/* Loads a cubin (or PTX / fatbin) image with cuModuleLoadData into the
 * current CUDA context; when no context is current, the primary context of
 * device ATTN_GPU_DEVICE (default 0) is retained and made current on this
 * thread. Loads are cached per context on (image address, size): loading the
 * same image again returns the same module (reference counted) at no cost, so
 * the image must stay alive and unchanged while it is loaded. */
attn_status attn_gpu_module_load(const void *image, size_t size, attn_gpu_module **out);

/* Drops one reference; the module is unloaded with its last. Null is a no-op. */
attn_status attn_gpu_module_unload(attn_gpu_module *module);

/* Runs kernel `kernel` of `module` on device tensors. Checks every argument
 * as attn_cpu_launch does (null pointers, ranks, shapes, dtypes, H % Hkv,
 * extra tensors, params, strides) before any CUDA call, then that every view
 * lies inside a device allocation, builds the argument block, copies it (with
 * the params and the attn_tensor array) to device memory on `stream`
 * (a CUstream; null: the default stream), launches, and waits for the kernel
 * to read back its error flag: ATTN_ERROR_OUT_OF_RANGE when an index was out
 * of range. `params`, `tensors`, `q_offset`: as attn_cpu_launch (host arrays;
 * the tensors' data are device addresses). */
attn_status attn_gpu_launch(const attn_variant_info *info, attn_gpu_module *module,
                            const char *kernel, const attn_tensor *q,
                            const attn_tensor *k, const attn_tensor *v,
                            attn_tensor *o, attn_tensor *lse, const double *params,
                            const attn_tensor *tensors, int64_t q_offset,
                            void *stream);

/* Times `reps` launches (after `warmup` untimed ones) of the same call with
 * CUDA events around each launch, all on `stream`; the argument block is
 * copied once. Writes the per-launch milliseconds to `times_ms` (reps
 * entries; may be null) and their median to `*median_ms`. Returns
 * ATTN_ERROR_OUT_OF_RANGE if any launch flagged an out-of-range index. */
attn_status attn_gpu_time_launches(const attn_variant_info *info, attn_gpu_module *module,
                                   const char *kernel, const attn_tensor *q,
                                   const attn_tensor *k, const attn_tensor *v,
                                   attn_tensor *o, attn_tensor *lse, const double *params,
                                   const attn_tensor *tensors, int64_t q_offset,
                                   void *stream, int32_t warmup, int32_t reps,
                                   float *times_ms, double *median_ms);

/* A mask's tile-class table kept by the caller across calls, as
 * FlexAttention's BlockMask is: the classes of a mask that reads tensors
 * (document ids) depend on the call's sizes, q_offset, params and the
 * tensors' contents, which a model keeps for many calls (every layer of one
 * batch). attn_gpu_launch computes them in every call (its `_classes`
 * kernel); with a table the call skips that kernel when `filled_for` is the
 * call's fingerprint (the table's address, the module and kernel, the
 * sizes, q_offset, the params and the extra tensors' views: addresses,
 * shapes, strides), and otherwise fills the table and sets `filled_for`.
 * The fingerprint cannot see the tensors' contents: set `filled_for` to 0
 * when they change. A table must not serve two calls at once. */
typedef struct attn_gpu_class_table {
  void *data;          /* device memory of `bytes` bytes */
  size_t bytes;        /* at least attn_gpu_class_table_bytes of the calls */
  uint64_t filled_for; /* 0: holds nothing; else set by the launcher */
} attn_gpu_class_table;

/* The bytes of the class table a call (arguments as attn_gpu_launch) uses:
 * 0 when it runs a kernel without one (the row kernel, split-KV, a mask that
 * reads no tensor). Checks the call as attn_gpu_launch does; launches nothing. */
attn_status attn_gpu_class_table_bytes(const attn_variant_info *info, attn_gpu_module *module,
                                       const char *kernel, const attn_tensor *q,
                                       const attn_tensor *k, const attn_tensor *v,
                                       const attn_tensor *o, const attn_tensor *lse,
                                       const double *params, const attn_tensor *tensors,
                                       int64_t q_offset, size_t *bytes);

/* attn_gpu_launch with the caller's class table (above; null: none). A table
 * smaller than the call needs, not in device memory, or inside the span of
 * a tensor of the call is ATTN_ERROR_INVALID_ARGUMENT; a call that uses no table ignores it. */
attn_status attn_gpu_launch_with_table(const attn_variant_info *info, attn_gpu_module *module,
                                       const char *kernel, const attn_tensor *q,
                                       const attn_tensor *k, const attn_tensor *v,
                                       attn_tensor *o, attn_tensor *lse, const double *params,
                                       const attn_tensor *tensors, int64_t q_offset,
                                       attn_gpu_class_table *table, void *stream);

/* attn_gpu_time_launches with the caller's class table: the first launch
 * (a warm-up one when warmup > 0) fills it unless it already holds this
 * call's classes, the others read it. */
attn_status attn_gpu_time_launches_with_table(
    const attn_variant_info *info, attn_gpu_module *module, const char *kernel,
    const attn_tensor *q, const attn_tensor *k, const attn_tensor *v, attn_tensor *o,
    attn_tensor *lse, const double *params, const attn_tensor *tensors, int64_t q_offset,
    attn_gpu_class_table *table, void *stream, int32_t warmup, int32_t reps, float *times_ms,
    double *median_ms);

/* Device memory in the current context (primary context of ATTN_GPU_DEVICE
 * when none is current). attn_gpu_alloc of 0 bytes gives null; freeing null
 * is a no-op. The copies are synchronous. */
attn_status attn_gpu_alloc(size_t bytes, void **out);
attn_status attn_gpu_free(void *device_ptr);
attn_status attn_gpu_copy_to_device(void *device_dst, const void *host_src, size_t bytes);
attn_status attn_gpu_copy_to_host(void *host_dst, const void *device_src, size_t bytes);

/* Waits for all work of the current context (cuCtxSynchronize). */
attn_status attn_gpu_synchronize(void);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_GPU_H */
