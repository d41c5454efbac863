#!/bin/sh
# Helper of run-cpu-check.test: runs FILE with --target cpu and --target
# direct on the DTYPE inputs under PREFIX and compares o to ATOL (and lse,
# f32, to LSE_ATOL unless it is "-"). The kernel cache is PREFIX.cache.
# Usage: run-cpu-check.test.sh FILE PREFIX DTYPE "EXTRA" ATOL LSE_ATOL [Q]
set -e
file=$1 t=$2 dt=$3 extra=$4 atol=$5 lseatol=$6 q=${7:-q}
export ATTN_CACHE_DIR="$t.cache"
lse_cpu="" lse_dir=""
if [ "$lseatol" != "-" ]; then
  lse_cpu="--lse $t.lse.cpu.npy"; lse_dir="--lse $t.lse.dir.npy"
fi
attnc run "$file" --q "$t.$q.$dt.npy" --k "$t.k.$dt.npy" --v "$t.v.$dt.npy" $extra $lse_cpu \
  -o "$t.o.cpu.npy" --target cpu > /dev/null
attnc run "$file" --q "$t.$q.$dt.npy" --k "$t.k.$dt.npy" --v "$t.v.$dt.npy" $extra $lse_dir \
  -o "$t.o.dir.npy" --target direct > /dev/null
attn-npy compare "$t.o.cpu.npy" "$t.o.dir.npy" --atol "$atol" --rtol 0
if [ -n "$lse_cpu" ]; then
  attn-npy compare "$t.lse.cpu.npy" "$t.lse.dir.npy" --atol "$lseatol" --rtol 0
fi
