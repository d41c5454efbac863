//===- SpatialOps.td - PE-array programs (FuseMax mapping) -*- tablegen -*-===//
//
// A tiled cascade mapped onto a spatial accelerator with a 2D PE array (one
// P0 x M0 tile of scores at a time) and a 1D PE array (one PE per row of the
// tile). The loop order is p2 > m1 > p1 > p0 (parallel) > m0 (parallel); an
// epoch is one m1 step of one p1 tile. Each `spatial.bind` binds one Einsum
// (or one part of an iterative Einsum) to an array, says how many points it
// computes per epoch (`extent`), which actions each point costs, and in which
// pipeline stage of the epoch it runs. The cascade itself stays beside the
// program: its map actions are the semantics.
//
//===----------------------------------------------------------------------===//
#ifndef SPATIAL_OPS_TD
#define SPATIAL_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Spatial_Dialect : Dialect {
  let name = "spatial";
  let cppNamespace = "::spatial";
  let summary = "PE-array programs for FuseMax-style spatial accelerators";
}

class Spatial_Op<string mnemonic, list<Trait> traits = []>
    : Op<Spatial_Dialect, mnemonic, traits>;

def Spatial_ProgramOp : Spatial_Op<"program", [SingleBlock, NoTerminator,
    NoRegionArguments]> {
  let summary = "the PE-array program of one variant (lives in its attn.variant)";
  let description = [{
    `binding` is `fusemax` (every per-point action on the 2D array; row-level
    work on the 1D array) or `flat` (only the matrix products on the 2D
    array; the rest on the 1D array). `passes` is the number of passes over
    K/V the cascade needs; `pipelined` lets the 2D and 1D work of one stage
    overlap; `interleave` runs consecutive p1 tiles' epochs back to back (the
    1D array's row work of one epoch overlaps the next epoch's QK). `p0` and
    `m0` are the tile (0 = the array's dimensions); `loop_order` is fixed.
  }];
  let arguments = (ins StrAttr:$binding, I64Attr:$passes, BoolAttr:$pipelined,
                       BoolAttr:$interleave, I64Attr:$p0, I64Attr:$m0,
                       ArrayAttr:$loop_order);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

def Spatial_EpochOp : Spatial_Op<"epoch", [SingleBlock, NoTerminator,
    NoRegionArguments, HasParent<"ProgramOp">]> {
  let summary = "the work of one epoch: one m1 step of one p1 tile";
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "attr-dict-with-keyword $body";
}

def Spatial_TileEndOp : Spatial_Op<"tile_end", [SingleBlock, NoTerminator,
    NoRegionArguments, HasParent<"ProgramOp">]> {
  let summary = "the work once per p1 tile, after its last epoch (AV = RNV / RD)";
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "attr-dict-with-keyword $body";
}

def Spatial_StreamOp : Spatial_Op<"stream", [HasParent<"ProgramOp">]> {
  let summary = "a tensor moved between DRAM and the global buffer";
  let description = [{
    `Q` is loaded once per p1 tile (`per = "p1"`), `K` and `V` once per m1
    step of each p2 chunk (`per = "m1"`), `O` stored once per p1 tile;
    `scores` (multi-pass programs) are kept or spilled between passes.
  }];
  let arguments = (ins StrAttr:$tensor, StrAttr:$direction, StrAttr:$per);
  let assemblyFormat = "$direction $tensor `per` $per attr-dict";
  let hasVerifier = 1;
}

def Spatial_BindOp : Spatial_Op<"bind", [ParentOneOf<["EpochOp", "TileEndOp"]>]> {
  let summary = "one Einsum bound to an array";
  let description = [{
    `array`: `2d` or `1d`. `extent`: points per epoch: `tile` (P0 x M0),
    `tile_e` (x E), `tile_f` (x F), `row` (P0), `row_f` (P0 x F); in a
    `spatial.tile_end`: `row` or `row_f` once per p1 tile. `actions`: the PE
    actions of one point (`mac`, `add`, `max`, `div`, `exp`: floats, an exp
    costing the architecture's exp cycles). `stage`: the pipeline stage within
    the epoch; `pass`: the pass over K/V. `state`: a per-row value kept in the
    global buffer across epochs (RM, RD, RNV). `partial_only`: computed only
    on tiles the mask leaves partially kept. `einsum` names the cascade op it
    comes from.
  }];
  let arguments = (ins StrAttr:$name, StrAttr:$array, StrAttr:$extent,
                       DictionaryAttr:$actions, I64Attr:$stage, I64Attr:$pass,
                       StrAttr:$einsum, UnitAttr:$state, UnitAttr:$partial_only);
  let assemblyFormat = [{
    $name `on` $array $extent `stage` $stage `pass` $pass $actions `from` $einsum attr-dict
  }];
  let hasVerifier = 1;
}

#endif // SPATIAL_OPS_TD
