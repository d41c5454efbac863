#!/usr/bin/env bash
# bench/gpu/jit-stage.sh: stages, HERE, what the device machine needs to run attnc's GPU JIT
# itself (it has no LLVM/MLIR 22): attnc, GpuJitTest and libattnrt from the build folder;
# libMLIR and libLLVM xz-compressed (107 + 150 MB -> about 15 + 27 MB; a device call carries
# 64 MiB); the small libraries they load; stand-ins for libz3 and libxml2 (LLVM links them for
# its SMT solver and Windows manifests, which attnc never calls: the stand-in libxml2 defines
# the one data symbol LLVM binds at load, xmlFree, and functions bind lazily); and random
# inputs for bench/gpu/jit/variants.attn. bench/gpu/jit-device.sh runs it on the device:
# the GPU JIT's cold compile time on that machine's 16 cores next to FlexAttention's first
# compile there, and the variants checked on the GPU against float64.
#
# Then ONE device call: command `bash bench/gpu/jit-device.sh`, carry ["build-gpu-jit-stage"].
# Environment: ATTNC_BUILD_DIR (default build), ATTNC_GPU_JIT_STAGE (default
# build-gpu-jit-stage), ATTNC_JOBS (default 2).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${ATTNC_BUILD_DIR:-build}
STAGE=${ATTNC_GPU_JIT_STAGE:-build-gpu-jit-stage}
JOBS=${ATTNC_JOBS:-2}
case "$STAGE" in /*|..*|*/..*) echo "jit-stage.sh: the stage must be a path inside the repository" >&2; exit 1 ;; esac
[ -f "$BUILD/build.ninja" ] || { echo "jit-stage.sh: configure $BUILD first (scripts/test.sh does)" >&2; exit 1; }

echo "== building attnc, GpuJitTest, attn-npy"
ninja -C "$BUILD" -j"$JOBS" attnc GpuJitTest attn-npy attnrt

rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/inputs"
cp "$BUILD/bin/attnc" "$BUILD/bin/GpuJitTest" "$STAGE/bin/"
cp -L "$BUILD/lib/libattnrt.so" "$STAGE/lib/"
# GpuJitTest reads examples/ from the source folder its build was configured from.
sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD/CMakeCache.txt" > "$STAGE/source_dir"
[ -s "$STAGE/source_dir" ] || { echo "jit-stage.sh: no CMAKE_HOME_DIRECTORY in $BUILD/CMakeCache.txt" >&2; exit 1; }

echo "== libMLIR / libLLVM, xz-compressed (cached in $BUILD/jit-stage-xz: minutes the first time)"
XZ=$BUILD/jit-stage-xz
mkdir -p "$XZ"
for lib in libMLIR.so.22.1 libLLVM.so.22.1; do
  src=$(ldd "$BUILD/bin/attnc" | awk -v l="$lib" '$1 == l {print $3}')
  [ -n "$src" ] || { echo "jit-stage.sh: attnc does not load $lib" >&2; exit 1; }
  src=$(readlink -f "$src")
  stamp="$(stat -c '%s %Y' "$src")"
  if [ ! -f "$XZ/$lib.xz" ] || [ "$(cat "$XZ/$lib.stamp" 2>/dev/null)" != "$stamp" ]; then
    xz -9 -T"$JOBS" -c "$src" > "$XZ/$lib.xz.tmp" || { echo "jit-stage.sh: xz failed" >&2; exit 1; }
    mv "$XZ/$lib.xz.tmp" "$XZ/$lib.xz"
    echo "$stamp" > "$XZ/$lib.stamp"
  fi
  cp "$XZ/$lib.xz" "$STAGE/lib/"
done

echo "== the libraries they load, and the stand-ins"
CC=${CC:-/usr/lib/llvm-22/bin/clang}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'void attnc_stand_in_z3(void) {}' > "$tmp/z3.c"
"$CC" -shared -fPIC -Wl,-soname,libz3.so.4 "$tmp/z3.c" -o "$STAGE/lib/libz3.so.4"
echo 'void *xmlFree = 0;' > "$tmp/xml.c"
printf 'LIBXML2_2.4.30 { global: xmlFree; local: *; };\nLIBXML2_2.6.0 { } LIBXML2_2.4.30;\n' > "$tmp/xml.map"
"$CC" -shared -fPIC -Wl,-soname,libxml2.so.2 -Wl,--version-script,"$tmp/xml.map" "$tmp/xml.c" \
  -o "$STAGE/lib/libxml2.so.2"
# Everything else attnc and GpuJitTest load, except glibc's own libraries and those above.
{ ldd "$BUILD/bin/attnc"; ldd "$BUILD/bin/GpuJitTest"; } | awk '$3 ~ /^\// {print $1, $3}' | sort -u |
  while read -r name path; do
    case "$name" in
      libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*|libattnrt.so*) ;;
      libMLIR.so.*|libLLVM.so.*|libz3.so.*|libxml2.so.*|libicu*) ;;
      *) cp -L "$path" "$STAGE/lib/$name" ;;
    esac
  done

echo "== inputs of bench/gpu/jit/variants.attn"
N=$BUILD/bin/attn-npy
I=$STAGE/inputs
# Prefill with GQA 4:2 (D 64: tier 64), decode (D 128: the split kernels), and the wide
# products (run with q_offset 10^6, so that i * j passes 2^31 from j = 2148 on).
"$N" rand --shape 2,4,37,64 --seed 1 --dtype bf16 -o "$I/q.npy"
"$N" rand --shape 2,2,150,64 --seed 2 --dtype bf16 -o "$I/k.npy"
"$N" rand --shape 2,2,150,64 --seed 3 --dtype bf16 -o "$I/v.npy"
"$N" rand --shape 2,8,1,128 --seed 6 --dtype bf16 -o "$I/qd.npy"
"$N" rand --shape 2,2,700,128 --seed 7 --dtype bf16 -o "$I/kd.npy"
"$N" rand --shape 2,2,700,128 --seed 8 --dtype bf16 -o "$I/vd.npy"
"$N" rand --shape 4 --seed 4 -o "$I/h4.npy"
"$N" rand --shape 8 --seed 5 -o "$I/h8.npy"
"$N" rand --shape 1,2,64,64 --seed 11 --dtype bf16 -o "$I/qw.npy"
"$N" rand --shape 1,1,4096,64 --seed 12 --dtype bf16 -o "$I/kw.npy"
"$N" rand --shape 1,1,4096,64 --seed 13 --dtype bf16 -o "$I/vw.npy"

du -sh "$STAGE"
size=$(du -sm "$STAGE" | cut -f1)
if [ "$size" -gt 60 ]; then
  echo "jit-stage.sh: $STAGE is $size MB: over what a device call carries with the tree (64 MiB)" >&2
  exit 1
fi
echo
echo "Now ONE device call (device tool 'run'):"
echo "  command: bash bench/gpu/jit-device.sh $STAGE"
echo "  carry:   [\"$STAGE\"]"
