#!/usr/bin/env bash
# Session 19's second call (carry: STAGE with cubins-pp: the persistent producer kernels, ABI 9,
# of full / causal / prefix_lm / sliding_window, bf16 and fp16, tier 128, staged by
#   attnc examples/V.attn --target gpu --emit cubin --dtypes bf16,f16 --gpu-head-dims 128 \
#     --gpu-persistent -o STAGE/cubins-pp):
#   bash bench/gpu/calls/session19_pp.sh STAGE
# (PP=cubins-pg: another folder of them, e.g. the items grouped by heads; CHECK_DEFAULT=0
# skips the default cubins' checks.)
# 1. cubins (bf16) and cubins-pp against float64 (bf16 and fp16 with TMA, bf16 on the cp.async path);
# 2. A = STAGE/cubins (one item per block), B = cubins-pp, alternating A, B, A, B.
set -uo pipefail
S=${1:-build-gpu-stage}
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
L=$OUT/s19pp.log
run() { local d=$1 t=$2; shift 2; LD_LIBRARY_PATH="$PWD/$S/lib" timeout "$t" "$S/bin/attn-gpu-bench" --dir "$S/$d" "$@"; }
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader | tee "$L"
echo "== 1. checks of cubins (bf16) and cubins-pp" | tee -a "$L"
PP=${PP:-cubins-pp}
: >"$OUT/check.log"
[ "${CHECK_DEFAULT:-1}" = 1 ] && { run cubins 100 --check-only --dtypes bf16 >"$OUT/check.log" 2>&1; echo "rc $?" | tee -a "$L"; }
run $PP 100 --check-only --dtypes bf16,f16 >"$OUT/check_pp.log" 2>&1; echo "rc $?" | tee -a "$L"
ATTN_GPU_TMA=0 run $PP 60 --check-only --dtypes bf16 >"$OUT/check_pp_cp.log" 2>&1; echo "rc $?" | tee -a "$L"
grep -hE "check rows|^FAIL" "$OUT/check.log" "$OUT/check_pp.log" "$OUT/check_pp_cp.log" | head -20 | tee -a "$L"
ARGS=${S19_ARGS:---dtypes bf16 --seq 512,2048,8192 --shapes mha_512,mha_2048,gqa_2048,mha_8192 --variants full,causal,prefix_lm,sliding_window}
echo "== 2. A = cubins, B = cubins-pp, alternating" | tee -a "$L"
for r in 1 2; do
  for d in cubins ${AB_DIRS:-$PP}; do
    echo "-- $d, run $r" | tee -a "$L"
    # shellcheck disable=SC2086
    run $d 60 $ARGS 2>&1 | grep -A40 '^case' | tee -a "$L"
  done
done
