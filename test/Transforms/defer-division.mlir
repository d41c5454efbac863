// RUN: attn-opt --cascade-defer-division --split-input-file %s | FileCheck %s
// A = N / D feeding only AV = sum[m](A, V) becomes NV = sum[m](N * v) and
// AV = NV / D (D reads only row-level fibers and b, h, i).

// Softmax: A = SN / SD.
// CHECK-LABEL: attn.variant @softmax
// CHECK: %[[SN:.*]] = cascade.einsum "SN" [m, p]
// CHECK: %[[SD:.*]] = cascade.einsum "SD" [p] = sum [m](%[[SN]]) keep %[[KEEP:[^ ]*]]
// CHECK-NOT: "A"
// CHECK: %[[NV:.*]] = cascade.einsum "NV" [p, f] = sum [m](%[[SN]], %V) keep %[[KEEP]]
// CHECK-NEXT: ^bb0(%{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %[[sn:.*]]: f32, %[[v:.*]]: f32):
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[sn]], %[[v]] : f32
// CHECK-NEXT: cascade.yield %[[P]]
// CHECK: %[[AV:.*]] = cascade.einsum "AV" [p, f] =(%[[NV]], %[[SD]])
// CHECK-NEXT: ^bb0(%{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %[[nv:.*]]: f32, %[[sd:.*]]: f32):
// CHECK-NEXT: %[[Q:.*]] = arith.divf %[[nv]], %[[sd]] : f32
// CHECK-NEXT: cascade.yield %[[Q]]
// CHECK: cascade.output %[[AV]]
attn.variant @softmax {
  cascade.cascade {
    %Q = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    %K = cascade.input "K" [m, e] : !cascade.fiber<f32>
    %V = cascade.input "V" [m, f] : !cascade.fiber<f32>
    %S = cascade.einsum "S" [m, p] = sum [e] (%Q, %K) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %KEEP = cascade.einsum "KEEP" [m, p] = () -> !cascade.fiber<i1> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.cmpi sle, %j, %i : i64
      cascade.yield %0 : i1
    }
    %GM = cascade.einsum "GM" [p] = max [m] (%S) keep %KEEP : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %SN = cascade.einsum "SN" [m, p] = (%S, %GM) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %gm: f32):
      %0 = arith.subf %s, %gm : f32
      %1 = math.exp %0 : f32
      cascade.yield %1 : f32
    }
    %SD = cascade.einsum "SD" [p] = sum [m] (%SN) keep %KEEP : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32):
      cascade.yield %sn : f32
    }
    %A = cascade.einsum "A" [m, p] = (%SN, %SD) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32, %sd: f32):
      %0 = arith.divf %sn, %sd : f32
      cascade.yield %0 : f32
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
    cascade.output %AV kept %KN
  }
}

// -----

// Softpick: A = relu(exp(s - m) - exp(-m)) / n; N reads S and the row-level GM.
// CHECK-LABEL: attn.variant @softpick
// CHECK: %[[NV:.*]] = cascade.einsum "NV" [p, f] = sum [m](%S, %GM, %V)
// CHECK: arith.maximumf
// CHECK: %[[P:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK-NEXT: cascade.yield %[[P]]
// CHECK: cascade.einsum "AV" [p, f] =(%[[NV]], %N)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.divf
// CHECK-NEXT: cascade.yield
attn.variant @softpick {
  cascade.cascade {
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
    %N = cascade.einsum "N" [p] = sum [m] (%S, %GM) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %m: f32):
      %0 = arith.subf %s, %m : f32
      %1 = math.exp %0 : f32
      %2 = arith.negf %m : f32
      %3 = math.exp %2 : f32
      %4 = arith.subf %1, %3 : f32
      %5 = math.absf %4 : f32
      cascade.yield %5 : f32
    }
    %A = cascade.einsum "A" [m, p] = (%S, %GM, %N) : !cascade.fiber<f32>, !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
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
    %AV = cascade.einsum "AV" [p, f] = sum [m] (%A, %V) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %a: f32, %v: f32):
      %0 = arith.mulf %v, %a : f32
      cascade.yield %0 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m] () -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV kept %KN
  }
}

// -----

// A denominator that reads j (or a key-level fiber) is not deferred.
// CHECK-LABEL: attn.variant @keydenominator
// CHECK: cascade.einsum "A" [m, p]
// CHECK: cascade.einsum "AV" [p, f] = sum [m]
// CHECK-NOT: "NV"
attn.variant @keydenominator {
  cascade.cascade {
    %V = cascade.input "V" [m, f] : !cascade.fiber<f32>
    %S = cascade.einsum "S" [m, p] = () -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    %A = cascade.einsum "A" [m, p] = (%S) : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      %0 = arith.sitofp %j : i64 to f32
      %1 = arith.divf %s, %0 : f32
      cascade.yield %1 : f32
    }
    %AV = cascade.einsum "AV" [p, f] = sum [m] (%A, %V) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %a: f32, %v: f32):
      %0 = arith.mulf %a, %v : f32
      cascade.yield %0 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m] () -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV kept %KN
  }
}

// -----

// Sigmoid has no division: nothing changes.
// CHECK-LABEL: attn.variant @sigmoid
// CHECK: cascade.einsum "A" [m, p]
// CHECK: cascade.einsum "AV" [p, f] = sum [m]
attn.variant @sigmoid {
  cascade.cascade {
    %V = cascade.input "V" [m, f] : !cascade.fiber<f32>
    %S = cascade.einsum "S" [m, p] = () -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
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
    %AV = cascade.einsum "AV" [p, f] = sum [m] (%A, %V) : !cascade.fiber<f32>, !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %a: f32, %v: f32):
      %0 = arith.mulf %a, %v : f32
      cascade.yield %0 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m] () -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV kept %KN
  }
}
