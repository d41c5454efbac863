#!/usr/bin/env bash
# The README's main command: install packages, build, compile an example variant and run it
# on random inputs with the CPU target (JIT) and the float64 cascade interpreter, printing the
# output and its error against the direct float64 reference.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" attnc attn-npy
build="${ATTNC_BUILD:-$root/build}"
bin="$build/bin"
example="${1:-$root/examples/causal.attn}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== attnc $example --explain"
"$bin/attnc" "$example" --explain | tail -n 12

echo "== random inputs: B=2 H=8 Hkv=2 Sq=Skv=128 D=64 (GQA)"
"$bin/attn-npy" rand --shape 2,8,128,64 --seed 1 -o "$work/q.npy"
"$bin/attn-npy" rand --shape 2,2,128,64 --seed 2 -o "$work/k.npy"
"$bin/attn-npy" rand --shape 2,2,128,64 --seed 3 -o "$work/v.npy"

echo "== attnc run --target cpu --check   (JIT-compiled CPU kernel, error vs the float64 reference)"
"$bin/attnc" run "$example" --q "$work/q.npy" --k "$work/k.npy" --v "$work/v.npy" \
  -o "$work/o_cpu.npy" --target cpu --check
"$bin/attn-npy" show "$work/o_cpu.npy"

echo "== attnc run --target ref --check   (the float64 cascade interpreter)"
"$bin/attnc" run "$example" --q "$work/q.npy" --k "$work/k.npy" --v "$work/v.npy" \
  -o "$work/o_ref.npy" --target ref --check
