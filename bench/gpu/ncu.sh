#!/usr/bin/env bash
# bench/gpu/ncu.sh CASE...: runs ON THE DEVICE MACHINE (repository root) Nsight Compute on single
# launches of staged kernels, and returns what the profile says about them in a few files.
#   CASE = STAGE:VARIANT:SHAPE[:KERNEL_SUFFIX[:CUBINS[:LIB]]], e.g. build-gpu-stage:document:mha_2048
#   (STAGE a folder bench/gpu/run.sh staged and the call carries; SHAPE one of attn-gpu-bench's
#   --shapes; the kernel profiled is attn_<VARIANT>_bf16_gpu_d128<KERNEL_SUFFIX>, from
#   STAGE/CUBINS, default STAGE/cubins, run by the runtime in STAGE/LIB, default STAGE/lib).
# For each case: `ncu --set full` on the kernel's second launch (the first is attn-gpu-bench's
# check of that shape), its details page (throughput, warp states, occupancy, registers) and the
# 40 SASS instructions with the most warp-stall samples (source page) into $OUT/ncu.txt; the
# SASS of each stage's cubin of the first case's variant with register life ranges (nvdisasm
# -plr, every kernel), gzipped, as $OUT/sass_<stage>_<cubins>.txt.gz; each case's SASS
# instructions with their stall samples as $OUT/src_<cubins>_<variant>_<shape>.tsv.gz. ncu reads counters only on Firecracker
# machines (KINDS.md); elsewhere the report says why. Clocks are left alone (--clock-control none).
# NCU_BENCH_ARGS: more attn-gpu-bench arguments (e.g. "--seq 512" for the shape mha_512).
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
R=$OUT/ncu.txt
: >"$R"
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader >>"$R"
first=""
for c in "$@"; do
  IFS=: read -r stage variant shape suffix cubins lib <<<"$c"
  kernel="attn_${variant}_bf16_gpu_d128${suffix:-}"
  [ -z "$first" ] && first=$variant
  echo "== $c ($kernel)" | tee -a "$R"
  cubins=${cubins:-cubins}
  rep=/tmp/ncu_${stage##*/}_${cubins}_${variant}_${shape}
  LD_LIBRARY_PATH="$PWD/$stage/${lib:-lib}" timeout 110 "$NCU" --clock-control none --set full \
    --import-source no -k "regex:^${kernel}\$" --launch-skip 1 --launch-count 1 -f -o "$rep" \
    "$stage/bin/attn-gpu-bench" --dir "$stage/$cubins" --dtypes bf16 --variants "$variant" \
    --shapes "$shape" --warmup 0 --reps 1 ${NCU_BENCH_ARGS:-} >>"$R" 2>&1 || echo "ncu failed ($?)" >>"$R"
  [ -f "$rep.ncu-rep" ] || continue
  "$NCU" -i "$rep.ncu-rep" --page details 2>&1 | grep -vE "^\s*$|----" | head -220 >>"$R"
  "$NCU" -i "$rep.ncu-rep" --page source --csv --print-source sass >"$rep.csv" 2>&1
  python3 - "$rep.csv" >>"$R" 2>&1 <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], errors="replace")))
head = next((i for i, r in enumerate(rows) if any("Source" == x for x in r)), None)
if head is None:
    print("source page: no header;", rows[:3]); sys.exit()
h = rows[head]; body = [r for r in rows[head + 1:] if len(r) == len(h)]
def col(name):
    return next((i for i, x in enumerate(h) if x.startswith(name)), None)
src, samp, addr = col("Source"), col("Warp Stall Sampling (All Samples)"), col("Address")
if samp is None:
    print("source page columns:", h); sys.exit()
def num(x):
    try: return float(x.replace(",", ""))
    except ValueError: return 0.0
total = sum(num(r[samp]) for r in body) or 1
print(f"source page: {len(body)} SASS instructions, {total:.0f} stall samples")
stall_cols = [i for i, x in enumerate(h) if x.startswith("stall_") or "Stall" in x and i != samp]
for r in sorted(body, key=lambda r: -num(r[samp]))[:40]:
    a = r[addr] if addr is not None else ""
    print(f"{num(r[samp]) / total * 100:5.1f}%  {a:>6} {r[src][:90]}")
EOF
  # Every instruction's address, samples and text, for sums over regions later.
  python3 - "$rep.csv" <<'EOF' | gzip -9 >"$OUT/src_${cubins}_${variant}_${shape}.tsv.gz"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], errors="replace")))
head = next((i for i, r in enumerate(rows) if "Source" in r), None)
if head is not None:
    h = rows[head]
    keep = [i for i, x in enumerate(h) if x in ("Address", "Source") or x.startswith("Warp Stall Sampling") or x.startswith("Instructions Executed")]
    for r in rows[head:]:
        if len(r) == len(h):
            print("\t".join(r[i] for i in keep))
EOF
done
# The SASS with register life ranges of each stage's d128 kernel of the first case's variant
# (or SASS_VARIANT).
first=${SASS_VARIANT:-$first}
for c in "$@"; do
  IFS=: read -r stage _ _ _ cubins _ <<<"$c"
  cubins=${cubins:-cubins}
  sass="$OUT/sass_${stage##*/}_${cubins}.txt.gz"
  cub="$stage/$cubins/${first}_bf16.cubin"
  [ -f "$cub" ] && [ ! -f "$sass" ] || continue
  fn="attn_${first}_bf16_gpu_d128"
  { cuobjdump -res-usage "$cub" 2>&1 | grep -A1 "$fn\b" | head -4
    nvdisasm -plr -c "$cub" 2>&1 || cuobjdump -sass "$cub" 2>&1
  } | gzip -9 >"$sass"
done
cat "$R" | tail -n 60
echo "ncu.sh: done"
