#!/usr/bin/env bash
# The packed engine end to end: a checkpoint exported to GGUF (tq2/f16 and tq1/q8_0) generates the
# same greedy text as the checkpoint packed in memory (tq2 and tq1 hold the same ternary values, so
# the two GGUF files agree bit for bit); generate, eval and bench accept both; the reference
# decoder agrees on greedy text; bench prints its table and JSON; errors name the culprit.
# Usage: infer_cli.sh PATH/TO/nanoprime
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # CLI, PY, a temp dir, fail, expect_error, ...

cat > model.json <<'JSON'
{"architecture": "nanoprime", "vocab_size": 320, "d_model": 64, "n_layers": 4, "layer_pattern": "MMMA",
 "tie_embeddings": true, "norm_eps": 1e-6, "max_seq_len": 256, "ffn": {"act": "swiglu", "hidden": 96},
 "mamba": {"expand": 2, "head_dim": 16, "d_state": 8, "n_groups": 1, "d_conv": 4},
 "mla": {"n_heads": 4, "qk_nope_dim": 12, "qk_rope_dim": 8, "v_dim": 16, "kv_rank": 24, "rope_theta": 10000}}
JSON
"$CLI" init --config model.json --out ckpt --seed 5 >/dev/null
train_tiny_tokenizer ckpt/tokenizer.json

"$CLI" export --ckpt ckpt --out m2.gguf --weights tq2 --embed f16 >/dev/null
"$CLI" export --ckpt ckpt --out m1.gguf --weights tq1 --embed f16 >/dev/null
"$CLI" export --ckpt ckpt --out m1q.gguf --weights tq1 --embed q8_0 >/dev/null

gen() { "$CLI" generate --model "$@" --prompt "What is 37 + 11?" -n 24 --temperature 0 --json 2>/dev/null |
        "$PY" -c "import json,sys; print(json.load(sys.stdin)['tokens'])"; }
g2=$(gen m2.gguf); g1=$(gen m1.gguf); gq=$(gen m1q.gguf); gc=$(gen ckpt); gr=$(gen ckpt --reference)
[ "$g2" = "$g1" ] || fail "tq2 and tq1 files generate differently: $g2 vs $g1"
[ "$gc" = "$gr" ] || fail "packed checkpoint and reference decoder differ: $gc vs $gr"
echo "tq2/f16: $g2"; echo "tq1/q8_0: $gq"; echo "ckpt packed: $gc"

# eval on a .gguf and on the checkpoint
"$CLI" gym --task addition --n 3 --difficulty 1 --seed 2 --out gym.jsonl >/dev/null 2>&1
"$CLI" eval --model m2.gguf --data gym.jsonl --think off --max-tokens 8 > ev.json 2>/dev/null
"$PY" -c "import json; d=json.load(open('ev.json')); assert d['n']==3 and 'packed' in d['decoder'], d"

# bench: table + JSON with positive rates for pp and tg at two depths
"$CLI" bench -m m2.gguf -p 16 -n 8 -t 1 -d 0,32 -r 1 --no-bandwidth --out bench.json > bench.txt
grep -q "tg8 @ d32" bench.txt || { cat bench.txt; fail "bench table lacks tg8 @ d32"; }
"$PY" - <<'PY'
import json
d = json.load(open("bench.json"))
rows = d["results"]
assert len(rows) == 4, rows
assert all(r["tokens_per_s"] > 0 for r in rows), rows
assert d["bytes_read_per_token"] > 0 and d["cache_bytes_per_token"] > 0, d
# the latent cache after depth 32 + 8 generated tokens: 40 tokens (plus the leading 0) per layer
tg = [r for r in rows if r["test"] == "tg" and r["depth"] == 32][0]
assert tg["cache_bytes"] == 41 * d["cache_bytes_per_token"], (tg, d["cache_bytes_per_token"])
PY

# errors
# with the bandwidth measured: one fraction per timed generation repetition, each set against
# the bandwidth measured right before it
"$CLI" bench -m m2.gguf -p 0 -n 8 -t 1 -r 2 --out bw.json > /dev/null
"$PY" -c "
import json; r = json.load(open('bw.json'))['results'][0]
assert len(r['bandwidth_fraction_samples']) == 2 and len(r['read_bandwidth_samples']) == 2, r
assert all(b > 0 for b in r['read_bandwidth_samples']) and r['bandwidth_fraction'] > 0, r
" || fail "bench bandwidth fractions"
if "$CLI" bench -m m2.gguf -t 0 >/dev/null 2>err.txt; then fail "bench -t 0 accepted"; fi
grep -q -- "--threads" err.txt || fail "bench -t 0 error does not name --threads"
head -c 5000 m2.gguf > cut.gguf
if "$CLI" generate --model cut.gguf --prompt hi >/dev/null 2>err.txt; then fail "truncated gguf accepted"; fi
grep -q "cut.gguf" err.txt || fail "truncated gguf error does not name the file"
echo "infer_cli: ok"
