#!/usr/bin/env bash
# bench/gpu/run.sh: builds, HERE (no GPU needed), everything the device run
# needs and stages it in one folder that a device call carries:
#   libattnrt.so, GpuLaunchTest, attn-gpu-bench, the cubins + .info files
#   of the anchor variants from `attnc --target gpu --emit cubin`, and
#   GpuJitRunTest with the GPU JIT's cache files (gpu-jit-cache/) and its AOT
#   library (lib/libattn_test_causal.so).
# Then the lead runs ONE device command (printed at the end; docs/gpu.md).
#
# Environment (all optional):
#   ATTNC_BUILD_DIR   build folder (default: build if configured, else build-gpu,
#                     configured here)
#   ATTNC_GPU_STAGE   stage folder, relative to the repository root
#                     (default build-gpu-stage; /build*/ is git-ignored)
#   ATTNC_GPU_DTYPES  dtypes to compile (default bf16,f16)
#   ATTNC_GPU_VARIANTS  examples to compile (default: the 8 anchors)
#   ATTNC_GPU_HEAD_DIMS tensor-core kernel tiers (default 64,128,256)
#   ATTNC_GPU_FLAGS   extra attnc flags for the default compile
#   ATTNC_GPU_AB_DIR  also compile ATTNC_GPU_AB_VARIANTS (default causal sliding_window
#                     document prefix_lm; bf16, tier 128) with ATTNC_GPU_AB_FLAGS instead
#                     into STAGE/cubins-<this>,
#                     for a same-run A/B (bench/gpu/optin.sh reads cubins-norange, staged
#                     with ATTNC_GPU_AB_FLAGS=--gpu-tile-range=false ATTNC_GPU_AB_DIR=norange)
#   ATTNC_GPU_EMIT    the compile command, run with ATTNC FILE DTYPES OUTDIR
#                     exported (default:
#                     "$ATTNC" "$FILE" --target gpu --emit cubin --dtypes "$DTYPES" -o "$OUTDIR",
#                     which must write OUTDIR/<variant>_<dtype>.cubin and OUTDIR/<variant>.info)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
# Default: the main build folder when it exists (attnc is built there already).
if [ -z "${ATTNC_BUILD_DIR:-}" ] && [ -f build/build.ninja ]; then ATTNC_BUILD_DIR=build; fi
BUILD=${ATTNC_BUILD_DIR:-build-gpu}
STAGE_REL=${ATTNC_GPU_STAGE:-build-gpu-stage}
STAGE=$ROOT/$STAGE_REL
DTYPES=${ATTNC_GPU_DTYPES:-bf16,f16}
VARIANTS=${ATTNC_GPU_VARIANTS:-full causal sliding_window alibi_causal softcap prefix_lm document sigmoid_attn}
JOBS=${ATTNC_JOBS:-2}
# Head-dimension tiers of the tensor-core kernels (attnc --gpu-head-dims).
HEAD_DIMS=${ATTNC_GPU_HEAD_DIMS:-64,128,256}

