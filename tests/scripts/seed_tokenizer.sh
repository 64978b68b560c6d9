#!/usr/bin/env bash
# A Hugging Face tokenizer end to end: the seed's 32k BPE (../shared/data/seed-tokenizer, which has
# no think tokens and spells its pad <|padding|>) prepares chat data, trains, exports and chats;
# NanoPrime's missing specials are appended after its last id and every existing id is kept.
# Usage: seed_tokenizer.sh PATH/TO/nanoprime
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
SEED=${NP_SHARED_DIR:-$(dirname "$0")/../../../shared}/data/seed-tokenizer
[ -f "$SEED/tokenizer.json" ] || { echo "skip: $SEED not found"; exit 77; }

"$CLI" gym --task addition --difficulty 1-2 --n 40 --seed 1 --out gym.jsonl >/dev/null 2>&1
"$CLI" data prepare --input gym.jsonl --tokenizer "$SEED" --out shards --quiet >/dev/null 2>prep.err
grep -q "added after its last id" prep.err || { cat prep.err; fail "no note about the added tokens"; }
"$PY" - <<'PY' || fail "the shards' tokenizer"
import json
j = json.load(open('shards/tokenizer.json'))
added = {a['content']: a['id'] for a in j['added_tokens']}
assert added['<think>'] == 32043 and added['</think>'] == 32044, added
assert added['<|endoftext|>'] == 0 and added['<|padding|>'] == 1 and added['<|im_end|>'] == 3
s = json.load(open('shards/summary.json'))
assert s['documents']['chat'] == 40 and s['loss_tokens']['train'] > 0, s
PY
# The same ids as the Hugging Face tokenizer gives, for text without the new tokens.
printf 'Quanto fa 245 + 318?' | "$CLI" tokenize --tokenizer "$SEED" --ids-only >raw.txt
printf 'Quanto fa 245 + 318?' | "$CLI" tokenize --tokenizer shards/tokenizer.json --ids-only >aug.txt
cmp -s raw.txt aug.txt || fail "ids changed: $(cat raw.txt) vs $(cat aug.txt)"

write_micro_model_json 32045 128
"$CLI" init --config model.json --out init --seed 1 >/dev/null
"$CLI" train --init init --data shards --steps 2 --batch 2 --seq 64 --out run --quiet >/dev/null
"$CLI" export --ckpt run/final --out m.gguf >/dev/null
"$CLI" info m.gguf --json >info.json
"$PY" -c "
import json; m = json.load(open('info.json'))['metadata']
assert (m['tokenizer.ggml.bos_token_id'], m['tokenizer.ggml.eos_token_id'], m['tokenizer.ggml.padding_token_id']) == (0, 3, 1), m
" || fail "GGUF special ids"
"$CLI" generate -m m.gguf -p "Quanto fa 2 + 2?" --chat --think on -n 6 --temp 0 --json >gen.json 2>/dev/null
"$PY" -c "
import json; g = json.load(open('gen.json'))
assert g['text'].startswith('<think>'), g
" || fail "chat on the exported model"
echo "seed tokenizer: ok"
