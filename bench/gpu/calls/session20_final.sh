#!/usr/bin/env bash
# Session 20's last call (carry STAGE, staged by
#   ATTNC_GPU_AB_DIR=one ATTNC_GPU_AB_FLAGS=--gpu-persistent=false \
#   ATTNC_GPU_AB_VARIANTS="full causal prefix_lm sliding_window" bash bench/gpu/run.sh
# with the new default: the producer kernels persistent, their items taken from a counter):
#   bash bench/gpu/calls/session20_final.sh STAGE
# 1. A = STAGE/cubins-one (one item per block, ABI 8), B = STAGE/cubins (the default, ABI 10),
#    alternating A, B, A, B (bf16, tier 128);
# 2. every staged kernel against float64 in bf16 and fp16 (tiers 64, 128, 256), bf16 on the
#    cp.async path;
# 3. bench/gpu/device.sh: GpuLaunchTest, GpuJitRunTest (the GPU JIT's cubins, built with the
#    defaults, and the AOT library), the anchors timed and the peers in the same run.
set -uo pipefail
S=${1:-build-gpu-stage}
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
L=$OUT/s20f.log
bench() { local d=$1 t=$2; shift 2; LD_LIBRARY_PATH="$PWD/$S/lib" timeout "$t" "$S/bin/attn-gpu-bench" --dir "$S/$d" "$@"; }
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader | tee "$L"
ARGS="--dtypes bf16 --seq 512,2048,8192 --shapes mha_512,mha_2048,gqa_2048,mha_8192 --variants full,causal,prefix_lm,sliding_window"
echo "== 1. A = cubins-one, B = cubins, alternating" | tee -a "$L"
for r in 1 2; do
  for d in cubins-one cubins; do
    echo "-- $d, run $r" | tee -a "$L"
    # shellcheck disable=SC2086
    bench $d 30 $ARGS 2>&1 | grep -A20 '^case' | tee -a "$L"
  done
done
echo "== 2. checks" | tee -a "$L"
bench cubins 120 --check-only --dtypes bf16,f16 >"$OUT/check.log" 2>&1; echo "rc $?" | tee -a "$L"
ATTN_GPU_TMA=0 bench cubins 60 --check-only --dtypes bf16 >"$OUT/check_cp_async.log" 2>&1; echo "rc $?" | tee -a "$L"
grep -hE "check rows|^FAIL" "$OUT/check.log" "$OUT/check_cp_async.log" | head -20 | tee -a "$L"
echo "== 3. device.sh" | tee -a "$L"
BENCH_ARGS=${BENCH_ARGS:---dtypes bf16 --seq 512,2048,8192 --decode-kv 8192 --shapes mha_512,mha_2048,gqa_2048,mha_8192,decode_8192} \
  timeout 270 bash bench/gpu/device.sh "$S" >"$OUT/device.log" 2>&1; echo "rc $?" | tee -a "$L"
grep -E "PASSED|FAILED|on the GPU: |check rows" "$OUT/device.log" | head -30 | tee -a "$L"
sed -n '/^attnc vs peers/,$p' "$OUT/peers.log" | head -60 | tee -a "$L"
