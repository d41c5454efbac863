// RUN: attn-opt --attn-to-cascade --cascade-test-pass-count --split-input-file -verify-diagnostics %s | FileCheck %s
// Passes over K/V (FuseMax §III): an Einsum iterating a key rank that reads a
// value complete only after a full pass over m (or m1) runs in a later pass.
// The analysis leaves the IR alone.

// The canonical softmax cascade needs 3 passes.
// CHECK-LABEL: attn.variant @softmax
// CHECK: "GM"
// expected-remark@+5 {{3 passes}}
// expected-remark@+4 {{pass 1 runs: QK S GM KN}}
// expected-remark@+3 {{pass 2 runs: SN SD}}
// expected-remark@+2 {{pass 3 runs: A AV}}
// expected-remark@+1 {{pass 2: SN reads GM, which needs a full pass over m (max over m)}}
attn.variant @softmax {
// expected-remark@-1 {{pass 3: A reads SD, which needs a full pass over m (sum over m)}}
}

// -----

// sigmoid has no row reduction: 1 pass.
// expected-remark@+2 {{1 pass}}
// expected-remark@+1 {{pass 1 runs: QK S A AV KN}}
attn.variant @sigmoid {
  attn.norm sigmoid
}

// -----

// After division deferral (written by hand): AV = NV / SD is row-level, 2 passes.
attn.variant @deferred {
  // expected-remark@+4 {{2 passes}}
  // expected-remark@+3 {{pass 1 runs: QK GM}}
  // expected-remark@+2 {{pass 2 runs: SN SD NV}}
  // expected-remark@+1 {{pass 2: SN reads GM, which needs a full pass over m (max over m)}}
  cascade.cascade {
    %Q = cascade.input "Q" [p, e] : <f32>
    %K = cascade.input "K" [m, e] : <f32>
    %V = cascade.input "V" [m, f] : <f32>
    %QK = cascade.einsum "QK" [m, p] = sum [e](%Q, %K) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %GM = cascade.einsum "GM" [p] = max [m](%QK) : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %SN = cascade.einsum "SN" [m, p] =(%QK, %GM) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %gm: f32):
      %0 = arith.subf %s, %gm : f32
      %1 = math.exp %0 : f32
      cascade.yield %1 : f32
    }
    %SD = cascade.einsum "SD" [p] = sum [m](%SN) : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32):
      cascade.yield %sn : f32
    }
    %NV = cascade.einsum "NV" [p, f] = sum [m](%SN, %V) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32, %v: f32):
      %0 = arith.mulf %sn, %v : f32
      cascade.yield %0 : f32
    }
    %AV = cascade.einsum "AV" [p, f] =(%NV, %SD) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %nv: f32, %sd: f32):
      %0 = arith.divf %nv, %sd : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV kept %SD
  }
}

// -----

