#!/usr/bin/env bash
# Session 16: the cp.async path (ATTN_GPU_TMA=0) of two stages, A (before) and B (full barriers
# counting a plain arrive per loader besides cp.async.mbarrier.arrive), on the device:
#   bash bench/gpu/calls/session16_release.sh STAGE_A STAGE_B   (carry: both stages)
# B's kernels against float64 on the cp.async path (bf16, f16) and with TMA (bf16), then A, B,
# A, B timed on the cp.async path, alternating.
set -u
A=$1 B=$2
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"; L=$OUT/s16_release.log
ARGS=${S16_ARGS:---dtypes bf16 --seq 512,2048,8192 --shapes mha_512,mha_2048,mha_8192 --variants full,causal,document}
bench() { local s=$1 t=$2; shift 2; LD_LIBRARY_PATH="$PWD/$s/lib" timeout "$t" "$s/bin/attn-gpu-bench" --dir "$s/cubins" "$@"; }
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$L"
echo "== check $B, cp.async path" >> "$L"
ATTN_GPU_TMA=0 bench "$B" 90 --check-only > "$OUT/check_rel_cp.log" 2>&1; echo "rc $?" >> "$L"
echo "== check $B, TMA path (bf16)" >> "$L"
bench "$B" 60 --check-only --dtypes bf16 > "$OUT/check_rel_tma.log" 2>&1; echo "rc $?" >> "$L"
grep -hE "check rows|^FAIL" "$OUT/check_rel_cp.log" "$OUT/check_rel_tma.log" | head -10 >> "$L"
for r in 1 2; do for s in "$A" "$B"; do
  echo "-- $s (cp.async) run $r" >> "$L"
  # shellcheck disable=SC2086
  ATTN_GPU_TMA=0 bench "$s" 45 $ARGS 2>&1 | grep -A40 '^case' >> "$L"
done; done
cat "$L"
