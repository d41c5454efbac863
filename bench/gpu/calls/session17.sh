#!/usr/bin/env bash
# Session 17, one device call (carry: STAGE_A, STAGE_B; runs from the repository root):
#   bash bench/gpu/calls/session17.sh STAGE_A STAGE_B
# 1. GpuJitRunTest on A's GPU JIT cache (causal, sliding_window, document, head_segments and
#    temperature, a custom norm whose online rescale has a row-value coefficient; each in bf16
#    and f16 at two prefill shapes and one split decode shape, against float64);
# 2. A's kernels on the cp.async path (ATTN_GPU_TMA=0) against float64;
# 3. bench/gpu/ab.sh A B with AB_ARGS (checks of B, A / B timed twice alternating, the peers).
set -uo pipefail
A=$1 B=$2
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
echo "== GpuJitRunTest ($A)" | tee "$OUT/s17.log"
LD_LIBRARY_PATH="$PWD/$A/lib" ATTN_TEST_GPU_CACHE="$PWD/$A/gpu-jit-cache" timeout 120 \
  "$A/bin/GpuJitRunTest" >"$OUT/gpu_jit_test.log" 2>&1; echo "rc $?" | tee -a "$OUT/s17.log"
grep -E "on the GPU: |^\[  (PASSED|FAILED|SKIPPED) |Failure|error" "$OUT/gpu_jit_test.log" \
  | head -60 | tee -a "$OUT/s17.log"
echo "== $A against float64 on the cp.async path (ATTN_GPU_TMA=0; main's full barriers count a plain arrival per loader, 3dcf313)" | tee -a "$OUT/s17.log"
ATTN_GPU_TMA=0 LD_LIBRARY_PATH="$PWD/$A/lib" timeout 60 "$A/bin/attn-gpu-bench" --dir "$A/cubins" \
  --check-only --dtypes bf16 >"$OUT/check_a_cp_async.log" 2>&1; echo "rc $?" | tee -a "$OUT/s17.log"
grep -hE "check rows|^FAIL" "$OUT/check_a_cp_async.log" | head -10 | tee -a "$OUT/s17.log"
bash bench/gpu/ab.sh "$A" "$B"
