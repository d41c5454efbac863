// RUN: attn-opt --cascade-split-kv=workers=4 %s | FileCheck %s
// Split-KV on the online softmax: m1 -> m2 x m1 (split = 4), the iterates run
// per worker (m2) and each final is merged over m2; the sums are rescaled by
// exp(-(GM - RGM_w)) with the merged max, guarded for empty workers.

// CHECK-LABEL: attn.variant @causal
// CHECK: cascade.cascade attributes {partitions = {m = 64 : i64}, split = 4 : i64}
// CHECK: cascade.input "K" [m2, m1, m0, e]
// CHECK: cascade.einsum "LGM" [m2, m1, p] = max [m0](%S) keep %KEEP
// CHECK: %[[RGMP:.*]], %[[RGM:.*]], %[[RGMF:.*]] = cascade.iterate "RGM" [m2, m1, p] over "m1"
// CHECK: %[[GM:.*]] = cascade.einsum "RGM_merged" [p] = max [m2](%[[RGMF]])
// CHECK-NEXT: ^bb0
// CHECK-NEXT: cascade.yield
// CHECK: %[[SN:.*]] = cascade.einsum "SN" [m2, m1, m0, p] =(%S, %[[RGM]])
// CHECK: %{{.*}}, %{{.*}}, %[[RSDF:.*]] = cascade.iterate "RSD" [m2, m1, p] over "m1" {{.*}}(%LSD, %[[RGMP]], %[[RGM]])
// CHECK: %[[SD:.*]] = cascade.einsum "RSD_merged" [p] = sum [m2](%[[RSDF]], %[[RGMF]], %[[GM]])
// CHECK-NEXT: ^bb0(%{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %[[x:.*]]: f32, %[[rw:.*]]: f32, %[[m:.*]]: f32):
// CHECK-NEXT: %[[D:.*]] = arith.subf %[[m]], %[[rw]]
// CHECK-NEXT: %[[C:.*]] = arith.constant -1.0
// CHECK-NEXT: %[[E:.*]] = arith.mulf %[[C]], %[[D]]
// CHECK-NEXT: %[[K:.*]] = math.exp %[[E]]
// CHECK-NEXT: %[[XK:.*]] = arith.mulf %[[x]], %[[K]]
// CHECK-NEXT: %[[Z:.*]] = arith.constant 0.0
// CHECK-NEXT: %[[ISID:.*]] = arith.cmpf oeq, %[[x]], %[[Z]]
// CHECK-NEXT: %[[R:.*]] = arith.select %[[ISID]], %[[Z]], %[[XK]]
// CHECK-NEXT: cascade.yield %[[R]]
// CHECK: %[[LSE:.*]] = cascade.einsum "LSE" [p] =(%[[GM]], %[[SD]])
// CHECK: cascade.einsum "LNV" [m2, m1, p, f] = sum [m0](%[[SN]], %V)
// CHECK: %{{.*}}, %{{.*}}, %[[RNVF:.*]] = cascade.iterate "RNV" [m2, m1, p, f] over "m1"
// CHECK: %[[NV:.*]] = cascade.einsum "RNV_merged" [p, f] = sum [m2](%[[RNVF]], %[[RGMF]], %[[GM]])
// CHECK: %[[AV:.*]] = cascade.einsum "AV" [p, f] =(%[[NV]], %[[SD]])
// CHECK: %{{.*}}, %{{.*}}, %[[RKNF:.*]] = cascade.iterate "RKN" [m2, m1, p] over "m1"
// CHECK: %[[KN:.*]] = cascade.einsum "RKN_merged" [p] = sum [m2](%[[RKNF]])
// CHECK: cascade.output %[[AV]] lse %[[LSE]] kept %[[KN]]
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
