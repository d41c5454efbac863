#!/usr/bin/env python3
"""bench/gpu/peers.py: FlexAttention and SDPA on attnc's benchmark shapes.

Runs on the device machine (PyTorch, Triton), after attn-gpu-bench, in the
same run (bench/gpu/device.sh). For every timed row of attn-gpu-bench's JSON
(--attnc; without it, the default shapes x anchor variants in bf16) it times

  * FlexAttention (torch.compile'd flex_attention, block mask from the same
    mask, score_mod for the same score terms), for every softmax variant;
  * SDPA with the flash, cuDNN and memory-efficient backends, for full and
    causal (the only variants SDPA expresses);

with the same conventions as attn-gpu-bench (Reference.h): i = q_offset + row
with q_offset = Skv - Sq, documents from doc_ids(), prefix_len[b] =
Skv/4 + b*(Skv/16), window 1024, ALiBi max_bias 8, softcap 30. FLOPs are
4*B*Hq*Sq*Skv*D*kept (kept as attn-gpu-bench counted it); decode rows quote
TB/s over the kept K+V bytes. It prints one table with the ratio attnc/peer
(peer time / attnc time: above 1, attnc is faster) per row, and writes
gpu_compare.json to --out.
"""
import argparse
import json
import math
import os
import sys
import time

ANCHORS = ["full", "causal", "sliding_window", "alibi_causal", "softcap",
           "prefix_lm", "document", "sigmoid_attn"]
CAUSAL_LIKE = {"causal", "alibi_causal", "softcap"}


