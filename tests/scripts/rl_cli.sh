#!/usr/bin/env bash
# `nanoprime rl` end to end on a tiny random checkpoint: GRPO updates the policy (a length cost
# makes the rewards of a random model differ), the metrics hold every step and the held-out
# measurements, the plot parses; a run stopped with --stop-at and resumed makes the uninterrupted
# run's updates bit for bit, and so does one killed with SIGKILL; DPO runs; bad flags and reused
# run directories are clear errors.
# Usage: rl_cli.sh PATH/TO/nanoprime
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # CLI, PY, a temp dir, fail, expect_error, ...

write_micro_model_json 300 256
"$CLI" init --config model.json --out init --seed 3 >/dev/null
train_tiny_tokenizer init/tokenizer.json
"$CLI" gym --task addition --difficulty 1 --split heldout --n 3 --seed 9 --out eval.jsonl 2>/dev/null

RL=(--init init --steps 4 --prompts 2 --group 3 --max-tokens 10 --length-cost 1 --lr 1e-2
    --save-every 2 --eval-data eval.jsonl --eval-every 2 --threads 2 --seed 5)
"$CLI" rl "${RL[@]}" --out A --quiet > A.out
grep -q "rl: 4 steps" A.out || { cat A.out; fail "no summary line"; }
[ -f A/final/model.safetensors ] && [ -f A/final/tokenizer.json ] || fail "no final checkpoint"
[ -f A/ckpt/step_000002/optimizer.bin ] && [ -f A/ckpt/step_000002/rl_state.json ] \
    || fail "no resumable checkpoint at step 2"
cmp -s init/model.safetensors A/final/model.safetensors && fail "the policy did not change"

"$PY" - <<'PY'
import json, xml.etree.ElementTree as ET
rows = [json.loads(l) for l in open("A/rl_metrics.jsonl")]
steps = [r["step"] for r in rows if "reward" in r]
assert steps == [1, 2, 3, 4], steps
held = [r["step"] for r in rows if "heldout_accuracy" in r]
assert held == [0, 2, 4], held
assert any(r.get("rows", 0) > 0 for r in rows), "no step carried a gradient"
for r in rows:
    if "reward" in r:
        assert 0 <= r["sample_accuracy"] <= 1 and r["tokens"] >= 0 and r["kl"] >= 0, r
        assert r["reward"] <= 1, r
svg = ET.parse("A/metrics.svg").getroot()
names = {e.get("class") for e in svg.iter() if e.tag.endswith("polyline")}
assert {"reward", "sample_accuracy", "heldout_accuracy", "kl"} <= names, names
PY

# Stopped after 2 steps and resumed: the same updates, bit for bit.
"$CLI" rl "${RL[@]}" --out B --stop-at 2 --quiet > /dev/null
[ ! -d B/final ] || fail "--stop-at 2 wrote final/"
expect_error "--lr" rl --resume B --lr 0.5
"$CLI" rl --resume B --quiet > /dev/null
cmp A/final/model.safetensors B/final/model.safetensors || fail "resumed run differs from the uninterrupted one"
"$PY" - <<'PY'
import json
def rows(p):
    out = []
    for l in open(p):
        r = json.loads(l)
        for k in ("elapsed", "sample_s", "update_s"):
            r.pop(k, None)
        out.append(r)
    return out
a, b = rows("A/rl_metrics.jsonl"), rows("B/rl_metrics.jsonl")
assert a == b, (a, b)
PY

# Killed with SIGKILL mid-run and resumed: the same updates as the uninterrupted run.
LONG=(--init init --steps 12 --prompts 2 --group 3 --max-tokens 10 --length-cost 1 --lr 1e-2
      --save-every 1 --threads 2 --seed 7 --quiet)
"$CLI" rl "${LONG[@]}" --out F > /dev/null
"$CLI" rl "${LONG[@]}" --out K > /dev/null &
pid=$!
for _ in $(seq 1 500); do
    [[ -f K/rl_metrics.jsonl && $(wc -l < K/rl_metrics.jsonl) -ge 5 ]] && break
    sleep 0.01
done
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
"$CLI" rl --resume K --quiet > /dev/null
cmp F/final/model.safetensors K/final/model.safetensors || fail "resumed after SIGKILL differs"

# SIGTERM: a checkpoint at the step reached, exit 143, no temporary folders; resumed, the same
# updates as the uninterrupted run.
"$CLI" rl "${LONG[@]}" --out T > /dev/null 2>T.err &
signal_after_lines TERM T/rl_metrics.jsonl 4 $!
rc=$SIGNALLED_RC
[ "$rc" -eq 143 ] || { cat T.err; fail "rl after SIGTERM: exit $rc, expected 143"; }
steps=$(wc -l < T/rl_metrics.jsonl)
[ "$steps" -lt 12 ] || fail "rl was not interrupted"
test -d "T/ckpt/$(printf 'step_%06d' "$steps")" || { ls T/ckpt; fail "no rl checkpoint at $steps"; }
[ -z "$(find T -name '*.tmp*')" ] || fail "temporary folders left: $(find T -name '*.tmp*')"
"$CLI" rl --resume T --quiet > /dev/null
cmp F/final/model.safetensors T/final/model.safetensors || fail "resumed after SIGTERM differs"

# DPO: pairs of a right and a wrong sample (a random model has few); it runs and checkpoints.
"$CLI" rl --init init --out D --algo dpo --beta 0.1 --steps 2 --prompts 2 --group 3 --max-tokens 8 \
    --threads 2 --quiet > /dev/null
[ -f D/final/model.safetensors ] || fail "DPO wrote no final checkpoint"

expect_error "--algo" rl --init init --out E --algo ppo
expect_error "--group" rl --init init --out E --group 1
expect_error "already holds a run" rl --init init --out A --steps 1
expect_error "tokenizer" rl --init model.json --out E
echo "rl_cli: ok"
