#!/usr/bin/env bash
# `nanoprime train` and `plot` end to end on a tiny model and byte-level shards: a run killed with
# SIGKILL mid-way and resumed, and a run stopped with --stop-at and resumed, both repeat the
# uninterrupted run's losses bit for bit (also with dropout and recomputation); flags override
# train.json and land in the resolved config; label smoothing raises the loss; sample generations
# go to samples.jsonl; errors name the field; the SVG parses as XML with the expected curves.
# Usage: train_cli.sh PATH/TO/nanoprime
set -euo pipefail

# Two threads exercise the parallel reductions; passive waiting keeps them cheap on a busy machine.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # CLI, PY, a temp dir, fail, expect_error, ...

write_micro_model_json 64 64
"$CLI" init --config model.json --out init --seed 3 >/dev/null

# Byte-level shards (DESIGN §4.3 header, 2-byte ids, no mask), ids = byte % 64.
"$PY" - <<'PY'
import os, sys
sys.path.insert(0, os.environ['NP_TEST_LIB'])
from npts import shard
text = b"the cat sat on the mat. the dog sat on the log. a cat and a dog met on the mat. " * 30
os.makedirs('data', exist_ok=True)
shard('data/train_000.npts', [c % 64 for c in text])
shard('data/val_000.npts', [c % 64 for c in text[:600]])
PY

cat > train.json <<'JSON'
{"init": "init", "data": "data", "val_data": "data", "steps": 200, "batch": 4, "accum": 2,
 "seq": "16@0,24@0.3", "lr": 0.01, "warmup": 0.05, "save_every": 25, "keep_last": 2,
 "eval_every": 40, "threads": 2, "lerac_end_step": 40, "swa_start": 0.8, "log_every": 100}
JSON

"$CLI" train --config train.json --out A 2> A.err >/dev/null
grep -q "step 100/200 | loss" A.err || { echo "no plain progress line in stderr:"; cat A.err; exit 1; }
test -d A/final -a -d A/final_swa -a -f A/train_config.json

# SIGKILL mid-run, then resume.
"$CLI" train --config train.json --out B --quiet >/dev/null 2>&1 &
pid=$!
for _ in $(seq 400); do
    [[ -f B/metrics.jsonl && $(wc -l < B/metrics.jsonl) -ge 40 ]] && break
    sleep 0.02
done
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
killed_at=$(wc -l < B/metrics.jsonl)
"$CLI" train --resume B --quiet >/dev/null

# Graceful stop, then resume.
"$CLI" train --config train.json --out C --stop-at 120 --quiet >/dev/null
test ! -d C/final
"$CLI" train --resume C >/dev/null 2> C.err
grep -q "resumed from" C.err

"$PY" - <<'PY'
import json
def losses(run):
    return [json.loads(l)["loss"] for l in open(run + "/metrics.jsonl")]
a = losses("A")
assert len(a) == 200, len(a)
assert sum(a[-20:]) / 20 < sum(a[:20]) / 20 - 0.5, (a[:3], a[-3:])
for run in "BC":
    b = losses(run)
    assert len(b) == 200, (run, len(b))
    bad = [i + 1 for i in range(200) if a[i] != b[i]]
    assert not bad, f"run {run}: losses differ from the uninterrupted run at steps {bad[:5]}"
PY
cmp A/final/model.safetensors B/final/model.safetensors
cmp A/final_swa/model.safetensors C/final_swa/model.safetensors
echo "resume: bit-exact after SIGKILL at ~step $killed_at and after --stop-at 120"

# Plot: well-formed SVG with the four curves.
"$CLI" plot A --out A.svg >/dev/null
"$PY" - <<'PY'
import xml.etree.ElementTree as ET
root = ET.parse("A.svg").getroot()
ns = "{http://www.w3.org/2000/svg}"
lines = {p.get("class"): p.get("points").split() for p in root.iter(ns + "polyline")}
assert set(lines) == {"loss", "val_loss", "lr", "tok_s"}, lines.keys()
assert len(lines["loss"]) == 200 and len(lines["val_loss"]) == 5, (len(lines["loss"]), len(lines["val_loss"]))
texts = [t.text for t in root.iter(ns + "text")]
assert "step" in texts and "Learning rate" in texts, texts[:10]
PY

# Dry run reports time and memory, writes nothing.
"$CLI" train --config train.json --out D --dry-run --quiet > dry.txt
grep -q "s/step" dry.txt && grep -q "peak RSS" dry.txt && test ! -e D

# Dry run: activation memory and time without and with --recompute.
"$CLI" train --config train.json --out D --dry-run --quiet --dropout 0.1 > dry2.txt
grep -q "activations (one micro-batch): .* with --recompute: " dry2.txt || { cat dry2.txt; exit 1; }

# Training options: the flags land in the resolved config; label smoothing raises the step-1 loss
# of a trained (confident) model; with dropout, a stopped and resumed run still repeats the
# uninterrupted one bit for bit.
"$CLI" train --config train.json --init A/final --out L0 --steps 1 --quiet >/dev/null
"$CLI" train --config train.json --init A/final --out L1 --steps 1 --label-smoothing 0.2 \
    --quiet >/dev/null