def doc_ids(b, S):
    """Document id of each position of batch row b (Reference.cpp: docIds)."""
    unit = max(1, S // 16)
    ids, k = [], 0
    while len(ids) < S:
        ids.extend([k] * (unit * (1 + (5 * k + 3 * b + 3) % 8)))
        k += 1
    return ids[:S]


def prefix_lens(B, Skv):
    return [Skv // 4 + b * (Skv // 16) for b in range(B)]


def default_cases(seqs, decode_kv, dtypes):
    cases = []
    for dt in dtypes:
        for S in seqs:
            B = max(1, 4 * 2048 // S)
            for v in ANCHORS:
                cases.append(dict(case=f"mha_{S}", variant=v, dtype=dt, B=B, Hq=16, Hkv=16, Sq=S, Skv=S, D=128))
                cases.append(dict(case=f"gqa_{S}", variant=v, dtype=dt, B=B, Hq=32, Hkv=8, Sq=S, Skv=S, D=128))
        for Skv in decode_kv:
            for v in ANCHORS:
                cases.append(dict(case=f"decode_{Skv}", variant=v, dtype=dt, B=8, Hq=32, Hkv=8, Sq=1, Skv=Skv, D=128))
    return cases


def load_attnc(path):
    rows = []
    if not path or not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                if r.get("timed"):
                    rows.append(r)
    return rows


class Peers:
    def __init__(self, args):
        import torch
        import triton
        from torch.nn.attention.flex_attention import flex_attention, create_block_mask
        self.torch, self.triton = torch, triton
        self.create_block_mask = create_block_mask
        for name, value in (("recompile_limit", 1000), ("cache_size_limit", 1000)):
            try:
                setattr(torch._dynamo.config, name, value)
            except Exception:
                pass
        self.flex = torch.compile(flex_attention, dynamic=False)
        self.args = args
        self.dev = "cuda"

    def time_ms(self, fn):
        return self.triton.testing.do_bench(fn, warmup=self.args.warmup_ms, rep=self.args.rep_ms,
                                            return_mode="median")

    def mods(self, c, doc, plen):
        """(score_mod, mask_mod) of the variant, in absolute positions."""
        torch = self.torch
        v, off, H = c["variant"], c["Skv"] - c["Sq"], c["Hq"]
        score_mod = mask_mod = None
        if v in CAUSAL_LIKE:
            def mask_mod(b, h, q, kv):
                return q + off >= kv
        elif v == "sliding_window":
            w = 1024
            def mask_mod(b, h, q, kv):
                i = q + off
                return (i >= kv) & (i - kv < w)
        elif v == "prefix_lm":
            def mask_mod(b, h, q, kv):
                return (kv < plen[b]) | (q + off >= kv)
        elif v == "document":
            def mask_mod(b, h, q, kv):
                i = q + off
                return (doc[b, i] == doc[b, kv]) & (i >= kv)
        if v == "alibi_causal":
            def score_mod(score, b, h, q, kv):
                slope = torch.exp2(-8.0 * (h + 1) / H)
                return score - slope * (q + off - kv)
        elif v == "softcap":
            def score_mod(score, b, h, q, kv):
                return 30.0 * torch.tanh(score / 30.0)
        return score_mod, mask_mod

    def run(self, c):
        torch = self.torch
        F = torch.nn.functional
        from torch.nn.attention import sdpa_kernel, SDPBackend
        dt = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[c["dtype"]]
        B, Hq, Hkv, Sq, Skv, D = (c[k] for k in ("B", "Hq", "Hkv", "Sq", "Skv", "D"))
        torch.manual_seed(0)
        q = torch.randn(B, Hq, Sq, D, device=self.dev, dtype=dt)
        k = torch.randn(B, Hkv, Skv, D, device=self.dev, dtype=dt)
        v = torch.randn(B, Hkv, Skv, D, device=self.dev, dtype=dt)
        doc = torch.tensor([doc_ids(b, Skv) for b in range(B)], device=self.dev, dtype=torch.int32)
        plen = torch.tensor(prefix_lens(B, Skv), device=self.dev, dtype=torch.int32)
        out = {}
        gqa = Hq != Hkv
        if c["variant"] != "sigmoid_attn":  # FlexAttention is softmax only
            score_mod, mask_mod = self.mods(c, doc, plen)
            try:
                t0 = time.time()
                per_b = c["variant"] in ("prefix_lm", "document")
                bm = (self.create_block_mask(mask_mod, B if per_b else None, None, Sq, Skv, device=self.dev)
                      if mask_mod else None)
                fn = lambda: self.flex(q, k, v, score_mod=score_mod, block_mask=bm, enable_gqa=gqa)
                fn()
                torch.cuda.synchronize()
                out["flex_compile_s"] = round(time.time() - t0, 1)
                out["flex_ms"] = self.time_ms(fn)
            except Exception as e:  # a peer that cannot run is a row, not a crash
                out["flex_err"] = repr(e)[:300]
        if c["variant"] in ("full", "causal"):
            causal = c["variant"] == "causal" and Sq > 1
            if c["variant"] == "causal" and Sq > 1 and Sq != Skv:
                causal = None  # SDPA's is_causal is top-left aligned: not the same mask
            for name, be in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION),
                             ("efficient", SDPBackend.EFFICIENT_ATTENTION)):
                if causal is None:
                    break
                try:
                    with sdpa_kernel([be]):
                        fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=gqa)
                        fn()
                        torch.cuda.synchronize()
                        out[f"{name}_ms"] = self.time_ms(fn)
                except Exception as e:
                    out[f"{name}_err"] = repr(e)[:200]
        del q, k, v
        torch.cuda.empty_cache()
        return out


