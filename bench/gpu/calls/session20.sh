#!/usr/bin/env bash
# Session 20's first A/B (carry STAGE with cubins (one item per block), and the persistent
# producer's kernels of full / causal / prefix_lm / sliding_window, tier 128, bf16 and fp16:
#   cubins-pg:  ABI 9, items dealt in rounds, grouped by heads (branch wip/persistent-grouped),
#               run by STAGE/lib (a runtime of ABI 9);
#   cubins-dyn: ABI 10, items taken from the ticket counter, run by STAGE/lib10.)
#   bash bench/gpu/calls/session20.sh STAGE
# 1. cubins-dyn against float64 (bf16 and fp16 with TMA, bf16 on the cp.async path);
# 2. cubins, cubins-pg, cubins-dyn timed, alternating, twice.
set -uo pipefail
S=${1:-build-gpu-stage}
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
L=$OUT/s20.log
run() { local lib=$1 d=$2 t=$3; shift 3; LD_LIBRARY_PATH="$PWD/$S/$lib" timeout "$t" "$S/bin/attn-gpu-bench" --dir "$S/$d" "$@"; }
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader | tee "$L"
echo "== 1. checks of cubins-dyn" | tee -a "$L"
run lib10 cubins-dyn 100 --check-only --dtypes bf16,f16 >"$OUT/check_dyn.log" 2>&1; echo "rc $?" | tee -a "$L"
ATTN_GPU_TMA=0 run lib10 cubins-dyn 60 --check-only --dtypes bf16 >"$OUT/check_dyn_cp.log" 2>&1; echo "rc $?" | tee -a "$L"
grep -hE "check rows|^FAIL" "$OUT/check_dyn.log" "$OUT/check_dyn_cp.log" | head -20 | tee -a "$L"
ARGS=${S20_ARGS:---dtypes bf16 --seq 512,2048,8192 --shapes mha_512,mha_2048,gqa_2048,mha_8192 --variants full,causal,prefix_lm,sliding_window}
echo "== 2. cubins, cubins-pg, cubins-dyn, alternating" | tee -a "$L"
for r in 1 2; do
  for d in lib:cubins lib:cubins-pg lib10:cubins-dyn; do
    echo "-- $d, run $r" | tee -a "$L"
    # shellcheck disable=SC2086
    run ${d%%:*} ${d##*:} 60 $ARGS 2>&1 | grep -A40 '^case' | tee -a "$L"
  done
done
