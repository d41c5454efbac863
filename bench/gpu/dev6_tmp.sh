#!/usr/bin/env bash
# session 5 call 3: checks of the per-warpgroup votes, A/B vs block votes, ncu of document
set -uo pipefail
S=build-gpu-stage
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/$S/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" PYTHONUNBUFFERED=1
B=$S/bin/attn-gpu-bench
nvidia-smi -L
timeout 120 "$B" --dir "$S/cubins" --check-only > "$OUT/check.log" 2>&1; echo "check rc=$?"; grep -E "check rows|^FAIL" "$OUT/check.log" | head
ATTN_SPLIT_KV=4 timeout 60 "$B" --dir "$S/cubins" --check-only --dtypes f16 > "$OUT/check_split4.log" 2>&1; echo "split4 rc=$?"; grep -E "check rows|^FAIL" "$OUT/check_split4.log" | head
T=(--dtypes bf16 --seq 2048,8192 --shapes mha_2048,mha_8192 --variants causal,sliding_window,document,prefix_lm)
for r in 1 2; do
  timeout 60 "$B" --dir "$S/cubins" "${T[@]}" > "$OUT/wg$r.log" 2>&1
  timeout 60 "$B" --dir "$S/cubins-blockvotes" "${T[@]}" > "$OUT/block$r.log" 2>&1
done
for f in wg1 block1 wg2 block2; do echo "-- $f"; grep -E "^mha_" "$OUT/$f.log" | tail -8; done
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
echo "ncu: $NCU"
if [ -n "$NCU" ]; then
  for v in document full; do
    timeout 150 "$NCU" --kernel-name regex:"attn_${v}_bf16_gpu_d128\$" --launch-count 1 \
      --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section Occupancy --section InstructionStats \
      "$B" --dir "$S/cubins" --dtypes bf16 --seq 8192 --shapes mha_8192 --variants $v > "$OUT/ncu_$v.txt" 2>&1
    echo "ncu $v rc=$?"; grep -E "Duration|Throughput|Issued Warp|No Eligible|Stall|Registers|Achieved Occupancy|Executed Ipc" "$OUT/ncu_$v.txt" | head -30
  done
fi
