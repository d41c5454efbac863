// RUN: attn-opt %s -canonicalize | FileCheck %s
// attn.floordiv / attn.floormod fold like Python's // and % (x // 0 = x % 0 = 0).

// The folded constants stay inside the (isolated) statement. The result is
// -2*1000 + 1*100 + -2*10 + -1 + 0*7 + 0*3 = -1921.
// CHECK-LABEL: attn.variant @fold
// CHECK-NEXT: attn.bias {
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
// CHECK-NEXT: %[[C:.*]] = arith.constant -1.921000e+03 : f32
// CHECK-NEXT: attn.yield %[[C]] : f32
attn.variant @fold {
  attn.bias {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %m3 = arith.constant -3 : i64
    %p3 = arith.constant 3 : i64
    %p2 = arith.constant 2 : i64
    %m2 = arith.constant -2 : i64
    %z = arith.constant 0 : i64
    %a = attn.floordiv %m3, %p2   // -2
    %c = attn.floormod %m3, %p2   // 1
    %d = attn.floordiv %p3, %m2   // -2
    %e = attn.floormod %p3, %m2   // -1
    %f = attn.floordiv %p3, %z    // 0
    %g = attn.floormod %m3, %z    // 0
    %k1000 = arith.constant 1000 : i64
    %k100 = arith.constant 100 : i64
    %k10 = arith.constant 10 : i64
    %k7 = arith.constant 7 : i64
    %t0 = arith.muli %a, %k1000 : i64
    %t1 = arith.muli %c, %k100 : i64
    %t2 = arith.muli %d, %k10 : i64
    %t3 = arith.muli %f, %k7 : i64
    %t4 = arith.muli %g, %p3 : i64
    %u0 = arith.addi %t0, %t1 : i64
    %u1 = arith.addi %u0, %t2 : i64
    %u2 = arith.addi %u1, %e : i64
    %u3 = arith.addi %u2, %t3 : i64
    %u4 = arith.addi %u3, %t4 : i64
    %r = arith.sitofp %u4 : i64 to f32
    attn.yield %r : f32
  }
}

// x floordiv 1 is x; non-constant operands stay.
// CHECK-LABEL: attn.variant @identity
// CHECK: attn.mask {
// CHECK-NEXT: ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
// CHECK-NEXT: %[[M:.*]] = attn.floormod %i, %j
// CHECK-NEXT: arith.cmpi sle, %i, %[[M]] : i64
attn.variant @identity {
  attn.mask {
  ^bb0(%b: i64, %h: i64, %i: i64, %j: i64):
    %one = arith.constant 1 : i64
    %a = attn.floordiv %i, %one
    %m = attn.floormod %i, %j
    %c = arith.cmpi sle, %a, %m : i64
    attn.yield %c : i1
  }
}
