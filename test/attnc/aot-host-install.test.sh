#!/bin/sh
# Helper of aot-host-install.test: installs the attnc build that holds the
# attnc on PATH into DIR/prefix, configures and builds examples/host against
# that install (find_package(attnc); attnc runs at build time), then runs the
# AOT host and the JIT host twice (compiled, then from the disk cache).
# Skips (exit 0, message) without cmake. Usage: aot-host-install.test.sh DIR
set -e
t=$1
if ! command -v cmake > /dev/null 2>&1; then
  echo "SKIPPED: cmake is not on PATH; the install test needs it"
  exit 0
fi
objroot=$(dirname "$(dirname "$(command -v attnc)")")
rm -rf "$t" && mkdir -p "$t"
cmake --install "$objroot" --prefix "$t/prefix" > "$t/install.log"
generator=""
if command -v ninja > /dev/null 2>&1; then generator="-G Ninja"; fi
cxx=$(command -v clang++ || command -v c++)
cmake -S "$t/prefix/share/attnc/examples/host" -B "$t/build" $generator \
  -DCMAKE_PREFIX_PATH="$t/prefix" -DCMAKE_CXX_COMPILER="$cxx" > "$t/configure.log"
cmake --build "$t/build" > "$t/build.log" 2>&1 || { cat "$t/build.log"; exit 1; }
"$t/build/causal_host"
export ATTN_CACHE_DIR="$t/cache"
"$t/build/causal_jit" "$t/prefix/share/attnc/examples/causal.attn"
"$t/build/causal_jit" "$t/prefix/share/attnc/examples/causal.attn"
