//===- PassCount.h - how many passes over K/V a cascade needs ---*- C++ -*-===//
//
// FuseMax §III: a value produced by a reduction over a whole key rank (m, or
// m1 via a full reduction or an iterate's `final`) is complete only after a
// pass over K/V; an Einsum that iterates a key rank and reads such a value
// (directly or through row-level Einsums) runs in a later pass.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_ANALYSIS_PASSCOUNT_H
#define ATTNC_COMPILER_ANALYSIS_PASSCOUNT_H

#include "mlir/Pass/Pass.h"

#include <memory>
#include <string>
#include <vector>

namespace cascade {
class CascadeOp;

/// The pass in which one Einsum (or iterate) of a cascade runs.
struct EinsumPass {
  /// The Einsum's name (`QK`, `GM`, `RM`...).
  std::string name;
  /// 1-based pass over K/V; 0 for a row-level Einsum (no key rank in its
  /// iteration space), which runs between passes and does not count.
  unsigned pass = 0;
};

/// The result of the pass-count analysis of one cascade.
struct PassInfo {
  /// The largest pass of any Einsum iterating a key rank (0 if none does).
  unsigned numPasses = 0;
  /// One line per pass boundary, e.g. `pass 2: SN reads GM, which needs a
  /// full pass over m (max over m)`.
  std::vector<std::string> reasons;
  /// Every Einsum and iterate, in program order, with its pass.
  std::vector<EinsumPass> einsums;
};

/// Computes the pass count of `cascade` (docs/cascade.md, "Pass count").
PassInfo computePassCount(CascadeOp cascade);

/// Prints `info` as `N passes` followed by one line per pass listing its
/// Einsums, each boundary's reason, and the row-level Einsums.
void printPassInfo(const PassInfo &info, llvm::raw_ostream &os,
                   llvm::StringRef indent = "");

#define GEN_PASS_DECL
#include "compiler/Analysis/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "compiler/Analysis/Passes.h.inc"
} // namespace cascade

#endif
