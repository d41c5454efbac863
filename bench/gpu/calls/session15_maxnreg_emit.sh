#!/usr/bin/env bash
# Session 15: the default kernels under a register cap, to tell whether --gpu-producer's
# consumers (240 registers, setmaxnreg) lose on masked variants for their registers. Used as
# run.sh's compile command:
#   ATTNC_GPU_STAGE=build-gpu-stage-r240 ATTNC_GPU_EMIT='bash bench/gpu/calls/session15_maxnreg_emit.sh 240' \
#     ATTNC_GPU_DTYPES=bf16 ATTNC_GPU_HEAD_DIMS=128 bash bench/gpu/run.sh
# attnc's PTX with `.maxnreg N` after each 256-thread kernel's `.maxntid`, through ptxas as attnc
# runs it (-arch sm_90a --opt-level 3).
set -euo pipefail
N=$1
"$ATTNC" "$FILE" --target gpu --emit ptx --dtypes "$DTYPES" -o "$OUTDIR"
for p in "$OUTDIR"/*.ptx; do
  sed -i "s/^\.maxntid 256, 1, 1$/.maxntid 256, 1, 1\n.maxnreg $N/" "$p"
  /usr/local/cuda/bin/ptxas -arch sm_90a --opt-level 3 --split-compile 0 "$p" -o "${p%.ptx}.cubin"
  rm "$p"
done
