#!/usr/bin/env bash
# Session 18's last call (carry: STAGE, staged by `bash bench/gpu/run.sh` with the new defaults:
# the producer warpgroup with the ping-pong unless the mask reads a tensor by key):
#   bash bench/gpu/calls/session18_final.sh STAGE
# 1. every staged kernel against float64 in bf16 and fp16, and bf16 on the cp.async path;
# 2. bench/gpu/device.sh: GpuLaunchTest, GpuJitRunTest (the GPU JIT's cubins, built with the
#    defaults, and the AOT library), the anchors timed and the peers in the same run.
set -uo pipefail
S=${1:-build-gpu-stage}
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
L=$OUT/s18f.log
bench() { LD_LIBRARY_PATH="$PWD/$S/lib" timeout "$1" "$S/bin/attn-gpu-bench" --dir "$S/cubins" "${@:2}"; }
echo "== 1. checks" | tee "$L"
bench 200 --check-only --dtypes bf16,f16 >"$OUT/check.log" 2>&1; echo "rc $?" | tee -a "$L"
ATTN_GPU_TMA=0 bench 100 --check-only --dtypes bf16 >"$OUT/check_cp_async.log" 2>&1; echo "rc $?" | tee -a "$L"
grep -hE "check rows|^FAIL" "$OUT/check.log" "$OUT/check_cp_async.log" | head -20 | tee -a "$L"
echo "== 2. device.sh" | tee -a "$L"
BENCH_ARGS=${BENCH_ARGS:---dtypes bf16 --seq 512,2048,8192 --decode-kv 8192 --shapes mha_512,mha_2048,gqa_2048,mha_8192,decode_8192} \
  timeout 420 bash bench/gpu/device.sh "$S" >"$OUT/device.log" 2>&1; echo "rc $?" | tee -a "$L"
grep -E "PASSED|FAILED|on the GPU: |check rows" "$OUT/device.log" | head -30 | tee -a "$L"
sed -n '/^attnc vs peers/,$p' "$OUT/peers.log" | head -60 | tee -a "$L"
