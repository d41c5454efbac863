// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s -mlir-print-op-generic | attn-opt | FileCheck %s
// Round trip of every attn op; the printer names block arguments and results.

// CHECK-LABEL: attn.variant @everything
attn.variant @everything {
  // CHECK: attn.param @window : i32 = 1024 : i32
  attn.param @window : i32 = 1024 : i32
  // CHECK: attn.param @cap : f32 = 3.000000e+01 : f32
  attn.param @cap : f32 = 30.0 : f32
  // CHECK: attn.param @flag : i1 = true
  attn.param @flag : i1 = true
  // CHECK: attn.param @nodefault : f32{{$}}
  attn.param @nodefault : f32
  // CHECK: attn.tensor @doc : i32 ["B", "Skv"]
  attn.tensor @doc : i32 ["B", "Skv"]
  // CHECK: attn.tensor @table : f32 ["H", 32]
  attn.tensor @table : f32 ["H", 32 : i64]

  // CHECK: attn.score {
  // CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
  // CHECK-NEXT: %qk = attn.qk
  // CHECK-NEXT: %dot = attn.dot
  // CHECK-NEXT: %sum_d = attn.sum_d {
  // CHECK-NEXT: ^bb0(%d: i64):
  // CHECK-NEXT: %q = attn.q %d
  // CHECK-NEXT: %k = attn.k %d
  // CHECK-NEXT: arith.subf %q, %k
  // CHECK: attn.yield %{{.*}} : f32
  // CHECK-NEXT: }
  // CHECK: %cap = attn.get_param @cap : f32
  // CHECK: attn.yield %{{.*}} : f32
  attn.score {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %0 = attn.qk
    %1 = attn.dot
    %2 = attn.sum_d {
    ^bb0(%d: i64):
      %q = attn.q %d
      %k = attn.k %d
      %e = arith.subf %q, %k : f32
      attn.yield %e : f32
    }
    %3 = arith.addf %0, %1 : f32
    %4 = arith.addf %3, %2 : f32
    %c = attn.get_param @cap : f32
    %5 = arith.mulf %4, %c : f32
    attn.yield %5 : f32
  }

  // CHECK: attn.bias {
  // CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
  // CHECK-NEXT: %table = attn.load @table[%h, %j] : f32
  // CHECK-NEXT: %H = attn.size H
  // CHECK-NEXT: %scale = attn.get_scale
  attn.bias {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %t = attn.load @table[%h, %j] : f32
    %n = attn.size H
    %s = attn.get_scale
    %f = arith.sitofp %n : i64 to f32
    %r = arith.mulf %t, %f : f32
    %r2 = arith.mulf %r, %s : f32
    attn.yield %r2 : f32
  }

  // CHECK: attn.mask {
  // CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
  // CHECK-NEXT: %doc = attn.load @doc[%b, %i] : i64
  // CHECK-NEXT: %window = attn.get_param @window : i64
  // CHECK-NEXT: attn.floordiv %i, %window
  // CHECK-NEXT: attn.floormod %j, %window
  // CHECK: attn.yield %{{.*}} : i1
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %d = attn.load @doc[%b, %i] : i64
    %w = attn.get_param @window : i64
    %x = attn.floordiv %i, %w
    %y = attn.floormod %j, %w
    %z = arith.addi %x, %y : i64
    %c = arith.cmpi sle, %z, %d : i64
    %f = attn.get_param @flag : i1
    %r = arith.andi %c, %f : i1
    attn.yield %r : i1
  }

  // CHECK: attn.scale {
  // CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
  // CHECK-NEXT: %D = attn.size D
  attn.scale {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %n = attn.size D
    %f = arith.sitofp %n : i64 to f32
    %r = math.rsqrt %f : f32
    attn.yield %r : f32
  }

  // CHECK: attn.norm custom {
  // CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
  // CHECK-NEXT: %max_j = attn.reduce_j max {
  // CHECK-NEXT: attn.yield %s : f32
  // CHECK-NEXT: }
  // CHECK-NEXT: arith.subf %s, %max_j
  // CHECK: %sum_j = attn.reduce_j sum {
  // CHECK: %min_j = attn.reduce_j min {
  // CHECK: attn.yield %{{.*}} : f32
  attn.norm custom {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64, %s: f32):
    %m = attn.reduce_j max {
      attn.yield %s : f32
    }
    %e = arith.subf %s, %m : f32
    %x = math.exp %e : f32
    %z = attn.reduce_j sum {
      attn.yield %x : f32
    }
    %n = attn.reduce_j min {
      attn.yield %s : f32
    }
    %w0 = arith.divf %x, %z : f32
    %w = arith.addf %w0, %n : f32
    attn.yield %w : f32
  }
}

// CHECK-LABEL: attn.variant @sink
// CHECK: attn.norm softmax {
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64):
// CHECK-NEXT: %sinks = attn.load @sinks[%h] : f32
// CHECK-NEXT: attn.yield %sinks : f32
attn.variant @sink {
  attn.tensor @sinks : f32 ["H"]
  attn.norm softmax {
  ^bb0(%b: i64, %h: i64, %i: i64):
    %0 = attn.load @sinks[%h] : f32
    attn.yield %0 : f32
  }
}

// CHECK-LABEL: attn.variant @builtin_norms
// CHECK: attn.norm sigmoid{{$}}
attn.variant @builtin_norms {
  attn.norm sigmoid
}

// CHECK-LABEL: attn.variant @norm_kinds_relu
// CHECK: attn.norm relu{{$}}
attn.variant @norm_kinds_relu { attn.norm relu }
// CHECK-LABEL: attn.variant @norm_kinds_relu2
// CHECK: attn.norm relu2{{$}}
attn.variant @norm_kinds_relu2 { attn.norm relu2 }
// CHECK-LABEL: attn.variant @norm_kinds_softplus
// CHECK: attn.norm softplus{{$}}
attn.variant @norm_kinds_softplus { attn.norm softplus }
// CHECK-LABEL: attn.variant @norm_kinds_linear
// CHECK: attn.norm linear{{$}}
attn.variant @norm_kinds_linear { attn.norm linear }
// CHECK-LABEL: attn.variant @norm_kinds_none
// CHECK: attn.norm none{{$}}
attn.variant @norm_kinds_none { attn.norm none }
// CHECK-LABEL: attn.variant @norm_kinds_softmax
// CHECK: attn.norm softmax{{$}}
attn.variant @norm_kinds_softmax { attn.norm softmax }

// CHECK-LABEL: attn.variant @empty
// CHECK-NOT: attn.score
attn.variant @empty {
}
