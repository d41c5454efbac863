#!/usr/bin/env bash
# Decode steps (Sq = 1) of the AOT kernels with split-KV off (ATTN_SPLIT_KV=0)
# and on (the launcher's choice), on the device's CPU. Staged by build.sh;
# on the device: bash .devcpu/decode.sh (T=16 threads, H in 1 4 8).
cd "$(dirname "$0")"
SET=""
for s in native v4 v3; do
  if LD_LIBRARY_PATH=$PWD/$s ./attn-bench-cpu-device --probe --threads 2 >/dev/null 2>&1; then
    SET=$s
    break
  fi
done
[ -n "$SET" ] || { echo "decode.sh: no kernel set runs here" >&2; exit 1; }
echo "kernel set: $SET; $(nproc) cpus; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
export LD_LIBRARY_PATH=$PWD/$SET
T=${T:-16}
JSON=${OUT:-.}/decode.jsonl
for H in ${HEADS:-1 4 8}; do
  for mode in 0 auto; do
    if [ $mode = auto ]; then unset ATTN_SPLIT_KV; else export ATTN_SPLIT_KV=0; fi
    ./attn-bench-cpu-device --sq 1 --H "$H" --sizes "${SIZES:-4096x128,16384x128,32768x128}" \
      --threads "$T" --reps 300 --max-seconds 1 --json "$JSON"
  done
done
