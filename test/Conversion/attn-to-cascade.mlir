// RUN: attn-opt --attn-to-cascade --split-input-file %s | FileCheck %s
// The canonical cascade of docs/cascade.md: one split per score form and norm.

// Default score and norm: S = 1/sqrt(D) * QK, softmax with LSE, no mask.
// CHECK-LABEL: attn.variant @full
// CHECK-NEXT: cascade.cascade {
// CHECK-NEXT: %Q = cascade.input "Q" [p, e]
// CHECK-NEXT: %K = cascade.input "K" [m, e]
// CHECK-NEXT: %V = cascade.input "V" [m, f]
// CHECK-NEXT: %QK = cascade.einsum "QK" [m, p] = sum [e](%Q, %K)
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
// CHECK-NEXT: arith.mulf %q, %k
// CHECK: %S = cascade.einsum "S" [m, p] =(%QK)
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
// CHECK-NEXT: %D = attn.size D
// CHECK-NEXT: %[[DF:.*]] = arith.sitofp %D
// CHECK-NEXT: %[[SC:.*]] = math.rsqrt %[[DF]]
// CHECK-NEXT: %[[S:.*]] = arith.mulf %[[SC]], %qk
// CHECK-NEXT: cascade.yield %[[S]]
// CHECK: %GM = cascade.einsum "GM" [p] = max [m](%S) :
// CHECK: %SN = cascade.einsum "SN" [m, p] =(%S, %GM)
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %gm: f32):
// CHECK-NEXT: %[[D:.*]] = arith.subf %s, %gm
// CHECK-NEXT: math.exp %[[D]]
// CHECK: %SD = cascade.einsum "SD" [p] = sum [m](%SN) :
// CHECK: %A = cascade.einsum "A" [m, p] =(%SN, %SD)
// CHECK: arith.divf %sn, %sd
// CHECK: %LSE = cascade.einsum "LSE" [p] =(%GM, %SD)
// CHECK: %[[L:.*]] = math.log %sd
// CHECK-NEXT: arith.addf %gm, %[[L]]
// CHECK: %AV = cascade.einsum "AV" [p, f] = sum [m](%A, %V) :
// CHECK: arith.mulf %a, %v
// CHECK: %KN = cascade.einsum "KN" [p] = sum [m]() -> <f32>
// CHECK: arith.constant 1.0
// CHECK: cascade.output %AV lse %LSE kept %KN
// CHECK-NOT: attn.norm
attn.variant @full {
}

// -----

// A mask becomes KEEP, which guards every reduction over m.
// CHECK-LABEL: attn.variant @causal
// CHECK: %KEEP = cascade.einsum "KEEP" [m, p] =() -> <i1>
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
// CHECK-NEXT: %[[C:.*]] = arith.cmpi sle, %j, %i
// CHECK-NEXT: cascade.yield %[[C]] : i1
// CHECK: "GM" [p] = max [m](%S) keep %KEEP
// CHECK: "SD" [p] = sum [m](%SN) keep %KEEP
// CHECK: "AV" [p, f] = sum [m](%A, %V) keep %KEEP
// CHECK: "KN" [p] = sum [m]() keep %KEEP
// CHECK-NOT: attn.mask
attn.variant @causal {
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %c = arith.cmpi sle, %j, %i : i64
    attn.yield %c : i1
  }
}

// -----

// `qk` is scale * QK; params stay attn.get_param.
// CHECK-LABEL: attn.variant @softcap
// CHECK: attn.param @cap : f32 = 3.000000e+01 : f32
// CHECK: %S = cascade.einsum "S" [m, p] =(%QK)
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
// CHECK-NEXT: %D = attn.size D
// CHECK-NEXT: arith.sitofp
// CHECK-NEXT: %[[SC:.*]] = math.rsqrt
// CHECK-NEXT: %[[QK:.*]] = arith.mulf %[[SC]], %qk
// CHECK-NEXT: %cap = attn.get_param @cap : f32
// CHECK-NEXT: %[[X:.*]] = arith.divf %[[QK]], %cap
// CHECK-NEXT: %[[T:.*]] = math.tanh %[[X]]
// CHECK-NEXT: %cap_0 = attn.get_param @cap : f32
// CHECK-NEXT: %[[R:.*]] = arith.mulf %cap_0, %[[T]]
// CHECK-NEXT: cascade.yield %[[R]]
// CHECK-NOT: attn.score
attn.variant @softcap {
  attn.param @cap : f32 = 30.0 : f32
  attn.score {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %qk = attn.qk
    %cap = attn.get_param @cap : f32
    %x = arith.divf %qk, %cap : f32
    %t = math.tanh %x : f32
    %cap2 = attn.get_param @cap : f32
    %r = arith.mulf %cap2, %t : f32
    attn.yield %r : f32
  }
}

