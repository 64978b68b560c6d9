#!/usr/bin/env bash
# `nanoprime train` and `plot` end to end on a tiny model and byte-level shards: a run killed with
# SIGKILL mid-way and resumed, and a run stopped with --stop-at and resumed, both repeat the
# uninterrupted run's losses bit for bit; flags override train.json; errors name the field; the
# SVG parses as XML with the expected curves. Usage: train_cli.sh PATH/TO/nanoprime
set -euo pipefail

CLI=${1:?usage: train_cli.sh PATH/TO/nanoprime}
PY=python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
# Two threads exercise the parallel reductions; passive waiting keeps them cheap on a busy machine.
export OMP_WAIT_POLICY=passive

cat > model.json <<'JSON'
{"architecture": "nanoprime", "vocab_size": 64, "d_model": 8, "n_layers": 2, "layer_pattern": "MA",
 "tie_embeddings": true, "norm_eps": 1e-6, "max_seq_len": 64, "ffn": {"act": "swiglu", "hidden": 12},
 "mamba": {"expand": 2, "head_dim": 4, "d_state": 3, "n_groups": 1, "d_conv": 4},
 "mla": {"n_heads": 2, "qk_nope_dim": 3, "qk_rope_dim": 4, "v_dim": 3, "kv_rank": 5, "rope_theta": 100}}
JSON
"$CLI" init --config model.json --out init --seed 3 >/dev/null

# Byte-level shards (DESIGN §4.3 header, 2-byte ids, no mask), ids = byte % 64.
"$PY" - <<'PY'
import os, struct
def fnv(b, h=0xcbf29ce484222325):
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
    return h
def shard(path, ids):
    payload = struct.pack('<%dH' % len(ids), *ids)
    hdr = b'NPTS' + struct.pack('<IIIQIIQ', 1, 2, 0, len(ids), 64, 0, fnv(payload))
    open(path, 'wb').write(hdr + payload)
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

# Errors name the field or flag.
expect_error() {  # expect_error PATTERN ARGS...
    local pat=$1; shift
    if "$CLI" "$@" > err.txt 2>&1; then echo "expected failure: $*"; exit 1; fi
    grep -q -- "$pat" err.txt || { echo "error for '$*' does not mention '$pat':"; cat err.txt; exit 1; }
}
expect_error "batch" train --config train.json --out E --batch 0
expect_error "--lr cannot change" train --resume A --lr 0.1
expect_error "already holds a run" train --config train.json --out A
expect_error "unknown field" train --config <(echo '{"stpes": 3}')
echo "train_cli: OK"
