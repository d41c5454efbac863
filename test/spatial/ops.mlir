// RUN: attn-opt %s | attn-opt | FileCheck %s
// A spatial program round-trips.

// CHECK-LABEL: attn.variant @v
// CHECK: spatial.program attributes {binding = "fusemax", interleave = true, loop_order = ["p2", "m1", "p1", "p0", "m0"], m0 = 4 : i64, p0 = 4 : i64, passes = 1 : i64, pipelined = true}
// CHECK-NEXT: spatial.stream "load" "Q" per "p1"
// CHECK-NEXT: spatial.epoch {
// CHECK-NEXT: spatial.bind "QK" on "2d" "tile_e" stage 0 pass 1 {mac = 1.000000e+00 : f64} from "QK"
// CHECK-NEXT: spatial.bind "RM" on "1d" "row" stage 1 pass 1 {max = 1.000000e+00 : f64} from "RM" {state}
// CHECK-NEXT: spatial.bind "KEEP" on "2d" "tile" stage 0 pass 1 {add = 2.000000e+00 : f64} from "KEEP" {partial_only}
// CHECK-NEXT: }
// CHECK-NEXT: spatial.tile_end {
// CHECK-NEXT: spatial.bind "AV" on "1d" "row_f" stage 0 pass 1 {div = 1.000000e+00 : f64} from "AV"
attn.variant @v {
  spatial.program attributes {binding = "fusemax", interleave = true, loop_order = ["p2", "m1", "p1", "p0", "m0"], m0 = 4 : i64, p0 = 4 : i64, passes = 1 : i64, pipelined = true} {
    spatial.stream "load" "Q" per "p1"
    spatial.epoch {
      spatial.bind "QK" on "2d" "tile_e" stage 0 pass 1 {mac = 1.0 : f64} from "QK"
      spatial.bind "RM" on "1d" "row" stage 1 pass 1 {max = 1.0 : f64} from "RM" {state}
      spatial.bind "KEEP" on "2d" "tile" stage 0 pass 1 {add = 2.0 : f64} from "KEEP" {partial_only}
    }
    spatial.tile_end {
      spatial.bind "AV" on "1d" "row_f" stage 0 pass 1 {div = 1.0 : f64} from "AV"
    }
  }
}
