//===- Passes.td - attn -> cascade conversion --------------*- tablegen -*-===//
#ifndef ATTNC_CONVERSION_ATTNTOCASCADE_PASSES_TD
#define ATTNC_CONVERSION_ATTNTOCASCADE_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnToCascadePass : Pass<"attn-to-cascade", "::mlir::ModuleOp"> {
  let summary = "Lower each attn.variant's statements to its canonical Einsum cascade";
  let description = [{
    Puts one `cascade.cascade` in each `attn.variant` (after its declarations)
    holding the canonical 3-pass cascade of docs/cascade.md: QK / QKD<n>, S,
    KEEP, the norm's reductions and maps, AV, KN; then erases the statement
    ops. Variants that already hold a cascade are left alone.
  }];
  let dependentDialects = ["::cascade::CascadeDialect", "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

#endif
