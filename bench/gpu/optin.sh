#!/usr/bin/env bash
# bench/gpu/optin.sh [STAGE]: runs ON THE DEVICE MACHINE (repository root, the
# folder bench/gpu/run.sh staged, carried by the call) the checks and the
# same-run A/B of the GPU paths that are still opt-in (docs/gpu.md, "Device
# checks still to run"):
#   - TMA loads (ATTN_GPU_TMA=1) against float64 on every check row, also
#     with every call split in 4 chunks, and the cp.async path (ATTN_GPU_TMA=0);
#   - timing of TMA on / off, and of the kernels with the tile range (the
#     stage's cubins/, built with --gpu-tile-range) / without (cubins-norange/);
#   - the peers on the TMA rows (SKIP_PEERS=1 to leave them out).
# Stage first, here:
#   ATTNC_GPU_FLAGS=--gpu-tile-range ATTNC_GPU_AB_DIR=norange bash bench/gpu/run.sh
# Every step has a time limit so that the whole fits one 10-minute call; logs go
# to $OUT (else ./gpu-out), the timing tables are printed last.
set -uo pipefail
S=${1:-build-gpu-stage}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/$S/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" PYTHONUNBUFFERED=1
B=$S/bin/attn-gpu-bench
status=0
nvidia-smi -L
check() { # NAME ENV... -- ARGS...
  local name=$1; shift
  env "$@" >"$OUT/check_$name.log" 2>&1 || status=1
  echo "-- check $name: $(grep -E 'check rows' "$OUT/check_$name.log" || echo 'no summary (timed out?)')"
  grep -E '^FAIL' "$OUT/check_$name.log" | head -10
}
check tma ATTN_GPU_TMA=1 timeout 110 "$B" --dir "$S/cubins" --check-only
check tma_split4 ATTN_GPU_TMA=1 ATTN_SPLIT_KV=4 timeout 45 "$B" --dir "$S/cubins" --check-only --dtypes f16
check cp_async ATTN_GPU_TMA=0 timeout 45 "$B" --dir "$S/cubins" --check-only --dtypes bf16
T=(--dtypes bf16 --shapes mha_2048,mha_8192)
V=full,causal,sliding_window,softcap,document,prefix_lm
ATTN_GPU_TMA=1 timeout 60 "$B" --dir "$S/cubins" "${T[@]}" --variants $V --json "$OUT/tma.jsonl" >"$OUT/time_tma.log" 2>&1 || status=1
ATTN_GPU_TMA=0 timeout 60 "$B" --dir "$S/cubins" "${T[@]}" --variants $V >"$OUT/time_cp_async.log" 2>&1 || status=1
if [ -d "$S/cubins-norange" ]; then
  ATTN_GPU_TMA=1 timeout 50 "$B" --dir "$S/cubins-norange" "${T[@]}" --variants causal,sliding_window,document,prefix_lm \
    >"$OUT/time_norange.log" 2>&1 || status=1
fi
if [ "${SKIP_PEERS:-0}" != 1 ]; then
  timeout 150 python3 bench/gpu/peers.py --attnc "$OUT/tma.jsonl" --out "$OUT" --variants $V >"$OUT/peers.log" 2>&1 || status=1
fi
for f in time_cp_async time_norange time_tma; do
  [ -f "$OUT/$f.log" ] && { echo "-- $f"; grep -A14 '^case' "$OUT/$f.log"; }
done
[ -f "$OUT/peers.log" ] && tail -20 "$OUT/peers.log"
echo "optin.sh: done (status $status)"
exit $status
