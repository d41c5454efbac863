// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s -mlir-print-op-generic | attn-opt | FileCheck %s
// Round trip of every cascade op; results print as the Einsum's name and map
// actions' block arguments as b, h, i, j and the inputs' names.

// CHECK-LABEL: attn.variant @ops
attn.variant @ops {
  attn.param @cap : f32 = 30.0 : f32
  // CHECK: cascade.cascade attributes {partitions = {m = 64 : i64}, split = 2 : i64} {
  cascade.cascade attributes {partitions = {m = 64 : i64}, split = 2 : i64} {
    // CHECK-NEXT: %Q = cascade.input "Q" [p, e] : <f32>
    // CHECK-NEXT: %K = cascade.input "K" [m1, m0, e] : <f32>
    // CHECK-NEXT: %V = cascade.input "V" [m1, m0, f] : <f32>
    %0 = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    %1 = cascade.input "K" [m1, m0, e] : !cascade.fiber<f32>
    %2 = cascade.input "V" [m1, m0, f] : !cascade.fiber<f32>
    // CHECK-NEXT: %QK = cascade.einsum "QK" [m1, m0, p] = sum [e](%Q, %K) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    // CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
    // CHECK-NEXT: %[[P:.*]] = arith.mulf %q, %k : f32
    // CHECK-NEXT: cascade.yield %[[P]] : f32
    %3 = cascade.einsum "QK" [m1, m0, p] = sum [e](%0, %1) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%a0: i64, %a1: i64, %a2: i64, %a3: i64, %x: f32, %y: f32):
      %p = arith.mulf %x, %y : f32
      cascade.yield %p : f32
    }
    // CHECK: %KEEP = cascade.einsum "KEEP" [m1, m0, p] =() -> <i1> {
    // CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %4 = cascade.einsum "KEEP" [m1, m0, p] = () -> !cascade.fiber<i1> {
    ^bb0(%a0: i64, %a1: i64, %a2: i64, %a3: i64):
      %c = arith.cmpi sle, %a3, %a2 : i64
      cascade.yield %c : i1
    }
    // CHECK: %SINK = cascade.einsum "SINK" [p] =() -> <f32> {
    // CHECK: %cap = attn.get_param @cap : f32
    %5 = cascade.einsum "SINK" [p] = () -> !cascade.fiber<f32> {
    ^bb0(%a0: i64, %a1: i64, %a2: i64, %a3: i64):
      %c = attn.get_param @cap : f32
      cascade.yield %c : f32
    }
    // CHECK: %LM = cascade.einsum "LM" [m1, p] = max [m0](%QK) keep %KEEP : !cascade.fiber<f32> -> <f32> {
    // CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
    %6 = cascade.einsum "LM" [m1, p] = max [m0](%3) keep %4 : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%a0: i64, %a1: i64, %a2: i64, %a3: i64, %x: f32):
      cascade.yield %x : f32
    }
    // CHECK: %RM_prev, %RM, %RM_final = cascade.iterate "RM" [m1, p] over "m1" identity 0xFFF0000000000000(%LM) init %SINK : !cascade.fiber<f32> {
    // CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %lm: f32):
    %7:3 = cascade.iterate "RM" [m1, p] over "m1" identity 0xFFF0000000000000(%6) init %5 : !cascade.fiber<f32> {
    ^bb0(%a0: i64, %a1: i64, %a2: i64, %a3: i64, %prev: f32, %x: f32):
      %m = arith.maximumf %prev, %x : f32
      cascade.yield %m : f32
    }
    // CHECK: %SLN = cascade.einsum "SLN" [m1, m0, p] =(%QK, %RM, %RM_prev)
    // CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32, %rm: f32, %rm_prev: f32):
    %8 = cascade.einsum "SLN" [m1, m0, p] = (%3, %7#1, %7#0) : !cascade.fiber<f32>, !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%a0: i64, %a1: i64, %a2: i64, %a3: i64, %s: f32, %m: f32, %pm: f32):
      %d = arith.subf %s, %m : f32
      %e = math.exp %d : f32
      cascade.yield %e : f32
    }
    // CHECK: %AV = cascade.einsum "AV" [p, f] = sum [m1, m0](%SLN, %V) keep %KEEP init %RM_final
    %9 = cascade.einsum "AV" [p, f] = sum [m1, m0](%8, %2) keep %4 init %7#2 : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%a0: i64, %a1: i64, %a2: i64, %a3: i64, %x: f32, %v: f32):
      %p = arith.mulf %x, %v : f32
      cascade.yield %p : f32
    }
    // CHECK: cascade.output %AV lse %RM_final kept %RM_final
    cascade.output %9 lse %7#2 kept %7#2
  }
}
