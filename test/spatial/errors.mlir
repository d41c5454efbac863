// RUN: attn-opt --split-input-file --verify-diagnostics %s

attn.variant @binding {
  // expected-error @below {{binding must be "fusemax" or "flat", got "gpu"}}
  spatial.program attributes {binding = "gpu", interleave = true, loop_order = ["p2", "m1", "p1", "p0", "m0"], m0 = 0 : i64, p0 = 0 : i64, passes = 1 : i64, pipelined = true} {
    spatial.epoch {
    }
  }
}

// -----

attn.variant @order {
  // expected-error @below {{loop order must be ["p2", "m1", "p1", "p0", "m0"]}}
  spatial.program attributes {binding = "flat", interleave = true, loop_order = ["m1", "p2", "p1", "p0", "m0"], m0 = 0 : i64, p0 = 0 : i64, passes = 1 : i64, pipelined = true} {
    spatial.epoch {
    }
  }
}

// -----

attn.variant @epochs {
  // expected-error @below {{must hold exactly one spatial.epoch}}
  spatial.program attributes {binding = "flat", interleave = true, loop_order = ["p2", "m1", "p1", "p0", "m0"], m0 = 0 : i64, p0 = 0 : i64, passes = 1 : i64, pipelined = true} {
  }
}

// -----

attn.variant @array {
  spatial.program attributes {binding = "flat", interleave = true, loop_order = ["p2", "m1", "p1", "p0", "m0"], m0 = 0 : i64, p0 = 0 : i64, passes = 1 : i64, pipelined = true} {
    spatial.epoch {
      // expected-error @below {{array must be "2d" or "1d", got "3d"}}
      spatial.bind "QK" on "3d" "tile_e" stage 0 pass 1 {mac = 1.0 : f64} from "QK"
    }
  }
}

// -----

attn.variant @extent {
  spatial.program attributes {binding = "flat", interleave = true, loop_order = ["p2", "m1", "p1", "p0", "m0"], m0 = 0 : i64, p0 = 0 : i64, passes = 1 : i64, pipelined = true} {
    spatial.epoch {
    }
    spatial.tile_end {
      // expected-error @below {{extent "tile" is not valid at the end of a tile}}
      spatial.bind "AV" on "1d" "tile" stage 0 pass 1 {div = 1.0 : f64} from "AV"
    }
  }
}

// -----

attn.variant @action {
  spatial.program attributes {binding = "flat", interleave = true, loop_order = ["p2", "m1", "p1", "p0", "m0"], m0 = 0 : i64, p0 = 0 : i64, passes = 1 : i64, pipelined = true} {
    spatial.epoch {
      // expected-error @below {{unknown action 'sqrt'}}
      spatial.bind "X" on "1d" "row" stage 0 pass 1 {sqrt = 1.0 : f64} from "X"
    }
  }
}

// -----

attn.variant @pass {
  spatial.program attributes {binding = "flat", interleave = true, loop_order = ["p2", "m1", "p1", "p0", "m0"], m0 = 0 : i64, p0 = 0 : i64, passes = 1 : i64, pipelined = true} {
    spatial.epoch {
      // expected-error @below {{stage must be >= 0 and pass >= 1}}
      spatial.bind "X" on "1d" "row" stage 0 pass 0 {add = 1.0 : f64} from "X"
    }
  }
}

// -----

attn.variant @stream {
  spatial.program attributes {binding = "flat", interleave = true, loop_order = ["p2", "m1", "p1", "p0", "m0"], m0 = 0 : i64, p0 = 0 : i64, passes = 1 : i64, pipelined = true} {
    // expected-error @below {{direction must be load, store, keep or spill}}
    spatial.stream "fetch" "Q" per "p1"
    spatial.epoch {
    }
  }
}
