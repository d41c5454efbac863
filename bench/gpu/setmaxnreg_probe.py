#!/usr/bin/env python3
"""How a tensor-core kernel would fit a consumer warpgroup of a 3-warpgroup block (no GPU needed).

    python3 bench/gpu/setmaxnreg_probe.py PTX VARIANT N [OUT]

Takes attnc's PTX (`attnc X.attn --target gpu --emit ptx --dtypes bf16 --gpu-head-dims 128
-o DIR`), makes the d128 kernel's block 384 threads (`.maxntid 384`: ptxas then allocates 168
registers per thread) and puts `setmaxnreg.inc.sync.aligned.u32 N` before its first
instruction, as a consumer warpgroup of FlashAttention-3's register split would run, and writes
the result to OUT (default: stdout). `ptxas -arch=sm_90a -v OUT` then says what the kernel
spills under N registers (docs/performance.md, session 14). The kernel is not runnable so: it
is a measure of register pressure only.
"""
import sys


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    src, variant, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    text = open(src).read()
    name = ".visible .entry attn_%s_bf16_gpu_d128(" % variant
    at = text.find(name)
    if at < 0:
        print("setmaxnreg_probe.py: no kernel %s in %s" % (name, src), file=sys.stderr)
        return 1
    text = text[:at] + text[at:].replace(".maxntid 256, 1, 1", ".maxntid 384, 1, 1", 1)
    body = text.index("{", text.index(")", at))
    lines = text[body + 1:].split("\n")
    k = 0
    while k < len(lines) and (not lines[k].strip() or lines[k].strip().startswith((".reg", ".shared", ".local"))):
        k += 1
    lines.insert(k, "\tsetmaxnreg.inc.sync.aligned.u32 %d;" % n)
    out = text[:body + 1] + "\n".join(lines)
    if len(sys.argv) > 4:
        open(sys.argv[4], "w").write(out)
    else:
        sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
