//===- Passes.td - cascade -> spatial ----------------------*- tablegen -*-===//
#ifndef ATTNC_TARGETS_SPATIAL_PASSES_TD
#define ATTNC_TARGETS_SPATIAL_PASSES_TD

include "mlir/Pass/PassBase.td"

def CascadeToSpatial : Pass<"cascade-to-spatial", "::mlir::ModuleOp"> {
  let summary = "Map each partitioned cascade onto a 2D + 1D PE array (spatial.program)";
  let description = [{
    Adds a `spatial.program` after the `cascade.cascade` of every attn.variant
    (the cascade stays: its map actions are the semantics). The key rank must
    be partitioned (m1 x m0). With an online cascade (iterates over m1) the
    FuseMax binding gives a 1-pass program; with the non-online cascade the
    FLAT binding gives the multi-pass baseline. docs/spatial.md has the rules.
  }];
  let options = [
    Option<"binding", "binding", "std::string", "\"auto\"",
           "fusemax | flat | auto (fusemax when the cascade iterates over m1)">,
    Option<"p0", "p0", "int64_t", "0", "query tile (0: the array's rows)">,
    Option<"pipelined", "pipelined", "bool", "true",
           "overlap the 2D and 1D work of a stage">,
    Option<"interleave", "interleave", "bool", "true",
           "overlap an epoch's 1D accumulation with the next epoch's QK">,
    Option<"lse", "lse", "bool", "true", "compute the log-sum-exp output"> ,
  ];
  let dependentDialects = ["::spatial::SpatialDialect"];
}

def SpatialEstimate : Pass<"spatial-estimate", "::mlir::ModuleOp"> {
  let summary = "Print the analytical model's estimate of every spatial.program";
  let description = [{
    Times each variant's spatial.program with the simulator's model
    (runtime/simulator/Model.h) on `arch` (a JSON file; FuseMax's
    configuration when empty) for one shape, and prints one line per variant
    to stdout. `mask` is none, causal, window=W, streaming=S,W or
    document=L (index-only masks classified by intervals).
  }];
  let options = [
    Option<"arch", "arch", "std::string", "\"\"", "architecture JSON file">,
    Option<"batch", "batch", "int64_t", "1", "batch">,
    Option<"heads", "heads", "int64_t", "1", "heads">,
    Option<"sq", "sq", "int64_t", "1024", "query rows">,
    Option<"skv", "skv", "int64_t", "1024", "keys">,
    Option<"d", "d", "int64_t", "64", "head dim (E = F)">,
    Option<"mask", "mask", "std::string", "\"none\"", "the mask's interval class">,
  ];
}

#endif
