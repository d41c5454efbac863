// RUN: attn-opt %s -split-input-file -verify-diagnostics
// One verifier error per split.

attn.variant @v {
  // expected-error @+1 {{is not allowed directly inside attn.variant}}
  %0 = attn.size H
}

// -----

attn.variant @v {
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %t = arith.constant true
    attn.yield %t : i1
  }
  // expected-error @+1 {{appears more than once in variant @v}}
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %t = arith.constant true
    attn.yield %t : i1
  }
}

// -----

attn.variant @v {
  // expected-error @+1 {{type must be i32, f32 or i1, got 'f64'}}
  attn.param @p : f64
}

// -----

attn.variant @v {
  // expected-error @+1 {{default value type 'f32' does not match param type 'i32'}}
  attn.param @p : i32 = 1.0 : f32
}

// -----

attn.variant @v {
  // expected-error @+1 {{element type must be i32 or f32, got 'i1'}}
  attn.tensor @t : i1 ["B"]
}

// -----

attn.variant @v {
  // expected-error @+1 {{must have at least one dimension}}
  attn.tensor @t : f32 []
}

// -----

attn.variant @v {
  // expected-error @+1 {{unknown size name 'W' (expected B, H, Hkv, Sq, Skv or D)}}
  attn.tensor @t : f32 ["W"]
}

// -----

attn.variant @v {
  // expected-error @+1 {{literal dimension must be positive, got 0}}
  attn.tensor @t : f32 [0]
}

// -----

attn.variant @v {
  // expected-error @+1 {{dimension must be a size name or an integer}}
  attn.tensor @t : f32 [1.0]
}

// -----

attn.variant @v {
  // expected-error @+1 {{region expects 4 arguments, got 3}}
  attn.score {
  ^bb0(%b: i64, %h: i64, %i: i64):
    %0 = attn.qk
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  // expected-error @+1 {{region argument #2 must be 'i64', got 'i32'}}
  attn.bias {
  ^bb0(%b: i64, %h: i64, %i: i32, %j: i64):
    %0 = arith.constant 0.0 : f32
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  // expected-error @+1 {{region must yield one value of type 'i1'}}
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %0 = arith.constant 0.0 : f32
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  // expected-error @+1 {{region must yield one value of type 'f32'}}
  attn.score {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %0 = arith.cmpi sle, %j, %i : i64
    attn.yield %0 : i1
  }
}

// -----

attn.variant @v {
  // expected-error @+1 {{norm 'sigmoid' takes no region}}
  attn.norm sigmoid {
  ^bb0(%b: i64, %h: i64, %i: i64):
    %0 = arith.constant 0.0 : f32
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  // expected-error @+1 {{expects a non-empty region}}
  attn.norm custom
}

// -----

attn.variant @v {
  // expected-error @+1 {{region expects 3 arguments, got 4}}
  attn.norm softmax {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %0 = arith.constant 0.0 : f32
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  // expected-error @+1 {{region argument #4 must be 'f32', got 'i64'}}
  attn.norm custom {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: i64):
    %0 = arith.constant 0.0 : f32
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.scale {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error @+1 {{cannot be used inside the scale statement itself}}
    %0 = attn.get_scale
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.bias {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error @+1 {{may only appear inside attn.score}}
    %0 = attn.qk
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error @+1 {{may only appear inside attn.score}}
    %0 = attn.dot
    %c = arith.constant 0.0 : f32
    %1 = arith.cmpf ogt, %0, %c : f32
    attn.yield %1 : i1
  }
}

// -----

attn.variant @v {
  attn.norm custom {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
    // expected-error @+1 {{may only appear inside attn.score}}
    %0 = attn.sum_d {
    ^bb0(%d: i64):
      %q = attn.q %d
      attn.yield %q : f32
    }
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.score {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error @+1 {{region expects 1 arguments, got 0}}
    %0 = attn.sum_d {
      %c = arith.constant 0.0 : f32
      attn.yield %c : f32
    }
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.score {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error @+1 {{may only appear inside attn.sum_d}}
    %0 = attn.q %j
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.score {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error @+1 {{may only appear inside attn.sum_d}}
    %0 = attn.k %j
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.bias {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error @+1 {{may only appear inside a custom attn.norm}}
    %0 = attn.reduce_j sum {
      %c = arith.constant 1.0 : f32
      attn.yield %c : f32
    }
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.norm custom {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
    // expected-error @+1 {{region expects 0 arguments, got 1}}
    %0 = attn.reduce_j max {
    ^bb0(%x: i64):
      attn.yield %s : f32
    }
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.norm custom {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
    // expected-error @+1 {{region must yield one value of type 'f32'}}
    %0 = attn.reduce_j max {
      attn.yield %j : i64
    }
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.bias {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error @+1 {{'p' is not a param of variant @v}}
    %0 = attn.get_param @p : f32
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.param @p : i32 = 3 : i32
  attn.bias {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error @+1 {{result type 'f32' does not match param type 'i64'}}
    %0 = attn.get_param @p : f32
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.bias {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error @+1 {{'t' is not a tensor of variant @v}}
    %0 = attn.load @t[%h] : f32
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.tensor @t : f32 ["H", 32]
  attn.bias {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error @+1 {{tensor 't' has rank 2, got 1 indices}}
    %0 = attn.load @t[%h] : f32
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  attn.tensor @t : i32 ["B", "Skv"]
  attn.bias {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error @+1 {{result type 'f32' does not match 'i64'}}
    %0 = attn.load @t[%b, %j] : f32
    attn.yield %0 : f32
  }
}

// -----

// expected-error @+1 {{must be inside an attn.variant}}
%0 = attn.get_param @p : f32

// -----

%i = arith.constant 0 : i64
// expected-error @+1 {{must be inside an attn.variant}}
%0 = attn.load @t[%i] : f32

// -----

// expected-error @+1 {{expects parent op 'attn.variant'}}
attn.norm softmax

// -----

// expected-error @+1 {{expects parent op to be one of}}
attn.yield

// -----

// A statement is a closed function of its block arguments.
attn.variant @v {
  %0 = arith.constant 1.0 : f32
  // expected-note @+1 {{required by region isolation constraints}}
  attn.bias {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    // expected-error @+1 {{using value defined outside the region}}
    attn.yield %0 : f32
  }
}

// -----

attn.variant @v {
  // expected-note @+1 {{see existing symbol definition here}}
  attn.param @x : f32
  // expected-error @+1 {{redefinition of symbol named 'x'}}
  attn.tensor @x : f32 ["H"]
}
