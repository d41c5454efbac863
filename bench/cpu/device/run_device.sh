#!/usr/bin/env bash
# The device machine's CPU benchmark in one command: attnc's AOT kernels
# (attn-bench-cpu-device) against PyTorch SDPA and FlexAttention (peers.py) on
# the same thread count, then one table per thread count (table.py).
#
#   bash .devcpu/run_device.sh            # from the repo root on the device; carry .devcpu
#
# Stage first, here: bench/cpu/device/build.sh. Environment knobs:
#   THREADS="2 16"   thread counts, in order (the second only if time is left)
#   BUDGET=420       seconds for the whole run; peers start no case after it
#   SIZES=1024x64,2048x128,4096x64
# The full log goes to $OUT/cpu_bench.log (./cpu_bench_out/ without $OUT).
set -u

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -x "$SELF/attn-bench-cpu-device" ]; then STAGE=$SELF; else STAGE=$(pwd)/.devcpu; fi
OUTDIR=${OUT:-$(pwd)/cpu_bench_out}
mkdir -p "$OUTDIR"
LOG=$OUTDIR/cpu_bench.log
THREADS=${THREADS:-"2 16"}
BUDGET=${BUDGET:-420}
SIZES=${SIZES:-1024x64,2048x128,4096x64}
START=$(date +%s)
END=$((START + BUDGET))
PY=${PYTHON:-python3}
: >"$LOG"

elapsed() { echo $(($(date +%s) - START)); }
# cap N: N seconds, or less when the budget ends sooner (never under 30).
cap() { local left=$((END - $(date +%s) + 30)); [ $left -lt 30 ] && left=30; echo $(($1 < left ? $1 : left)); }

run_all() {
  echo "== device CPU benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), stage $STAGE"
  cat "$STAGE/BUILD_INFO" 2>/dev/null || echo "(no BUILD_INFO: was build.sh run?)"
  echo "== machine"
  grep -m1 'model name' /proc/cpuinfo
  echo "cores: $(nproc) online; flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512bw|avx512_bf16|avx512_fp16|amx_tile|amx_bf16)$' | tr '\n' ' ')"
  TORCH_INFO=$($PY -c 'import torch; print("torch", torch.__version__, "| default threads", torch.get_num_threads(), "|", " ".join(torch.__config__.parallel_info().splitlines()[0:4]))' 2>&1 | head -3)
  echo "$TORCH_INFO"
  TORCH_VERSION=$(echo "$TORCH_INFO" | awk '/^torch / {print $2; exit}')
  command -v g++ >/dev/null && echo "g++: $(g++ --version | head -1)" || echo "g++: none (FlexAttention's CPU path needs a C++ compiler)"

  if [ ! -x "$STAGE/attn-bench-cpu-device" ]; then
    echo "run_device.sh: no $STAGE/attn-bench-cpu-device; run bench/cpu/device/build.sh first and carry .devcpu"
    return 1
  fi
  # Which kernel set runs here: the build machine's CPU (native), else
  # x86-64-v4 (AVX-512), else x86-64-v3 (AVX2).
  KSET=""
  for set in native v4 v3; do
    echo "== probe: $set kernels"
    LD_LIBRARY_PATH="$STAGE/$set" timeout 60 "$STAGE/attn-bench-cpu-device" --probe --threads 2
    rc=$?
    if [ $rc -eq 0 ]; then
      KSET=$set
      break
    fi
    echo "   ($set kernels failed here: rc $rc$([ $rc -eq 132 ] && echo ', illegal instruction: the CPU lacks a feature they use'))"
  done
  if [ -z "$KSET" ]; then
    echo "run_device.sh: no attnc kernel set runs on this CPU; peers only"
  else
    echo "== attnc kernels: $KSET"
  fi
  export LD_LIBRARY_PATH="$STAGE/${KSET:-native}"
  RESULTS="$OUTDIR/cpu_results.jsonl"
  : >"$RESULTS"

  # Phase 1: attnc and SDPA (+ the GEMM ceiling) at every thread count: quick,
  # nothing to compile. Phase 2: FlexAttention, 2 threads first; it compiles
  # per case, so it gets what is left of the budget (cases it cannot start
  # in time are "n/a: time budget").
  for t in $THREADS; do
    if [ -n "$KSET" ]; then
      echo "== attnc, $t threads ($(elapsed)s)"
      timeout "$(cap 150)" "$STAGE/attn-bench-cpu-device" --threads "$t" --sizes "$SIZES" \
        --max-seconds 2 --json "$RESULTS"
      echo "   (attnc rc $?)"
    fi
    echo "== SDPA, $t threads ($(elapsed)s)"
    PYTHONUNBUFFERED=1 OMP_NUM_THREADS=$t timeout "$(cap 150)" $PY "$SELF/peers.py" --threads "$t" \
      --sizes "$SIZES" --max-seconds 2 --json "$RESULTS" --no-flex --deadline "$END"
    echo "   (SDPA rc $?)"
  done
  for t in $THREADS; do
    left=$((END - $(date +%s)))
    echo "== FlexAttention, $t threads ($(elapsed)s, ${left}s of the budget left)"
    # One inductor cache per thread count: the generated C++ has it baked in.
    cache=$(mktemp -d "/tmp/attn-inductor-t$t.XXXXXX")
    PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=$cache OMP_NUM_THREADS=$t \
      timeout $((left > 0 ? left + 45 : 45)) $PY "$SELF/peers.py" --threads "$t" \
      --sizes "$SIZES" --max-seconds 2 --json "$RESULTS" --no-sdpa --deadline "$END"
    echo "   (FlexAttention rc $?)"
  done
  echo "== done in $(elapsed)s"
  $PY "$SELF/table.py" "$RESULTS"
  echo
  if [ -n "$KSET" ]; then
    echo "attnc: AOT kernels built off the device by attnc -o lib.so (${KSET} set), called through the generated header -> libattnrt's attn_cpu_launch; no JIT, MLIR or LLVM at run time. SDPA/Flex: PyTorch ${TORCH_VERSION:-?} on the same thread count; Flex compile time is not in its GFLOP/s."
  fi
}

set -o pipefail
run_all 2>&1 | tee -a "$LOG"
