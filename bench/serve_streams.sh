#!/usr/bin/env bash
# Continuous batching under load: `nanoprime serve` with S concurrent streaming clients (S = 1, 2,
# 4, 8, 16; each generates exactly N tokens, greedy, ignore_eos) — aggregate generation tokens/s,
# time to first token, per-stream decode rate — and the server's overhead for one stream against
# `nanoprime bench` tg on the same model and threads. Rounds alternate bench and server (this
# machine is noisy); the table gives medians and [min, max] over the rounds.
# Usage: bench/serve_streams.sh MODEL [THREADS (2)] [N (128)] [ROUNDS (3)] [STREAMS (1,2,4,8,16)]
# A model to try it on: nanoprime init --preset small --out small && nanoprime export --ckpt small
#   --tokenizer ../shared/data/seed-tokenizer/tokenizer.json --out small.gguf --weights tq2
set -euo pipefail
MODEL=${1:?usage: bench/serve_streams.sh MODEL [THREADS] [N] [ROUNDS] [STREAMS]}
THREADS=${2:-2}
N=${3:-128}
ROUNDS=${4:-3}
STREAMS=${5:-1,2,4,8,16}
NP=${NP:-build/nanoprime}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
# The caller's OpenMP wait policy applies to both (passive costs decode up to 2x: README, Threads).
MAX_S=$(tr ',' '\n' <<<"$STREAMS" | sort -n | tail -1)

"$NP" serve -m "$MODEL" --port 0 -np "$MAX_S" -t "$THREADS" 2>"$TMP/serve.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
for _ in $(seq 600); do
    BASE=$(grep -o 'http://[0-9.]*:[0-9]*' "$TMP/serve.log" || true)
    [ -n "$BASE" ] && break
    sleep 0.1
done
[ -n "$BASE" ] || { cat "$TMP/serve.log"; exit 1; }

for r in $(seq "$ROUNDS"); do
    "$NP" bench -m "$MODEL" -p 0 -n "$N" -t "$THREADS" -r 1 --no-bandwidth \
        --out "$TMP/bench_$r.json" >/dev/null 2>&1
    python3 "$HERE/serve_load.py" "$BASE" "$STREAMS" "$N" > "$TMP/load_$r.jsonl"
done

python3 - "$TMP" "$ROUNDS" "$MODEL" "$THREADS" "$N" <<'EOF'
import json, statistics, sys
tmp, rounds, model, threads, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
bench = [json.load(open(f"{tmp}/bench_{r}.json"))["results"][0]["tokens_per_s"]
         for r in range(1, rounds + 1)]
load = [[json.loads(l) for l in open(f"{tmp}/load_{r}.jsonl")] for r in range(1, rounds + 1)]
def mr(xs, f="{:.1f}"):
    return f"{f.format(statistics.median(xs))} [{f.format(min(xs))}, {f.format(max(xs))}]"
print(f"model {model}, {threads} threads, {n} tokens per stream, {rounds} rounds\n")
print("| streams | aggregate tokens/s | x one stream | TTFT median ms | TTFT max ms | per-stream tokens/s |")
print("| ---: | ---: | ---: | ---: | ---: | ---: |")
for i, row in enumerate(load[0]):
    rows = [load[r][i] for r in range(rounds)]
    ratio = [load[r][i]["aggregate_tps"] / load[r][0]["aggregate_tps"] for r in range(rounds)]
    print(f"| {row['streams']} | {mr([x['aggregate_tps'] for x in rows])} | "
          f"{mr(ratio, '{:.2f}')} | {mr([x['ttft_median_ms'] for x in rows], '{:.0f}')} | "
          f"{mr([x['ttft_max_ms'] for x in rows], '{:.0f}')} | "
          f"{mr([x['per_stream_decode_tps'] for x in rows])} |")
one = [load[r][0]["per_stream_decode_tps"] for r in range(rounds)]
print(f"\nnanoprime bench tg{n}: {mr(bench)} tokens/s; server, one stream, decode after the first "
      f"token: {mr(one)} tokens/s; server / bench per round: "
      f"{mr([o / b for o, b in zip(one, bench)], '{:.3f}')}")
EOF
