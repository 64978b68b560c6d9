#!/usr/bin/env bash
# Data-parallel `nanoprime train` under mpirun: 2 ranks give the loss curve and the final weights of
# one process with the same global batch (dropout and label smoothing on), only rank 0 writes the
# run directory, a 2-rank run resumes bit for bit under mpirun and continues in a single process,
# and an accum the ranks cannot share is a clear error that ends every rank.
# Usage: train_mpi.sh PATH/TO/nanoprime (exit 77 = skipped: no mpirun, or a build without MPI).
set -euo pipefail

CLI=${1:?usage: train_mpi.sh PATH/TO/nanoprime}
command -v mpirun >/dev/null || { echo "skip: no mpirun"; exit 77; }
"$CLI" train --help | grep -q "MPI support on" || { echo "skip: built without MPI"; exit 77; }
PY=/usr/bin/python3
NP_TEST_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/lib" && pwd)
export NP_TEST_LIB
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
# mpirun refuses root without these; the vader setting avoids a ptrace-based copy that containers
# often forbid (a warning per rank otherwise).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
MPIRUN=(mpirun -np 2 --oversubscribe --bind-to none -x OMP_NUM_THREADS -x OMP_WAIT_POLICY)

cat > model.json <<'JSON'
{"architecture": "nanoprime", "vocab_size": 64, "d_model": 16, "n_layers": 2, "layer_pattern": "MA",
 "tie_embeddings": true, "norm_eps": 1e-6, "max_seq_len": 64, "ffn": {"act": "swiglu", "hidden": 24},
 "mamba": {"expand": 2, "head_dim": 8, "d_state": 4, "n_groups": 1, "d_conv": 4},
 "mla": {"n_heads": 2, "qk_nope_dim": 4, "qk_rope_dim": 4, "v_dim": 4, "kv_rank": 8, "rope_theta": 100}}
JSON
"$CLI" init --config model.json --out init --seed 3 >/dev/null
"$PY" - <<'PY'
import os, sys
sys.path.insert(0, os.environ['NP_TEST_LIB'])
from npts import shard
text = b"the cat sat on the mat. the dog sat on the log. a cat and a dog met on the mat. " * 20
os.makedirs('data', exist_ok=True)
shard('data/train_000.npts', [c % 64 for c in text])
shard('data/val_000.npts', [c % 64 for c in text[:400]])
PY

# Global batch 4 = 2 rows x 2 micro-batches: one micro-batch per rank under mpirun.
BASE=(--init init --data data --val-data data --val-rows 4 --eval-every 6 --steps 12 --batch 2
      --seq 20 --lr 0.01 --warmup 0.1 --save-every 6 --dropout 0.1 --label-smoothing 0.05
      --threads 1 --quiet)
ARGS=("${BASE[@]}" --accum 2)
"$CLI" train "${ARGS[@]}" --out one > one.out
"${MPIRUN[@]}" "$CLI" train "${ARGS[@]}" --out two > two.out 2> two.err || { cat two.err; exit 1; }

# Rank 0 alone writes: one summary line, one metrics row per step, the usual run directory.
test "$(grep -c '^trained 12 steps' two.out)" = 1 || { echo "summary lines:"; cat two.out; exit 1; }
test "$(wc -l < two/metrics.jsonl)" = 12
test -d two/ckpt/step_000006 -a -d two/ckpt/step_000012 -a -d two/final
diff <(cd one && ls -R) <(cd two && ls -R)

# Stopped at step 6 under mpirun, resumed under mpirun; then the same checkpoint in one process.
"${MPIRUN[@]}" "$CLI" train "${ARGS[@]}" --out resumed --stop-at 6 > /dev/null 2> r1.err || { cat r1.err; exit 1; }
cp -r resumed single
"${MPIRUN[@]}" "$CLI" train --resume resumed > /dev/null 2> r2.err || { cat r2.err; exit 1; }
"$CLI" train --resume single --quiet > /dev/null

"$PY" - <<'PY'
import json, struct, array
def rows(run):
    return [json.loads(l) for l in open(run + "/metrics.jsonl")]
def weights(run):
    b = open(run + "/final/model.safetensors", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    out = {}
    for name, t in hdr.items():
        if name == "__metadata__": continue
        s, e = t["data_offsets"]
        out[name] = array.array("f", b[8 + n + s:8 + n + e])
    return out
def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-30)

one, two = rows("one"), rows("two")
assert len(one) == len(two) == 12
worst = max(rel(a["loss"], b["loss"]) for a, b in zip(one, two))
vworst = max(rel(a["val_loss"], b["val_loss"]) for a, b in zip(one, two) if "val_loss" in a)
assert worst < 1e-5, f"1 vs 2 ranks: loss differs by {worst:.3g} relative"
assert vworst < 1e-5, f"1 vs 2 ranks: val_loss differs by {vworst:.3g} relative"
assert [r["tokens"] for r in one] == [r["tokens"] for r in two]
assert one[-1]["loss"] < one[0]["loss"] - 0.3, (one[0]["loss"], one[-1]["loss"])
w1, w2 = weights("one"), weights("two")
assert w1.keys() == w2.keys()
wmax = max(abs(x - y) for k in w1 for x, y in zip(w1[k], w2[k]))
assert wmax < 1e-5, f"1 vs 2 ranks: final weights differ by {wmax:.3g}"
print(f"1 vs 2 ranks: max relative loss difference {worst:.3g}, val {vworst:.3g}, "
      f"max weight difference {wmax:.3g}")

res = rows("resumed")
assert [r["loss"] for r in res] == [r["loss"] for r in two], "2-rank resume is not bit-exact"
single = rows("single")
sworst = max(rel(a["loss"], b["loss"]) for a, b in zip(single, two))
assert len(single) == 12 and sworst < 1e-5, f"2-rank checkpoint resumed by 1 process: {sworst:.3g}"
PY
cmp resumed/final/model.safetensors two/final/model.safetensors

# An accum the ranks cannot share: the error names accum and every rank ends.
if timeout 60 "${MPIRUN[@]}" "$CLI" train "${BASE[@]}" --accum 1 --out bad > /dev/null 2> bad.err; then
    echo "expected failure: 2 ranks with --accum 1"; exit 1
fi
grep -q "accum 1 must be a multiple of the 2 ranks" bad.err || { cat bad.err; exit 1; }
test ! -e bad/metrics.jsonl
echo "train_mpi: OK"
