//===- ReferenceKernels.h - hand-written tile kernels for the benchmark -*- C++ -*-===//
//
// fp32 tile kernels written by hand against attn/kernel.h for the four
// benchmark variants of LANGUAGE.md (full, causal, sliding_window, document).
// They stand in for attnc's generated kernels so that the table works before
// those exist, and remain a yardstick afterwards: a 1-pass online softmax with
// 64x64 tiles, mask-aware block skipping and a vectorisable exp.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_BENCH_CPU_REFERENCEKERNELS_H
#define ATTNC_BENCH_CPU_REFERENCEKERNELS_H

#include "bench/cpu/Harness.h"

#include <string>

namespace attn::bench {

/// The hand-written kernel and variant info for `variant` ("full", "causal",
/// "sliding_window" with `param window: i32 = 1024`, "document" with
/// `tensor doc: i32[B, Skv]`); a null fn for any other name.
CpuKernel referenceKernel(const std::string &variant);

} // namespace attn::bench

#endif // ATTNC_BENCH_CPU_REFERENCEKERNELS_H
