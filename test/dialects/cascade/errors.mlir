// RUN: attn-opt %s -split-input-file -verify-diagnostics
// One verifier error per split.

attn.variant @v {
  cascade.cascade {
    // expected-error@+1 {{input must be Q, K or V, got 'X'}}
    %0 = cascade.input "X" [p, e] : !cascade.fiber<f32>
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    // expected-error@+1 {{ranks names rank 'p' twice}}
    %0 = cascade.input "Q" [p, p] : !cascade.fiber<f32>
  }
}

// -----

attn.variant @v {
  // expected-error@+1 {{partition of rank 'm' must be a positive integer tile size}}
  cascade.cascade attributes {partitions = {m = 0 : i64}} {
    %0 = cascade.input "V" [p, f] : !cascade.fiber<f32>
    cascade.output %0 kept %0
  }
}

// -----

attn.variant @v {
  // expected-error@+1 {{only ranks m and p are partitioned, got 'e'}}
  cascade.cascade attributes {partitions = {e = 16 : i64}} {
    %0 = cascade.input "V" [p, f] : !cascade.fiber<f32>
    cascade.output %0 kept %0
  }
}

// -----

attn.variant @v {
  // expected-error@+1 {{split must be positive}}
  cascade.cascade attributes {split = 0 : i64} {
    %0 = cascade.input "V" [p, f] : !cascade.fiber<f32>
    cascade.output %0 kept %0
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    %0 = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    // expected-error@+1 {{redefines 'Q': each Einsum of a cascade has its own name}}
    %1 = cascade.einsum "Q" [p] = sum [e](%0) : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32):
      cascade.yield %q : f32
    }
    cascade.output %1 kept %1
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    %0 = cascade.input "V" [m, f] : !cascade.fiber<f32>
    // expected-error@+1 {{AV must not have the key rank 'm'}}
    cascade.output %0 kept %0
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    %0 = cascade.einsum "X" [p, f] = () -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %c = arith.constant 1.0 : f32
      cascade.yield %c : f32
    }
    // expected-error@+1 {{the kept count must not have the head-dim rank 'f'}}
    cascade.output %0 kept %0
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    %0 = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    // expected-error@+1 {{rank 'e' is both kept and reduced}}
    %1 = cascade.einsum "X" [p, e] = sum [e](%0) : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32):
      cascade.yield %q : f32
    }
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    %0 = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    // expected-error@+1 {{reduce ranks given without a reduction}}
    %1 = "cascade.einsum"(%0) <{name = "X", ranks = ["p"], reduce_ranks = ["e"], operandSegmentSizes = array<i32: 1, 0, 0>}> ({
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32):
      cascade.yield %q : f32
    }) : (!cascade.fiber<f32>) -> !cascade.fiber<f32>
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    %0 = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    // expected-error@+1 {{input over [p, e] is not within the iteration space [p]}}
    %1 = cascade.einsum "X" [p] = (%0) : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32):
      cascade.yield %q : f32
    }
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    %0 = cascade.input "K" [m, e] : !cascade.fiber<f32>
    %k = cascade.einsum "KEEP" [m] = () -> !cascade.fiber<i1> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %t = arith.constant true
      cascade.yield %t : i1
    }
    // expected-error@+1 {{keep and init need a reduction}}
    %1 = cascade.einsum "X" [m, e] = (%0) keep %k : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %x: f32):
      cascade.yield %x : f32
    }
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    %0 = cascade.input "K" [m, e] : !cascade.fiber<f32>
    // expected-error@+1 {{init over [m, e] is not within the result ranks [e]}}
    %1 = cascade.einsum "X" [e] = sum [m](%0) init %0 : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %x: f32):
      cascade.yield %x : f32
    }
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    %0 = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    // expected-error@+1 {{body expects 5 arguments (b, h, i, j, one per input), got 4}}
    %1 = cascade.einsum "X" [p] = sum [e](%0) : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %c = arith.constant 1.0 : f32
      cascade.yield %c : f32
    }
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    %0 = cascade.input "Q" [p, e] : !cascade.fiber<f32>
    // expected-error@+1 {{body argument #4 must be 'f32', got 'i64'}}
    %1 = cascade.einsum "X" [p] = sum [e](%0) : !cascade.fiber<f32> -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: i64):
      %c = arith.constant 1.0 : f32
      cascade.yield %c : f32
    }
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    // expected-error@+1 {{body yields 'i1' but the result holds 'f32'}}
    %1 = cascade.einsum "X" [p] = () -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %c = arith.constant true
      cascade.yield %c : i1
    }
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    // expected-error@+1 {{reductions produce f32}}
    %1 = cascade.einsum "X" [p] = max [m]() -> !cascade.fiber<i1> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %c = arith.constant true
      cascade.yield %c : i1
    }
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    %0 = cascade.input "K" [m, e] : !cascade.fiber<f32>
    // expected-error@+1 {{iterative rank 'm1' is not among [m, e]}}
    %1:3 = cascade.iterate "R" [m, e] over "m1" identity 0.0(%0) : !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %x: f32):
      cascade.yield %x : f32
    }
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    %0 = cascade.input "K" [m1, e] : !cascade.fiber<f32>
    // expected-error@+1 {{init over [m1, e] must not use the iterative rank}}
    %1:3 = cascade.iterate "R" [m1, e] over "m1" identity 0.0(%0) init %0 : !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %x: f32):
      cascade.yield %x : f32
    }
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    %0 = cascade.input "K" [m1, e] : !cascade.fiber<f32>
    // expected-error@+1 {{body expects 6 arguments (b, h, i, j, prev, one per input), got 5}}
    %1:3 = cascade.iterate "R" [m1, e] over "m1" identity 0.0(%0) : !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %x: f32):
      cascade.yield %x : f32
    }
  }
}

// -----

attn.variant @v {
  cascade.cascade {
    // expected-error@+1 {{needs a name}}
    %1 = cascade.einsum "" [p] = () -> !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
      %c = arith.constant 1.0 : f32
      cascade.yield %c : f32
    }
  }
}
