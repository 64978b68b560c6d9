#!/usr/bin/env bash
# The main demo: installs dependencies, builds, creates a `nano` model, shows its parameters and
# computes its loss (and gradients) on a batch of packed documents.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh >/dev/null
NP=build/nanoprime
OUT=${DEMO_DIR:-runs/demo}
mkdir -p "$OUT"

echo "== 1. a random-initialised nano model"
$NP init --preset nano --out "$OUT/nano-init" --seed 1 --force
$NP params "$OUT/nano-init"

echo "== 2. loss of the untrained model on 4 rows of 256 tokens (documents separated by id 0)"
python3 - "$OUT/tokens.json" <<'PY'
import json, random, sys
random.seed(0)
rows = [[random.randrange(1, 4096) for _ in range(256)] for _ in range(4)]
for r in rows:
    for t in range(0, 256, 64): r[t] = 0   # <|endoftext|> starts a new document
json.dump(rows, open(sys.argv[1], "w"))
PY
$NP loss --ckpt "$OUT/nano-init" --tokens "$OUT/tokens.json" --grads "$OUT/grads.safetensors"
echo "(an untrained model scores about ln(4096) = 8.32 nats; gradients written to $OUT/grads.safetensors)"
