#!/usr/bin/env bash
# Session 18, one device call (carry: STAGE; runs from the repository root):
#   bash bench/gpu/calls/session18.sh STAGE
# 1. every staged kernel against float64 (attn-gpu-bench --check-only, bf16 and fp16): the
#    new document default (selected masked sums, no register cap, ed863bd) in fp16 too;
# 2. document, full and causal timed at S = 512 / 2048 / 8192 (+ gqa_2048), then the peers
#    (FlexAttention, SDPA) on those rows in the same run: document's default beside Flex;
#    and document again with --class-table (the table kept by the caller);
# 3. ncu of full at mha_512 and mha_8192 (where a block's fixed cost weighs most) unless SKIP_NCU=1.
set -uo pipefail
S=${1:-build-gpu-stage}
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
L=$OUT/s18.log
bench() { LD_LIBRARY_PATH="$PWD/$S/lib" timeout "$1" "$S/bin/attn-gpu-bench" --dir "$S/cubins" "${@:2}"; }
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader | tee "$L"
echo "== 1. $S against float64 (bf16, f16)" | tee -a "$L"
bench 200 --check-only --dtypes bf16,f16 >"$OUT/check.log" 2>&1; echo "rc $?" | tee -a "$L"
grep -hE "check rows|^FAIL" "$OUT/check.log" | head -20 | tee -a "$L"
echo "== 2. timed, then the peers on the same rows" | tee -a "$L"
bench 150 --dtypes bf16 --seq 512,2048,8192 --shapes mha_512,mha_2048,gqa_2048,mha_8192 \
  --variants ${S18_VARIANTS:-document,full,causal} --json "$OUT/rows.jsonl" 2>&1 | grep -A40 '^case' | tee -a "$L"
echo "-- document with the tile-class table kept by the caller (--class-table: filled once, outside the timing, as Flex's create_block_mask)" | tee -a "$L"
bench 100 --class-table --dtypes bf16 --seq 512,2048,8192 --shapes mha_512,mha_2048,gqa_2048,mha_8192 \
  --variants document --json "$OUT/rows_ct.jsonl" 2>&1 | grep -A20 '^case' | tee -a "$L"
timeout 200 python3 bench/gpu/peers.py --attnc "$OUT/rows.jsonl" --out /tmp >"$OUT/peers.log" 2>&1
echo "peers rc $?" | tee -a "$L"; tail -n 25 "$OUT/peers.log" | tee -a "$L"
if [ "${SKIP_NCU:-0}" != 1 ]; then
  echo "== 3. ncu full mha_512, mha_8192 (ncu.txt)" | tee -a "$L"
  NCU_BENCH_ARGS="--seq 512,8192" timeout 200 bash bench/gpu/ncu.sh "$S:full:mha_512" "$S:full:mha_8192" >/dev/null 2>&1
  grep -E "Duration|Throughput|Pipe|Active|Registers|Occupancy|Stall|Eligible|Issued|Waves|L2 Hit|DRAM" \
    "$OUT/ncu.txt" | head -60 | tee -a "$L"
fi
