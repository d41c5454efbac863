// RUN: attn-opt --cascade-online --split-input-file --verify-diagnostics %s
// RUN: attn-opt --cascade-split-kv=workers=2 --split-input-file --verify-diagnostics %s
// cascade-online needs a partitioned cascade; cascade-split-kv an online one.

attn.variant @unpartitioned {
  // expected-error @+1 {{needs a partitioned}}
  cascade.cascade {
    %KN = cascade.einsum "KN" [p] = sum [m] () -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %0 = arith.constant 1.0 : f32
      cascade.yield %0 : f32
    }
    cascade.output %KN kept %KN
  }
}
