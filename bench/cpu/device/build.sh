#!/usr/bin/env bash
# Builds and stages everything the device machine's CPU benchmark needs, HERE
# (the device has no LLVM, MLIR or BLAS): attnc and libattnrt, the AOT
# libraries of examples/{full,causal,sliding_window,document}.attn (f32) with
# their headers, and the host attn-bench-cpu-device that links only those.
#
#   bench/cpu/device/build.sh            # build, stage into .devcpu/, smoke test here
#   ATTNC_BUILD_DIR=build bench/cpu/device/build.sh   # reuse another build dir
#
# The stage (.devcpu/, ignored through .git/info/exclude, a few MiB):
#   attn-bench-cpu-device   RUNPATH $ORIGIN/native:$ORIGIN
#   libattnrt.so*           the runtime (generic x86-64)
#   native/libattn_<v>.so   `attnc -o`: this machine's CPU name and features
#   v4/, v3/                the same kernels from `attnc --emit llvm`, compiled
#                           by clang for x86-64-v4 (AVX-512) and x86-64-v3
#                           (AVX2): fallbacks that run_device.sh picks when the
#                           native set does not run on the device's CPU
#   run_device.sh peers.py table.py   the device side
#   BUILD_INFO              commit, build CPU, what each set needs
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BUILD=${ATTNC_BUILD_DIR:-$REPO/build-cpubench}
case "$BUILD" in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
STAGE=$REPO/.devcpu
LLVM=/usr/lib/llvm-22/bin
JOBS=${JOBS:-2}
VARIANTS="full causal sliding_window document"
cd "$REPO"

say() { printf '== %s\n' "$*"; }

# 1. attnc and libattnrt.
if [ ! -f "$BUILD/build.ninja" ]; then
  say "configuring $BUILD"
  CC=$LLVM/clang CXX=$LLVM/clang++ cmake -G Ninja -S "$REPO" -B "$BUILD" \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld \
    -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld -DATTNC_ENABLE_FUZZER=OFF >/dev/null
fi
say "building attnc and attnrt in $BUILD (-j$JOBS)"
ninja -C "$BUILD" -j"$JOBS" attnc attnrt | tail -1
ATTNC=$BUILD/bin/attnc
RTLIB=$(ls "$BUILD"/lib/libattnrt.so 2>/dev/null || true)
[ -x "$ATTNC" ] || { echo "build.sh: no $ATTNC" >&2; exit 1; }
[ -n "$RTLIB" ] || { echo "build.sh: no libattnrt.so under $BUILD/lib" >&2; exit 1; }

# 2. The stage, ignored by git.
EXCLUDE=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$EXCLUDE")"
grep -qxF '/.devcpu/' "$EXCLUDE" 2>/dev/null || echo '/.devcpu/' >>"$EXCLUDE"
rm -rf "$STAGE"
mkdir -p "$STAGE/native" "$STAGE/v4" "$STAGE/v3"
GEN=$BUILD/cpubench-gen
rm -rf "$GEN"
mkdir -p "$GEN"

# 3. AOT libraries and headers (f32 only: the benchmark's dtype).
for v in $VARIANTS; do
  say "attnc examples/$v.attn --dtypes f32"
  "$ATTNC" "examples/$v.attn" --dtypes f32 -o "$GEN/$v.h"
  "$ATTNC" "examples/$v.attn" --dtypes f32 -o "$STAGE/native/libattn_$v.so"
  "$ATTNC" "examples/$v.attn" --dtypes f32 --emit llvm -o "$GEN/$v.ll"
  # The IR was optimised for this CPU; drop any CPU pinning so clang's -march
  # decides the instructions.
  sed -E -e 's/"target-cpu"="[^"]*"//g' -e 's/"target-features"="[^"]*"//g' \
    -e 's/"tune-cpu"="[^"]*"//g' "$GEN/$v.ll" >"$GEN/$v.portable.ll"
  for level in v4 v3; do
    $LLVM/clang -O3 -march=x86-64-$level -fPIC -shared -fuse-ld=lld \
      -Wl,-soname,libattn_$v.so -Wno-override-module \
      "$GEN/$v.portable.ll" -o "$STAGE/$level/libattn_$v.so"
  done
done

# 4. The host: generic x86-64 (only the check and the bookkeeping are its own
# code); the kernels' DT_NEEDED names are libattn_<v>.so, found through
# RUNPATH ($ORIGIN/native first) or LD_LIBRARY_PATH (the fallbacks).
cp -P "$BUILD"/lib/libattnrt.so* "$STAGE/"
LIBS=""
for v in $VARIANTS; do LIBS="$LIBS -lattn_$v"; done
say "building attn-bench-cpu-device"
$LLVM/clang++ -std=c++17 -O2 -Wall -Wextra -I"$GEN" -I"$REPO/runtime/include" \
  "$REPO/bench/cpu/device/HostMain.cpp" -o "$STAGE/attn-bench-cpu-device" -fuse-ld=lld \
  -L"$STAGE/native" $LIBS -L"$BUILD/lib" -lattnrt \
  -Wl,--enable-new-dtags,-rpath,'$ORIGIN/native:$ORIGIN'
cp "$REPO/bench/cpu/device/run_device.sh" "$REPO/bench/cpu/device/peers.py" \
  "$REPO/bench/cpu/device/table.py" "$REPO/bench/cpu/device/decode.sh" "$STAGE/"
chmod +x "$STAGE/run_device.sh" "$STAGE/decode.sh"

# 5. What was built, and what it needs from the device.
{
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- compiler runtime examples || echo ' (+ local changes)')"
  echo "built: $(date -u +%Y-%m-%dT%H:%MZ) on $(. /etc/os-release; echo "$PRETTY_NAME"), glibc $(ldd --version | head -1 | awk '{print $NF}')"
  echo "build CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), LLVM host CPU $($LLVM/llc --version | awk '/Host CPU/ {print $3}')"
  echo "native kernels need: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx512[a-z_0-9]*|amx[a-z_0-9]*|avx2|fma)$' | tr '\n' ' ')"
  echo "v4 kernels need: avx512f avx512bw avx512cd avx512dq avx512vl; v3: avx2 fma bmi2"
  echo "needs: $(for f in GLIBC GLIBCXX; do $LLVM/llvm-objdump -T "$STAGE"/attn-bench-cpu-device "$STAGE"/libattnrt.so "$STAGE"/native/*.so | grep -o "${f}_[0-9.]*" | sort -uV | tail -1; done | tr '\n' ' ')"
} >"$STAGE/BUILD_INFO"
cat "$STAGE/BUILD_INFO"

# 6. Smoke test here: every kernel set runs and agrees with float64.
for set in native v4 v3; do
  say "probe ($set kernels)"
  LD_LIBRARY_PATH="$STAGE/$set" "$STAGE/attn-bench-cpu-device" --probe --threads 2 | tail -n +2
done
if [ "${1:-}" != "--no-quick" ]; then
  say "quick run here (2 shared cores: numbers are only a smoke test)"
  "$STAGE/attn-bench-cpu-device" --quick --threads 2
fi
say "staged $(du -sh "$STAGE" | cut -f1) in $STAGE; device command: bash .devcpu/run_device.sh (carry .devcpu)"
