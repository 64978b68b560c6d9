#!/usr/bin/env bash
# `nanoprime eval` end to end on a tiny random checkpoint: each thinking mode, a thinking budget,
# voting, --limit, --reference, the report's fields, and the errors for a missing tokenizer and
# a bad --think.
# Usage: eval_cli.sh PATH/TO/nanoprime
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # CLI, PY, a temp dir, fail, expect_error, ...

write_micro_model_json
"$CLI" init --config model.json --out ckpt --seed 3 >/dev/null
"$CLI" gym --task addition --n 3 --difficulty 1 --seed 1 --out gym.jsonl >/dev/null 2>&1
"$CLI" gym --task sort --n 2 --difficulty 2 --seed 2 --out sort.jsonl >/dev/null 2>&1
cat gym.jsonl sort.jsonl > data.jsonl
for i in 1 2 3 4 5 6 7 8; do cat data.jsonl; done > corpus.txt
"$CLI" tokenizer train --input corpus.txt --vocab 300 --out tok.json >/dev/null 2>&1

# No tokenizer in the checkpoint and none given: a clear error.
if "$CLI" eval --model ckpt --data data.jsonl --think on 2>err.txt >/dev/null; then
    echo "FAIL: eval without a tokenizer succeeded"; exit 1
fi
grep -q "tokenizer" err.txt || { echo "FAIL: error does not name the tokenizer"; cat err.txt; exit 1; }
cp tok.json ckpt/tokenizer.json
if "$CLI" eval --model ckpt --data data.jsonl --think maybe 2>err.txt >/dev/null; then
    echo "FAIL: --think maybe accepted"; exit 1
fi
grep -q -- "--think" err.txt || { echo "FAIL: error does not name --think"; cat err.txt; exit 1; }

"$CLI" eval --model ckpt --data data.jsonl --think on --think-budget 3 --max-tokens 10 \
    --out on.json >on_stdout.json 2>/dev/null
"$CLI" eval --model ckpt --data data.jsonl --think off --max-tokens 6 --out off.json >/dev/null 2>&1
"$CLI" eval --model ckpt --data data.jsonl --think auto --max-tokens 6 --limit 2 \
    --out auto.json >/dev/null 2>&1
"$CLI" eval --model ckpt --tokenizer tok.json --data gym.jsonl --think off --votes 3 \
    --max-tokens 4 --out votes.json >/dev/null 2>&1
"$CLI" eval --model ckpt --data gym.jsonl --think off --max-tokens 4 --reference \
    --out ref.json >/dev/null 2>&1

"$PY" - <<'PY'
import json
on = json.load(open('on.json'))
assert json.load(open('on_stdout.json'))['accuracy'] == on['accuracy']
for name, mode, n in [('on.json', 'on', 5), ('off.json', 'off', 5), ('auto.json', 'auto', 2),
                      ('votes.json', 'off', 3)]:
    r = json.load(open(name))
    for k in ['accuracy', 'mean_thinking_tokens', 'mode', 'n', 'by_task', 'by_difficulty', 'records']:
        assert k in r, (name, k)
    assert r['mode'] == mode and r['n'] == n and len(r['records']) == n, (name, r['mode'], r['n'])
    assert 0 <= r['accuracy'] <= 1
    assert sum(t['n'] for t in r['by_task'].values()) == n
for rec in on['records']:
    assert rec['output'].startswith('<think>\n'), rec['output']
    assert rec['thinking_tokens'] <= 3
    assert '</think>' in rec['output'], rec['output']
assert set(on['by_task']) == {'addition', 'sort'}
assert set(on['by_difficulty']) == {'1', '2'}
off = json.load(open('off.json'))
for rec in off['records']:
    assert '<think>' not in rec['output'], rec['output']  # off's empty block is the prompt's
assert all(len(rec['votes']) == 3 for rec in json.load(open('votes.json'))['records'])
assert json.load(open('ref.json'))['decoder'] == 'reference fp32'
assert on['decoder']
print('eval_cli: ok')
PY

# A sweep: every combination of the comma lists, one report with a run each, and the plot of
# accuracy against thinking tokens per question (one curve per number of votes).
"$CLI" eval --model ckpt --data data.jsonl --think on --think-budget 0,3 --think-min 0 \
    --votes 1,2 --temperature 0.7 --max-tokens 10 --out sweep.json --plot sweep.svg >/dev/null 2>&1
expect_error "--plot" eval --model ckpt --data data.jsonl --plot x.svg
expect_error "--think-budget" eval --model ckpt --data data.jsonl --think-budget 3,x
expect_error "--think-min" eval --model ckpt --data data.jsonl --think-budget 2 --think-min 5
"$PY" - <<'PY'
import json, xml.etree.ElementTree as ET
runs = json.load(open('sweep.json'))['runs']
assert [(r['think_budget'], r['votes']) for r in runs] == [(0, 1), (0, 2), (3, 1), (3, 2)], runs
for r in runs:
    assert r['mean_thinking_tokens'] <= r['think_budget'], r
svg = ET.parse('sweep.svg').getroot()
names = {e.get('class') for e in svg.iter() if e.tag.endswith('polyline')}
assert names == {'on, greedy', 'on, 2 votes'}, names
print('eval sweep: ok')
PY