// -----

// `dot(q, k)` is QK itself: no scale.
// CHECK-LABEL: attn.variant @dot
// CHECK: %S = cascade.einsum "S" [m, p] =(%QK)
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
// CHECK-NEXT: %[[H:.*]] = arith.constant 5.0
// CHECK-NEXT: %[[R:.*]] = arith.mulf %qk, %[[H]]
// CHECK-NEXT: cascade.yield %[[R]]
attn.variant @dot {
  attn.score {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %d = attn.dot
    %c = arith.constant 0.5 : f32
    %r = arith.mulf %d, %c : f32
    attn.yield %r : f32
  }
}

// -----

// Each sum[d](...) is a QKD<n> Einsum over e with q[d], k[d] -> its block
// arguments; no QK when the score never reads it; `scale` is inlined.
// CHECK-LABEL: attn.variant @l2_distance
// CHECK-NOT: "QK"
// CHECK: %QKD0 = cascade.einsum "QKD0" [m, p] = sum [e](%Q, %K)
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
// CHECK-NEXT: %[[D:.*]] = arith.subf %q, %k
// CHECK-NEXT: %[[D2:.*]] = arith.mulf %[[D]], %[[D]]
// CHECK-NEXT: cascade.yield %[[D2]]
// CHECK: %S = cascade.einsum "S" [m, p] =(%QKD0)
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qkd0: f32):
// CHECK-NEXT: %[[N:.*]] = arith.negf %qkd0
// CHECK-NEXT: %D = attn.size D
// CHECK-NEXT: arith.sitofp
// CHECK-NEXT: %[[SC:.*]] = math.rsqrt
// CHECK-NEXT: arith.mulf %[[N]], %[[SC]]
attn.variant @l2_distance {
  attn.score {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %s = attn.sum_d {
    ^bb0(%d: i64):
      %q = attn.q %d
      %k = attn.k %d
      %x = arith.subf %q, %k : f32
      %y = arith.mulf %x, %x : f32
      attn.yield %y : f32
    }
    %n = arith.negf %s : f32
    %sc = attn.get_scale
    %r = arith.mulf %n, %sc : f32
    attn.yield %r : f32
  }
}

// -----

// A scale statement replaces 1/sqrt(D) wherever the scale is read.
// CHECK-LABEL: attn.variant @scaled
// CHECK: %S = cascade.einsum "S" [m, p] =(%QK)
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32):
// CHECK-NEXT: %[[C:.*]] = arith.constant 1.250000e-01
// CHECK-NEXT: %[[R:.*]] = arith.mulf %[[C]], %qk
// CHECK-NEXT: cascade.yield %[[R]]
// CHECK-NOT: attn.scale
attn.variant @scaled {
  attn.scale {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %c = arith.constant 0.125 : f32
    attn.yield %c : f32
  }
}

// -----

// The bias is added to the score inside S; only the slice it needs is cloned.
// CHECK-LABEL: attn.variant @t5_relpos
// CHECK: %S = cascade.einsum "S" [m, p] =(%QK)
// CHECK: %[[SC:.*]] = arith.mulf {{.*}}, %qk
// CHECK-NEXT: %[[R:.*]] = arith.subi %j, %i
// CHECK-NEXT: %table = attn.load @table[%h, %[[R]]] : f32
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[SC]], %table
// CHECK-NEXT: cascade.yield %[[S]]
// CHECK-NOT: attn.bias
attn.variant @t5_relpos {
  attn.tensor @table : f32 ["H", 32 : i64]
  attn.bias {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %unused = arith.constant 7 : i64
    %r = arith.subi %j, %i : i64
    %t = attn.load @table[%h, %r] : f32
    attn.yield %t : f32
  }
}

// -----

// softmax(sink = ...): SINK starts GM, SINKD = exp(SINK - GM) starts SD.
// CHECK-LABEL: attn.variant @gpt_oss_sinks
// CHECK: %SINK = cascade.einsum "SINK" [p] =() -> <f32>
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
// CHECK-NEXT: %sinks = attn.load @sinks[%h] : f32
// CHECK-NEXT: cascade.yield %sinks
// CHECK: %GM = cascade.einsum "GM" [p] = max [m](%S) init %SINK
// CHECK: %SINKD = cascade.einsum "SINKD" [p] =(%SINK, %GM)
// CHECK: %[[D:.*]] = arith.subf %sink, %gm
// CHECK-NEXT: math.exp %[[D]]
// CHECK: %SD = cascade.einsum "SD" [p] = sum [m](%SN) init %SINKD
attn.variant @gpt_oss_sinks {
  attn.tensor @sinks : f32 ["H"]
  attn.norm softmax {
  ^bb0(%b: i64, %h: i64, %i: i64):
    %0 = attn.load @sinks[%h] : f32
    attn.yield %0 : f32
  }
}

