#!/usr/bin/env bash
# bench/gpu/ab.sh [STAGE_A] [STAGE_B]: runs ON THE DEVICE MACHINE (repository root) a same-run
# A/B of two folders that bench/gpu/run.sh staged here, each with its own libattnrt, carried
# by the call (carry: [STAGE_A, STAGE_B]); defaults build-gpu-stage and build-gpu-stage-ov,
# the latter staged with
#   ATTNC_GPU_STAGE=build-gpu-stage-ov ATTNC_GPU_FLAGS=--gpu-overlap bash bench/gpu/run.sh
# In one run:
#   1. B's kernels against float64 (attn-gpu-bench --check-only, bf16 and fp16; then bf16 on
#      the cp.async path, ATTN_GPU_TMA=0);
#   2. A, B, A, B timed on AB_ARGS (default: bf16, mha_2048 / mha_8192 / gqa_2048 of six
#      variants), alternating so that drift shows;
#   3. the peers (FlexAttention, SDPA) on A's rows, so B's ratio to them is B/A times A's
#      (peers.log; at most 8 files come back, so gpu_compare.json stays in /tmp).
# Every step has a time limit (the whole fits one 10-minute call); the logs go to $OUT (else
# ./gpu-out), the timing tables are in ab.log.
set -uo pipefail
A=${1:-build-gpu-stage}
B=${2:-build-gpu-stage-ov}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
L=$OUT/ab.log
AB_ARGS=${AB_ARGS:---dtypes bf16 --seq 2048,8192 --shapes mha_2048,mha_8192,gqa_2048 --variants full,causal,sliding_window,document,softcap,sigmoid_attn}
status=0
bench() { # STAGE SECONDS ARGS...: attn-gpu-bench on STAGE's cubins with STAGE's libattnrt
  local s=$1 t=$2; shift 2
  LD_LIBRARY_PATH="$PWD/$s/lib" timeout "$t" "$s/bin/attn-gpu-bench" --dir "$s/cubins" "$@"
}
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$L"
echo "== 1. $B against float64" | tee -a "$L"
bench "$B" 150 --check-only >"$OUT/check_b.log" 2>&1 || status=1
ATTN_GPU_TMA=0 bench "$B" 45 --check-only --dtypes bf16 >"$OUT/check_b_cp_async.log" 2>&1 || status=1
grep -hE "check rows|^FAIL" "$OUT/check_b.log" "$OUT/check_b_cp_async.log" | head -20 | tee -a "$L"
echo "== 2. A = $A, B = $B, alternating" | tee -a "$L"
for r in 1 2; do
  for s in "$A" "$B"; do
    echo "-- $s, run $r" >>"$L"
    # shellcheck disable=SC2086
    bench "$s" 45 $AB_ARGS --json "$OUT/ab_${s##*/}_$r.jsonl" 2>&1 | grep -A40 '^case' >>"$L" || status=1
  done
done
if [ "${SKIP_PEERS:-0}" != 1 ]; then
  echo "== 3. peers on A's rows" | tee -a "$L"
  timeout 150 python3 bench/gpu/peers.py --attnc "$OUT/ab_${A##*/}_1.jsonl" --out /tmp \
    >"$OUT/peers.log" 2>&1 || status=1
  tail -n 25 "$OUT/peers.log" >>"$L"
fi
cat "$L"
echo "ab.sh: done (status $status)"
exit $status
