#!/usr/bin/env bash
# End-to-end check of the problem-set options of `nanoprime gym`: difficulty ranges, direct answers
# (and how `data prepare` renders and masks them), held-out exclusion, --unique, task lists and
# plain-text documents. Usage: gym_cli.sh path/to/nanoprime
set -euo pipefail
NP=${1:?usage: gym_cli.sh path/to/nanoprime}
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

ARITH=(--task addition,subtraction --lang both)
"$NP" gym "${ARITH[@]}" --n 80 --difficulty 2-3 --seed 7 --unique --out "$T/eval.jsonl" 2>/dev/null
"$NP" gym "${ARITH[@]}" --n 400 --difficulty 1-4 --direct-max-difficulty 1 --seed 7 \
    --exclude "$T/eval.jsonl" --out "$T/train.jsonl" 2>"$T/msg"
grep -q "wrote 400 problems ([0-9]* answered directly)" "$T/msg" || fail "summary line: $(cat "$T/msg")"
"$NP" gym "${ARITH[@]}" --n 400 --difficulty 1-4 --direct-max-difficulty 1 --seed 7 \
    --exclude "$T/eval.jsonl" --out - | cmp -s - "$T/train.jsonl" || fail "gym set not deterministic"
"$NP" gym "${ARITH[@]}" --n 400 --difficulty 1-4 --seed 7 --text --out "$T/text.jsonl" 2>/dev/null
"$NP" gym "${ARITH[@]}" --n 400 --difficulty 1-4 --seed 7 --text --out "$T/text.txt" 2>/dev/null

"$PY" - "$T" <<'PYEOF' || fail "set contents"
import json, sys
t = sys.argv[1]
load = lambda n: [json.loads(l) for l in open(f"{t}/{n}")]
ev, tr, tx = load("eval.jsonl"), load("train.jsonl"), load("text.jsonl")
assert len(ev) == 80 and len(tr) == 400 and len(tx) == 400
qs = [r["question"] for r in ev]
assert len(set(qs)) == 80, "--unique left repeats"
assert all(r["difficulty"] in (2, 3) for r in ev)
assert not set(qs) & {r["question"] for r in tr}, "held-out question in the training set"
assert {r["difficulty"] for r in tr} == {1, 2, 3, 4}
assert {r["task"] for r in tr} == {"addition", "subtraction"} and {r["lang"] for r in tr} == {"en", "it"}
for r in tr:
    assert (r["thinking"] == "") == (r["difficulty"] == 1), r
for r in tx:
    assert set(r) == {"text"} and r["text"].count("\n") >= 2
# Plain text: the same documents, a blank line after each.
assert open(f"{t}/text.txt").read() == "".join(r["text"] + "\n\n" for r in tx)
PYEOF

# data prepare renders a direct answer as the empty think block, with the loss on all of it.
head -n 1 "$T/eval.jsonl" | "$PY" -c 'import json,sys; r=json.loads(sys.stdin.read()); r["thinking"]=""; print(json.dumps(r))' > "$T/direct.jsonl"
"$NP" data prepare --input "$T/direct.jsonl" --tokenizer bytes --out "$T/shards" --val-fraction 0 --quiet >/dev/null
"$NP" data inspect "$T/shards/train_00000.npts" -n 200 > "$T/inspect.txt"
"$PY" - "$T" <<'PYEOF' || fail "direct answer rendering"
import json, sys
t = sys.argv[1]
answer = json.loads(open(f"{t}/direct.jsonl").read())["answer"]
rows = [l.split() for l in open(f"{t}/inspect.txt") if l.split() and l.split()[0].isdigit()]
ids, mask = [int(r[1]) for r in rows], [int(r[2]) for r in rows]
# Byte encoder: byte b is id 6 + b. <think> 4, </think> 5, <|im_end|> 3.
turn = [4, 6 + 10, 6 + 10, 5, 6 + 10, 6 + 10] + [6 + b for b in answer.encode()] + [3]
start = ids.index(4)
assert ids[start:start + len(turn)] == turn, ids[start:]
assert mask == [1 if start <= j < start + len(turn) else 0 for j in range(len(ids))], mask
PYEOF
"$NP" gym --task addition --difficulty 4-2 --out "$T/x.jsonl" 2>"$T/err" && fail "bad range accepted"
grep -q -- "--difficulty must be D or A-B" "$T/err" || fail "range error: $(cat "$T/err")"
"$NP" gym --task addition,nope --out "$T/x.jsonl" 2>"$T/err" && fail "bad task list accepted"
grep -q 'unknown task "nope"' "$T/err" || fail "task error: $(cat "$T/err")"
# --split: held-out families never appear in a training set; --list names them (starred).
"$NP" gym --list > "$T/list.txt"
grep -q "^addition: difficulty d = " "$T/list.txt" || fail "gym --list: $(head -3 "$T/list.txt")"
"$NP" gym --task all --lang both --difficulty 1-3 --split train --n 600 --seed 4 --out "$T/tr.jsonl" 2>/dev/null
"$NP" gym --task all --lang both --difficulty 1-3 --split heldout --n 600 --seed 4 --out "$T/ho.jsonl" 2>/dev/null
"$PY" - "$T" <<'PYEOF' || fail "splits"
import json, re, sys
t = sys.argv[1]
held = {}
for line in open(f"{t}/list.txt"):
    m = re.match(r"^(\w+): difficulty", line)
    if m: task = m.group(1)
    m = re.match(r"^  (en|it): \d+ frames, \d+ held out:(.*)$", line)
    if m:
        for f in m.group(2).split():
            name = f[:f.index("(")]
            held[(task, m.group(1), name.rstrip("*"))] = name.endswith("*")
load = lambda n: [json.loads(l) for l in open(f"{t}/{n}")]
tr, ho = load("tr.jsonl"), load("ho.jsonl")
assert all(held[(r["task"], r["lang"], r["family"])] is False for r in tr)
assert all(held[(r["task"], r["lang"], r["family"])] is True for r in ho)
assert len({r["task"] for r in ho}) == len({k[0] for k in held}) == 14
PYEOF
"$NP" gym --split test --out "$T/x.jsonl" 2>"$T/err" && fail "bad --split accepted"
grep -q -- "--split must be train, heldout or all" "$T/err" || fail "split error: $(cat "$T/err")"
echo "gym_cli: ok"
