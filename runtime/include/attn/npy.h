/*===- attn/npy.h - NumPy .npy file I/O (C ABI) ---------------------------===*
 *
 * Reads and writes NumPy `.npy` files (format versions 1.0, 2.0 and 3.0),
 * C order only. Supported element types and their `descr`:
 *
 *   ATTN_F32  '<f4'     ATTN_F64  '<f8'     ATTN_I32  '<i4'
 *   ATTN_F16  '<f2'     ATTN_BF16 '<u2'  (see below)
 *   ATTN_BOOL '|b1'     (NumPy bool, one byte; read as 0/1)
 *
 * bfloat16: NumPy has no bf16 dtype, and NumPy's reader rejects any header
 * key besides descr/fortran_order/shape. attnc therefore stores a bf16 array
 * as its raw 16-bit patterns with descr '<u2' (uint16), which every NumPy
 * reads; `np.load(p).view(ml_dtypes.bfloat16)` recovers the values, and
 * `x.astype(ml_dtypes.bfloat16).view(np.uint16)` writes one. Consequently a
 * '<u2' file is always read as bf16.
 *
 * Big-endian files ('>f4', ...) are read and byte-swapped; '=' (native) is
 * read as little-endian, the byte order of every supported host. Files are always written little-endian, version 1.0 unless the
 * header needs more than 65535 bytes (then 2.0), with the data 64-byte aligned
 * as NumPy does.
 *
 * Every function returns an attn_status and, on failure, sets the message
 * returned by attn_last_error(). Malformed files never crash the reader.
 *
 *===----------------------------------------------------------------------===*/
#ifndef ATTN_NPY_H
#define ATTN_NPY_H

#include "attn/attn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest array the reader accepts, in bytes (16 GiB). */
#define ATTN_NPY_MAX_BYTES ((uint64_t)1 << 34)

/* A dense C-order array. `data` is owned by the struct after a successful
 * attn_npy_read, attn_npy_read_buffer or attn_npy_alloc and must be released with attn_npy_free. */
typedef struct attn_npy_array {
  attn_dtype dtype;
  int32_t rank;                 /* 0 .. ATTN_MAX_RANK */
  int64_t shape[ATTN_MAX_RANK];
  void *data;
  size_t nbytes;                /* number of elements * attn_dtype_size(dtype) */
} attn_npy_array;

/* Reads the .npy file at `path` into `*out` (zero-initialised on failure).
 * Errors: ATTN_ERROR_IO (cannot open/read), ATTN_ERROR_INVALID_ARGUMENT
 * (bad magic, malformed header, truncated data, too-large or negative shape,
 * rank > ATTN_MAX_RANK), ATTN_ERROR_UNSUPPORTED (dtype, Fortran order,
 * unknown format version). */
attn_status attn_npy_read(const char *path, attn_npy_array *out);

/* As attn_npy_read, from the `size` bytes of a whole file held in memory. */
attn_status attn_npy_read_buffer(const void *bytes, size_t size,
                                 attn_npy_array *out);

/* Writes `array` (C order) to `path`, replacing any file there. */
attn_status attn_npy_write(const char *path, const attn_npy_array *array);

/* Allocates a zero-filled array of `dtype` and `shape` into `*out`. */
attn_status attn_npy_alloc(attn_dtype dtype, int32_t rank,
                           const int64_t *shape, attn_npy_array *out);

/* Frees the data of `array` (if any) and zeroes it. Accepts NULL. */
void attn_npy_free(attn_npy_array *array);

/* Number of elements of `array` (product of its shape; 1 for rank 0). */
int64_t attn_npy_num_elements(const attn_npy_array *array);

/* Converts every element of `array` to double into `out` (numElements long). */
attn_status attn_npy_to_f64(const attn_npy_array *array, double *out);

/* Converts `count` doubles into the elements of `array` (which must hold
 * `count` elements), rounding to nearest even for f32/f16/bf16 and to the
 * nearest integer (saturating) for i32. */
attn_status attn_npy_from_f64(attn_npy_array *array, const double *in,
                              int64_t count);

/* The .npy descr of `dtype` ('<f4', ..., '<u2' for bf16), or NULL. */
const char *attn_npy_descr(attn_dtype dtype);

/* The inverse of attn_dtype_name (attn/attn.h): returns 0 and sets *out on
 * success, nonzero for an unknown name. */
int attn_dtype_from_name(const char *name, attn_dtype *out);

/* IEEE half and bfloat16 conversions (round to nearest even; NaN kept). */
float attn_f16_to_f32(uint16_t bits);
uint16_t attn_f32_to_f16(float value);
float attn_bf16_to_f32(uint16_t bits);
uint16_t attn_f32_to_bf16(float value);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_NPY_H */
