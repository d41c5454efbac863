#!/usr/bin/env bash
# Session 15: stages timed alternately on the device (each with its own libattnrt):
#   bash bench/gpu/calls/session15_producer.sh STAGE...   (carry: the stages)
# e.g. build-gpu-stage-ch (default kernels), build-gpu-stage-pr / -p2 (--gpu-producer with
# 224 / 56 and 240 / 32 registers per consumer / producer thread). Each stage's kernels are
# checked against float64 first (bf16), then every stage is timed twice, alternating.
set -u
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"; L=$OUT/s15.log
ARGS=${S15_ARGS:---dtypes bf16 --seq 512,2048,8192 --shapes mha_512,mha_2048,mha_8192,gqa_2048 --variants full,causal,document,prefix_lm,sliding_window,alibi_causal}
bench() { local s=$1 t=$2; shift 2; LD_LIBRARY_PATH="$PWD/$s/lib" timeout "$t" "$s/bin/attn-gpu-bench" --dir "$s/cubins" "$@"; }
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$L"
for s in "$@"; do
  echo "== check $s" >> "$L"
  bench "$s" 60 --check-only --dtypes bf16 > "$OUT/check_${s##*/}.log" 2>&1; echo "rc $?" >> "$L"
  grep -hE "check rows|^FAIL" "$OUT/check_${s##*/}.log" | head -5 >> "$L"
done
for r in 1 2; do for s in "$@"; do
  echo "-- $s run $r" >> "$L"
  # shellcheck disable=SC2086
  bench "$s" 45 $ARGS --json "$OUT/t_${s##*/}_$r.jsonl" 2>&1 | grep -A40 '^case' >> "$L"
done; done
cat "$L"
