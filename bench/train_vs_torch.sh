#!/usr/bin/env bash
# Training throughput (forward + backward tokens/s) and peak memory of NanoPrime's CPU engine against
# the independent PyTorch eager reference (bench/torch_train_bench.py) on the same model, batch,
# sequence length and thread count. Usage:
#   bench/train_vs_torch.sh [PRESET BATCH SEQ THREADS [DOC_LEN]]...   (default: nano 4 256 2, small 2 256 2)
# Needs build/bench/bench_train (bash scripts/build.sh) and /usr/bin/python3 with torch.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=build/bench/bench_train
[ -x "$BENCH" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
if [ $# -eq 0 ]; then set -- nano 4 256 2 0 small 2 256 2 0; fi
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 || echo unknown)
echo "PyTorch BLAS: libblas.so.3 -> $blas"
printf "| %-6s | %5s | %5s | %7s | %13s | %13s | %6s | %11s | %11s |\n" preset batch seq threads "ours tok/s" "torch tok/s" ratio "ours MiB" "torch MiB"
printf "|--------|-------|-------|---------|---------------|---------------|--------|-------------|-------------|\n"
while [ $# -ge 4 ]; do
    preset=$1 batch=$2 seq=$3 threads=$4 doc=${5:-0}
    shift 4; [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]] && shift
    ours=$(OMP_NUM_THREADS=$threads "$BENCH" --preset "$preset" --batch "$batch" --seq "$seq" --threads "$threads" \
        --doc-len "$doc" --steps 3 --warmup 1)
    theirs=$(/usr/bin/python3 bench/torch_train_bench.py --preset "$preset" --batch "$batch" --seq "$seq" \
        --threads "$threads" --doc-len "$doc" --steps 3 --warmup 1 | tail -n 1)
    /usr/bin/python3 - "$ours" "$theirs" "$preset" "$batch" "$seq" "$threads" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rss = lambda j: j.get("peak_rss_mib", j.get("peak_rss_mb", float("nan")))
print(f"| {sys.argv[3]:<6} | {sys.argv[4]:>5} | {sys.argv[5]:>5} | {sys.argv[6]:>7} | {o['tokens_per_s']:13.0f} | "
      f"{t['tokens_per_s']:13.0f} | {o['tokens_per_s']/t['tokens_per_s']:5.2f}x | {rss(o):11.0f} | {rss(t):11.0f} |")
PY
done
