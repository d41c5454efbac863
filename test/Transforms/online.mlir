// RUN: attn-opt --cascade-online --split-input-file %s | FileCheck %s
// RUN: attn-opt --cascade-online --split-input-file %s | FileCheck %s --check-prefix=GONE
// Softmax (deferred, partitioned with m-tile=64) becomes one pass: every
// reduction over [m1, m0] is a local reduction over m0 plus an iterate over
// m1; SD and NV are rescaled by exp(-(RGM - RGM_prev)); SN reads RGM's cur.

// CHECK-LABEL: attn.variant @causal
// CHECK: %[[LGM:.*]] = cascade.einsum "LGM" [m1, p] = max [m0](%S) keep %KEEP
// CHECK: %[[RGMP:.*]], %[[RGM:.*]], %[[RGMF:.*]] = cascade.iterate "RGM" [m1, p] over "m1" identity 0xFFF0000000000000(%[[LGM]]) : !cascade.fiber<f32> attributes {combine = "max"}
// CHECK-NEXT: ^bb0(%{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %[[prev:.*]]: f32, %[[l:.*]]: f32):
// CHECK-NEXT: %[[M:.*]] = arith.maximumf %[[prev]], %[[l]]
// CHECK-NEXT: cascade.yield %[[M]]
// CHECK: %[[SN:.*]] = cascade.einsum "SN" [m1, m0, p] =(%S, %[[RGM]])
// CHECK: %[[LSD:.*]] = cascade.einsum "LSD" [m1, p] = sum [m0](%[[SN]]) keep %KEEP
// CHECK: %[[RSDP:.*]], %[[RSD:.*]], %[[RSDF:.*]] = cascade.iterate "RSD" [m1, p] over "m1" identity 0.000000e+00(%[[LSD]], %[[RGMP]], %[[RGM]]) {{.*}} attributes {combine = "sum", rescale = [-1.000000e+00]}
// CHECK-NEXT: ^bb0(%{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %[[prev:.*]]: f32, %[[l:.*]]: f32, %[[rp:.*]]: f32, %[[rc:.*]]: f32):
// CHECK-NEXT: %[[D:.*]] = arith.subf %[[rc]], %[[rp]]
// CHECK-NEXT: %[[C:.*]] = arith.constant -1.0
// CHECK-NEXT: %[[E:.*]] = arith.mulf %[[C]], %[[D]]
// CHECK-NEXT: %[[K:.*]] = math.exp %[[E]]
// CHECK-NEXT: %[[PK:.*]] = arith.mulf %[[prev]], %[[K]]
// CHECK-NEXT: %[[SUM:.*]] = arith.addf %[[PK]], %[[l]]
// CHECK-NEXT: %[[Z:.*]] = arith.constant 0.0
// CHECK-NEXT: %[[ISID:.*]] = arith.cmpf oeq, %[[prev]], %[[Z]]
// CHECK-NEXT: %[[R:.*]] = arith.select %[[ISID]], %[[l]], %[[SUM]]
// CHECK-NEXT: cascade.yield %[[R]]
// CHECK: %[[LSE:.*]] = cascade.einsum "LSE" [p] =(%[[RGMF]], %[[RSDF]])
// CHECK: %[[LNV:.*]] = cascade.einsum "LNV" [m1, p, f] = sum [m0](%[[SN]], %V) keep %KEEP
// CHECK: %[[RNVP:.*]], %[[RNV:.*]], %[[RNVF:.*]] = cascade.iterate "RNV" [m1, p, f] over "m1" identity 0.000000e+00(%[[LNV]], %[[RGMP]], %[[RGM]]) {{.*}} rescale = [-1.000000e+00]
// CHECK: %[[AV:.*]] = cascade.einsum "AV" [p, f] =(%[[RNVF]], %[[RSDF]])
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.divf
// CHECK: %[[LKN:.*]] = cascade.einsum "LKN" [m1, p] = sum [m0]() keep %KEEP
// CHECK: %{{.*}}, %{{.*}}, %[[RKNF:.*]] = cascade.iterate "RKN" [m1, p] over "m1" identity 0.000000e+00(%[[LKN]]) : !cascade.fiber<f32> attributes {combine = "sum"}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.addf
// CHECK: cascade.output %[[AV]] lse %[[LSE]] kept %[[RKNF]]
// The full reductions are gone.
// GONE-NOT: cascade.einsum "GM"
// GONE-NOT: cascade.einsum "SD"
// GONE-NOT: cascade.einsum "NV"
// GONE-NOT: cascade.einsum "KN"
attn.variant @causal {
  cascade.cascade attributes {partitions = {m = 64 : i64}} {
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
      %cst = arith.constant 1.250000e-01 : f32
      %0 = arith.mulf %cst, %qk : f32
      cascade.yield %0 : f32
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
    %LSE = cascade.einsum "LSE" [p] =(%GM, %SD) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %gm: f32, %sd: f32):
      %0 = math.log %sd : f32
      %1 = arith.addf %gm, %0 : f32
      cascade.yield %1 : f32
    }
    %NV = cascade.einsum "NV" [p, f] = sum [m1, m0](%SN, %V) keep %KEEP : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32, %v: f32):
      %0 = arith.mulf %sn, %v : f32
      cascade.yield %0 : f32
    }
    %AV = cascade.einsum "AV" [p, f] =(%NV, %SD) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %nv: f32, %sd: f32):
      %0 = arith.divf %nv, %sd : f32
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

