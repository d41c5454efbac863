#!/usr/bin/env python3
"""bench/gpu/sass_stats.py DUMP KERNEL [--live N]: what a kernel's SASS spends, from
`nvdisasm -c -plr CUBIN` (bench/gpu/ncu.sh returns such dumps from the device, gzipped).

Prints the kernel's instruction count and its most live registers, then its straight-line
regions cut at each warpgroup MMA wait (`WARPGROUP.DEPBAR`): a tile body copy runs from one
QK wait to the next PV wait, so a region's instruction count is what one warp issues for that
part of a key tile. For each region: its first and last instruction index, its instruction
count, the most live registers in it and its ten commonest opcodes. With --live N, the
registers live at instruction N and the instruction that last wrote each (what the key loop
carries, at its head).
"""
import collections
import gzip
import re
import sys

INSTR = re.compile(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;?\s*//\s*\|\s*(\d+)\s")


def kernel_lines(path, kernel):
    opener = gzip.open if path.endswith(".gz") else open
    lines, on = [], False
    with opener(path, "rt", errors="replace") as f:
        for line in f:
            if line.startswith("//---") and ".text." in line:
                on = (".text." + kernel + " ") in line
                continue
            if on:
                lines.append(line.rstrip("\n"))
    return lines


def opcode(text):
    words = text.split()
    return words[1] if words and words[0].startswith("@") and len(words) > 1 else words[0]


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    path, kernel = argv[1], argv[2]
    live_at = int(argv[argv.index("--live") + 1]) if "--live" in argv else None
    lines = kernel_lines(path, kernel)
    ins = [(int(m.group(1), 16), m.group(2), int(m.group(3)))
           for m in map(INSTR.match, lines) if m]
    if not ins:
        print(f"{kernel}: not in {path} (or no -plr columns)")
        return 1
    print(f"{kernel}: {len(ins)} instructions, at most {max(n for _, _, n in ins)} live registers")
    cuts = [0] + [k + 1 for k, (_, t, _) in enumerate(ins) if "WARPGROUP.DEPBAR" in t] + [len(ins)]
    for lo, hi in zip(cuts, cuts[1:]):
        if hi <= lo:
            continue
        ops = collections.Counter(opcode(t) for _, t, _ in ins[lo:hi])
        top = ", ".join(f"{k} {v}" for k, v in ops.most_common(10))
        print(f"  [{lo:5d}, {hi:5d}) {hi - lo:5d} instr, live <= {max(n for _, _, n in ins[lo:hi]):3d}: {top}")
    if live_at is not None:
        show_live(lines, live_at)
    return 0


def show_live(lines, at):
    """Registers live at instruction `at` (the -plr columns) and their last writers."""
    header = next(l for l in lines if re.search(r"#\s+0 1 2 3", l))
    h0 = header.index("#")
    column = {}
    for m in re.finditer(r"(\d+)", header[h0 + 1:]):
        if int(m.group(1)) in column:  # the uniform registers' columns follow the GPRs'
            break
        column[int(m.group(1))] = h0 + 1 + m.end() - 1
    rows = [l for l in lines if INSTR.match(l)]

    def mark(row, reg):
        p = column[reg]
        return row[p] if p < len(row) else " "

    live = sorted(r for r in column if mark(rows[at], r) in ":^vx")
    print(f"instruction {at}: {len(live)} registers live")
    for r in live:
        writer = next((k for k in range(at - 1, -1, -1) if mark(rows[k], r) in "^x"), None)
        text = INSTR.match(rows[writer]).group(2) if writer is not None else "?"
        print(f"  R{r}: written at {writer}: {text[:90]}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
