#!/usr/bin/env bash
# `nanoprime generate` and `nanoprime chat` end to end on a tiny random checkpoint: raw and chat
# prompts, --json, seeding, stop strings, the think budget, a piped chat session with its
# commands, and clear errors for a missing model and bad flags.
# Usage: generate_cli.sh PATH/TO/nanoprime
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # CLI, PY, a temp dir, fail, expect_error, ...

write_micro_model_json
"$CLI" init --config model.json --out ckpt --seed 3 >/dev/null
train_tiny_tokenizer tok.json

# Errors: a missing model, a model without tokenizer, bad flags.
expect_error "nope" generate --model nope --prompt hi
expect_error "tokenizer" generate --model ckpt --prompt hi
cp tok.json ckpt/tokenizer.json
expect_error "--top-p" generate --model ckpt --prompt hi --top-p 1.5
expect_error "--top-p" chat --model ckpt --top-p 0
expect_error "--temperature" generate --model ckpt --prompt hi --temperature -1
expect_error "--min-p" generate --model ckpt --prompt hi --min-p 1
expect_error "--top-k" generate --model ckpt --prompt hi --top-k -1
expect_error "--repeat-penalty" generate --model ckpt --prompt hi --repeat-penalty 0
expect_error "--presence-penalty" generate --model ckpt --prompt hi --presence-penalty 3
expect_error "--frequency-penalty" chat --model ckpt --frequency-penalty -2.5
expect_error "--max-tokens" generate --model ckpt --prompt hi -n 0
expect_error "--think-budget" generate --model ckpt --prompt hi --think-budget -5
expect_error "--think" generate --model ckpt --prompt hi --chat --think maybe
expect_error "--chat" generate --model ckpt --prompt hi --think on
expect_error "--stop" generate --model ckpt --prompt hi --stop ""
expect_error "--seed" generate --model ckpt --prompt hi --seed -7
expect_error "--prompt" generate --model ckpt
expect_error "--prompt-file" generate --model ckpt --prompt-file missing.txt
expect_error "--think" chat --model ckpt --think sometimes

# Raw continuation: streamed text on stdout, a stats line on stderr, reproducible with --seed.
"$CLI" generate --model ckpt --prompt "What is 12 +" -n 12 --seed 5 >raw1.txt 2>stats.txt
"$CLI" generate --model ckpt --prompt "What is 12 +" -n 12 --seed 5 >raw2.txt 2>/dev/null
cmp -s raw1.txt raw2.txt || fail "same seed, different output"
grep -q "prompt .* tokens, .* tok/s | generated .* tokens, .* tok/s" stats.txt ||
    { cat stats.txt; fail "no stats line"; }
echo -n "What is 12 +" > prompt.txt
"$CLI" generate --model ckpt --prompt-file prompt.txt -n 12 --seed 5 >raw3.txt 2>/dev/null
cmp -s raw1.txt raw3.txt || fail "--prompt-file differs from --prompt"
"$CLI" generate --model ckpt --prompt "What is 12 +" -n 12 --temperature 0 --json >greedy.json 2>/dev/null
"$CLI" generate --model ckpt --prompt "What is 12 +" -n 12 --seed 77 --top-k 5 --top-p 0.9 \
    --min-p 0.1 --repeat-penalty 1.3 --repeat-last-n 8 --json >sampled.json 2>/dev/null

# Chat prompt, thinking on with a budget: the think block is shown as plain tags off a terminal.
"$CLI" generate --model ckpt --prompt "What is 2 + 2?" --chat --think on --think-budget 2 -n 12 \
    --seed 1 >think.txt 2>/dev/null
head -c 8 think.txt | grep -q "<think>" || { cat think.txt; fail "think block not shown"; }
"$CLI" generate --model ckpt --prompt "What is 2 + 2?" --chat --think on --think-budget 2 -n 12 \
    --seed 1 --json >think.json 2>/dev/null
"$CLI" generate --model ckpt --prompt "What is 2 + 2?" --chat --think off -n 8 --seed 1 \
    --json >off.json 2>/dev/null

