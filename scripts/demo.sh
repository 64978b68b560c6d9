#!/usr/bin/env bash
# The main demo: a small hybrid (configs/demo_model.json: 3.6M parameters, d_model 160, 6 Mamba-2
# and 2 MLA layers) that learns to think before it answers, trained from scratch on 2 CPU cores in
# about 15 minutes. It learns the digit fetches of the traces much faster than the 8.6M `nano`
# preset within the same minutes (docs/reasoning.md).
#
#   1. install and build; a random model and its parameters
#   2. reasoning-gym data: a held-out evaluation set (3-digit addition, English and Italian
#      questions asked in sentence shapes kept out of training: `gym --split heldout`), plain-text
#      pretraining problems and chat-format SFT problems in the training shapes (`--split train`),
#      a BPE tokenizer, token shards
#   3. a short pretraining on the plain text (gym problems with their reasoning, plus the
#      scripts/build_corpus.sh corpus when it exists)
#   4. thinking SFT from the pretrained checkpoint: chat format, loss on the assistant's tokens only;
#      2-digit problems are answered directly (empty think block), 3-digit ones with thinking, so the
#      model learns when to think (auto mode). Most of the budget goes here: with the loss on the
#      answer side only, the model learns to fetch the question's digits; in plain text the
#      question's random digits are unpredictable and their gradient noise drowns that signal.
#   5. evaluation of the held-out problems with thinking on, off and auto, and one chat turn
#
# The recipe is configs/demo_pretrain.json and configs/demo_sft.json (DEMO_SFT_CONFIG: another SFT
# config, e.g. one with another seed). Environment: DEMO_DIR (runs/demo),
# DEMO_THREADS (2), DEMO_EVAL_N (held-out problems, 100), DEMO_PRE_STEPS / DEMO_SFT_STEPS (override
# the configs' steps), DEMO_SKIP_SETUP=1 (no apt-get), DEMO_BIN (use this nanoprime binary: no setup,
# no build).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${DEMO_BIN:-}" ]; then
    NP=$DEMO_BIN  # an already built nanoprime: no setup, no build
