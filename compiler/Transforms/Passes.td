//===- Passes.td - cascade rewrites (FuseMax's algebra) ----*- tablegen -*-===//
#ifndef ATTNC_COMPILER_TRANSFORMS_PASSES_TD
#define ATTNC_COMPILER_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def CascadeDeferDivision : Pass<"cascade-defer-division"> {
  let summary = "A = N / D feeding AV = sum[m](A, V) becomes NV = sum[m](N * V), AV = NV / D";
  let description = [{
    Applies to every `cascade.cascade` under the anchor. `D` must depend only
    on row-level inputs (fibers without key ranks) and on b, h, i.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def CascadePartition : Pass<"cascade-partition"> {
  let summary = "Splits rank m into m1 x m0 (and p into p1 x p0)";
  let options = [
    Option<"mTile", "m-tile", "int64_t", "64", "tile of the key rank m (m0's extent)">,
    Option<"pTile", "p-tile", "int64_t", "0", "tile of the query rank p; 0 keeps p whole">,
  ];
}

def CascadeOnline : Pass<"cascade-online"> {
  let summary = "Iterative construction over m1 (online rescaling)";
  let description = [{
    Each reduction over [m1, m0] becomes a local reduction over m0 and a
    cascade.iterate over m1, rescaled by exp(c * (r_cur - r_prev)) when its
    body depends on an earlier iterated reduction r through a factor
    exp(c * r). Reductions that cannot be rescaled stay full reductions.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect"];
}

def CascadeSplitKV : Pass<"cascade-split-kv"> {
  let summary = "Split-KV (decode): m1 -> m2 x m1, per-worker iterates merged over m2";
  let options = [
    Option<"workers", "workers", "int64_t", "4", "number of workers (extent of m2)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect"];
}

#endif // ATTNC_COMPILER_TRANSFORMS_PASSES_TD
