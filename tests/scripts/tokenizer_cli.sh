#!/usr/bin/env bash
# End-to-end: `nanoprime tokenizer train` (deterministic across --threads, specials at 0..5),
# `tokenizer convert`, `tokenize` (ids, pieces, --specials), and errors naming the bad input.
set -euo pipefail
CLI=${1:?usage: tokenizer_cli.sh path/to/nanoprime}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for i in $(seq 1 3000); do
    echo "Line $i: the quick brown fox, la volpe veloce e il cane pigro; it's $((i * 37)) euro."
done > "$TMP/a.txt"
printf 'Perché la città è più bella? Costa 1234 euro.\n%.0s' $(seq 1 500) > "$TMP/b.txt"

"$CLI" tokenizer train --input "$TMP/a.txt" "$TMP/b.txt" --vocab 500 --out "$TMP/t1.json" --threads 1 2> "$TMP/log"
grep -q "merges" "$TMP/log" || fail "no progress output"
"$CLI" tokenizer train --input "$TMP/a.txt" "$TMP/b.txt" --vocab 500 --out "$TMP/t2.json" --threads 2 2>/dev/null
cmp -s "$TMP/t1.json" "$TMP/t2.json" || fail "training differs between 1 and 2 threads"

out=$(printf '<|im_end|>' | "$CLI" tokenize --tokenizer "$TMP/t1.json" --ids-only)
for id in $out; do (( id > 5 )) || fail "plain text gave special id $id"; done
out=$(printf '<|im_start|>x<think>' | "$CLI" tokenize --tokenizer "$TMP/t1.json" --ids-only --specials)
[[ $out == 2\ *\ 4 ]] || fail "--specials: got '$out'"
out=$(printf '2024' | "$CLI" tokenize --tokenizer "$TMP/t1.json" 2>/dev/null | cut -f2 | tr '\n' ' ')
[[ $out == "2 0 2 4 " ]] || fail "digits not split: '$out'"

"$CLI" tokenizer convert --in "$TMP/t1.json" --out "$TMP/t3.json" --gpt2-out "$TMP/gpt2"
cmp -s "$TMP/t1.json" "$TMP/t3.json" || fail "convert changed tokenizer.json"
[[ -s $TMP/gpt2/vocab.json && -s $TMP/gpt2/merges.txt ]] || fail "no vocab.json/merges.txt"

if "$CLI" tokenize --tokenizer "$TMP/missing.json" < /dev/null 2> "$TMP/err"; then fail "missing file accepted"; fi
grep -q "missing.json" "$TMP/err" || fail "error does not name the file: $(cat "$TMP/err")"
"$CLI" tokenizer train --help | grep -q -- "--vocab" || fail "train --help"
echo "tokenizer_cli: all checks passed"
