#!/usr/bin/env bash
# Session 21's first call (carry STAGE = build-gpu-stage as session 20 left it: cubins = the
# default (ABI 10), plus cubins-npp = full, bf16, tier 128, --gpu-pingpong=false):
#   bash bench/gpu/calls/session21.sh STAGE
# 1. full at a fixed item count (attn-gpu-bench's mha_<S>: B = 4 * 2048 / S, so 1024 items of
#    128 query rows at every S) over S = 512..8192, the default and the ping-pong off,
#    alternating, twice: the per-item cost against the per-tile cost;
# 2. ncu of the default's full kernel at mha_2048 (stall samples per SASS instruction).
set -uo pipefail
S=${1:-build-gpu-stage}
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
L=$OUT/s21.log
bench() { local d=$1 t=$2; shift 2; LD_LIBRARY_PATH="$PWD/$S/lib" timeout "$t" "$S/bin/attn-gpu-bench" --dir "$S/$d" "$@"; }
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader | tee "$L"
ARGS="--dtypes bf16 --seq 512,1024,2048,4096,8192 --shapes mha_512,mha_1024,mha_2048,mha_4096,mha_8192 --variants full"
echo "== 1. cubins, cubins-npp over S, alternating" | tee -a "$L"
for r in 1 2; do
  for d in cubins cubins-npp; do
    echo "-- $d, run $r" | tee -a "$L"
    # shellcheck disable=SC2086
    bench $d 40 $ARGS 2>&1 | grep -A12 '^case' | tee -a "$L"
  done
done
echo "== 2. ncu" | tee -a "$L"
NCU_BENCH_ARGS="--seq 2048" bash bench/gpu/ncu.sh "$S:full:mha_2048" >>"$L" 2>&1
tail -5 "$L"
