//===- Interpreter.h - float64 interpreter of a variant's cascade -*- C++ -*-===//
//
// Executes the `cascade.cascade` inside an `attn.variant` on a Problem, in
// float64, with dense arrays for every fiber: the oracle that every stage of
// the pipeline (canonical, deferred, partitioned, online, split-KV) must
// agree with. Conventions are those of docs/cascade.md.
//
// Decisions (beyond docs/cascade.md):
//  - Every float is a double (f32 constants and f32 param defaults are read
//    through their shortest decimal form, so `0.1 : f32` is the double 0.1);
//    integers are 64-bit and wrap; i1 is 0/1.
//  - Points whose j is past Skv, or whose row is past Sq, are never
//    evaluated (a map's value there is NaN; a reduction skips them). A tile
//    of a partitioned key rank that starts past Skv is skipped the same way
//    in Einsums without `m0` and in iterates (`cur = prev` for that step).
//  - An out-of-range `attn.load` poisons the value instead of failing at
//    once (select/andi/ori only propagate poison from what they use); the
//    call fails, naming the tensor and the index, when a poisoned value
//    reaches a kept reduction point or the output of a row with kept keys.
//    So a bias that reads a tensor only where the mask holds is fine, as in
//    the direct evaluator.
//  - Integer division or remainder by zero gives 0 (never traps).
//  - Large problems run their (b, h) slices on the MLIR context's thread
//    pool (when multithreading is enabled); results do not depend on it.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_INTERPRETER_INTERPRETER_H
#define ATTNC_COMPILER_INTERPRETER_INTERPRETER_H

#include "compiler/reference/Problem.h"

#include "llvm/Support/Error.h"

namespace attn {
class VariantOp;
} // namespace attn

namespace attn::interp {

/// Checks `problem` against the declarations of `variant`: q [B,H,Sq,D],
/// k and v [B,Hkv,Skv,D] with H % Hkv == 0, every `attn.tensor` present with
/// its declared dims (integral values for i32), no undeclared tensor, every
/// param known and integral (i32) or 0/1 (i1), missing ones with a default.
llvm::Error checkProblem(attn::VariantOp variant, const attn::ref::Problem &problem);

/// Runs the `cascade.cascade` of `variant` on `problem` and fills `result`
/// (o [B,H,Sq,D], and lse [B,H,Sq] when the cascade outputs one). Errors: a
/// bad problem, a missing cascade, an op the interpreter does not know (named),
/// an out-of-range tensor read that reaches the output, an unknown rank.
llvm::Error interpretCascade(attn::VariantOp variant, const attn::ref::Problem &problem,
                             attn::ref::Result &result);

} // namespace attn::interp

namespace attn {
using interp::interpretCascade;
} // namespace attn

#endif // ATTNC_COMPILER_INTERPRETER_INTERPRETER_H
