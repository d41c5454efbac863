// RUN: attn-opt --attn-to-cascade --cascade-defer-division --cascade-partition="m-tile=256" --cascade-online --cascade-to-spatial="lse=false" --spatial-estimate="batch=64 heads=12 sq=1024 skv=1024 d=64" %s -o /dev/null | FileCheck %s --check-prefix=ONE
// RUN: attn-opt --attn-to-cascade --cascade-partition="m-tile=256" --cascade-to-spatial --spatial-estimate="arch=%S/../../arch/flat.json batch=64 heads=12 sq=1024 skv=1024 d=64" %s -o /dev/null | FileCheck %s --check-prefix=THREE
// RUN: attn-opt --attn-to-cascade --cascade-defer-division --cascade-partition="m-tile=4" --cascade-online --cascade-to-spatial="lse=false" --spatial-estimate="arch=%S/../../arch/tiny4x4.json sq=8 skv=8 d=2" %s -o /dev/null | FileCheck %s --check-prefix=TINY
// RUN: attn-opt --attn-to-cascade --cascade-defer-division --cascade-partition="m-tile=256" --cascade-online --cascade-to-spatial="lse=false" --spatial-estimate="batch=1 heads=1 sq=65536 skv=65536 d=64 mask=window=1024" %s -o /dev/null | FileCheck %s --check-prefix=WIN
// The compiler's programs, timed by the model. BERT-Base at 1K: the 1-pass
// program reproduces FuseMax's 2D utilisation (published 0.8896, the rest is
// 512 cycles of fill/drain) and the 3-pass FLAT program FLAT's 12.5%.
// ONE: spatial-estimate @full: fusemax, fusemax binding, 1 pass(es), epochs 16 (empty 0, partial 0), cycles 1892864, 2D util 0.8894, 1D util 0.9997, DRAM 402653184 B, buffer 331776 B
// THREE: spatial-estimate @full: flat, flat binding, 3 pass(es), epochs 16 (empty 0, partial 0), cycles 12586496, 2D util 0.1250, 1D util 1.0000
// The 4x4 configuration of test/unit/spatial (68 cycles, derived there).
// TINY: spatial-estimate @full: tiny4x4, fusemax binding, 1 pass(es), epochs 4 (empty 0, partial 0), cycles 68, 2D util 0.7647
// A 1024-key sliding window at 64K: each of the 256 p tiles meets at most 5
// key tiles (the first four rows of tiles fewer: 1280 - 10 = 1270), two of
// them partial (the diagonal and the window edge, 512 - 4 = 508).
// WIN: spatial-estimate @full: fusemax, fusemax binding, 1 pass(es), epochs 1270 (empty 64266, partial 508)
attn.variant @full {
}
