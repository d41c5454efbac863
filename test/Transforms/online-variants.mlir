// RUN: attn-opt --cascade-defer-division --cascade-partition=m-tile=32 --cascade-online --split-input-file %s | FileCheck %s
// The online rewrite on canonical cascades (after division deferral and
// partitioning) of sink softmax, softpick, l1_relu, sigmoid, and a custom
// norm whose sum is not rescalable (it stays a full reduction).

// Sink: GM's init SINK becomes RGM's init; SD's init SINKD reads GM's final,
// so it is added after the iterate (SD = RSD_final + SINKD).
// CHECK-LABEL: attn.variant @sink
// CHECK: %[[SINK:.*]] = cascade.einsum "SINK" [p]
// CHECK: %[[RGMP:.*]], %[[RGM:.*]], %[[RGMF:.*]] = cascade.iterate "RGM" [m1, p] over "m1" identity 0xFFF0000000000000(%LGM) init %[[SINK]]
// CHECK: %[[SINKD:.*]] = cascade.einsum "SINKD" [p] =(%[[SINK]], %[[RGMF]])
// CHECK: %[[SN:.*]] = cascade.einsum "SN" [m1, m0, p] =(%S, %[[RGM]])
// CHECK: cascade.einsum "LSD" [m1, p] = sum [m0](%[[SN]]) keep %KEEP
// CHECK: %{{.*}}, %{{.*}}, %[[RSDF:.*]] = cascade.iterate "RSD" [m1, p] over "m1" identity 0.000000e+00(%LSD, %[[RGMP]], %[[RGM]]) : {{.*}} rescale = [-1.000000e+00]
// CHECK: %[[SD:.*]] = cascade.einsum "SD" [p] =(%[[RSDF]], %[[SINKD]])
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.addf
// CHECK: cascade.einsum "LSE" [p] =(%[[RGMF]], %[[SD]])
// CHECK: cascade.iterate "RNV" [m1, p, f] {{.*}} rescale = [-1.000000e+00]
// CHECK: cascade.einsum "AV" [p, f] =(%RNV_final, %[[SD]])
attn.variant @sink {
  cascade.cascade {
    %Q = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    %K = cascade.input "K" [m, e] : !cascade.fiber<f32>
    %V = cascade.input "V" [m, f] : !cascade.fiber<f32>
    %QK = cascade.einsum "QK" [m, p] = sum [e] (%Q, %K) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %S = cascade.einsum "S" [m, p] = (%QK) : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
      %c = arith.constant 0.125 : f32
      %0 = arith.mulf %c, %qk : f32
      cascade.yield %0 : f32
    }
    %KEEP = cascade.einsum "KEEP" [m, p] = () -> !cascade.fiber<i1> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.cmpi sle, %j, %i : i64
      cascade.yield %0 : i1
    }
    %SINK = cascade.einsum "SINK" [p] = () -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 0.5 : f32
      cascade.yield %0 : f32
    }
    %GM = cascade.einsum "GM" [p] = max [m] (%S) keep %KEEP init %SINK : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %SN = cascade.einsum "SN" [m, p] = (%S, %GM) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %gm: f32):
      %0 = arith.subf %s, %gm : f32
      %1 = math.exp %0 : f32
      cascade.yield %1 : f32
    }
    %SINKD = cascade.einsum "SINKD" [p] = (%SINK, %GM) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sk: f32, %gm: f32):
      %0 = arith.subf %sk, %gm : f32
      %1 = math.exp %0 : f32
      cascade.yield %1 : f32
    }
    %SD = cascade.einsum "SD" [p] = sum [m] (%SN) keep %KEEP init %SINKD : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32):
      cascade.yield %sn : f32
    }
    %A = cascade.einsum "A" [m, p] = (%SN, %SD) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32, %sd: f32):
      %0 = arith.divf %sn, %sd : f32
      cascade.yield %0 : f32
    }
    %LSE = cascade.einsum "LSE" [p] = (%GM, %SD) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %gm: f32, %sd: f32):
      %0 = math.log %sd : f32
      %1 = arith.addf %gm, %0 : f32
      cascade.yield %1 : f32
    }
    %AV = cascade.einsum "AV" [p, f] = sum [m] (%A, %V) keep %KEEP : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %a: f32, %v: f32):
      %0 = arith.mulf %a, %v : f32
      cascade.yield %0 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m] () keep %KEEP -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV lse %LSE kept %KN
  }
}

// -----

