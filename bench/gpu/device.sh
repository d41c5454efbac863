#!/usr/bin/env bash
# bench/gpu/device.sh [STAGE]: runs ON THE DEVICE MACHINE, from the repository
# root, with the folder that bench/gpu/run.sh staged (default build-gpu-stage,
# carried by the device call). In one run, on one GPU:
#   1. GpuLaunchTest: the runtime's GPU tests (PTX kernels, checks, timing),
#      and attnc's full/causal kernels against float64 when their cubins exist;
#      GpuJitRunTest: the GPU JIT's cached cubins and an AOT library
#      (--target all) against float64 (gpu_jit_test.log);
#   2. attn-gpu-bench: every staged variant checked against float64, then timed;
#   3. peers.py: FlexAttention and SDPA (flash, cuDNN, efficient) on the same
#      shapes, and the table attnc vs peers (ratio per row) printed last.
# Logs and JSON go to $OUT (the device tool brings them back), else ./gpu-out.
# Environment: BENCH_ARGS (extra attn-gpu-bench options, e.g. "--seq 2048,8192
# --decode-kv 8192,32768"), PEER_ARGS (extra peers.py options), SKIP_PEERS=1.
set -uo pipefail
STAGE=${1:-build-gpu-stage}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/$STAGE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONUNBUFFERED=1
status=0

if [ ! -x "$STAGE/bin/attn-gpu-bench" ]; then
  echo "device.sh: $STAGE/bin/attn-gpu-bench is missing: run bench/gpu/run.sh here first and"
  echo "           carry $STAGE with the device call"
  exit 2
fi

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee "$OUT/gpurt_test.log"

echo "== 1. runtime GPU tests"
"$STAGE/bin/GpuLaunchTest" >>"$OUT/gpurt_test.log" 2>&1 || status=1
grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/gpurt_test.log" | sort | uniq -c | head -20
for v in full causal; do
  for dt in bf16 f16; do
    cubin=$STAGE/cubins/${v}_${dt}.cubin
    [ -f "$cubin" ] || continue
    kernel=attn_${v}_${dt}_gpu
    if [ -f "$STAGE/cubins/$v.info" ]; then
      k=$(awk -v d="$dt" '$1=="kernel" && $2==d {print $3}' "$STAGE/cubins/$v.info")
      [ -n "$k" ] && kernel=$k
    fi
    echo "-- attnc kernel $kernel" | tee -a "$OUT/gpurt_test.log"
    ATTN_TEST_CUBIN=$cubin ATTN_TEST_KERNEL=$kernel "$STAGE/bin/GpuLaunchTest" \
      --gtest_filter='GpuAttncKernel.*' >>"$OUT/gpurt_test.log" 2>&1 || status=1
    grep -E "^$kernel |OK \]|FAILED \]" "$OUT/gpurt_test.log" | tail -n 8
  done
done

if [ -x "$STAGE/bin/GpuJitRunTest" ]; then
  echo "-- GPU JIT (cached cubins) and AOT library: GpuJitRunTest" | tee -a "$OUT/gpurt_test.log"
  ATTN_TEST_GPU_CACHE="$PWD/$STAGE/gpu-jit-cache" "$STAGE/bin/GpuJitRunTest" \
    >"$OUT/gpu_jit_test.log" 2>&1 || status=1
  grep -E "on the GPU: |^\[  (PASSED|FAILED|SKIPPED) " "$OUT/gpu_jit_test.log" \
    | tee -a "$OUT/gpurt_test.log"
fi

echo "== 2. attnc kernels: check against float64, then time"
rm -f "$OUT/attnc_gpu.jsonl"
if ls "$STAGE"/cubins/*.cubin >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  "$STAGE/bin/attn-gpu-bench" --dir "$STAGE/cubins" --json "$OUT/attnc_gpu.jsonl" \
    ${BENCH_ARGS:-} 2>&1 | tee "$OUT/attnc_gpu.log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
else
  echo "no cubins staged (attnc without --emit cubin?): peers only" | tee "$OUT/attnc_gpu.log"
fi

if [ "${SKIP_PEERS:-0}" != 1 ]; then
  echo "== 3. peers (FlexAttention, SDPA) on the same shapes"
  # shellcheck disable=SC2086
  python3 bench/gpu/peers.py --attnc "$OUT/attnc_gpu.jsonl" --out "$OUT" ${PEER_ARGS:-} 2>&1 \
    | tee "$OUT/peers.log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
echo "device.sh: done (status $status); files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit $status