// -----

// Two factors (from attn-to-cascade of a custom norm): SUM2's body is
// exp(2 * (s - MAX0)) * exp(MIN1 - s) = exp(-2 * MAX0) * exp(MIN1) * g, so
// RSUM2 is rescaled by exp(-2 * dMAX0 + dMIN1) and reads both iterates.
// CHECK-LABEL: attn.variant @twofactors
// CHECK: %[[MP:.*]], %[[M:.*]], %{{.*}} = cascade.iterate "RMAX0"
// CHECK: %[[NP:.*]], %[[N:.*]], %{{.*}} = cascade.iterate "RMIN1" {{.*}} identity 0x7FF0000000000000(%LMIN1) : !cascade.fiber<f32> attributes {combine = "min"}
// CHECK: cascade.einsum "LSUM2" [m1, p] = sum [m0](%S, %[[M]], %[[N]]) keep %KEEP
// CHECK: cascade.iterate "RSUM2" [m1, p] over "m1" identity 0.000000e+00(%LSUM2, %[[MP]], %[[M]], %[[NP]], %[[N]]) : {{.*}} attributes {combine = "sum", rescale = [-2.000000e+00, 1.000000e+00]}
// CHECK-NEXT: ^bb0(%{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %[[prev:.*]]: f32, %[[l:.*]]: f32, %[[mp:.*]]: f32, %[[mc:.*]]: f32, %[[np:.*]]: f32, %[[nc:.*]]: f32):
// CHECK-NEXT: %[[D1:.*]] = arith.subf %[[mc]], %[[mp]]
// CHECK-NEXT: %[[C:.*]] = arith.constant -2.0
// CHECK-NEXT: %[[E1:.*]] = arith.mulf %[[C]], %[[D1]]
// CHECK-NEXT: %[[D2:.*]] = arith.subf %[[nc]], %[[np]]
// CHECK-NEXT: %[[E:.*]] = arith.addf %[[E1]], %[[D2]]
// CHECK-NEXT: math.exp %[[E]]
// CHECK: cascade.iterate "RNV" [m1, p, f] {{.*}} rescale = [-1.000000e+00, 1.000000e+00]
attn.variant @twofactors {
  cascade.cascade attributes {partitions = {m = 64 : i64}} {
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
    %MAX0 = cascade.einsum "MAX0" [p] = max [m1, m0](%S) keep %KEEP : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %MIN1 = cascade.einsum "MIN1" [p] = min [m1, m0](%S) keep %KEEP : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %SUM2 = cascade.einsum "SUM2" [p] = sum [m1, m0](%S, %MAX0, %MIN1) keep %KEEP : !cascade.fiber<f32>, !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %max0: f32, %min1: f32):
      %0 = arith.subf %s, %max0 : f32
      %cst = arith.constant 2.000000e+00 : f32
      %1 = arith.mulf %cst, %0 : f32
      %2 = math.exp %1 : f32
      %3 = arith.subf %min1, %s : f32
      %4 = math.exp %3 : f32
      %5 = arith.mulf %2, %4 : f32
      cascade.yield %5 : f32
    }
    %NV = cascade.einsum "NV" [p, f] = sum [m1, m0](%S, %MAX0, %MIN1, %V) keep %KEEP : !cascade.fiber<f32>, !cascade.fiber<f32>, !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %max0: f32, %min1: f32, %v: f32):
      %0 = arith.subf %s, %max0 : f32
      %1 = math.exp %0 : f32
      %2 = arith.subf %min1, %s : f32
      %3 = math.exp %2 : f32
      %4 = arith.mulf %1, %3 : f32
      %5 = arith.mulf %4, %v : f32
      cascade.yield %5 : f32
    }
    %AV = cascade.einsum "AV" [p, f] =(%NV, %SUM2) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %nv: f32, %sum2: f32):
      %0 = arith.divf %nv, %sum2 : f32
      cascade.yield %0 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m1, m0]() keep %KEEP -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %cst = arith.constant 1.000000e+00 : f32
      cascade.yield %cst : f32
    }
    cascade.output %AV kept %KN
  }
}
