/*===- attn/attn.h - attnc runtime C ABI ----------------------------------===*
 *
 * The plain C interface of libattnrt: tensor views, status codes and error
 * messages. Every function returns an attn_status; nothing aborts on bad input.
 *
 *===----------------------------------------------------------------------===*/
#ifndef ATTN_ATTN_H
#define ATTN_ATTN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum attn_status {
  ATTN_OK = 0,
  ATTN_ERROR_INVALID_ARGUMENT = 1, /* null pointer, bad shape, bad dtype, bad param */
  ATTN_ERROR_OUT_OF_RANGE = 2,     /* a tensor index out of range at run time */
  ATTN_ERROR_IO = 3,               /* file could not be read or written */
  ATTN_ERROR_UNSUPPORTED = 4,      /* valid request this build or device cannot do */
  ATTN_ERROR_INTERNAL = 5
} attn_status;

typedef enum attn_dtype {
  ATTN_F32 = 0,
  ATTN_F16 = 1,
  ATTN_BF16 = 2,
  ATTN_F64 = 3,
  ATTN_I32 = 4,
  ATTN_BOOL = 5 /* params only */
} attn_dtype;

#define ATTN_MAX_RANK 8

/* A strided view of memory owned by the caller. Strides are in elements. */
typedef struct attn_tensor {
  void *data;
  attn_dtype dtype;
  int32_t rank;
  int64_t shape[ATTN_MAX_RANK];
  int64_t strides[ATTN_MAX_RANK];
} attn_tensor;

/* Human-readable name of a status. */
const char *attn_status_string(attn_status status);

/* The message of the last error on this thread ("" if none). */
const char *attn_last_error(void);

/* Size in bytes of one element of `dtype` (0 if unknown). */
size_t attn_dtype_size(attn_dtype dtype);

/* The dtype as the language and the tools spell it: "f32" "f64" "f16" "bf16"
 * "i32" "bool"; "unknown" for a value outside attn_dtype. */
const char *attn_dtype_name(attn_dtype dtype);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_ATTN_H */
