#!/usr/bin/env python3
"""attnc's CPU peers on the device machine: PyTorch SDPA and FlexAttention.

Times torch.nn.functional.scaled_dot_product_attention and FlexAttention
(torch.compile'd, the inductor C++ template) on the CPU, fp32, B=1, H=8, the
same cases, thread count, timing discipline (check, warm-up, best of N) and
GFLOP/s formula as attn-bench-cpu-device (HostMain.cpp):

  GFLOP/s = 4 * B * H * S * S * D * kept / best seconds, kept counted from the mask

Variants: full; causal (SDPA is_causal=True); sliding_window (j <= i and
i - j < window, window min(1024, S/4); SDPA with an explicit boolean mask);
document (same doc id and j <= i; the doc ids are HostMain.cpp's, drawn with
the same generator and seed). Every output is checked against a float64
reference on sample rows before timing; a peer that disagrees is still timed
but flagged "wrong". FlexAttention's block masks are built once, outside the
timing; its compile time (first call) is reported on its own. A FlexAttention
case that fails or runs out of time is recorded "n/a" with the reason; the run
goes on.

One thread count per process (inductor bakes the thread count into the code it
generates): run_device.sh calls this once per thread count, each with its own
TORCHINDUCTOR_CACHE_DIR.

  python3 peers.py --threads 2 --json results.jsonl [--sizes 1024x64,...]
                   [--variants ...] [--deadline EPOCH_SECONDS] [--no-flex]
"""

import argparse
import json
import math
import os
import signal
import sys
import time
import traceback

VARIANTS = ["full", "causal", "sliding_window", "document"]
MASK64 = (1 << 64) - 1


class Rng:
    """xorshift64*, as HostMain.cpp's Rng."""

    def __init__(self, seed):
        self.state = (seed * 0x9E3779B97F4A7C15 + 1) & MASK64

    def next(self):
        s = self.state
        s ^= s >> 12
        s ^= (s << 25) & MASK64
        s ^= s >> 27
        self.state = s
        return (s * 0x2545F4914F6CDD1D) & MASK64


