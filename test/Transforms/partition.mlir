// RUN: attn-opt --cascade-partition="m-tile=64" --split-input-file %s | FileCheck %s
// RUN: attn-opt --cascade-partition="m-tile=64 p-tile=16" --split-input-file %s | FileCheck %s --check-prefix=PT
// m -> m1, m0 (and p -> p1, p0) in every rank list; bodies are unchanged.

// CHECK-LABEL: attn.variant @softmax
// CHECK: cascade.cascade attributes {partitions = {m = 64 : i64}}
// CHECK: cascade.input "Q" [p, e]
// CHECK: cascade.input "V" [m1, m0, f]
// CHECK: cascade.einsum "S" [m1, m0, p] =
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.constant
// CHECK: cascade.einsum "GM" [p] = max [m1, m0](%S)
// CHECK: cascade.einsum "NV" [p, f] = sum [m1, m0](%S, %GM, %V)
// PT-LABEL: attn.variant @softmax
// PT: cascade.cascade attributes {partitions = {m = 64 : i64, p = 16 : i64}}
// PT: cascade.input "V" [m1, m0, f]
// PT: cascade.einsum "S" [m1, m0, p1, p0] =
// PT: cascade.einsum "GM" [p1, p0] = max [m1, m0](%S)
// PT: cascade.einsum "NV" [p1, p0, f] = sum [m1, m0](%S, %GM, %V)
attn.variant @softmax {
  cascade.cascade {
    %Q = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    %V = cascade.input "V" [m, f] : !cascade.fiber<f32>
    %S = cascade.einsum "S" [m, p] = () -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    %GM = cascade.einsum "GM" [p] = max [m] (%S) : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %NV = cascade.einsum "NV" [p, f] = sum [m] (%S, %GM, %V) : !cascade.fiber<f32>, !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %m: f32, %v: f32):
      %0 = arith.subf %s, %m : f32
      %1 = math.exp %0 : f32
      %2 = arith.mulf %1, %v : f32
      cascade.yield %2 : f32
    }
    cascade.output %NV kept %GM
  }
}
