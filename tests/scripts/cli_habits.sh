#!/usr/bin/env bash
# The command-line habits users bring from llama.cpp: short flags (-m -p -f -n -t -c -s --temp)
# give the same output as the long ones, -f - reads stdin, --version and unknown commands answer
# clearly; and the inputs those commands used to accept without complaint are refused, naming the
# flag or file: a prompt file that is a directory, a prompt longer than the context, negative
# ranges, a cut or mismatched checkpoint in `info`, plot overwriting a file. Progress written to a
# file ends each update with a newline; --think off shows no think block.
# Usage: cli_habits.sh PATH/TO/nanoprime
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

write_micro_model_json 320 256
"$CLI" init --config model.json --out ckpt --seed 3 >/dev/null
train_tiny_tokenizer ckpt/tokenizer.json

"$CLI" --version | grep -Eq "^nanoprime [0-9]+\.[0-9]+\.[0-9]+$" || fail "--version"
rc=0
"$CLI" genrate -m ckpt >out.txt 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "unknown command: exit $rc"
grep -q "unknown command 'genrate' (did you mean 'generate'?)" out.txt || { cat out.txt; fail "unknown command message"; }

# Short and long spellings, prompt from a file and from stdin: the same greedy text.
"$CLI" generate --model ckpt --prompt "What is 2 + 2?" --max-tokens 8 --temperature 0 \
    --threads 1 --ctx-size 64 --seed 1 >long.txt 2>/dev/null
"$CLI" generate -m ckpt -p "What is 2 + 2?" -n 8 --temp 0 -t 1 -c 64 -s 1 >short.txt 2>/dev/null
printf 'What is 2 + 2?' >prompt.txt
"$CLI" generate -m ckpt -f prompt.txt --n-predict 8 --temp 0 >file.txt 2>/dev/null
"$CLI" generate -m ckpt -f - -n 8 --temp 0 <prompt.txt >stdin.txt 2>/dev/null
for f in short.txt file.txt stdin.txt; do
    cmp -s long.txt $f || { diff long.txt $f; fail "$f differs from the long-flag output"; }
done
[ -s long.txt ] || fail "no output"

expect_error "directory" generate -m ckpt -f .
expect_error "ctx-size" generate -m ckpt -p "$(printf 'word %.0s' $(seq 100))" -c 16
expect_error "threads" generate -m ckpt -p hi -t -2
expect_error "ctx-size" generate -m ckpt -p hi -c -1

# --think off: the empty block is part of the prompt, not of the reply.
"$CLI" generate -m ckpt -p "What is 2 + 2?" --chat --think off -n 6 --temp 0 >off.txt 2>/dev/null
grep -q "think>" off.txt && { cat off.txt; fail "--think off printed a think block"; }

# Chat: /help lists the commands.
printf '/help\n/budget x\n/quit\n' | "$CLI" chat -m ckpt -n 4 >chat.txt 2>chat.err
grep -q "/think on|off|auto" chat.err || { cat chat.err; fail "/help"; }
grep -q "/budget: expected an integer" chat.err || { cat chat.err; fail "/budget x accepted"; }

# eval: ranges, and one progress line per update when stderr is a file.
"$CLI" gym --task addition --difficulty 1 --n 20 --seed 1 --out gym.jsonl >/dev/null
expect_error "--limit" eval -m ckpt --data gym.jsonl --limit -3
"$CLI" eval -m ckpt --data gym.jsonl -n 4 -t 1 --think off >/dev/null 2>eval.err
[ "$(grep -c '^\[eval\] [0-9]*/20$' eval.err)" -ge 10 ] || { cat -A eval.err; fail "eval progress lines"; }

# info: -m and -c spellings, negative context, a cut or mismatched checkpoint.
"$CLI" info -m ckpt -c 32 --json >info.json
"$PY" -c "import json; assert json.load(open('info.json'))['ctx'] == 32"
expect_error "ctx" info ckpt --ctx -5
cp -r ckpt cut && head -c 8 ckpt/model.safetensors >cut/model.safetensors
expect_error "cut/model.safetensors" info cut
cp -r ckpt mism && sed -i 's/"n_layers": 2/"n_layers": 3/' mism/config.json
expect_error "mism" info mism

# plot refuses to overwrite a file unless --force.
echo "keep" >mine.svg
printf '{"step":1,"loss":2.0,"lr":0.001,"grad_norm":1.0,"tokens":10,"tok_s":5.0,"elapsed":1.0,"skipped":false}\n' >metrics.jsonl
mkdir -p r && cp metrics.jsonl r/
expect_error "--force" plot r --out mine.svg
grep -q keep mine.svg || fail "plot overwrote a file"
"$CLI" plot r --out mine.svg --force >/dev/null
grep -q "<svg" mine.svg || fail "plot --force"
echo "cli habits: ok"
