#!/usr/bin/env bash
# Session 14: D = persistent with per-tile reloads of the decoded item (no divisions); B = default.
set -u
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"; L=$OUT/dev3.log
bench() { local s=$1 t=$2; shift 2; LD_LIBRARY_PATH="$PWD/$s/lib" timeout "$t" "$s/bin/attn-gpu-bench" --dir "$s/cubins" "$@"; }
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$L"
bench build-gpu-stage-d 60 --check-only --dtypes bf16 > "$OUT/check_d.log" 2>&1; echo "check rc $?" >> "$L"
grep -hE "check rows|^FAIL|WRONG" "$OUT"/check_d.log | head >> "$L"
ARGS="--dtypes bf16 --seq 512,2048,8192 --shapes mha_512,mha_2048,mha_8192 --variants full,causal,document,prefix_lm"
for r in 1 2; do for s in b d; do
  echo "-- $s run $r" >> "$L"
  bench build-gpu-stage-$s 40 $ARGS 2>&1 | grep -A20 '^case' >> "$L"
done; done
echo "== ncu B full mha_512" >> "$L"
NCU_BENCH_ARGS="--seq 512" timeout 150 bash bench/gpu/ncu.sh build-gpu-stage-b:full:mha_512 > /dev/null 2>&1
grep -E "Duration|Elapsed Cycles|SM Active Cycles|Registers Per|Achieved Occupancy|Executed Ipc A|Issue Slots Busy|No Eligible|Warp Cycles Per Issued|source page" "$OUT/ncu.txt" | head -20 >> "$L"
cat "$L"