case "$STAGE_REL" in
  /*|..*) echo "run.sh: ATTNC_GPU_STAGE must be a path inside the repository" >&2; exit 1 ;;
esac

if [ ! -f "$BUILD/build.ninja" ]; then
  echo "== configuring $BUILD"
  CC=${CC:-/usr/lib/llvm-22/bin/clang} CXX=${CXX:-/usr/lib/llvm-22/bin/clang++} \
    cmake -G Ninja -S "$ROOT" -B "$BUILD" -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
      -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld \
      -DATTNC_ENABLE_FUZZER=OFF >/dev/null
fi

echo "== building attnrt, GpuLaunchTest, attn-gpu-bench"
ninja -C "$BUILD" -j"$JOBS" attnrt GpuLaunchTest attn-gpu-bench

rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/cubins"
cp -P "$BUILD"/lib/libattnrt.so* "$STAGE/lib/"
cp "$BUILD/bin/GpuLaunchTest" "$BUILD/bin/attn-gpu-bench" "$STAGE/bin/"

echo "== compiling the GPU kernels"
HAVE_ATTNC=0
if ninja -C "$BUILD" -j"$JOBS" attnc >/dev/null 2>&1; then
  HAVE_ATTNC=1
else
  echo "run.sh: attnc did not build; staging the runtime, tests and benchmark without cubins"
fi
ATTNC=$ROOT/$BUILD/bin/attnc
case "$BUILD" in /*) ATTNC=$BUILD/bin/attnc ;; esac
if [ "$HAVE_ATTNC" = 1 ] && [ -z "${ATTNC_GPU_EMIT:-}" ] && \
   ! "$ATTNC" --help 2>&1 | grep -q -- 'cubin'; then
  echo "run.sh: this attnc has no '--emit cubin' yet (attnc --help does not mention it):"
  echo "        staging the runtime, tests and benchmark without cubins; the device run then"
  echo "        runs GpuLaunchTest and the peers only"
  HAVE_ATTNC=0
fi
# Both paths of the GPU target on the device (GpuJitRunTest needs no LLVM): the cubins
# that Compiler::compileGpu caches (GpuJitTest fills the staged cache folder) and an AOT
# library built with --target all (linked into GpuJitRunTest).
if [ "$HAVE_ATTNC" = 1 ] && ninja -C "$BUILD" -j"$JOBS" GpuJitTest GpuJitRunTest >/dev/null 2>&1 &&
   ATTN_TEST_GPU_CACHE="$STAGE/gpu-jit-cache" "$BUILD/bin/GpuJitTest" \
     --gtest_filter=GpuJit.CompilesExamples >/dev/null 2>&1; then
  cp "$BUILD/bin/GpuJitRunTest" "$STAGE/bin/"
  cp "$BUILD"/test/unit/jit/aot/libattn_test_causal.so "$STAGE/lib/" 2>/dev/null || true
  echo "== staged GpuJitRunTest and $(ls "$STAGE/gpu-jit-cache" | wc -l) GPU JIT cache file(s)"
else
  echo "run.sh: GpuJitTest / GpuJitRunTest did not build or run: the device run skips the GPU"
  echo "        JIT and AOT test"
fi
compiled=0
failed=""
if [ "$HAVE_ATTNC" = 1 ]; then
  export ATTNC DTYPES
  for v in $VARIANTS; do
    FILE=$ROOT/examples/$v.attn
    if [ ! -f "$FILE" ]; then
      echo "run.sh: no $FILE, skipped"; continue
    fi
    OUTDIR=$STAGE/cubins
    export FILE OUTDIR
    if [ -n "${ATTNC_GPU_EMIT:-}" ]; then
      bash -c "$ATTNC_GPU_EMIT" || { failed="$failed $v"; continue; }
    else
      # shellcheck disable=SC2086
      "$ATTNC" "$FILE" --target gpu --emit cubin --dtypes "$DTYPES" --gpu-head-dims "$HEAD_DIMS" \
        ${ATTNC_GPU_FLAGS:-} -o "$OUTDIR" || { failed="$failed $v"; continue; }
    fi
    compiled=$((compiled + 1))
  done
fi
[ -n "$failed" ] && echo "run.sh: attnc failed on:$failed (the benchmark skips them)"
if [ "$HAVE_ATTNC" = 1 ] && [ -n "${ATTNC_GPU_AB_DIR:-}" ]; then
  for v in ${ATTNC_GPU_AB_VARIANTS:-causal sliding_window document prefix_lm}; do
    # shellcheck disable=SC2086
    "$ATTNC" "$ROOT/examples/$v.attn" --target gpu --emit cubin --dtypes bf16 --gpu-head-dims 128 \
      ${ATTNC_GPU_AB_FLAGS:-} -o "$STAGE/cubins-$ATTNC_GPU_AB_DIR" || echo "run.sh: attnc failed on $v (A/B folder)"
  done
fi

echo "== staged in $STAGE_REL ($compiled variant(s) compiled)"
ls -la "$STAGE/cubins" | sed 's/^/   /'
size=$(du -sm "$STAGE" | cut -f1)
echo "   total ${size} MiB (a device call carries at most 64 MiB with the working tree)"
if [ "$size" -ge 56 ]; then
  echo "run.sh: the stage is too large to carry" >&2; exit 1
fi
cat <<MSG

Now ONE device call (device tool 'run'; kind left out = one H100):
  command: bash bench/gpu/device.sh $STAGE_REL
  carry:   ["$STAGE_REL"]
  timeout_s: 600
Results come back under \$OUT (see docs/gpu.md): attnc_gpu.log, attnc_gpu.jsonl,
peers.log, gpu_compare.json, gpurt_test.log, gpu_jit_test.log; the comparison table is
printed last.
MSG