// Softpick: n = sum(abs(exp(s - m) - exp(-m))) has the factor exp(-m).
// CHECK-LABEL: attn.variant @softpick
// CHECK: %[[RMP:.*]], %[[RM:.*]], %[[RMF:.*]] = cascade.iterate "RM" [m1, p] over "m1"
// CHECK: cascade.einsum "LN" [m1, p] = sum [m0](%S, %[[RM]]) keep %KEEP
// CHECK: %{{.*}}, %{{.*}}, %[[RNF:.*]] = cascade.iterate "RN" [m1, p] over "m1" identity 0.000000e+00(%LN, %[[RMP]], %[[RM]]) : {{.*}} rescale = [-1.000000e+00]
// CHECK: cascade.einsum "LNV" [m1, p, f] = sum [m0](%S, %[[RM]], %V) keep %KEEP
// CHECK: cascade.iterate "RNV" [m1, p, f] over "m1" identity 0.000000e+00(%LNV, %[[RMP]], %[[RM]]) : {{.*}} rescale = [-1.000000e+00]
// CHECK: cascade.einsum "AV" [p, f] =(%RNV_final, %[[RNF]])
attn.variant @softpick {
  cascade.cascade {
    %Q = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    %K = cascade.input "K" [m, e] : !cascade.fiber<f32>
    %V = cascade.input "V" [m, f] : !cascade.fiber<f32>
    %QK = cascade.einsum "QK" [m, p] = sum [e] (%Q, %K) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %S = cascade.einsum "S" [m, p] = (%QK) : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
      %c = arith.constant 0.125 : f32
      %0 = arith.mulf %c, %qk : f32
      cascade.yield %0 : f32
    }
    %KEEP = cascade.einsum "KEEP" [m, p] = () -> !cascade.fiber<i1> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.cmpi sle, %j, %i : i64
      cascade.yield %0 : i1
    }
    %M = cascade.einsum "M" [p] = max [m] (%S) keep %KEEP : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %N = cascade.einsum "N" [p] = sum [m] (%S, %M) keep %KEEP : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %m: f32):
      %0 = arith.subf %s, %m : f32
      %1 = math.exp %0 : f32
      %2 = arith.negf %m : f32
      %3 = math.exp %2 : f32
      %4 = arith.subf %1, %3 : f32
      %5 = math.absf %4 : f32
      cascade.yield %5 : f32
    }
    %A = cascade.einsum "A" [m, p] = (%S, %M, %N) : !cascade.fiber<f32>, !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %m: f32, %n: f32):
      %0 = arith.subf %s, %m : f32
      %1 = math.exp %0 : f32
      %2 = arith.negf %m : f32
      %3 = math.exp %2 : f32
      %4 = arith.subf %1, %3 : f32
      %z = arith.constant 0.0 : f32
      %5 = arith.maximumf %4, %z : f32
      %6 = arith.divf %5, %n : f32
      cascade.yield %6 : f32
    }
    %AV = cascade.einsum "AV" [p, f] = sum [m] (%A, %V) keep %KEEP : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %a: f32, %v: f32):
      %0 = arith.mulf %a, %v : f32
      cascade.yield %0 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m] () keep %KEEP -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV  kept %KN
  }
}

// -----

// l1_relu: no max, so nothing is rescaled.
// CHECK-LABEL: attn.variant @l1_relu
// CHECK: cascade.iterate "RZ" [m1, p] over "m1" identity 0.000000e+00(%LZ) : !cascade.fiber<f32> attributes {combine = "sum"}
// CHECK: cascade.iterate "RNV" [m1, p, f] over "m1" identity 0.000000e+00(%LNV) : !cascade.fiber<f32> attributes {combine = "sum"}
// CHECK: cascade.einsum "AV" [p, f] =(%RNV_final, %RZ_final)
attn.variant @l1_relu {
  cascade.cascade {
    %Q = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    %K = cascade.input "K" [m, e] : !cascade.fiber<f32>
    %V = cascade.input "V" [m, f] : !cascade.fiber<f32>
    %QK = cascade.einsum "QK" [m, p] = sum [e] (%Q, %K) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %S = cascade.einsum "S" [m, p] = (%QK) : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
      %c = arith.constant 0.125 : f32
      %0 = arith.mulf %c, %qk : f32
      cascade.yield %0 : f32
    }
    %KEEP = cascade.einsum "KEEP" [m, p] = () -> !cascade.fiber<i1> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.cmpi sle, %j, %i : i64
      cascade.yield %0 : i1
    }
    %Z = cascade.einsum "Z" [p] = sum [m] (%S) keep %KEEP : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      %z0 = arith.constant 0.0 : f32
      %0 = arith.maximumf %s, %z0 : f32
      cascade.yield %0 : f32
    }
    %A = cascade.einsum "A" [m, p] = (%S, %Z) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %z: f32):
      %z0 = arith.constant 0.0 : f32
      %0 = arith.maximumf %s, %z0 : f32
      %1 = arith.divf %0, %z : f32
      cascade.yield %1 : f32
    }
    %AV = cascade.einsum "AV" [p, f] = sum [m] (%A, %V) keep %KEEP : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %a: f32, %v: f32):
      %0 = arith.mulf %a, %v : f32
      cascade.yield %0 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m] () keep %KEEP -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV  kept %KN
  }
}

