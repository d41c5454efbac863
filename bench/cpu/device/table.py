#!/usr/bin/env python3
"""Prints the device CPU benchmark's table from the JSON lines that
attn-bench-cpu-device (impl "attnc") and peers.py (impl "sdpa", "flex") wrote.

  python3 table.py results.jsonl [more.jsonl ...]

One table per thread count: variant | S | D | attnc | SDPA | Flex (GFLOP/s) |
attnc/SDPA | attnc/Flex. A cell is a number, WRONG (disagreed with float64;
a peer's figure is still shown, marked !), err, or n/a. Plain Python (no torch).
"""

import json
import sys

ORDER = {"full": 0, "causal": 1, "sliding_window": 2, "document": 3}


def load(paths):
    recs = []
    for p in paths:
        try:
            with open(p) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        try:
                            recs.append(json.loads(line))
                        except ValueError:
                            pass
        except OSError:
            pass
    return recs


def cell(rec):
    if rec is None:
        return "-", None
    st = rec.get("status")
    if st == "ok":
        return "%.1f" % rec["gflops"], rec["gflops"]
    if st == "wrong":
        if "gflops" in rec:
            return "%.1f!" % rec["gflops"], None
        return "WRONG", None
    if st == "error":
        return "err", None
    return "n/a", None


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return "-"
    return "%.2f" % (a / b)


def main(argv):
    recs = load(argv[1:])
    if not recs:
        print("table.py: no results")
        return 1
    by = {}
    gemm = {}
    for r in recs:
        if r.get("impl") == "sgemm":
            gemm[r.get("threads")] = r
            continue
        key = (r.get("threads"), r.get("variant"), r.get("S"), r.get("D"))
        slot = by.setdefault(key, {})
        old = slot.get(r.get("impl"))
        if old is None or old.get("status") != "ok" or r.get("status") == "ok":
            slot[r.get("impl")] = r  # the last record wins, unless it replaces an "ok" one
    threads = sorted({k[0] for k in by if k[0] is not None})
    notes = []
    problems = {}  # (threads, impl, status, why) -> cases
    for t in threads:
        keys = sorted((k for k in by if k[0] == t),
                      key=lambda k: (k[2], k[3], ORDER.get(k[1], 9)))
        print()
        print("CPU, fp32, B=1, H=8, %d thread(s): GFLOP/s = 4*B*H*S*S*D*kept / best time" % t)
        print("| variant | S | D | attnc | SDPA | Flex | attnc/SDPA | attnc/Flex |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for k in keys:
            row = by[k]
            a, av = cell(row.get("attnc"))
            s, sv = cell(row.get("sdpa"))
            f, fv = cell(row.get("flex"))
            name = k[1]
            w = next((r.get("window") for r in row.values() if r.get("window")), None)
            if name == "sliding_window" and w:
                name = "sliding_window %d" % w
            print("| %s | %s | %s | %s | %s | %s | %s | %s |" %
                  (name, k[2], k[3], a, s, f, ratio(av, sv), ratio(av, fv)))
            kepts = {imp: r.get("kept") for imp, r in row.items() if r.get("kept") is not None}
            if kepts and max(kepts.values()) - min(kepts.values()) > 1e-4:
                notes.append("%d threads %s S=%s D=%s: kept fractions differ %s" %
                             (t, k[1], k[2], k[3], kepts))
            for imp, r in row.items():
                if r.get("status") != "ok":
                    why = r.get("note") or ("max_err %.2e" % r["max_err"] if "max_err" in r else "")
                    problems.setdefault((t, imp, r.get("status"), why), []).append(
                        "%s %sx%s" % (k[1], k[2], k[3]))
        if t in gemm:
            g = gemm[t]["gflops"]
            best = max((by[k]["attnc"]["gflops"] for k in keys
                        if by[k].get("attnc", {}).get("status") == "ok"
                        and by[k]["attnc"]["variant"] == "full"), default=None)
            print("GEMM ceiling (torch.mm fp32 %d^3, %d thread(s)): %.1f GFLOP/s%s" %
                  (gemm[t]["n"], t, g, "" if best is None else
                   "; attnc full at best %.0f%% of it" % (100.0 * best / g)))
        comp = [(k, by[k]["flex"]) for k in keys if "flex" in by[k] and by[k]["flex"].get("compile_s")]
        if comp:
            secs = [r["compile_s"] for _, r in comp]
            print("FlexAttention compile + first call, %d thread(s): first %.1f s, then %.1f-%.1f s "
                  "(%d compiles)" % (t, secs[0], min(secs[1:] or secs), max(secs[1:] or secs), len(secs)))
    for (t, imp, st, why), cases in sorted(problems.items(), key=lambda x: str(x[0])):
        shown = ", ".join(cases[:4]) + (", ..." if len(cases) > 4 else "")
        notes.append("%s, %s thread(s), %d case(s) %s (%s): %s" %
                     (imp, t, len(cases), "n/a" if st == "na" else st, shown, why))
    if notes:
        print()
        print("notes:")
        for n in notes[:30]:
            print("  " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
