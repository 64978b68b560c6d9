#!/usr/bin/env bash
# End-to-end check of `nanoprime gym`, `gym score`, `data prepare`, `data config`, `data sample` and
# `data inspect` through the CLI. Usage: data_cli.sh path/to/nanoprime
set -euo pipefail
NP=${1:?usage: data_cli.sh path/to/nanoprime}
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Gym: every task, both languages; perfect outputs score 100%, shuffled ones do not.
"$NP" gym --task all --n 66 --lang both --difficulty 2 --seed 3 --out "$T/gym.jsonl" 2>/dev/null
[ "$(wc -l < "$T/gym.jsonl")" -eq 66 ] || fail "gym wrote $(wc -l < "$T/gym.jsonl") lines"
"$NP" gym --task all --n 66 --lang both --difficulty 2 --seed 3 --out - | cmp -s - "$T/gym.jsonl" || fail "gym not deterministic"
"$PY" - "$T" <<'PYEOF'
import json, sys
t = sys.argv[1]
recs = [json.loads(l) for l in open(f"{t}/gym.jsonl")]
assert {r["lang"] for r in recs} == {"en", "it"}
assert all(set(r) == {"task", "lang", "difficulty", "family", "question", "thinking", "answer"} for r in recs)
with open(f"{t}/good.jsonl", "w") as f:
    for r in recs: f.write(json.dumps({"output": "<think>\n" + r["thinking"] + "\n</think>\n\n" + r["answer"]}) + "\n")
with open(f"{t}/bad.jsonl", "w") as f:
    for i, r in enumerate(recs): f.write(json.dumps(recs[(i + 1) % len(recs)]["answer"] + " x") + "\n")
PYEOF
"$NP" gym score --data "$T/gym.jsonl" --outputs "$T/good.jsonl" --report "$T/report.json" | grep -q "overall *66 / *66" || fail "perfect outputs not all correct"
"$NP" gym score --data "$T/gym.jsonl" --outputs "$T/bad.jsonl" | grep -q "overall *66 / *66" && fail "wrong outputs scored perfect"
if "$NP" gym --task nope --out "$T/x.jsonl" 2>"$T/err"; then fail "unknown task accepted"; fi
grep -q "unknown task" "$T/err" || fail "unknown task message: $(cat "$T/err")"

# data prepare with the byte-level encoder: text, gym records, GSM8K-style and a malformed line.
printf 'Il gatto dorme.\n\nThe cat sleeps.\n' > "$T/a.txt"
{ head -n 20 "$T/gym.jsonl"; echo '{"question": "q", "answer": "a <<1+1=2>>2\n#### 2"}'; echo '{broken'; } > "$T/b.jsonl"
"$NP" data prepare --input "$T/a.txt" "$T/b.jsonl" --tokenizer bytes --out "$T/shards" --val-fraction 0.2 --seed 1 \
    > "$T/prep.out" 2> "$T/prep.err"
grep -q "b.jsonl:22" "$T/prep.err" || fail "malformed line not reported with file:line"
"$PY" - "$T" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1] + "/shards/summary.json"))
assert s["malformed_lines"] == 1, s
assert s["documents"]["total"] == 23, s
assert s["documents"]["chat"] == 21, s
assert s["tokens"]["total"] > 0 and s["tokens_per_word"] > 1, s
PYEOF
"$NP" data inspect "$T/shards/train_00000.npts" -n 3 | grep -q "ok," || fail "inspect"

# Mixture: config, determinism, resume from a saved state, rank sharding.
"$NP" data config --en "$T/none_en" --it "$T/none_it" --instructions "$T/shards" --out "$T/data.json" >/dev/null
"$NP" data sample --config "$T/data.json" --rows 2 --len 16 --batches 4 2>/dev/null > "$T/s1"
"$NP" data sample --config "$T/data.json" --rows 2 --len 16 --batches 4 2>/dev/null | cmp -s - "$T/s1" || fail "sampler not deterministic"
"$NP" data sample --config "$T/data.json" --rows 2 --len 16 --batches 2 --state-out "$T/state.json" 2>/dev/null > "$T/s2a"
"$NP" data sample --config "$T/data.json" --rows 2 --len 16 --batches 2 --state-in "$T/state.json" 2>/dev/null > "$T/s2b"
diff <(cut -d' ' -f3- "$T/s1") <(cat "$T/s2a" "$T/s2b" | cut -d' ' -f3-) >/dev/null || fail "resume differs"
"$NP" data sample --config "$T/data.json" --rows 4 --len 8 --ids 2>/dev/null | tail -n 4 > "$T/all"
for r in 0 1; do "$NP" data sample --config "$T/data.json" --rows 2 --len 8 --ids --rank $r --world 2 2>/dev/null | tail -n 2 > "$T/r$r"; done
diff <(sed -n '1p;3p' "$T/all") "$T/r0" >/dev/null || fail "rank 0 rows"
diff <(sed -n '2p;4p' "$T/all") "$T/r1" >/dev/null || fail "rank 1 rows"

# A corrupt shard is refused with its name.
cp "$T/shards/train_00000.npts" "$T/bad.npts"; printf 'XXXX' | dd of="$T/bad.npts" bs=1 seek=50 conv=notrunc 2>/dev/null
if "$NP" data inspect "$T/bad.npts" 2>"$T/err" >/dev/null; then fail "corrupt shard accepted"; fi
grep -q "bad.npts: checksum mismatch" "$T/err" || fail "corrupt shard message: $(cat "$T/err")"
# Input that is not text is refused, naming the file and line; nothing is left behind.
head -c 200000 /dev/urandom > "$T/random.txt"
if "$NP" data prepare --input "$T/random.txt" --tokenizer bytes --out "$T/rnd" --quiet \
    >/dev/null 2>"$T/err"; then fail "random bytes accepted as text"; fi
grep -q "random.txt:[0-9]*: not UTF-8 text" "$T/err" || fail "random bytes: $(tail -n 2 "$T/err")"
[ -z "$(ls -d "$T"/rnd* 2>/dev/null)" ] || fail "a failed prepare left $(ls -d "$T"/rnd*)"
: > "$T/empty.txt"
if "$NP" data prepare --input "$T/empty.txt" --tokenizer bytes --out "$T/emp" >/dev/null 2>"$T/err"; then
    fail "an empty input accepted"; fi
grep -q "no documents" "$T/err" || fail "empty input: $(cat "$T/err")"
[ ! -e "$T/emp" ] || fail "an empty input left its output folder"
# One record with invalid UTF-8 among good ones: reported with file:line, skipped.
{ head -n 5 "$T/gym.jsonl"; printf '{"text": "caf\xe9 latin-1"}\n'; head -n 5 "$T/gym.jsonl"; } > "$T/mixed.jsonl"
"$NP" data prepare --input "$T/mixed.jsonl" --tokenizer bytes --out "$T/shards" --quiet >/dev/null 2>"$T/err"
grep -q "mixed.jsonl:6: not UTF-8 text: byte 0xE9 at column 14" "$T/err" || fail "invalid UTF-8: $(cat "$T/err")"
"$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['malformed_lines'] == 1 and s['documents']['total'] == 10, s" "$T/shards/summary.json"
echo "data_cli: ok"
