#!/usr/bin/env bash
# bench/gpu/jit-device.sh [STAGE]: runs ON THE DEVICE MACHINE, from the repository root, with
# the folder bench/gpu/jit-stage.sh staged (default build-gpu-jit-stage). In one run:
#   1. bench/gpu/jit/variants.attn through `attnc run --target gpu --check` (the GPU JIT, then
#      the kernels against the direct float64 evaluation), prefill and decode shapes;
#   2. the GPU JIT's cold compile on this machine's cores: GpuJitTest's timing lines (two
#      tiers and one) and `attnc --target gpu --emit cubin` of causal and document;
#   3. FlexAttention's first compile of causal and document, each in a fresh process with empty
#      inductor and Triton caches (PyTorch's own; skipped where there is none).
# Its log goes to $OUT/jit.log (else ./gpu-out). Exit status 1 when a check fails.
# Can be tried on the build machine too (ptxas and no GPU: steps 1 and 3 then say so).
set -uo pipefail
STAGE=${1:-build-gpu-jit-stage}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/jit.log") 2>&1
TEE=$!
S=$PWD/$STAGE
[ -x "$S/bin/attnc" ] || { echo "jit-device.sh: $S/bin/attnc is missing: run bench/gpu/jit-stage.sh and carry $STAGE"; exit 2; }
status=0
echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"

LIBS=$(mktemp -d)
cp "$S"/lib/* "$LIBS"/ && (cd "$LIBS" && xz -d -f -T0 ./*.xz) || { echo "jit-device.sh: cannot unpack the libraries"; exit 2; }
# GpuJitTest reads examples/ where it was built.
src=$(cat "$S/source_dir")
if [ ! -d "$src/examples" ]; then
  mkdir -p "$src" && ln -sfn "$PWD/examples" "$src/examples" ||
    { echo "FAIL: cannot link $src/examples (GpuJitTest reads the examples there)"; status=1; }
fi
if [ ! -x /usr/local/cuda/bin/ptxas ] && [ -z "${CUDA_HOME:-}" ]; then
  # Triton's own ptxas, where the toolkit has none.
  tp=$(python3 -c 'import os, triton; print(os.path.dirname(triton.__file__))' 2>/dev/null)/backends/nvidia/bin/ptxas
  if [ -x "$tp" ]; then mkdir -p "$LIBS/cuda/bin" && ln -sf "$tp" "$LIBS/cuda/bin/ptxas" && export CUDA_HOME=$LIBS/cuda; fi
fi
echo "ptxas: $( (${CUDA_HOME:-/usr/local/cuda}/bin/ptxas --version || echo none) 2>&1 | tail -1)"

attnc() { LD_LIBRARY_PATH=$LIBS ATTN_CACHE_DIR=$LIBS/cache "$S/bin/attnc" "$@"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

echo "== 1. bench/gpu/jit/variants.attn on the GPU against float64 (bf16; tolerance 3e-2)"
I=$S/inputs
V=bench/gpu/jit/variants.attn
check() { # label, attnc run arguments...
  local label=$1; shift
  local out err
  out=$(attnc run "$V" "$@" -o "$LIBS/o.npy" --target gpu --check 2>&1)
  err=$(echo "$out" | sed -n 's/^max abs error vs float64 reference: \([^ ]*\).*/\1/p')
  if [ -n "$err" ] && awk -v e="$err" 'BEGIN {exit !(e <= 3e-2)}'; then
    echo "ok   $label: max abs error $err"
  else
    echo "FAIL $label: $(echo "$out" | tail -2 | tr '\n' ' ')"; status=1
  fi
}
for v in blockdiag neg_mod nested_sel sink_win relu2_cap empty_rows; do
  extra=(); extra8=()
  [ "$v" = nested_sel ] && extra=(--tensor "g=$I/h4.npy") && extra8=(--tensor "g=$I/h8.npy")
  [ "$v" = sink_win ] && extra=(--tensor "sinks=$I/h4.npy") && extra8=(--tensor "sinks=$I/h8.npy")
  check "$v prefill B2 H4/2 Sq37 Skv150 D64" --variant "$v" --q "$I/q.npy" --k "$I/k.npy" --v "$I/v.npy" \
    ${extra[@]+"${extra[@]}"}
  check "$v decode B2 H8/2 Skv700 D128" --variant "$v" --q "$I/qd.npy" --k "$I/kd.npy" --v "$I/vd.npy" \
    ${extra8[@]+"${extra8[@]}"}
done
check "clampprod Sq64 Skv4096 q_offset 10^6 (i * j past 2^31)" --variant clampprod \
  --q "$I/qw.npy" --k "$I/kw.npy" --v "$I/vw.npy" --q-offset 1000000

echo "== 2. attnc's GPU JIT, cold"
for i in 1 2; do
  LD_LIBRARY_PATH=$LIBS "$S/bin/GpuJitTest" \
    --gtest_filter='GpuJit.ColdMemoryAndDiskHits:GpuJit.HeadDimsChooseTheTiers' 2>&1 |
    grep -E 'timing.*cold|FAILED'
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "FAIL GpuJitTest"; status=1; }
done
for v in causal document; do
  for tiers in 128 64,128; do
    rm -rf "$LIBS/cubins"
    t0=$(now)
    attnc "examples/$v.attn" --target gpu --emit cubin --dtypes bf16 --gpu-head-dims "$tiers" \
      -o "$LIBS/cubins" >/dev/null || { echo "FAIL attnc $v"; status=1; }
    echo "attnc $v --emit cubin --dtypes bf16 --gpu-head-dims $tiers: $(secs "$t0" "$(now)") s wall"
  done
done

echo "== 3. FlexAttention's first compile (fresh process, empty caches; B4 H16 S2048 D128 bf16)"
cat > "$LIBS/flex_cold.py" <<'PY'
import sys, time
import torch
from torch.nn.attention.flex_attention import flex_attention, create_block_mask
v = sys.argv[1]
B, H, S, D = 4, 16, 2048, 128
q, k, w = (torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
doc = torch.randint(0, 4, (B, S), device="cuda").sort(dim=1).values
if v == "causal":
    mask, per_b = (lambda b, h, i, j: i >= j), None
else:
    mask, per_b = (lambda b, h, i, j: (doc[b, i] == doc[b, j]) & (i >= j)), B
torch.cuda.synchronize()
f = torch.compile(flex_attention, dynamic=False)
t0 = time.time()
f(q, k, w, block_mask=create_block_mask(mask, per_b, None, S, S, device="cuda"))
torch.cuda.synchronize()
print(f"FlexAttention {v}: first call {time.time() - t0:.2f} s wall")
PY
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  for v in causal document; do
    TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) TRITON_CACHE_DIR=$(mktemp -d) python3 "$LIBS/flex_cold.py" "$v" 2>&1 |
      grep -E 'FlexAttention|Error'
  done
else
  echo "no PyTorch with CUDA here: FlexAttention skipped"
fi
rm -rf "$LIBS"
echo "jit-device.sh: done (status $status)"
# Let tee write the log's end before the exit.
exec >&- 2>&-
wait "$TEE"
exit $status
