//===- Status.cpp - status codes and per-thread error messages ------------===//
#include "attn/attn.h"
#include "runtime/lib/Error.h"

#include <string>

namespace {
thread_local std::string lastError;
} // namespace

namespace attn::rt {
attn_status fail(attn_status status, std::string message) {
  lastError = std::move(message);
  return status;
}
void clearError() { lastError.clear(); }
} // namespace attn::rt

extern "C" const char *attn_status_string(attn_status status) {
  switch (status) {
  case ATTN_OK: return "ok";
  case ATTN_ERROR_INVALID_ARGUMENT: return "invalid argument";
  case ATTN_ERROR_OUT_OF_RANGE: return "index out of range";
  case ATTN_ERROR_IO: return "i/o error";
  case ATTN_ERROR_UNSUPPORTED: return "unsupported";
  case ATTN_ERROR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

extern "C" const char *attn_last_error(void) { return lastError.c_str(); }

extern "C" size_t attn_dtype_size(attn_dtype dtype) {
  switch (dtype) {
  case ATTN_F32: case ATTN_I32: return 4;
  case ATTN_F16: case ATTN_BF16: return 2;
  case ATTN_F64: return 8;
  case ATTN_BOOL: return 1;
  }
  return 0;
}