"$CLI" train --config train.json --out P --steps 30 --dropout 0.1 --recompute --quiet >/dev/null
"$CLI" train --config train.json --out Q --steps 30 --dropout 0.1 --recompute --stop-at 13 \
    --quiet >/dev/null
"$CLI" train --resume Q --quiet >/dev/null
"$PY" - <<'PY'
import json
def losses(run):
    return [json.loads(l)["loss"] for l in open(run + "/metrics.jsonl")]
c = json.load(open("L1/train_config.json"))
assert c["label_smoothing"] == 0.2 and c["dropout"] == 0 and c["recompute"] is False, c
c = json.load(open("P/train_config.json"))
assert c["dropout"] == 0.1 and c["recompute"] is True and c["sample_every"] == 0, c
l0, l1 = losses("L0")[0], losses("L1")[0]
assert l1 > l0 + 0.05, f"label smoothing 0.2 did not raise the step-1 loss: {l0} -> {l1}"
print(f"step-1 loss of the trained model: {l0:.4f}, with label smoothing 0.2: {l1:.4f}")
p, q = losses("P"), losses("Q")
assert len(p) == len(q) == 30
assert p[0] != losses("A")[0], "dropout 0.1 left the step-1 loss unchanged"
bad = [i + 1 for i in range(30) if p[i] != q[i]]
assert not bad, f"dropout run: resume differs from the uninterrupted run at steps {bad[:5]}"
PY
cmp P/final/model.safetensors Q/final/model.safetensors
echo "dropout/label smoothing/recompute: config round-trip, smoothing raises loss, resume bit-exact"

# Sample generations: a 320-token model with a trained tokenizer; JSONL and plain-text prompts.
cat > model320.json <<'JSON'
{"architecture": "nanoprime", "vocab_size": 320, "d_model": 8, "n_layers": 2, "layer_pattern": "MA",
 "tie_embeddings": true, "norm_eps": 1e-6, "max_seq_len": 128, "ffn": {"act": "swiglu", "hidden": 12},
 "mamba": {"expand": 2, "head_dim": 4, "d_state": 3, "n_groups": 1, "d_conv": 4},
 "mla": {"n_heads": 2, "qk_nope_dim": 3, "qk_rope_dim": 4, "v_dim": 3, "kv_rank": 5, "rope_theta": 100}}
JSON
"$CLI" init --config model320.json --out init320 --seed 4 >/dev/null
for i in $(seq 40); do echo "What is $i + 7? The answer is $((i + 7)). the cat sat on the mat."; done > corpus.txt
"$CLI" tokenizer train --input corpus.txt --vocab 300 --out init320/tokenizer.json >/dev/null 2>&1
printf '{"question": "What is 2 + 3?"}\n\nthe cat sat on\n' > prompts.jsonl
S_BASE=(--init init320 --data data --steps 4 --batch 2 --seq 16 --threads 1 --sample-every 2)
S_ARGS=("${S_BASE[@]}" --sample-prompts prompts.jsonl --log-every 100)
"$CLI" train "${S_ARGS[@]}" --out S >/dev/null 2> S.err
grep -q 'sample at step 2: "What is 2 + 3?" -> ' S.err || { cat S.err; exit 1; }
"$CLI" train "${S_ARGS[@]}" --out S2 --stop-at 3 --quiet >/dev/null
"$CLI" train --resume S2 --quiet >/dev/null
"$PY" - <<'PY'
import json
rows = [json.loads(l) for l in open("S/samples.jsonl")]
assert [(r["step"], r["prompt"]) for r in rows] == [
    (2, "What is 2 + 3?"), (2, "the cat sat on"), (4, "What is 2 + 3?"), (4, "the cat sat on")], rows
assert all(isinstance(r["output"], str) for r in rows)
c = json.load(open("S/train_config.json"))
assert c["sample_every"] == 2 and c["sample_prompts"].endswith("prompts.jsonl"), c
PY
cmp S/samples.jsonl S2/samples.jsonl
echo "samples: samples.jsonl written every 2 steps, identical after a resume"

# Errors name the field or flag.
expect_error "batch" train --config train.json --out E --batch 0
expect_error "--lr cannot change" train --resume A --lr 0.1
expect_error "already holds a run" train --config train.json --out A
expect_error "unknown field" train --config <(echo '{"stpes": 3}')
expect_error "dropout" train --config train.json --out E --dropout 1
expect_error "label_smoothing" train --config train.json --out E --label-smoothing -0.1
expect_error "--dropout cannot change" train --resume A --dropout 0.2
expect_error "sample_every needs a tokenizer" train --config train.json --out E --sample-every 5
printf '{"prompt": "x"}\n' > badprompts.jsonl
expect_error "badprompts.jsonl line 1" train "${S_BASE[@]}" --out E --sample-prompts badprompts.jsonl
test ! -e E
echo "train_cli: OK"
