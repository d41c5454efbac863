//===- Passes.td - cascade analyses' test passes -----------*- tablegen -*-===//
#ifndef ATTNC_COMPILER_ANALYSIS_PASSES_TD
#define ATTNC_COMPILER_ANALYSIS_PASSES_TD

include "mlir/Pass/PassBase.td"

def CascadeTestPassCountPass : Pass<"cascade-test-pass-count"> {
  let summary = "Reports each cascade's pass count over K/V and why (remarks)";
  let description = [{
    For every `cascade.cascade` under the anchor, emits a remark
    `N passes` at the cascade, then one remark per pass (its Einsums) and per
    pass boundary (the Einsum that forces it and the complete value it reads).
    The IR is unchanged.
  }];
}

#endif
