// RUN: attn-opt --attn-to-cascade --split-input-file -verify-diagnostics %s
// What attn-to-cascade cannot lower is reported at the construct, and the
// variant is left as it was.

attn.variant @head_index_as_value {
  attn.score {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error@+1 {{cannot lower a use of argument #0 of 'attn.sum_d' in a cascade map action}}
    %s = attn.sum_d {
    ^bb0(%d: i64):
      %q = attn.q %d
      %df = arith.sitofp %d : i64 to f32
      %x = arith.mulf %q, %df : f32
      attn.yield %x : f32
    }
    attn.yield %s : f32
  }
}
