#!/usr/bin/env bash
# The README's test command: install packages, build, run every test (lit, units, fuzzer).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
build="${ATTNC_BUILD:-$root/build}"
cd "$build"
ctest --output-on-failure --timeout 1500 -j2
