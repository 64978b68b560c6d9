#!/usr/bin/env bash
# `nanoprime perplexity` end to end: a checkpoint on the packed engine, the same checkpoint in fp32
# (--reference) and its exported GGUF agree; stdin works; bad windows are refused by flag.
# Usage: perplexity_cli.sh PATH/TO/nanoprime
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

write_micro_model_json 320 64
"$CLI" init --config model.json --out ckpt --seed 5 >/dev/null
train_tiny_tokenizer ckpt/tokenizer.json
"$CLI" export --ckpt ckpt --out m.gguf >/dev/null
head -n 20 corpus.txt >text.txt

"$CLI" perplexity -m ckpt -f text.txt -c 32 --stride 8 -t 1 --json >packed.json 2>/dev/null
"$CLI" perplexity -m ckpt -f text.txt -c 32 --stride 8 -t 1 --reference --json >fp32.json 2>/dev/null
"$CLI" perplexity -m m.gguf -f - -c 32 --stride 8 --json <text.txt >gguf.json 2>/dev/null
"$PY" - <<'PY'
import json, math
p, f, g = (json.load(open(n)) for n in ('packed.json', 'fp32.json', 'gguf.json'))
assert p['scored_tokens'] == f['scored_tokens'] == g['scored_tokens'] == p['text_tokens'] - 1, (p, g)
for r in (p, f, g):
    assert math.isfinite(r['ppl']) and r['ppl'] > 1, r
# An untrained model is near uniform over its 320 ids; packing must not change that by much.
assert abs(math.log(p['ppl']) - math.log(f['ppl'])) < 0.02, (p['ppl'], f['ppl'])
assert abs(math.log(g['ppl']) - math.log(f['ppl'])) < 0.05, (g['ppl'], f['ppl'])
assert f['decoder'] == 'reference fp32' and p['decoder'] != f['decoder']
PY
"$CLI" perplexity -m m.gguf -f text.txt -c 32 >plain.txt 2>/dev/null
grep -Eq "^perplexity [0-9.]+ \+/- [0-9.]+" plain.txt || { cat plain.txt; fail "plain report"; }
expect_error "--stride" perplexity -m m.gguf -f text.txt -c 32 --stride 31
expect_error "--ctx-size" perplexity -m m.gguf -f text.txt -c 2
expect_error "directory" perplexity -m m.gguf -f .
echo "perplexity_cli: ok"
