//===- Error.h - runtime-internal error helpers -----------------*- C++ -*-===//
#ifndef ATTNC_RUNTIME_LIB_ERROR_H
#define ATTNC_RUNTIME_LIB_ERROR_H

#include "attn/attn.h"
#include <string>

namespace attn::rt {
/// Records `message` as this thread's last error and returns `status`.
attn_status fail(attn_status status, std::string message);
void clearError();
} // namespace attn::rt

#endif