// -----

// Sigmoid: no row reduction; AV and KN become iterates.
// CHECK-LABEL: attn.variant @sigmoid
// CHECK: %[[A:.*]] = cascade.einsum "A" [m1, m0, p]
// CHECK: cascade.einsum "LAV" [m1, p, f] = sum [m0](%[[A]], %V) keep %KEEP
// CHECK: cascade.iterate "RAV" [m1, p, f] over "m1" identity 0.000000e+00(%LAV) : !cascade.fiber<f32> attributes {combine = "sum"}
// CHECK: cascade.output %RAV_final kept %RKN_final
attn.variant @sigmoid {
  cascade.cascade {
    %Q = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    %K = cascade.input "K" [m, e] : !cascade.fiber<f32>
    %V = cascade.input "V" [m, f] : !cascade.fiber<f32>
    %QK = cascade.einsum "QK" [m, p] = sum [e] (%Q, %K) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %S = cascade.einsum "S" [m, p] = (%QK) : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
      %c = arith.constant 0.125 : f32
      %0 = arith.mulf %c, %qk : f32
      cascade.yield %0 : f32
    }
    %KEEP = cascade.einsum "KEEP" [m, p] = () -> !cascade.fiber<i1> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.cmpi sle, %j, %i : i64
      cascade.yield %0 : i1
    }
    %A = cascade.einsum "A" [m, p] = (%S) : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      %0 = arith.negf %s : f32
      %1 = math.exp %0 : f32
      %c1 = arith.constant 1.0 : f32
      %2 = arith.addf %c1, %1 : f32
      %3 = arith.divf %c1, %2 : f32
      cascade.yield %3 : f32
    }
    %AV = cascade.einsum "AV" [p, f] = sum [m] (%A, %V) keep %KEEP : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %a: f32, %v: f32):
      %0 = arith.mulf %a, %v : f32
      cascade.yield %0 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m] () keep %KEEP -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV  kept %KN
  }
}

// -----

// z = sum(exp(s - m) + 1) is not rescalable: it stays a full reduction over
// [m1, m0] reading M's final (one more pass); NV is still iterated.
// CHECK-LABEL: attn.variant @notrescalable
// CHECK: %{{.*}}, %[[RM:.*]], %[[RMF:.*]] = cascade.iterate "RM" [m1, p] over "m1"
// CHECK: %[[Z:.*]] = cascade.einsum "Z" [p] = sum [m1, m0](%S, %[[RMF]]) keep %KEEP
// CHECK: cascade.einsum "LNV" [m1, p, f] = sum [m0](%S, %[[RM]], %V) keep %KEEP
// CHECK: cascade.einsum "AV" [p, f] =(%RNV_final, %[[Z]])
attn.variant @notrescalable {
  cascade.cascade {
    %Q = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    %K = cascade.input "K" [m, e] : !cascade.fiber<f32>
    %V = cascade.input "V" [m, f] : !cascade.fiber<f32>
    %QK = cascade.einsum "QK" [m, p] = sum [e] (%Q, %K) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %S = cascade.einsum "S" [m, p] = (%QK) : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
      %c = arith.constant 0.125 : f32
      %0 = arith.mulf %c, %qk : f32
      cascade.yield %0 : f32
    }
    %KEEP = cascade.einsum "KEEP" [m, p] = () -> !cascade.fiber<i1> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.cmpi sle, %j, %i : i64
      cascade.yield %0 : i1
    }
    %M = cascade.einsum "M" [p] = max [m] (%S) keep %KEEP : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %Z = cascade.einsum "Z" [p] = sum [m] (%S, %M) keep %KEEP : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %m: f32):
      %0 = arith.subf %s, %m : f32
      %1 = math.exp %0 : f32
      %c1 = arith.constant 1.0 : f32
      %2 = arith.addf %1, %c1 : f32
      cascade.yield %2 : f32
    }
    %A = cascade.einsum "A" [m, p] = (%S, %M, %Z) : !cascade.fiber<f32>, !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %m: f32, %z: f32):
      %0 = arith.subf %s, %m : f32
      %1 = math.exp %0 : f32
      %2 = arith.divf %1, %z : f32
      cascade.yield %2 : f32
    }
    %AV = cascade.einsum "AV" [p, f] = sum [m] (%A, %V) keep %KEEP : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %a: f32, %v: f32):
      %0 = arith.mulf %a, %v : f32
      cascade.yield %0 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m] () keep %KEEP -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV  kept %KN
  }
}
