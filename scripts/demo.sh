#!/usr/bin/env bash
# The main demo: installs dependencies, builds, creates a `nano` model and shows its parameters,
# generates reasoning-gym data, trains a tokenizer and token shards on it, computes the loss (and
# gradients), then pretrains for a few steps and plots the loss curve.
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

echo "== 2. reasoning-gym data (English + Italian), a BPE tokenizer trained on it, token shards"
$NP gym --task all --n 3000 --lang both --difficulty 3 --seed 1 --out "$OUT/gym.jsonl"
# The tokenizer learns from the problems' text (questions, step-by-step reasoning, answers).
python3 -c "import json,sys; [print(r['question']+'\n'+r['thinking']+'\n'+r['answer']+'\n') for r in map(json.loads, open(sys.argv[1]))]" \
    "$OUT/gym.jsonl" > "$OUT/gym.txt"
$NP tokenizer train --input "$OUT/gym.txt" --vocab 4096 --out "$OUT/tokenizer.json"
echo "Quanto fa 4974 + 1818?" | $NP tokenize --tokenizer "$OUT/tokenizer.json" | head -12
$NP data prepare --input "$OUT/gym.jsonl" --tokenizer "$OUT/tokenizer.json" --out "$OUT/shards" --quiet

echo "== 3. loss (and gradients) of the untrained model on 4 rows of 256 tokens of chat-formatted problems"
$NP loss --ckpt "$OUT/nano-init" --tokens "$OUT/shards/train_00000.npts" --seq 256 --batch 4 \
    --grads "$OUT/grads.safetensors"
echo "(an untrained model scores about ln(4096) = 8.32 nats on the assistant tokens; gradients in $OUT/grads.safetensors)"

echo "== 4. a short pretraining run on the gym shards (40 steps), its loss curve, and the loss after"
$NP train --init "$OUT/nano-init" --data "$OUT/shards" --val-data "$OUT/shards" --out "$OUT/run" \
    --steps 40 --batch 4 --seq 256 --lr 2e-3 --eval-every 20 --save-every 20 --log-every 10
$NP plot "$OUT/run" --out "$OUT/run/metrics.svg"
$NP loss --ckpt "$OUT/run/final" --tokens "$OUT/shards/train_00000.npts" --seq 256 --batch 4
echo "(loss curve: $OUT/run/metrics.svg; resume a run with: $NP train --resume $OUT/run --steps N)"
