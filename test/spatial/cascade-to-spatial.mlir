// RUN: attn-opt --cascade-to-spatial %s | FileCheck %s
// RUN: attn-opt --cascade-to-spatial="interleave=false pipelined=false lse=false" %s | FileCheck %s --check-prefix=FLAGS
// The 1-pass (online) causal softmax cascade, partitioned with m0 = 256,
// becomes a FuseMax program: per-point work on the 2D array, the iterates on
// the 1D array split into the shared factor PRGM, the rescale and the
// accumulation, the final division once per p1 tile; stages follow the
// waterfall (QK, LGM | RSD, RNV; RGM; SN, LSD | PRGM, rescale; LNV | rescale).

// CHECK-LABEL: attn.variant @causal
// CHECK: cascade.cascade
// CHECK: spatial.program attributes {binding = "fusemax", interleave = true, loop_order = ["p2", "m1", "p1", "p0", "m0"], m0 = 256 : i64, p0 = 0 : i64, passes = 1 : i64, pipelined = true}
// CHECK-NEXT: spatial.stream "load" "Q" per "p1"
// CHECK-NEXT: spatial.stream "load" "K" per "m1"
// CHECK-NEXT: spatial.stream "load" "V" per "m1"
// CHECK-NEXT: spatial.epoch {
// CHECK-NEXT: spatial.bind "QK" on "2d" "tile_e" stage 0 pass 1 {mac = 1.000000e+00 : f64} from "QK"
// CHECK-NEXT: spatial.bind "S" on "2d" "tile" stage 0 pass 1 {} from "S" {note = "folded into Q"}
// CHECK-NEXT: spatial.bind "KEEP" on "2d" "tile" stage 0 pass 1 {add = 1.000000e+00 : f64} from "KEEP" {partial_only}
// CHECK-NEXT: spatial.bind "LGM" on "2d" "tile" stage 0 pass 1 {max = 1.000000e+00 : f64} from "LGM"
// CHECK-NEXT: spatial.bind "RGM" on "1d" "row" stage 1 pass 1 {max = 1.000000e+00 : f64} from "RGM" {state}
// CHECK-NEXT: spatial.bind "SN" on "2d" "tile" stage 2 pass 1 {add = 1.000000e+00 : f64, exp = 1.000000e+00 : f64} from "SN"
// CHECK-NEXT: spatial.bind "LSD" on "2d" "tile" stage 2 pass 1 {add = 1.000000e+00 : f64} from "LSD"
// CHECK-NEXT: spatial.bind "PRGM" on "1d" "row" stage 2 pass 1 {add = 1.000000e+00 : f64, exp = 1.000000e+00 : f64} from "RGM"
// CHECK-NEXT: spatial.bind "RSD.rescale" on "1d" "row" stage 2 pass 1 {mac = 1.000000e+00 : f64} from "RSD"
// CHECK-NEXT: spatial.bind "RSD" on "1d" "row" stage 0 pass 1 {add = 1.000000e+00 : f64} from "RSD" {state}
// CHECK-NEXT: spatial.bind "LNV" on "2d" "tile_f" stage 3 pass 1 {mac = 1.000000e+00 : f64} from "LNV"
// CHECK-NEXT: spatial.bind "RNV.rescale" on "1d" "row_f" stage 3 pass 1 {mac = 1.000000e+00 : f64} from "RNV"
// CHECK-NEXT: spatial.bind "RNV" on "1d" "row_f" stage 0 pass 1 {add = 1.000000e+00 : f64} from "RNV" {state}
// CHECK-NEXT: spatial.bind "LKN" on "2d" "tile" stage 0 pass 1 {add = 1.000000e+00 : f64} from "LKN" {partial_only}
// CHECK-NEXT: spatial.bind "RKN" on "1d" "row" stage 0 pass 1 {add = 1.000000e+00 : f64} from "RKN" {state}
// CHECK-NEXT: }
// CHECK-NEXT: spatial.tile_end {
// CHECK-NEXT: spatial.bind "LSE" on "1d" "row" stage 0 pass 1 {add = 1.000000e+00 : f64, exp = 1.000000e+00 : f64} from "LSE"
// CHECK-NEXT: spatial.bind "AV" on "1d" "row_f" stage 0 pass 1 {div = 1.000000e+00 : f64} from "AV"
// CHECK-NEXT: }
// CHECK-NEXT: spatial.stream "store" "O" per "p1"

