#!/usr/bin/env bash
# The shipped reasoning model: a 3.6M hybrid (configs/reasoner_model.json) trained from scratch on
# 2 CPU cores within 3 hours on all 14 gym tasks in English and Italian (training sentence
# families only), then exported and
# evaluated on held-out families, per task x language x difficulty, thinking on / off / auto.
#
#   1. data: 40k plain-text problems (pretraining) and 40k chat problems (SFT; difficulty 1
#      answered directly, 2-4 with thinking; in conversations of 1 to 3 turns), held-out-family
#      evaluation sets: every task at difficulties 1-4, and addition/subtraction at 5 digits (one
#      beyond training)
#   2. tokenizer (4096 BPE), shards
#   3. pretraining (configs/reasoner_pretrain.json), thinking SFT (configs/reasoner_sft.json)
#   4. GRPO from the SFT checkpoint (rl, 60 steps)
#   5. export models/nano-reasoner.gguf, evaluation reports in $OUT/eval_*.json
#
# Every stage resumes: run the script again after an interruption and it continues from the
# newest checkpoint (train --resume, rl --resume); finished stages are skipped. Environment:
# REASONER_DIR (runs/reasoner), REASONER_THREADS (2), REASONER_BIN (a built nanoprime),
# REASONER_MODEL (the exported file, models/nano-reasoner.gguf),
# REASONER_PRE_STEPS / REASONER_SFT_STEPS / REASONER_RL_STEPS (override the steps, for a quick
# check of the pipeline), REASONER_N (problems per training set, 40000), REASONER_EVAL_LIMIT
# (evaluate only the first N records of each set; -1: all).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${REASONER_BIN:-}" ]; then
    NP=$REASONER_BIN
else
    bash scripts/setup.sh
    bash scripts/build.sh >/dev/null
    NP=build/nanoprime
fi
OUT=${REASONER_DIR:-runs/reasoner}
THREADS=${REASONER_THREADS:-2}
export OMP_NUM_THREADS=$THREADS OMP_WAIT_POLICY=passive
D=$OUT/data
N=${REASONER_N:-40000}
GGUF=${REASONER_MODEL:-models/nano-reasoner.gguf}
mkdir -p "$D"
PRE_STEPS=()
[ -z "${REASONER_PRE_STEPS:-}" ] || PRE_STEPS=(--steps "$REASONER_PRE_STEPS")
SFT_STEPS=()
[ -z "${REASONER_SFT_STEPS:-}" ] || SFT_STEPS=(--steps "$REASONER_SFT_STEPS")

if [ ! -s "$D/sft.jsonl" ]; then
    echo "== data"
    $NP gym --task all --lang both --difficulty 1-4 --split heldout --n 1400 --seed 1001 --unique \
        --out "$D/eval.jsonl"
    $NP gym --task addition,subtraction --lang both --difficulty 5 --split heldout --n 200 \
        --seed 1002 --unique --out "$D/eval_beyond.jsonl"
    $NP gym --task all --lang both --difficulty 1-4 --split train --n "$N" --seed 1 \
        --exclude "$D/eval.jsonl" --text --out "$D/pretrain.txt"
    $NP gym --task all --lang both --difficulty 1-4 --direct-max-difficulty 1 --split train \
        --n "$N" --seed 2 --exclude "$D/eval.jsonl" --turns 1-3 --out "$D/sft.jsonl.tmp"
    mv "$D/sft.jsonl.tmp" "$D/sft.jsonl"
fi
if [ ! -s "$D/shards/sft/summary.json" ]; then
    echo "== tokenizer and shards"
    $NP tokenizer train --input "$D/pretrain.txt" --vocab 4096 --out "$D/tokenizer.json"
    $NP data prepare --input "$D/pretrain.txt" --tokenizer "$D/tokenizer.json" \
        --out "$D/shards/text" --quiet
    $NP data prepare --input "$D/sft.jsonl" --tokenizer "$D/tokenizer.json" --out "$D/shards/sft" \
        --quiet
fi
if [ ! -d "$OUT/init" ]; then
    $NP init --config configs/reasoner_model.json --out "$OUT/init" --seed 1
    cp "$D/tokenizer.json" "$OUT/init/tokenizer.json"
fi

# stage NAME CONFIG INIT DATA [FLAGS...]: a training run that resumes where it stopped.
stage() {
    local name=$1 config=$2 init=$3 data=$4
    shift 4
    if [ -d "$OUT/$name/final" ]; then return; fi
    echo "== $name"
    if [ -d "$OUT/$name/ckpt" ]; then
        $NP train --resume "$OUT/$name"
    else
        rm -rf "${OUT:?}/$name"
        $NP train --config "$config" --init "$init" --data "$data" --val-data "$data" \
            --out "$OUT/$name" --threads "$THREADS" "$@"
    fi
    $NP plot "$OUT/$name"
}
stage pretrain configs/reasoner_pretrain.json "$OUT/init" "$D/shards/text" "${PRE_STEPS[@]}"
stage sft configs/reasoner_sft.json "$OUT/pretrain/final" "$D/shards/sft" "${SFT_STEPS[@]}"

if [ ! -d "$OUT/rl/final" ]; then
    echo "== rl"
    if [ -d "$OUT/rl/ckpt" ]; then
        $NP rl --resume "$OUT/rl"
    else
        rm -rf "${OUT:?}/rl"
        $NP rl --init "$OUT/sft/final" --out "$OUT/rl" --task all --lang both --difficulty 2-4 \
            --steps "${REASONER_RL_STEPS:-60}" --prompts 8 --group 8 --max-tokens 160 --lr 5e-5 --beta 0.02 \
            --trace-reward 0.5 --eval-data "$D/eval.jsonl" --eval-n 200 --eval-every 20 \
            --save-every 10 --threads "$THREADS" --seed 1
    fi
fi

echo "== export and evaluation"
mkdir -p "$(dirname "$GGUF")"
$NP export --ckpt "$OUT/rl/final" --out "$GGUF" --weights tq2 --embed f16 --force
for model in "$OUT/sft/final" "$GGUF"; do
    tag=sft
    [ "$model" = "$GGUF" ] && tag=rl
    $NP eval --model "$model" --data "$D/eval.jsonl" --think on,off,auto --max-tokens 200 \
        --limit "${REASONER_EVAL_LIMIT:--1}" --out "$OUT/eval_$tag.json" >/dev/null
    $NP eval --model "$model" --data "$D/eval_beyond.jsonl" --think on --max-tokens 200 \
        --limit "${REASONER_EVAL_LIMIT:--1}" --out "$OUT/eval_beyond_$tag.json" >/dev/null
done
echo "reports: $OUT/eval_sft.json $OUT/eval_rl.json (per task, family, language, difficulty)"
