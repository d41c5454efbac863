#!/usr/bin/env bash
# Session 14: checks of C (persistent) and B (row reads), then A, B, C timed twice, a short-sequence
# sweep of B and C, and the peers on A's rows.
set -u
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"; L=$OUT/dev2.log
bench() { local s=$1 t=$2; shift 2; LD_LIBRARY_PATH="$PWD/$s/lib" timeout "$t" "$s/bin/attn-gpu-bench" --dir "$s/cubins" "$@"; }
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$L"
echo "== check C" | tee -a "$L"
bench build-gpu-stage-c 120 --check-only > "$OUT/check_c.log" 2>&1; echo "rc $?" >> "$L"
ATTN_GPU_TMA=0 bench build-gpu-stage-c 40 --check-only --dtypes bf16 > "$OUT/check_c_cp.log" 2>&1; echo "rc $?" >> "$L"
echo "== check B" | tee -a "$L"
bench build-gpu-stage-b 50 --check-only --dtypes bf16 > "$OUT/check_b.log" 2>&1; echo "rc $?" >> "$L"
grep -hE "check rows|^FAIL|WRONG" "$OUT"/check_*.log | head -30 >> "$L"
ARGS="--dtypes bf16 --seq 2048,8192 --shapes mha_2048,mha_8192,gqa_2048 --variants full,causal,document,prefix_lm,alibi_causal,sliding_window"
for r in 1 2; do for s in a b c; do
  echo "-- $s run $r" >> "$L"
  bench build-gpu-stage-$s 40 $ARGS --json "$OUT/t_${s}_$r.jsonl" 2>&1 | grep -A40 '^case' >> "$L"
done; done
SW="--dtypes bf16 --seq 512,1024 --shapes mha_512,mha_1024 --variants full,causal,document"
for s in b c; do echo "-- sweep $s" >> "$L"; bench build-gpu-stage-$s 30 $SW --json "$OUT/sw_$s.jsonl" 2>&1 | grep -A20 '^case' >> "$L"; done
cat "$OUT/t_a_1.jsonl" "$OUT/sw_b.jsonl" > /tmp/peer_rows.jsonl 2>/dev/null
timeout 150 python3 bench/gpu/peers.py --attnc /tmp/peer_rows.jsonl --variants full,causal,document,prefix_lm --out /tmp > "$OUT/peers.log" 2>&1
tail -n 30 "$OUT/peers.log" >> "$L"
cat "$L"