def doc_ids(batch, S):
    """HostMain.cpp's docIds: documents of random length S/8 .. 3S/8."""
    rng = Rng(1000 + S)
    ids = []
    for _ in range(batch):
        row = []
        doc = 0
        while len(row) < S:
            n = max(1, S // 8 + rng.next() % (S // 4 + 1))
            row.extend([doc] * min(n, S - len(row)))
            doc += 1
        ids.append(row)
    return ids


def make_mask_mod(variant, W, docs):
    """FlexAttention's mask_mod for a variant (a closure: exactly 4 arguments)."""
    if variant == "causal":
        def mask_mod(b, h, qi, kj):
            return kj <= qi
    elif variant == "sliding_window":
        def mask_mod(b, h, qi, kj):
            return (kj <= qi) & (qi - kj < W)
    else:
        def mask_mod(b, h, qi, kj):
            return (docs[b, qi] == docs[b, kj]) & (kj <= qi)
    return mask_mod


def window_for(S, window):
    return window if window > 0 else min(1024, max(1, S // 4))


def parse_sizes(text):
    out = []
    for item in text.split(","):
        item = item.strip()
        if item:
            s, d = item.lower().split("x")
            out.append((int(s), int(d)))
    return out


def first_line(exc):
    text = "%s: %s" % (type(exc).__name__, exc)
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return type(exc).__name__


class Deadline(Exception):
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="1024x64,2048x128,4096x64")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--B", type=int, default=1)
    ap.add_argument("--H", type=int, default=8)
    ap.add_argument("--window", type=int, default=0)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=3.0)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--json", default="")
    ap.add_argument("--deadline", type=float, default=0.0,
                    help="epoch seconds: start no new case after it (FlexAttention compiles "
                         "need 30 s of margin)")
    ap.add_argument("--compile-timeout", type=float, default=150.0)
    ap.add_argument("--no-flex", action="store_true")
    ap.add_argument("--no-sdpa", action="store_true")
    ap.add_argument("--gemm", type=int, default=2048,
                    help="also time torch.mm fp32 N x N x N, the GEMM ceiling (0: no)")
    args = ap.parse_args()

    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch starts OpenMP
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    try:  # inductor bakes the thread count into its C++ code: make it explicit
        import torch._inductor.config as inductor_config
        inductor_config.cpp.threads = args.threads
    except Exception:  # noqa: BLE001
        pass
    sizes = parse_sizes(args.sizes)
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            sys.exit("peers.py: unknown variant %r" % v)
    B, H = args.B, args.H

    def emit(rec):
        line = json.dumps(rec, sort_keys=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(line + "\n")

    def remaining():
        return args.deadline - time.time() if args.deadline > 0 else float("inf")

    print("peers.py: torch %s, %d thread(s) (torch.get_num_threads() = %d), fp32, B=%d H=%d, "
          "best of %d after %d warm-up, check tol %.0e" %
          (torch.__version__, args.threads, torch.get_num_threads(), B, H, args.reps,
           args.warmup, args.tol), flush=True)

    def mask_for(variant, S, W, docs):
        """Boolean keep mask [B, 1, S, S] (None for full)."""
        if variant == "full":
            return None
        i = torch.arange(S).view(S, 1)
        j = torch.arange(S).view(1, S)
        m = j <= i
        if variant == "sliding_window":
            m = m & (i - j < W)
        m = m.view(1, 1, S, S).expand(B, 1, S, S)
        if variant == "document":
            d = docs
            m = m & (d.view(B, 1, S, 1) == d.view(B, 1, 1, S))
        return m.contiguous()

    def sample_rows(S):
        rows = {0, 1, 63, 64, S // 2, S - 65, S - 1}
        rng = Rng(3)
        for _ in range(4):
            rows.add(rng.next() % S)
        return sorted(r for r in rows if 0 <= r < S)

    def reference_rows(q, k, v, mask, rows):
        """float64 attention of the sample rows: [B, H, len(rows), D]."""
        idx = torch.tensor(rows)
        q64 = q[:, :, idx].double()
        s = (q64 @ k.double().transpose(-1, -2)) / math.sqrt(q.shape[-1])
        if mask is not None:
            s = s.masked_fill(~mask[:, :, idx], float("-inf"))
        return torch.softmax(s, dim=-1) @ v.double()

    def max_err(out, ref, rows):
        got = out[:, :, torch.tensor(rows)].double()
        e = (got - ref).abs()
        if torch.isnan(e).any():
            return float("inf")
        return float(e.max())

    def time_best(fn):
        for _ in range(args.warmup):
            fn()
        best = float("inf")
        begin = time.perf_counter()
        n = 0
        for _ in range(max(1, args.reps)):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
            n += 1
            if time.perf_counter() - begin > args.max_seconds:
                break
        return best, n

    # FlexAttention, compiled once (it recompiles per shape and mask; allow that).
    flex = None
    flex_reason = None
    create_block_mask = None
    if not args.no_flex:
        try:
            import torch._dynamo
            for name, val in (("cache_size_limit", 256), ("recompile_limit", 256),
                              ("accumulated_cache_size_limit", 4096),
                              ("accumulated_recompile_limit", 4096)):
                try:
                    if hasattr(torch._dynamo.config, name):
                        setattr(torch._dynamo.config, name, val)
                except Exception:  # noqa: BLE001 - a renamed knob is not fatal
                    pass
            from torch.nn.attention.flex_attention import flex_attention, create_block_mask
            flex = torch.compile(flex_attention, dynamic=False)
        except Exception as exc:  # noqa: BLE001 - any failure means "n/a"
            flex_reason = "import/compile setup failed: " + first_line(exc)

    def on_alarm(signum, frame):
        raise Deadline("compile took longer than the limit")

    signal.signal(signal.SIGALRM, on_alarm)

    cases = []
    for (S, D) in sizes:
        for variant in variants:
            cases.append((S, D, variant))
    inputs = {}
    failures = {}

    def make_inputs(S, D, variant):
        key = (S, D, variant)
        if key in inputs:
            return inputs[key]
        inputs.clear()
        g = torch.Generator().manual_seed(S * 131 + D)
        q = torch.rand((B, H, S, D), generator=g) * 2 - 1
        k = torch.rand((B, H, S, D), generator=g) * 2 - 1
        v = torch.rand((B, H, S, D), generator=g) * 2 - 1
        W = window_for(S, args.window)
        docs = torch.tensor(doc_ids(B, S), dtype=torch.int32)
        mask = mask_for(variant, S, W, docs)
        kept = 1.0 if mask is None else float(mask.sum()) / (B * S * S)
        rows = sample_rows(S)
        ref = reference_rows(q, k, v, mask, rows)
        inputs[key] = (q, k, v, W, docs, mask, kept, rows, ref)
        return inputs[key]

    def base(impl, S, D, variant, W, kept):
        return {"impl": impl, "variant": variant, "S": S, "D": D, "B": B, "H": H,
                "threads": args.threads, "window": W,
                "kept": None if kept is None else round(kept, 6)}

    def report(rec):
        emit(rec)
        extra = ""
        if rec.get("compile_s") is not None:
            extra = "  (compile+first call %.1f s, block mask %.2f s)" % (
                rec["compile_s"], rec.get("block_mask_s", 0.0))
        kept = "-" if rec["kept"] is None else "%.4f" % rec["kept"]
        if rec["status"] in ("ok", "wrong"):
            print("%-5s %-15s %6d %4d %8s %11.2e %10.3f %10.1f%s%s" % (
                rec["impl"], rec["variant"], rec["S"], rec["D"], kept, rec["max_err"],
                rec["seconds"] * 1e3, rec["gflops"],
                "  WRONG" if rec["status"] == "wrong" else "", extra), flush=True)
        else:
            print("%-5s %-15s %6d %4d %8s  n/a: %s" % (
                rec["impl"], rec["variant"], rec["S"], rec["D"], kept,
                rec.get("note", "")), flush=True)

    with torch.no_grad():
        if args.gemm > 0 and not args.no_sdpa:
            n = args.gemm
            g = torch.Generator().manual_seed(7)
            a = torch.rand((n, n), generator=g)
            b = torch.rand((n, n), generator=g)
            best, reps = time_best(lambda: torch.mm(a, b))
            gf = 2.0 * n ** 3 / best * 1e-9
            emit({"impl": "sgemm", "n": n, "threads": args.threads, "seconds": best,
                  "gflops": gf, "reps": reps, "status": "ok"})
            print("torch.mm fp32 %d^3 on %d thread(s): %.1f GFLOP/s (the GEMM ceiling)" %
                  (n, args.threads, gf), flush=True)
            del a, b
        print("%-5s %-15s %6s %4s %8s %11s %10s %10s" % (
            "impl", "variant", "S", "D", "kept", "max_err", "best_ms", "GFLOP/s"), flush=True)
        # SDPA first (quick, never compiles), then FlexAttention.
        for impl in ("sdpa", "flex"):
            if (impl == "sdpa" and args.no_sdpa) or (impl == "flex" and args.no_flex):
                continue
            for (S, D, variant) in cases:
                need = 30.0 if impl == "flex" else 5.0
                skip = None
                if remaining() < need:
                    skip = "time budget of the device run spent"
                elif impl == "flex" and flex is None:
                    skip = flex_reason or "FlexAttention unavailable"
                if skip:
                    rec = base(impl, S, D, variant, window_for(S, args.window), None)
                    rec.update(status="na", note=skip)
                    report(rec)
                    continue
                q, k, v, W, docs, mask, kept, rows, ref = make_inputs(S, D, variant)
                rec = base(impl, S, D, variant, W, kept)
                flops = 4.0 * B * H * S * S * D * kept
                try:
                    if impl == "sdpa":
                        if variant == "full":
                            fn = lambda: F.scaled_dot_product_attention(q, k, v)  # noqa: E731
                        elif variant == "causal":
                            fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
                        else:
                            fn = lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # noqa: E731
                        out = fn()
                    else:
                        t0 = time.perf_counter()
                        if variant == "full":
                            bm = None
                        else:
                            mask_mod = make_mask_mod(variant, W, docs)
                            bm = create_block_mask(mask_mod, B if variant == "document" else None,
                                                   None, S, S, device="cpu")
                        rec["block_mask_s"] = round(time.perf_counter() - t0, 3)
                        fn = lambda: flex(q, k, v, block_mask=bm)  # noqa: E731
                        limit = max(1, int(min(args.compile_timeout, remaining() - 5)))
                        t0 = time.perf_counter()
                        signal.alarm(limit)
                        try:
                            out = fn()
                        finally:
                            signal.alarm(0)
                        rec["compile_s"] = round(time.perf_counter() - t0, 2)
                    err = max_err(out, ref, rows)
                    del out
                    best, n = time_best(fn)
                    rec.update(max_err=err, seconds=best, gflops=flops / best * 1e-9, reps=n,
                               status="ok" if err <= args.tol else "wrong")
                except Deadline as exc:
                    rec.update(status="na", note=str(exc))
                    if impl == "flex":
                        # A compile cut off midway leaves inductor in an unknown
                        # state: give up on FlexAttention in this process.
                        flex = None
                        flex_reason = "an earlier compile was cut off"
                except Exception as exc:  # noqa: BLE001
                    rec.update(status="na", note=first_line(exc))
                    traceback.print_exc(limit=3)
                    failures[impl] = failures.get(impl, 0) + 1
                    if impl == "flex" and failures[impl] >= 2:
                        # Systematic (no C++ compiler, unsupported case...):
                        # don't spend the budget failing the same way again.
                        flex = None
                        flex_reason = "gave up after 2 failures; last: " + first_line(exc)
                report(rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
