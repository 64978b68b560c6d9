#!/usr/bin/env bash
# `nanoprime train` under faults: a diverging run (huge lr) exits non-zero and writes no final/;
# batches without loss targets are skipped without poisoning the loss-spike guard, and data with
# no targets at all stops the run; SIGTERM ends a run with a checkpoint and no temporary folders,
# and the resumed run repeats the uninterrupted losses; temporary folders of a killed save are
# removed by --resume; resuming a finished run does nothing; the tokenizer travels from the shards
# into every checkpoint, so `generate` runs on RUN/final directly.
# Usage: train_faults.sh PATH/TO/nanoprime
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

write_micro_model_json 64 64
"$CLI" init --config model.json --out init --seed 3 >/dev/null

# Shards without a mask, with one that counts no token, and with targets only in the first 15% of
# the tokens (most sampled windows then have none).
"$PY" - <<'PY'
import os, sys
sys.path.insert(0, os.environ['NP_TEST_LIB'])
from npts import shard
text = b"the cat sat on the mat. the dog sat on the log. a cat and a dog met on the mat. " * 30
ids = [c % 64 for c in text]
for name, mask in [("plain", None), ("none", [0] * len(ids)),
                   ("head", [1 if j < len(ids) * 15 // 100 else 0 for j in range(len(ids))])]:
    os.makedirs(name, exist_ok=True)
    shard(name + '/train_000.npts', ids, mask=mask)
PY

base=(--init init --batch 1 --accum 1 --seq 16 --threads 1 --quiet)

# Divergence: non-zero exit, the message says so, nothing non-finite is saved.
rc=0
"$CLI" train "${base[@]}" --data plain --steps 6 --lr 1e9 --warmup 0 --out diverged \
    >out.txt 2>err.txt || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || { cat err.txt; fail "a diverging run ended with $rc"; }
grep -q "diverged" err.txt || { cat err.txt; fail "no divergence message"; }
test ! -d diverged/final || fail "a diverged run wrote final/"

# Sparse targets: the empty batches are skipped, every batch with targets trains.
"$CLI" train "${base[@]}" --data head --steps 40 --lr 0.01 --max-skips 40 --out sparse \
    >out.txt 2>err.txt || { cat err.txt; fail "sparse-target run failed"; }
grep -q "no loss targets" err.txt || fail "empty batches were not reported"
grep -q "spike" err.txt && { cat err.txt; fail "an empty batch poisoned the spike guard"; }
"$PY" - <<'PY' || fail "metrics of the sparse-target run"
import json
rows = [json.loads(l) for l in open('sparse/metrics.jsonl')]
assert len(rows) == 40, len(rows)
trained = [r for r in rows if not r['skipped']]
assert 0 < len(trained) < 40, len(trained)
assert all(r['loss'] > 0 for r in trained), trained
PY
test -d sparse/final || fail "sparse-target run wrote no final/"

# No targets at all: the run stops after max_skips steps, non-zero.
expect_error "no loss targets" train "${base[@]}" --data none --steps 20 --max-skips 5 --out empty

# SIGTERM: a checkpoint at the step reached, no temporary folders, exit 128+15; --resume then
# repeats the uninterrupted run's losses.
cat > long.json <<'JSON'
{"init": "init", "data": "plain", "steps": 400, "batch": 2, "accum": 1, "seq": "16", "lr": 0.01,
 "save_every": 1000, "threads": 1}
JSON
"$CLI" train --config long.json --out ref --quiet >/dev/null
"$CLI" train --config long.json --out term --quiet >/dev/null 2>term.err &
signal_after_lines TERM term/metrics.jsonl 30 $!
rc=$SIGNALLED_RC
[ "$rc" -eq 143 ] || { cat term.err; fail "SIGTERM: exit $rc, expected 143"; }
grep -q "interrupted by SIGTERM" term.err || { cat term.err; fail "no interruption message"; }
steps=$(wc -l < term/metrics.jsonl)
[ "$steps" -lt 400 ] || fail "the run was not interrupted"
test -d "term/ckpt/$(printf 'step_%06d' "$steps")" || { ls term/ckpt; fail "no checkpoint at $steps"; }
[ -z "$(find term -name '*.tmp*')" ] || fail "temporary folders left: $(find term -name '*.tmp*')"
# A save cut short by SIGKILL leaves its temporary folder: --resume removes it.
mkdir -p term/ckpt/step_000999.tmp.4242 term/final.tmp.4242
"$CLI" train --resume term --quiet >/dev/null 2>resume.err
grep -q "removed .*step_000999.tmp.4242" resume.err || { cat resume.err; fail "stale temp not removed"; }
[ -z "$(find term -name '*.tmp*')" ] || fail "temporary folders left after --resume"
"$PY" - <<'PY' || fail "resumed losses differ from the uninterrupted run"
import json
a = [json.loads(l)['loss'] for l in open('ref/metrics.jsonl')]
b = [json.loads(l)['loss'] for l in open('term/metrics.jsonl')]
assert a == b, [(i, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y][:3]
PY

# Resuming a finished run: nothing to do, exit 0; a --stop-at behind the run is an error.
"$CLI" train --resume term >out.txt 2>&1 || { cat out.txt; fail "resume of a finished run failed"; }
grep -q "nothing to do" out.txt || { cat out.txt; fail "resume of a finished run: no message"; }
"$CLI" train --config long.json --out stopped --stop-at 20 --quiet >/dev/null
expect_error "stop-at 8" train --resume stopped --stop-at 8

# The tokenizer goes from the shards into every checkpoint: generate runs on RUN/final as is.
train_tiny_tokenizer tok.json
"$CLI" data prepare --input corpus.txt --tokenizer tok.json --out shards --quiet >/dev/null
test -f shards/tokenizer.json || fail "data prepare did not copy the tokenizer into the shards"
write_micro_model_json 300 64
"$CLI" init --config model.json --out init300 --seed 3 >/dev/null
"$CLI" train --init init300 --data shards --steps 4 --batch 1 --seq 16 --save-every 2 \
    --out withtok --quiet >/dev/null
test -f withtok/final/tokenizer.json -a -f withtok/ckpt/step_000004/tokenizer.json ||
    fail "checkpoints carry no tokenizer"
"$CLI" generate --model withtok/final --prompt "What is" -n 4 --temperature 0 >/dev/null 2>&1 ||
    fail "generate on RUN/final"
echo "train faults: ok"
