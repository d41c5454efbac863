//===- DirectEval.h - float64 oracle straight from the AST ------*- C++ -*-===//
//
// Evaluates a checked `ast::Variant` on a `Problem` by following
// LANGUAGE.md's semantics literally, in float64, with naive loops: for every
// (b, h, row) and every key j it evaluates score, bias and mask, applies the
// norm over the kept keys and accumulates w * v. It shares no code with the
// attn/cascade dialects or their interpreter, so that it can judge them.
//
// Decisions where LANGUAGE.md is silent (also in docs/language.md):
//  - Integer arithmetic is 64-bit and wraps; `/` and `%` floor like Python;
//    integer x / 0 and x % 0 are 0. Float `%` has the sign of the divisor.
//  - `&&`, `||`, `?:` and `select` evaluate only what they need, so a
//    tensor read in a branch not taken is never checked.
//  - score and bias are evaluated only for kept pairs (mask first).
//  - A row with no kept key gives zeros and lse = -inf, with or without a
//    sink; so does a softmax row whose kept scores (and sink) are all -inf.
//  - lse exists only for `softmax` norms (the default and `softmax(sink=)`).
//  - Expressions take Sema's `type` where it is set (an Int result is
//    converted to Float if Sema typed the node Float); names Sema left
//    unresolved are resolved here by name, so hand-built ASTs work too.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_REFERENCE_DIRECTEVAL_H
#define ATTNC_COMPILER_REFERENCE_DIRECTEVAL_H

#include "compiler/reference/Problem.h"
#include "frontend/AST.h"

#include <optional>
#include <string>

namespace attn::ref {

/// Checks `problem` against `variant` without evaluating anything: q/k/v
/// ranks and shapes (q [B,H,Sq,D], k and v [B,Hkv,Skv,D], H % Hkv == 0),
/// every declared tensor present with its declared shape (and integral values
/// for i32, 0/1 for bool), no undeclared tensor, every param known, of the
/// right type, and given unless it has a default. Returns an error message.
std::optional<std::string> checkProblem(const ast::Variant &variant,
                                        const Problem &problem);

/// Evaluates `variant` on `problem` into `result` (o, and lse for softmax
/// norms). Returns an error message on a bad problem (see checkProblem) or a
/// runtime error (a tensor index out of range, ...); `result` is then
/// unspecified. Errors inside expressions start with "LINE:COL: ".
std::optional<std::string> evaluateDirect(const ast::Variant &variant,
                                          const Problem &problem,
                                          Result &result);

} // namespace attn::ref

#endif // ATTNC_COMPILER_REFERENCE_DIRECTEVAL_H