def kept_fraction(c):
    """Kept (b, i, j) fraction, computed like attn-gpu-bench when it did not say."""
    v, B, Sq, Skv = c["variant"], c["B"], c["Sq"], c["Skv"]
    off = Skv - Sq
    if v in ("full", "sigmoid_attn"):
        return 1.0
    kept = 0
    plens = prefix_lens(B, Skv)
    for b in range(B):
        doc = doc_ids(b, Skv) if v == "document" else None
        for r in range(Sq):
            i = off + r
            if v in CAUSAL_LIKE:
                kept += min(max(i + 1, 0), Skv)
            elif v == "sliding_window":
                kept += max(0, min(i, Skv - 1) - max(0, i - 1023) + 1) if i >= 0 else 0
            elif v == "prefix_lm":
                kept += max(plens[b], min(i + 1, Skv)) if i >= 0 else min(plens[b], Skv)
            elif v == "document":
                kept += sum(1 for j in range(0, min(i, Skv - 1) + 1) if doc[j] == doc[i])
    return kept / (B * Sq * Skv)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attnc", help="attn-gpu-bench --json output (timed rows are matched)")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--dtypes", default="bf16", help="dtypes to time peers on (default bf16)")
    ap.add_argument("--seq", default="2048", help="shapes without --attnc rows")
    ap.add_argument("--decode-kv", default="8192")
    ap.add_argument("--variants", default="", help="only these variants")
    ap.add_argument("--warmup-ms", type=int, default=25)
    ap.add_argument("--rep-ms", type=int, default=100)
    args = ap.parse_args()
    dtypes = [d for d in args.dtypes.split(",") if d]
    only = set(v for v in args.variants.split(",") if v)

    attnc_rows = load_attnc(args.attnc)
    if attnc_rows:
        cases = [dict(r) for r in attnc_rows if r["dtype"] in dtypes]
        skipped = len(attnc_rows) - len(cases)
        if skipped:
            print(f"peers.py: {skipped} attnc row(s) in other dtypes than {dtypes} get no peer", flush=True)
    else:
        print("peers.py: no attnc rows; timing the peers on the default shapes", flush=True)
        cases = default_cases([int(s) for s in args.seq.split(",")],
                              [int(s) for s in args.decode_kv.split(",")], dtypes)
    if only:
        cases = [c for c in cases if c["variant"] in only]

    try:
        peers = Peers(args)
        import torch
        print("torch", torch.__version__, "triton", peers.triton.__version__, torch.cuda.get_device_name(), flush=True)
    except Exception as e:
        print("peers.py: PyTorch/Triton unavailable:", repr(e)[:300])
        return 2

    rows = []
    for c in cases:
        kept = c.get("kept")
        if kept is None:
            kept = kept_fraction(c)
            c["kept"] = kept
        flops = 4.0 * c["B"] * c["Hq"] * c["Sq"] * c["Skv"] * c["D"] * kept
        es = 4 if c["dtype"] == "f32" else 2
        kv_bytes = 2.0 * c["B"] * c["Hkv"] * c["Skv"] * c["D"] * es * kept
        res = peers.run(c)
        row = dict(c)
        row.update(res)
        for key in list(res):
            if key.endswith("_ms"):
                name = key[:-3]
                row[f"{name}_tflops"] = flops / res[key] / 1e9
                if c["Sq"] == 1:
                    row[f"{name}_tbps"] = kv_bytes / res[key] / 1e9
                if c.get("ms"):
                    row[f"ratio_vs_{name}"] = res[key] / c["ms"]
        rows.append(row)
        print(json.dumps({k: (round(x, 4) if isinstance(x, float) else x) for k, x in row.items()}), flush=True)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu_compare.json"), "w") as f:
        json.dump(rows, f, indent=1)

    # The table, last. Throughput: TFLOP/s, or TB/s for decode rows.
    def thr(r, name):
        key = f"{name}_tbps" if r["Sq"] == 1 else f"{name}_tflops"
        if name == "attnc":
            x = r.get("tbps") if r["Sq"] == 1 else r.get("tflops")
        else:
            x = r.get(key)
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "%8s" % "-"
        return "%8.2f" % x if r["Sq"] == 1 else "%8.1f" % x

    def ratio(r, name):
        x = r.get(f"ratio_vs_{name}")
        return "%7s" % "-" if x is None else "%7.2f" % x

    print("\nattnc vs peers (TFLOP/s; decode rows TB/s over kept K+V; ratio = peer time / attnc time, "
          ">1: attnc faster)")
    print("%-12s %-14s %-5s %6s %8s %8s %8s %8s %7s %7s %7s" % (
        "case", "variant", "dtype", "kept", "attnc", "flex", "flash", "cudnn", "/flex", "/flash", "/cudnn"))
    for r in rows:
        print("%-12s %-14s %-5s %6.3f %s %s %s %s %s %s %s" % (
            r["case"], r["variant"], r["dtype"], r["kept"], thr(r, "attnc"), thr(r, "flex"), thr(r, "flash"),
            thr(r, "cudnn"), ratio(r, "flex"), ratio(r, "flash"), ratio(r, "cudnn")))
    errs = [(r["case"], r["variant"], k, r[k]) for r in rows for k in r if k.endswith("_err")]
    for e in errs:
        print("peer error:", *e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
