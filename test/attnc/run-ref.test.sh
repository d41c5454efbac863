#!/bin/sh
# Helper of run-ref.test: runs FILE with --target ref and --target direct on
# the inputs under PREFIX (prefill q and decode q1) and compares o (and lse
# with "lse") to 1e-12. Usage: run-ref.test.sh FILE PREFIX "EXTRA" [lse]
set -e
file=$1 t=$2 extra=$3
for q in q q1; do
  lse_ref="" lse_dir=""
  if [ "$4" = lse ]; then
    lse_ref="--lse $t.$q.lse.ref.npy"; lse_dir="--lse $t.$q.lse.dir.npy"
  fi
  attnc run "$file" --q "$t.$q.npy" --k "$t.k.npy" --v "$t.v.npy" $extra $lse_ref \
    -o "$t.$q.ref.npy" --target ref > /dev/null
  attnc run "$file" --q "$t.$q.npy" --k "$t.k.npy" --v "$t.v.npy" $extra $lse_dir \
    -o "$t.$q.dir.npy" --target direct > /dev/null
  attn-npy compare "$t.$q.ref.npy" "$t.$q.dir.npy" --atol 1e-12 --rtol 0
  if [ -n "$lse_ref" ]; then
    attn-npy compare "$t.$q.lse.ref.npy" "$t.$q.lse.dir.npy" --atol 1e-12 --rtol 0
  fi
done
