#!/usr/bin/env bash
# Session 19, one device call (carry: STAGE, staged by `bash bench/gpu/run.sh`; runs from the
# repository root):  bash bench/gpu/calls/session19.sh STAGE
# 1. every staged kernel against float64: bf16 and fp16 with Q by TMA (the producer kernels of
#    ABI 8), bf16 with ATTN_GPU_TMA=kv (Q by the consumers' cp.async) and ATTN_GPU_TMA=0;
# 4. then the peers on the default's rows (FlexAttention, SDPA), unless SKIP_PEERS=1.
# 2. A/B of Q's tensor map, same binary and machine: A = ATTN_GPU_TMA=kv, B = default, alternating
#    A, B, A, B on S19_ARGS (default: full / causal / prefix_lm / sliding_window at S = 512, 2048,
#    8192 and gqa_2048; document's kernel has no producer and is not affected).
set -uo pipefail
S=${1:-build-gpu-stage}
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
L=$OUT/s19.log
bench() { LD_LIBRARY_PATH="$PWD/$S/lib" timeout "$1" "$S/bin/attn-gpu-bench" --dir "$S/cubins" "${@:2}"; }
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader | tee "$L"
echo "== 1. checks" | tee -a "$L"
bench 200 --check-only --dtypes bf16,f16 >"$OUT/check.log" 2>&1; echo "rc $?" | tee -a "$L"
ATTN_GPU_TMA=kv bench 100 --check-only --dtypes bf16 >"$OUT/check_kv.log" 2>&1; echo "rc $?" | tee -a "$L"
ATTN_GPU_TMA=0 bench 100 --check-only --dtypes bf16 >"$OUT/check_cp_async.log" 2>&1; echo "rc $?" | tee -a "$L"
grep -hE "check rows|^FAIL" "$OUT/check.log" "$OUT/check_kv.log" "$OUT/check_cp_async.log" | head -20 | tee -a "$L"
ARGS=${S19_ARGS:---dtypes bf16 --seq 512,2048,8192 --shapes mha_512,mha_2048,gqa_2048,mha_8192 --variants full,causal,prefix_lm,sliding_window}
echo "== 2. A = ATTN_GPU_TMA=kv, B = default (Q by TMA), alternating" | tee -a "$L"
for r in 1 2; do
  for m in kv all; do
    echo "-- ATTN_GPU_TMA=$m, run $r" | tee -a "$L"
    # shellcheck disable=SC2086
    ATTN_GPU_TMA=$m bench 90 $ARGS --json "$OUT/rows_${m}_$r.jsonl" 2>&1 | grep -A40 '^case' | tee -a "$L"
  done
done
# 3. (when STAGE/cubins-pp exists, staged with ATTNC_GPU_AB_DIR=pp ATTNC_GPU_AB_FLAGS=--gpu-persistent)
#    the persistent producer kernels (ABI 9): checks (TMA, cp.async), then B = cubins-pp timed
#    twice on the variants it holds (A: section 2's default runs).
if [ -d "$S/cubins-pp" ]; then
  pp() { LD_LIBRARY_PATH="$PWD/$S/lib" timeout "$1" "$S/bin/attn-gpu-bench" --dir "$S/cubins-pp" "${@:2}"; }
  echo "== 3. persistent producer (cubins-pp)" | tee -a "$L"
  pp 100 --check-only --dtypes bf16 >"$OUT/check_pp.log" 2>&1; echo "rc $?" | tee -a "$L"
  ATTN_GPU_TMA=0 pp 100 --check-only --dtypes bf16 >"$OUT/check_pp_cp.log" 2>&1; echo "rc $?" | tee -a "$L"
  grep -hE "check rows|^FAIL" "$OUT/check_pp.log" "$OUT/check_pp_cp.log" | head -20 | tee -a "$L"
  PARGS=${S19_PP_ARGS:---dtypes bf16 --seq 512,2048,8192 --shapes mha_512,mha_2048,gqa_2048,mha_8192 --variants full,causal,prefix_lm,sliding_window}
  # (A's runs are section 2's ATTN_GPU_TMA=all ones, a minute before.)
  for r in 1 2; do
    echo "-- B persistent producer, run $r" | tee -a "$L"
    # shellcheck disable=SC2086
    pp 90 $PARGS 2>&1 | grep -A40 '^case' | tee -a "$L"
  done
fi
# 4. the peers (FlexAttention, SDPA) on the default's rows of run 1, in the same call.
if [ "${SKIP_PEERS:-0}" != 1 ]; then
  echo "== 4. peers" | tee -a "$L"
  timeout 200 python3 bench/gpu/peers.py --attnc "$OUT/rows_all_1.jsonl" --out /tmp >"$OUT/peers.log" 2>&1
  echo "peers rc $?" | tee -a "$L"; sed -n '/^attnc vs peers/,$p' "$OUT/peers.log" | head -40 | tee -a "$L"
fi