"$PY" - <<'PY'
import json
for name in ['greedy.json', 'sampled.json', 'think.json', 'off.json']:
    j = json.load(open(name))
    for k in ['text', 'thinking', 'answer', 'tokens', 'stop_reason', 'timings']:
        assert k in j, (name, k)
    assert j['stop_reason'] in ('end_of_turn', 'stop_string', 'max_tokens'), j
    for k in ['prompt_tokens', 'prompt_tok_s', 'generated_tokens', 'gen_tok_s']:
        assert k in j['timings'], (name, k)
    assert j['timings']['generated_tokens'] == len(j['tokens'])
    assert 1 <= len(j['tokens']) <= 12
t = json.load(open('think.json'))
assert t['text'].startswith('<think>\n'), t['text']
assert t['thinking_tokens'] <= 2, t
assert '</think>' in t['text'] or t['stop_reason'] == 'end_of_turn', t
assert t['text'] == open('think.txt', encoding='utf-8', errors='replace').read().rstrip('\n') or '\ufffd' in t['text']
o = json.load(open('off.json'))
assert '<think>' not in o['text'], o['text']  # off's empty block is the prompt's
assert o['thinking'] == ''
g = json.load(open('greedy.json'))
# A stop string from two ASCII characters of the greedy output, to cut it there.
text = g['text']
pos = next((i for i in range(1, len(text) - 1) if text[i:i + 2].isascii()
            and text[i:i + 2].strip() and '<' not in text[i:i + 2] and '>' not in text[i:i + 2]), None)
assert pos is not None, text
stop = text[pos:pos + 2]
open('stop.txt', 'w').write(stop)
open('want.txt', 'w').write(text[:text.find(stop)])
PY
STOP=$(cat stop.txt)
"$CLI" generate --model ckpt --prompt "What is 12 +" -n 12 --temperature 0 --stop "$STOP" \
    --stop "zzzz" --json >stopped.json 2>/dev/null
"$PY" - <<'PY'
import json
j = json.load(open('stopped.json'))
assert j['stop_reason'] == 'stop_string', j
assert j['text'] == open('want.txt').read(), (j['text'], open('want.txt').read())
PY

# Chat: two turns, /think, an unknown command, /reset, a third turn, /quit (later lines unread).
printf 'What is 2 + 2?\nAnd 3 + 3?\n/think on\n/bogus\n/reset\n\nhello\n/quit\nnever read\n' |
    "$CLI" chat --model ckpt --system "Be brief." --think off -n 6 --seed 1 >chat.txt 2>chat_err.txt
grep -q "nanoprime chat" chat_err.txt || { cat chat_err.txt; fail "no banner"; }
grep -q "decoder" chat_err.txt || { cat chat_err.txt; fail "banner lacks the decoder"; }
[ "$(grep -c '^\[prompt ' chat_err.txt)" = 3 ] || { cat chat_err.txt; fail "expected 3 replies"; }
grep -q "conversation cleared" chat_err.txt || fail "/reset not acknowledged"
grep -q "think on" chat_err.txt || fail "/think not acknowledged"
grep -q "unknown command /bogus" chat_err.txt || fail "unknown command not reported"
# Two replies with thinking off show no block, the one after /think on shows its block.
[ "$(grep -c '<think>' chat.txt)" = 1 ] || { cat chat.txt; fail "think blocks of the replies"; }
# EOF ends the session too; --reference runs the fp32 reference decoder.
printf 'hi\n' | "$CLI" chat --model ckpt -n 4 --seed 2 --think-budget 1 --reference \
    >/dev/null 2>eof_err.txt || fail "chat failed on EOF"
[ "$(grep -c '^\[prompt ' eof_err.txt)" = 1 ] || { cat eof_err.txt; fail "expected 1 reply"; }
grep -q "reference fp32" eof_err.txt || { cat eof_err.txt; fail "--reference not used"; }
"$CLI" generate --model ckpt --prompt "What is 12 +" -n 12 --temperature 0 --reference \
    --json >ref.json 2>/dev/null
"$PY" -c "import json; assert json.load(open('ref.json'))['decoder'] == 'reference fp32'"
echo "generate_cli: ok"
