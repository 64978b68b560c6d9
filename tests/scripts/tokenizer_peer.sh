#!/usr/bin/env bash
# Peer check: NanoPrime's tokenizer must give exactly the ids of Hugging Face tokenizers (the Rust
# library, npm package `tokenizers`, installed by `npm ci --prefix tests/peer`) on a few thousand
# generated lines (English, Italian, code, numbers, emoji, odd whitespace) plus GSM8K text, for the
# seed tokenizer, a tokenizer we train, and the seed re-saved by us. Exit 77 (skip) without node or
# the npm package.
set -euo pipefail
CLI=${1:?usage: tokenizer_peer.sh path/to/nanoprime}
SRC=${NP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SHARED=${NP_SHARED_DIR:-$SRC/../shared}
PEER=$SRC/tests/peer
SEED=$SHARED/data/seed-tokenizer/tokenizer.json

if ! command -v node >/dev/null || ! (cd "$PEER" && node -e 'require("tokenizers")' 2>/dev/null); then
    echo "SKIP: npm package 'tokenizers' not installed (run: npm ci --prefix tests/peer)"
    exit 77
fi
[[ -f $SEED ]] || { echo "SKIP: seed tokenizer not found at $SEED"; exit 77; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

node "$PEER/gen_lines.js" 3000 > "$TMP/lines.jsonl"
GSM=$SHARED/data/gsm8k/train.jsonl
if [[ -f $GSM ]]; then
    head -n 300 "$GSM" | node -e '
        const rl = require("readline").createInterface({input: process.stdin});
        rl.on("line", (l) => { const r = JSON.parse(l);
            console.log(JSON.stringify(r.question)); console.log(JSON.stringify(r.answer)); });' \
        >> "$TMP/lines.jsonl"
fi
node "$PEER/gen_lines.js" 20000 --corpus > "$TMP/corpus.txt"
"$CLI" tokenizer train --input "$TMP/corpus.txt" --vocab 1200 --out "$TMP/trained.json" 2>/dev/null
"$CLI" tokenizer convert --in "$SEED" --out "$TMP/seed_resaved.json"
# The seed with the added-token flags exercised: single_word, lstrip, rstrip, normalized.
node -e '
    const fs = require("fs");
    const t = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const set = {ciao: {single_word: true}, grazie: {lstrip: true}, prego: {rstrip: true},
        mondo: {normalized: true}, questo: {lstrip: true, rstrip: true, single_word: true},
        "<|im_end|>": {lstrip: true, rstrip: true}, "<|im_start|>": {normalized: true}};
    for (const a of t.added_tokens) Object.assign(a, set[a.content] || {});
    fs.writeFileSync(process.argv[2], JSON.stringify(t));' "$SEED" "$TMP/seed_flags.json"

lines=$(wc -l < "$TMP/lines.jsonl")
fail=0
for tok in "$SEED" "$TMP/trained.json" "$TMP/seed_resaved.json" "$TMP/seed_flags.json"; do
    for mode in plain specials; do
        flag=""; [[ $mode == specials ]] && flag="--specials"
        "$CLI" tokenize --tokenizer "$tok" --ids-only --json-lines $flag < "$TMP/lines.jsonl" > "$TMP/ours.txt"
        node "$PEER/peer_encode.js" "$tok" "$mode" < "$TMP/lines.jsonl" > "$TMP/peer.txt"
        if cmp -s "$TMP/ours.txt" "$TMP/peer.txt"; then
            echo "ok: $(basename "$tok") $mode: $lines lines identical"
        else
            fail=1
            n=$(cmp "$TMP/ours.txt" "$TMP/peer.txt" | sed -n 's/.* line \([0-9]*\).*/\1/p')
            echo "MISMATCH: $(basename "$tok") $mode, first at line $n:"
            echo "  text: $(sed -n "${n}p" "$TMP/lines.jsonl")"
            echo "  ours: $(sed -n "${n}p" "$TMP/ours.txt")"
            echo "  peer: $(sed -n "${n}p" "$TMP/peer.txt")"
            echo "  differing lines: $(diff <(cat "$TMP/ours.txt") "$TMP/peer.txt" | grep -c '^<' || true)"
        fi
    done
done
exit $fail
