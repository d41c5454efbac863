#!/bin/sh
# Reproduces FuseMax's attention evaluation on attnc's spatial model and runs
# attnc's variants through it. Usage: bench/spatial/run.sh [BUILD_DIR]
# Writes bench/spatial/results.md and results.csv next to this script.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
ninja -C "$build" spatial-bench >/dev/null
"$build/bin/spatial-bench" --arch-dir "$here/../../arch" --csv "$here/results.csv" \
  | tee "$here/results.md"