// -----

// sigmoid: A = 1 / (1 + exp(-s)); no row reduction, no LSE.
// CHECK-LABEL: attn.variant @sigmoid_attn
// CHECK-NOT: "GM"
// CHECK: %A = cascade.einsum "A" [m, p] =(%S)
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
// CHECK-NEXT: %[[ONE:.*]] = arith.constant 1.0
// CHECK-NEXT: %[[N:.*]] = arith.negf %s
// CHECK-NEXT: %[[E:.*]] = math.exp %[[N]]
// CHECK-NEXT: %[[D:.*]] = arith.addf %[[ONE]], %[[E]]
// CHECK-NEXT: %[[W:.*]] = arith.divf %[[ONE]], %[[D]]
// CHECK-NEXT: cascade.yield %[[W]]
// CHECK: cascade.output %AV kept %KN
attn.variant @sigmoid_attn {
  attn.norm sigmoid
}

// -----

// CHECK-LABEL: attn.variant @relu
// CHECK: %A = cascade.einsum "A" [m, p] =(%S)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: %[[Z:.*]] = arith.constant 0.0
// CHECK-NEXT: %[[W:.*]] = arith.maximumf %s, %[[Z]]
// CHECK-NEXT: cascade.yield %[[W]]
attn.variant @relu { attn.norm relu }

// -----

// CHECK-LABEL: attn.variant @relu2
// CHECK: %A = cascade.einsum "A" [m, p] =(%S)
// CHECK: %[[R:.*]] = arith.maximumf %s
// CHECK-NEXT: %[[W:.*]] = arith.mulf %[[R]], %[[R]]
// CHECK-NEXT: cascade.yield %[[W]]
attn.variant @relu2 { attn.norm relu2 }

// -----

// softplus, stably: max(s, 0) + log1p(exp(-|s|)).
// CHECK-LABEL: attn.variant @softplus
// CHECK: %A = cascade.einsum "A" [m, p] =(%S)
// CHECK: %[[P:.*]] = arith.maximumf %s
// CHECK-NEXT: %[[ABS:.*]] = math.absf %s
// CHECK-NEXT: %[[N:.*]] = arith.negf %[[ABS]]
// CHECK-NEXT: %[[E:.*]] = math.exp %[[N]]
// CHECK-NEXT: %[[L:.*]] = math.log1p %[[E]]
// CHECK-NEXT: %[[W:.*]] = arith.addf %[[P]], %[[L]]
// CHECK-NEXT: cascade.yield %[[W]]
attn.variant @softplus { attn.norm softplus }

// -----

// linear: SD = sum s, A = s / SD.
// CHECK-LABEL: attn.variant @linear
// CHECK: %SD = cascade.einsum "SD" [p] = sum [m](%S)
// CHECK: %A = cascade.einsum "A" [m, p] =(%S, %SD)
// CHECK: arith.divf %s, %sd
// CHECK: cascade.output %AV kept %KN
attn.variant @linear { attn.norm linear }

// -----

// none: A = s.
// CHECK-LABEL: attn.variant @none
// CHECK: %A = cascade.einsum "A" [m, p] =(%S)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: cascade.yield %s
attn.variant @none { attn.norm none }

// -----

