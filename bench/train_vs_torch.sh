#!/usr/bin/env bash
# Training throughput (forward + backward tokens/s) and peak memory of NanoPrime's CPU engine against
# the independent PyTorch eager reference (bench/torch_train_bench.py) on the same model, batch,
# sequence length and thread count. Rounds alternate ours and PyTorch (this machine is shared and
# noisy); each column is the median [min, max] over the rounds, the ratio the median of the
# per-round ratios. Usage:
#   bench/train_vs_torch.sh [PRESET BATCH SEQ THREADS [DOC_LEN]]...   (default: nano 4 256 2, small 2 256 2)
# ROUNDS (default 3) rounds of STEPS (default 3) timed steps each.
# Needs build/bench/bench_train (bash scripts/build.sh) and /usr/bin/python3 with torch.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=build/bench/bench_train
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-3}
[ -x "$BENCH" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
if [ $# -eq 0 ]; then set -- nano 4 256 2 0 small 2 256 2 0; fi
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 || echo unknown)
echo "PyTorch BLAS: libblas.so.3 -> $blas; $ROUNDS rounds of $STEPS steps"
printf "| %-6s | %5s | %5s | %7s | %22s | %22s | %18s | %8s | %9s |\n" preset batch seq threads \
    "ours tok/s" "torch tok/s" ratio "ours MiB" "torch MiB"
printf "|--------|-------|-------|---------|------------------------|------------------------|--------------------|----------|-----------|\n"
while [ $# -ge 4 ]; do
    preset=$1 batch=$2 seq=$3 threads=$4 doc=${5:-0}
    shift 4; [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]] && shift
    rounds=()
    for _ in $(seq "$ROUNDS"); do
        ours=$(OMP_NUM_THREADS=$threads "$BENCH" --preset "$preset" --batch "$batch" --seq "$seq" \
            --threads "$threads" --doc-len "$doc" --steps "$STEPS" --warmup 1)
        theirs=$(/usr/bin/python3 bench/torch_train_bench.py --preset "$preset" --batch "$batch" \
            --seq "$seq" --threads "$threads" --doc-len "$doc" --steps "$STEPS" --warmup 1 | tail -n 1)
        rounds+=("$ours" "$theirs")
    done
    /usr/bin/python3 - "$preset" "$batch" "$seq" "$threads" "${rounds[@]}" <<'PY'
import json, statistics, sys
preset, batch, seq, threads = sys.argv[1:5]
runs = [json.loads(a) for a in sys.argv[5:]]
ours, theirs = runs[0::2], runs[1::2]
rss = lambda j: j.get("peak_rss_mib", j.get("peak_rss_mb", float("nan")))
def mr(xs, f):
    return f"{f.format(statistics.median(xs))} [{f.format(min(xs))}, {f.format(max(xs))}]"
o = [j["tokens_per_s"] for j in ours]
t = [j["tokens_per_s"] for j in theirs]
r = [a / b for a, b in zip(o, t)]
print(f"| {preset:<6} | {batch:>5} | {seq:>5} | {threads:>7} | {mr(o, '{:.0f}'):>22} | "
      f"{mr(t, '{:.0f}'):>22} | {mr(r, '{:.2f}'):>18} | {max(map(rss, ours)):8.0f} | "
      f"{max(map(rss, theirs)):9.0f} |")
PY
done
