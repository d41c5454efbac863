// RUN: attn-opt --cascade-to-spatial --split-input-file --verify-diagnostics %s

// The key rank must be partitioned first.
attn.variant @unpartitioned {
  // expected-error @below {{cascade-to-spatial needs a partitioned key rank (run cascade-partition first)}}
  cascade.cascade {
    %Q = cascade.input "Q" [p, e] : <f32>
    %K = cascade.input "K" [m, e] : <f32>
    %V = cascade.input "V" [m, f] : <f32>
    %QK = cascade.einsum "QK" [m, p] = sum [e](%Q, %K) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %AV = cascade.einsum "AV" [p, f] = sum [m](%QK, %V) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %qk: f32, %v: f32):
      %0 = arith.mulf %qk, %v : f32
      cascade.yield %0 : f32
    }
    %KN = cascade.einsum "KN" [p] = sum [m]() -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV kept %KN
  }
}

// -----

// expected-error @below {{cascade-to-spatial: the variant has no cascade.cascade}}
attn.variant @empty {
}