// custom: each reduce_j is a reduction over m named after the user's name
// (from the op's NameLoc), reading S and the earlier reductions it uses; the
// per-key lines are recomputed where used; w becomes A.
// CHECK-LABEL: attn.variant @softpick
// CHECK: %M = cascade.einsum "M" [p] = max [m](%S) keep %KEEP
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
// CHECK-NEXT: cascade.yield %s
// CHECK: %N = cascade.einsum "N" [p] = sum [m](%S, %M) keep %KEEP
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %m: f32):
// CHECK-NEXT: %[[D:.*]] = arith.subf %s, %m
// CHECK-NEXT: %[[E:.*]] = math.exp %[[D]]
// CHECK-NEXT: %[[NM:.*]] = arith.negf %m
// CHECK-NEXT: %[[E2:.*]] = math.exp %[[NM]]
// CHECK-NEXT: %[[X:.*]] = arith.subf %[[E]], %[[E2]]
// CHECK-NEXT: %[[AB:.*]] = math.absf %[[X]]
// CHECK-NEXT: cascade.yield %[[AB]]
// CHECK: %A = cascade.einsum "A" [m, p] =(%S, %M, %N)
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %m: f32, %n: f32):
// CHECK: %[[R:.*]] = arith.maximumf
// CHECK-NEXT: %[[W:.*]] = arith.divf %[[R]], %n
// CHECK-NEXT: cascade.yield %[[W]]
// CHECK: cascade.output %AV kept %KN
// CHECK-NOT: attn.norm
attn.variant @softpick {
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %c = arith.cmpi sle, %j, %i : i64
    attn.yield %c : i1
  }
  attn.norm custom {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
    %m = attn.reduce_j max {
      attn.yield %s : f32
    } loc("m")
    %d = arith.subf %s, %m : f32
    %e = math.exp %d : f32
    %nm = arith.negf %m : f32
    %e2 = math.exp %nm : f32
    %x = arith.subf %e, %e2 : f32
    %n = attn.reduce_j sum {
      %a = math.absf %x : f32
      attn.yield %a : f32
    } loc("n")
    %zero = arith.constant 0.0 : f32
    %r = arith.maximumf %x, %zero : f32
    %w = arith.divf %r, %n : f32
    attn.yield %w : f32
  }
}

// -----

// custom without names: reductions are named after their kind and position;
// only the reductions a body reads are its inputs; unread ones are dropped.
// CHECK-LABEL: attn.variant @l1_relu
// CHECK: %SUM0 = cascade.einsum "SUM0" [p] = sum [m](%S)
// CHECK: %[[R:.*]] = arith.maximumf %s
// CHECK-NEXT: cascade.yield %[[R]]
// CHECK-NOT: "MAX1"
// CHECK: %A = cascade.einsum "A" [m, p] =(%S, %SUM0)
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %sum0: f32):
attn.variant @l1_relu {
  attn.norm custom {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
    %zero = arith.constant 0.0 : f32
    %r = arith.maximumf %s, %zero : f32
    %z = attn.reduce_j sum {
      attn.yield %r : f32
    }
    %unused = attn.reduce_j max {
      attn.yield %s : f32
    }
    %w = arith.divf %r, %z : f32
    attn.yield %w : f32
  }
}

// -----

// Nested row reductions (sum_j(exp(s - max_j(s)))): the inner one is hoisted
// first; the written-out softmax gives softmax's Einsums.
// CHECK-LABEL: attn.variant @softmax_written_out
// CHECK: %MAX0 = cascade.einsum "MAX0" [p] = max [m](%S)
// CHECK: %SUM1 = cascade.einsum "SUM1" [p] = sum [m](%S, %MAX0)
// CHECK: %MAX2 = cascade.einsum "MAX2" [p] = max [m](%S)
// CHECK: %A = cascade.einsum "A" [m, p] =(%S, %SUM1, %MAX2)
attn.variant @softmax_written_out {
  attn.norm custom {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
    %z = attn.reduce_j sum {
      %m = attn.reduce_j max {
        attn.yield %s : f32
      }
      %d = arith.subf %s, %m : f32
      %e = math.exp %d : f32
      attn.yield %e : f32
    }
    %m2 = attn.reduce_j max {
      attn.yield %s : f32
    }
    %d2 = arith.subf %s, %m2 : f32
    %e2 = math.exp %d2 : f32
    %w = arith.divf %e2, %z : f32
    attn.yield %w : f32
  }
}

// -----

// A score that reads neither q nor k needs no QK, Q or K.
// CHECK-LABEL: attn.variant @constant_score
// CHECK-NEXT: cascade.cascade {
// CHECK-NEXT: %V = cascade.input "V" [m, f]
// CHECK-NEXT: %S = cascade.einsum "S" [m, p] =() -> <f32>
// CHECK-NOT: "QK"
attn.variant @constant_score {
  attn.score {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %c = arith.constant 1.0 : f32
    attn.yield %c : f32
  }
}

// -----

// A variant that already holds its cascade is left alone.
// CHECK-LABEL: attn.variant @lowered
// CHECK-NEXT: cascade.cascade {
// CHECK-NEXT: %R = cascade.einsum "R" [p] =() -> <f32>
// CHECK: cascade.output %R kept %R
// CHECK-NEXT: }
// CHECK-NEXT: }
attn.variant @lowered {
  cascade.cascade {
    %R = cascade.einsum "R" [p] = () -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %c = arith.constant 1.0 : f32
      cascade.yield %c : f32
    }
    cascade.output %R kept %R
  }
}