// FLAGS: spatial.program attributes {binding = "fusemax", interleave = false, {{.*}} pipelined = false}
// FLAGS-NOT: "LSE"
// FLAGS: spatial.bind "AV" on "1d" "row_f"
attn.variant @causal {
  cascade.cascade attributes {partitions = {m = 256 : i64}} {
    %Q = cascade.input "Q" [p, e] : <f32>
    %K = cascade.input "K" [m1, m0, e] : <f32>
    %V = cascade.input "V" [m1, m0, f] : <f32>
    %QK = cascade.einsum "QK" [m1, m0, p] = sum [e](%Q, %K) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %S = cascade.einsum "S" [m1, m0, p] =(%QK) : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
      %D = attn.size D
      %0 = arith.sitofp %D : i64 to f32
      %1 = math.rsqrt %0 : f32
      %2 = arith.mulf %1, %qk : f32
      cascade.yield %2 : f32
    }
    %KEEP = cascade.einsum "KEEP" [m1, m0, p] =() -> <i1> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.cmpi sle, %j, %i : i64
      cascade.yield %0 : i1
    }
    %LGM = cascade.einsum "LGM" [m1, p] = max [m0](%S) keep %KEEP : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %RGM_prev, %RGM, %RGM_final = cascade.iterate "RGM" [m1, p] over "m1" identity 0xFFF0000000000000(%LGM) : !cascade.fiber<f32> attributes {combine = "max"} {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %lgm: f32):
      %0 = arith.maximumf %prev, %lgm : f32
      cascade.yield %0 : f32
    }
    %SN = cascade.einsum "SN" [m1, m0, p] =(%S, %RGM) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %rgm: f32):
      %0 = arith.subf %s, %rgm : f32
      %1 = math.exp %0 : f32
      cascade.yield %1 : f32
    }
    %LSD = cascade.einsum "LSD" [m1, p] = sum [m0](%SN) keep %KEEP : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32):
      cascade.yield %sn : f32
    }
    %RSD_prev, %RSD, %RSD_final = cascade.iterate "RSD" [m1, p] over "m1" identity 0.000000e+00(%LSD, %RGM_prev, %RGM) : !cascade.fiber<f32>, !cascade.fiber<f32>, !cascade.fiber<f32> attributes {combine = "sum", rescale = [-1.000000e+00]} {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %lsd: f32, %rgm_prev: f32, %rgm: f32):
      %0 = arith.subf %rgm, %rgm_prev : f32
      %cst = arith.constant -1.000000e+00 : f32
      %1 = arith.mulf %cst, %0 : f32
      %2 = math.exp %1 : f32
      %3 = arith.mulf %prev, %2 : f32
      %4 = arith.addf %3, %lsd : f32
      %cst_0 = arith.constant 0.000000e+00 : f32
      %5 = arith.cmpf oeq, %prev, %cst_0 : f32
      %6 = arith.select %5, %lsd, %4 : f32
      cascade.yield %6 : f32
    }
    %LSE = cascade.einsum "LSE" [p] =(%RGM_final, %RSD_final) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %rgm_final: f32, %rsd_final: f32):
      %0 = math.log %rsd_final : f32
      %1 = arith.addf %rgm_final, %0 : f32
      cascade.yield %1 : f32
    }
    %LNV = cascade.einsum "LNV" [m1, p, f] = sum [m0](%SN, %V) keep %KEEP : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32, %v: f32):
      %0 = arith.mulf %sn, %v : f32
      cascade.yield %0 : f32
    }
    %RNV_prev, %RNV, %RNV_final = cascade.iterate "RNV" [m1, p, f] over "m1" identity 0.000000e+00(%LNV, %RGM_prev, %RGM) : !cascade.fiber<f32>, !cascade.fiber<f32>, !cascade.fiber<f32> attributes {combine = "sum", rescale = [-1.000000e+00]} {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %lnv: f32, %rgm_prev: f32, %rgm: f32):
      %0 = arith.subf %rgm, %rgm_prev : f32
      %cst = arith.constant -1.000000e+00 : f32
      %1 = arith.mulf %cst, %0 : f32
      %2 = math.exp %1 : f32
      %3 = arith.mulf %prev, %2 : f32
      %4 = arith.addf %3, %lnv : f32
      %cst_0 = arith.constant 0.000000e+00 : f32
      %5 = arith.cmpf oeq, %prev, %cst_0 : f32
      %6 = arith.select %5, %lnv, %4 : f32
      cascade.yield %6 : f32
    }
    %AV = cascade.einsum "AV" [p, f] =(%RNV_final, %RSD_final) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %rnv_final: f32, %rsd_final: f32):
      %0 = arith.divf %rnv_final, %rsd_final : f32
      cascade.yield %0 : f32
    }
    %LKN = cascade.einsum "LKN" [m1, p] = sum [m0]() keep %KEEP -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %cst = arith.constant 1.000000e+00 : f32
      cascade.yield %cst : f32
    }
    %RKN_prev, %RKN, %RKN_final = cascade.iterate "RKN" [m1, p] over "m1" identity 0.000000e+00(%LKN) : !cascade.fiber<f32> attributes {combine = "sum"} {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %lkn: f32):
      %0 = arith.addf %prev, %lkn : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV lse %LSE kept %RKN_final
  }
}
