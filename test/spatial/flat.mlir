// RUN: attn-opt --cascade-to-spatial %s | FileCheck %s
// RUN: attn-opt --cascade-to-spatial="binding=fusemax" %s | FileCheck %s --check-prefix=FM
// The same causal softmax without the online rewrite (the canonical 3-pass
// cascade, partitioned): the FLAT binding, chosen by default for a cascade
// without iterates, keeps only the matrix products on the 2D array; GM is a
// full reduction over the key rank, so SN and SD start pass 2 and A, AV
// pass 3. The scores of a row block are kept between passes.

// CHECK-LABEL: attn.variant @causal
// CHECK: spatial.program attributes {binding = "flat", {{.*}} passes = 3 : i64
// CHECK: spatial.stream "keep" "scores" per "pass"
// CHECK: spatial.epoch {
// CHECK-NEXT: spatial.bind "QK" on "2d" "tile_e" stage 0 pass 1 {mac = 1.000000e+00 : f64}
// CHECK-NEXT: spatial.bind "S" on "1d" "tile" stage 0 pass 1 {}
// CHECK-NEXT: spatial.bind "KEEP" on "1d" "tile" stage 0 pass 1 {add = 1.000000e+00 : f64} from "KEEP" {partial_only}
// CHECK-NEXT: spatial.bind "GM" on "1d" "tile" stage 0 pass 1 {max = 1.000000e+00 : f64}
// CHECK-NEXT: spatial.bind "SN" on "1d" "tile" stage 0 pass 2 {add = 1.000000e+00 : f64, exp = 1.000000e+00 : f64}
// CHECK-NEXT: spatial.bind "SD" on "1d" "tile" stage 0 pass 2 {add = 1.000000e+00 : f64}
// CHECK-NEXT: spatial.bind "A" on "1d" "tile" stage 0 pass 3 {div = 1.000000e+00 : f64}
// CHECK-NEXT: spatial.bind "AV" on "2d" "tile_f" stage 0 pass 3 {mac = 1.000000e+00 : f64}
// CHECK-NEXT: spatial.bind "KN" on "1d" "tile" stage 0 pass 1 {add = 1.000000e+00 : f64} from "KN" {partial_only}
// CHECK-NEXT: }
// CHECK-NEXT: spatial.tile_end {
// CHECK-NEXT: spatial.bind "LSE" on "1d" "row" stage 0 pass 2

// Forcing the FuseMax binding on the 3-pass cascade moves the per-point work
// to the 2D array; it still needs three passes.
// FM: spatial.program attributes {binding = "fusemax", {{.*}} passes = 3 : i64
// FM: spatial.bind "GM" on "2d" "tile" stage 0 pass 1
// FM: spatial.bind "A" on "2d" "tile" stage 0 pass 3
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
    %GM = cascade.einsum "GM" [p] = max [m1, m0](%S) keep %KEEP : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %SN = cascade.einsum "SN" [m1, m0, p] =(%S, %GM) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %gm: f32):
      %0 = arith.subf %s, %gm : f32
      %1 = math.exp %0 : f32
      cascade.yield %1 : f32
    }
    %SD = cascade.einsum "SD" [p] = sum [m1, m0](%SN) keep %KEEP : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32):
      cascade.yield %sn : f32
    }
    %A = cascade.einsum "A" [m1, m0, p] =(%SN, %SD) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32, %sd: f32):
      %0 = arith.divf %sn, %sd : f32
      cascade.yield %0 : f32
    }
    %LSE = cascade.einsum "LSE" [p] =(%GM, %SD) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %gm: f32, %sd: f32):
      %0 = math.log %sd : f32
      %1 = arith.addf %gm, %0 : f32
      cascade.yield %1 : f32
    }
    %AV = cascade.einsum "AV" [p, f] = sum [m1, m0](%A, %V) keep %KEEP : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %a: f32, %v: f32):
      %0 = arith.mulf %a, %v : f32
      cascade.yield %0 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m1, m0]() keep %KEEP -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %cst = arith.constant 1.000000e+00 : f32
      cascade.yield %cst : f32
    }
    cascade.output %AV lse %LSE kept %KN
  }
}