else
    [ "${DEMO_SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
    bash scripts/build.sh >/dev/null
    NP=build/nanoprime
fi
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
OUT=${DEMO_DIR:-runs/demo}
THREADS=${DEMO_THREADS:-2}
EVAL_N=${DEMO_EVAL_N:-100}
export OMP_NUM_THREADS=$THREADS OMP_WAIT_POLICY=passive
mkdir -p "$OUT/data"
D=$OUT/data
now() { date +%s.%N; }
declare -A SECONDS_OF
stage() { SECONDS_OF[$1]=$(awk -v a="$2" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'); }
T_ALL=$(now)

echo "== 1. a random-initialised model (configs/demo_model.json)"
$NP init --config configs/demo_model.json --out "$OUT/nano-init" --seed 1 --force
$NP params "$OUT/nano-init"

echo "== 2. reasoning-gym data, tokenizer, token shards"
T0=$(now)
ARITH=(--task addition --lang both)
# Held out: 3-digit operands, each question once, in sentence shapes training never sees.
$NP gym "${ARITH[@]}" --difficulty 3 --split heldout --n "$EVAL_N" --seed 1001 --unique \
    --out "$D/eval.jsonl"
# Pretraining text: 2- and 3-digit problems with their reasoning, as plain text.
$NP gym "${ARITH[@]}" --difficulty 2-3 --split train --n 12000 --seed 1 --exclude "$D/eval.jsonl" \
    --text --out "$D/pretrain.txt"
# SFT: 2-digit problems answered directly, 3-digit ones with thinking (auto mode learns from this
# when to think), in conversations of 1 to 3 turns, so that a question after an answer in `chat`
# is something the model has seen.
$NP gym "${ARITH[@]}" --difficulty 2-3 --direct-max-difficulty 2 --split train --n 12000 --seed 2 \
    --exclude "$D/eval.jsonl" --turns 1-3 --out "$D/sft.jsonl"
TOK_INPUTS=("$D/pretrain.txt")
CORPUS=()
for lang in en it; do
    # scripts/build_corpus.sh output, when someone built it: plain text for the tokenizer too.
    if [ -s "corpus/$lang.jsonl" ]; then
        CORPUS+=("corpus/$lang.jsonl")
        $PY -c 'import json,sys; [print(json.loads(l)["text"] + "\n") for l in open(sys.argv[1])]' \
            "corpus/$lang.jsonl" > "$D/corpus_$lang.txt"
        TOK_INPUTS+=("$D/corpus_$lang.txt")
    fi
done
$NP tokenizer train --input "${TOK_INPUTS[@]}" --vocab 4096 --out "$D/tokenizer.json"
echo "Quanto fa 487 + 356?" | $NP tokenize --tokenizer "$D/tokenizer.json" | tail -1
cp "$D/tokenizer.json" "$OUT/nano-init/tokenizer.json"  # travels with every checkpoint from here
$NP data prepare --input "$D/pretrain.txt" --tokenizer "$D/tokenizer.json" --out "$D/shards/gym_text" --quiet
$NP data prepare --input "$D/sft.jsonl" --tokenizer "$D/tokenizer.json" --out "$D/shards/sft" --quiet
PRETRAIN_DATA=$D/shards/gym_text
if [ ${#CORPUS[@]} -gt 0 ]; then
    $NP data prepare --input "${CORPUS[@]}" --tokenizer "$D/tokenizer.json" --out "$D/shards/corpus" --quiet
    # Mostly gym text: the corpus adds general language without starving the arithmetic.
    cat > "$D/pretrain_mix.json" <<EOF
{"seed": 0, "block_tokens": 16384,
 "sources": [{"name": "gym_text", "path": "shards/gym_text"}, {"name": "corpus", "path": "shards/corpus"}],
 "phases": [{"name": "pretrain", "fraction": 1, "weights": {"gym_text": 0.8, "corpus": 0.2}}]}
EOF
    PRETRAIN_DATA=$D/pretrain_mix.json
fi
stage data "$T0"

echo "== 3. the untrained model's loss on 4 rows of 256 tokens of SFT data (and its gradients)"
$NP loss --ckpt "$OUT/nano-init" --tokens "$D/shards/sft/train_00000.npts" --seq 256 --batch 4 \
    --grads "$OUT/grads.safetensors"
echo "(an untrained model scores about ln(4096) = 8.32 nats on the assistant tokens)"

STEPS_PRE=()
[ -z "${DEMO_PRE_STEPS:-}" ] || STEPS_PRE=(--steps "$DEMO_PRE_STEPS")
STEPS_SFT=()
[ -z "${DEMO_SFT_STEPS:-}" ] || STEPS_SFT=(--steps "$DEMO_SFT_STEPS")

# train_stage NAME CONFIG INIT DATA VAL_DATA [FLAGS...]: a fresh run in $OUT/NAME, timed.
train_stage() {
    local name=$1 config=$2 init=$3 data=$4 val=$5 t0
    shift 5
    t0=$(now)
    rm -rf "${OUT:?}/$name"
    $NP train --config "$config" --init "$init" --data "$data" --val-data "$val" \
        --out "$OUT/$name" --threads "$THREADS" "$@"
    stage "$name" "$t0"
}

echo "== 4. pretraining on plain text ($PRETRAIN_DATA)"
train_stage pretrain configs/demo_pretrain.json "$OUT/nano-init" "$PRETRAIN_DATA" \
    "$D/shards/gym_text" "${STEPS_PRE[@]}"

echo "== 5. thinking SFT (chat format, loss on the assistant's tokens only)"
train_stage sft "${DEMO_SFT_CONFIG:-configs/demo_sft.json}" "$OUT/pretrain/final" "$D/shards/sft" "$D/shards/sft" \
    "${STEPS_SFT[@]}"
stage training "$T_ALL"
$NP plot "$OUT/pretrain"
$NP plot "$OUT/sft"

echo "== 6. held-out evaluation: $EVAL_N problems (3-digit addition, en + it, held-out phrasings)"
MODEL=$OUT/sft/final
for mode in off on auto; do
    T0=$(now)
    $NP eval --model "$MODEL" --data "$D/eval.jsonl" --think $mode --max-tokens 200 \
        --out "$OUT/eval_$mode.json" >/dev/null
    stage "eval_$mode" "$T0"
done

echo "== 7. one chat turn (thinking auto: the model decides)"
$NP generate --model "$MODEL" --chat --think auto --temperature 0 --max-tokens 200 \
    --prompt "Quanto fa 487 + 356?"
echo

echo "== summary"
$PY - "$OUT" <<'PYEOF'
import json, sys
out = sys.argv[1]
def last(run, key):
    rows = [json.loads(l) for l in open(f"{out}/{run}/metrics.jsonl")]
    vals = [r[key] for r in rows if key in r]
    return vals[-1] if vals else float("nan")
for run in ("pretrain", "sft"):
    print(f"{run:9s} final train loss {last(run, 'loss'):.3f}  val loss {last(run, 'val_loss'):.3f}"
          f"  ({last(run, 'step')} steps, {last(run, 'tokens') / 1e6:.2f}M tokens)")
acc = {}
for mode in ("off", "on", "auto"):
    r = json.load(open(f"{out}/eval_{mode}.json"))
    acc[mode] = 100 * r["accuracy"]
    print(f"thinking {mode:4s}: {acc[mode]:5.1f}% of {r['n']}  (mean thinking tokens "
          f"{r.get('mean_thinking_tokens', 0):.0f})")
print(f"thinking gain: {acc['on'] - acc['off']:+.1f} points (on - off)")
PYEOF
for s in data pretrain sft training eval_off eval_on eval_auto; do
    printf "time %-9s %5ss\n" "$s" "${SECONDS_OF[$s]}"
done
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows every stage)"
echo "(training = model, data, tokenizer, shards, pretraining and SFT; curves: $OUT/pretrain/metrics.svg,"
echo " $OUT/sft/metrics.svg; the model: $MODEL; talk to it with: $NP chat --model $MODEL)"
