#!/usr/bin/env bash
# Configures and builds attnc into ${ATTNC_BUILD:-build} with clang-22 + lld + Ninja.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${ATTNC_BUILD:-$root/build}"
if [ ! -f "$build/build.ninja" ]; then
  CC=/usr/lib/llvm-22/bin/clang CXX=/usr/lib/llvm-22/bin/clang++ \
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld \
    -DCMAKE_INSTALL_PREFIX="$root/install" >/dev/null
fi
echo "build: compiling (first build takes a few minutes on 2 cores)"
ninja -C "$build" "$@"
