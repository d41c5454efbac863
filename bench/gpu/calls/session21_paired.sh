#!/usr/bin/env bash
# Session 21's call on the paired MMAs (carry STAGE, staged by
#   ATTNC_GPU_FLAGS=--gpu-paired-mma ATTNC_GPU_AB_DIR=np ATTNC_GPU_AB_FLAGS=--gpu-paired-mma=false \
#   ATTNC_GPU_AB_VARIANTS="full causal prefix_lm sliding_window alibi_causal softcap sigmoid_attn" \
#   bash bench/gpu/run.sh
# (call 1 ran it at adabad1, where the paired form was the default and had one barrier pair per
# stage; since then it is the option's ABI 11 form, not yet run: the next call):
#   bash bench/gpu/calls/session21_paired.sh STAGE
# 1. every staged kernel (the default) against float64 in bf16 and fp16 (tiers 64, 128, 256),
#    bf16 on the cp.async path;
# 2. A = STAGE/cubins-np (--gpu-paired-mma=false), B = STAGE/cubins, alternating A, B, A, B
#    (bf16, tier 128), full also at S = 1024 and 4096 (a fixed count of 1024 items);
# 3. bench/gpu/device.sh: GpuLaunchTest, GpuJitRunTest, the anchors timed and the peers.
set -uo pipefail
S=${1:-build-gpu-stage}
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
L=$OUT/s21.log
bench() { local d=$1 t=$2; shift 2; LD_LIBRARY_PATH="$PWD/$S/lib" timeout "$t" "$S/bin/attn-gpu-bench" --dir "$S/$d" "$@"; }
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader | tee "$L"
echo "== 1. checks" | tee -a "$L"
bench cubins 120 --check-only --dtypes bf16,f16 >"$OUT/check.log" 2>&1; rc1=$?; echo "rc $rc1" | tee -a "$L"
ATTN_GPU_TMA=0 bench cubins 60 --check-only --dtypes bf16 >>"$OUT/check.log" 2>&1; rc2=$?; echo "rc $rc2" | tee -a "$L"
grep -hE "check rows|^FAIL" "$OUT/check.log" | head -20 | tee -a "$L"
if [ "$rc1" != 0 ] || [ "$rc2" != 0 ]; then echo "checks failed: no timing" | tee -a "$L"; exit 1; fi
ARGS=${S21_ARGS:---dtypes bf16 --seq 512,2048,8192 --shapes mha_512,mha_2048,gqa_2048,mha_8192 --variants full,causal,prefix_lm,sliding_window,alibi_causal,softcap,sigmoid_attn}
echo "== 2. A = cubins-np, B = cubins, alternating" | tee -a "$L"
for r in 1 2; do
  for d in cubins-np cubins; do
    echo "-- $d, run $r" | tee -a "$L"
    # shellcheck disable=SC2086
    bench $d 40 $ARGS 2>&1 | grep -A40 '^case' | tee -a "$L"
    bench $d 20 --dtypes bf16 --seq 1024,4096 --shapes mha_1024,mha_4096 --variants full 2>&1 | grep -A4 '^case' | tee -a "$L"
  done
done
echo "== 3. device.sh" | tee -a "$L"
BENCH_ARGS=${BENCH_ARGS:---dtypes bf16 --seq 512,2048,8192 --decode-kv 8192 --shapes mha_512,mha_2048,gqa_2048,mha_8192,decode_8192} \
  timeout 300 bash bench/gpu/device.sh "$S" >"$OUT/device.log" 2>&1; echo "rc $?" | tee -a "$L"
grep -E "PASSED|FAILED|on the GPU: |check rows" "$OUT/device.log" | head -30 | tee -a "$L"
sed -n '/^attnc vs peers/,$p' "$OUT/peers.log" | head -60 | tee -a "$L"
# At most 8 files come back: the rest in one archive.
( cd "$OUT" && rest=$(ls | grep -vE '^(s21\.log|check\.log|device\.log|peers\.log)$') && \
  [ -n "$rest" ] && tar czf rest.tgz $rest && rm -f $rest ); ls "$OUT"