// FuseMax's 1-pass cascade (written by hand): m = m1 x m0; the running max
// RM, denominator RD and numerator RNV are iterates over m1 that streaming
// Einsums read through `cur`/`prev`; only row-level Einsums read `final`.
attn.variant @one_pass {
  // expected-remark@+2 {{1 pass}}
  // expected-remark@+1 {{pass 1 runs: BQK LM RM SLN SLD RD SLNV RNV}}
  cascade.cascade attributes {partitions = {m = 64 : i64}} {
    %Q = cascade.input "Q" [p, e] : <f32>
    %BK = cascade.input "K" [m1, m0, e] : <f32>
    %BV = cascade.input "V" [m1, m0, f] : <f32>
    %BQK = cascade.einsum "BQK" [m1, m0, p] = sum [e](%Q, %BK) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %LM = cascade.einsum "LM" [m1, p] = max [m0](%BQK) : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %RM_prev, %RM, %RM_final = cascade.iterate "RM" [m1, p] over "m1" identity 0xFFF0000000000000(%LM) : !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %lm: f32):
      %0 = arith.maximumf %prev, %lm : f32
      cascade.yield %0 : f32
    }
    %SLN = cascade.einsum "SLN" [m1, m0, p] =(%BQK, %RM) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %rm: f32):
      %0 = arith.subf %s, %rm : f32
      %1 = math.exp %0 : f32
      cascade.yield %1 : f32
    }
    %SLD = cascade.einsum "SLD" [m1, p] = sum [m0](%SLN) : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sln: f32):
      cascade.yield %sln : f32
    }
    %RD_prev, %RD, %RD_final = cascade.iterate "RD" [m1, p] over "m1" identity 0.0(%SLD, %RM_prev, %RM) : !cascade.fiber<f32>, !cascade.fiber<f32>, !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %sld: f32, %rm_prev: f32, %rm: f32):
      %0 = arith.subf %rm_prev, %rm : f32
      %1 = math.exp %0 : f32
      %2 = arith.mulf %prev, %1 : f32
      %3 = arith.addf %2, %sld : f32
      cascade.yield %3 : f32
    }
    %SLNV = cascade.einsum "SLNV" [m1, p, f] = sum [m0](%SLN, %BV) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sln: f32, %v: f32):
      %0 = arith.mulf %sln, %v : f32
      cascade.yield %0 : f32
    }
    %RNV_prev, %RNV, %RNV_final = cascade.iterate "RNV" [m1, p, f] over "m1" identity 0.0(%SLNV, %RM_prev, %RM) : !cascade.fiber<f32>, !cascade.fiber<f32>, !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %slnv: f32, %rm_prev: f32, %rm: f32):
      %0 = arith.subf %rm_prev, %rm : f32
      %1 = math.exp %0 : f32
      %2 = arith.mulf %prev, %1 : f32
      %3 = arith.addf %2, %slnv : f32
      cascade.yield %3 : f32
    }
    %AV = cascade.einsum "AV" [p, f] =(%RNV_final, %RD_final) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %rnv: f32, %rd: f32):
      %0 = arith.divf %rnv, %rd : f32
      cascade.yield %0 : f32
    }
    cascade.output %AV kept %RD_final
  }
}

// -----

// Partitioned without the online rewrite: a full reduction over [m1, m0] and
// an iterate's `final` are complete values; reading one through a row-level
// Einsum still forces a new pass.
attn.variant @partitioned {
  // expected-remark@+6 {{3 passes}}
  // expected-remark@+5 {{pass 1 runs: QK GM}}
  // expected-remark@+4 {{pass 2 runs: SN LS RS}}
  // expected-remark@+3 {{pass 3 runs: W}}
  // expected-remark@+2 {{pass 2: SN reads GM, which needs a full pass over m1, m0 (max over m1, m0)}}
  // expected-remark@+1 {{pass 3: W reads INV, which depends on RS_final, which needs a full pass over m1 (the final value of RS, iterated over m1)}}
  cascade.cascade attributes {partitions = {m = 64 : i64}} {
    %Q = cascade.input "Q" [p, e] : <f32>
    %K = cascade.input "K" [m1, m0, e] : <f32>
    %V = cascade.input "V" [m1, m0, f] : <f32>
    %QK = cascade.einsum "QK" [m1, m0, p] = sum [e](%Q, %K) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %q: f32, %k: f32):
      %0 = arith.mulf %q, %k : f32
      cascade.yield %0 : f32
    }
    %GM = cascade.einsum "GM" [p] = max [m1, m0](%QK) : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
      cascade.yield %s : f32
    }
    %SN = cascade.einsum "SN" [m1, m0, p] =(%QK, %GM) : !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32, %gm: f32):
      %0 = arith.subf %s, %gm : f32
      %1 = math.exp %0 : f32
      cascade.yield %1 : f32
    }
    %LS = cascade.einsum "LS" [m1, p] = sum [m0](%SN) : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32):
      cascade.yield %sn : f32
    }
    %RS_prev, %RS, %RS_final = cascade.iterate "RS" [m1, p] over "m1" identity 0.0(%LS) : !cascade.fiber<f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %prev: f32, %ls: f32):
      %0 = arith.addf %prev, %ls : f32
      cascade.yield %0 : f32
    }
    %INV = cascade.einsum "INV" [p] =(%RS_final) : !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %rs: f32):
      %one = arith.constant 1.0 : f32
      %0 = arith.divf %one, %rs : f32
      cascade.yield %0 : f32
    }
    %W = cascade.einsum "W" [p, f] = sum [m1, m0](%SN, %INV, %V) : !cascade.fiber<f32>, !cascade.fiber<f32>, !cascade.fiber<f32> -> <f32> {
    ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %sn: f32, %inv: f32, %v: f32):
      %0 = arith.mulf %sn, %inv : f32
      %1 = arith.mulf %0, %v : f32
      cascade.yield %1 : f32
    }
    cascade.output %W kept %INV
  }
}
