#!/usr/bin/env bash
# Builds a small English + Italian text corpus, offline, from Debian packages on this machine:
# fortunes (fortune-mod, fortunes, fortunes-it), manual pages (manpages, manpages-it) and the
# Debian Reference (debian-reference-en, debian-reference-it). Whatever is installed is used;
# nothing installed means empty output files (the demo then trains on gym data only).
#
#   scripts/build_corpus.sh [--install] [--out DIR] [--max-man N] [--nanoprime BIN --tokenizer T]
#
#   --install      apt-get install the packages above first (needs root and Debian apt)
#   --out DIR      output directory (default corpus/)
#   --max-man N    at most N manual pages per language (default 3000)
#   --nanoprime, --tokenizer  also run `nanoprime data prepare` into DIR/shards/{en,it}
#
# Output: DIR/en.jsonl and DIR/it.jsonl, one {"text": ...} document per line: whitespace
# normalised, control characters and man-page overstrikes removed, documents under 40 characters
# dropped, exact duplicates (after normalisation) removed. Needs bash, gzip, groff and python3.
set -euo pipefail

OUT=corpus; INSTALL=0; MAX_MAN=3000; NP=""; TOK=""
while [ $# -gt 0 ]; do
    case "$1" in
        --install) INSTALL=1 ;;
        --out) OUT=$2; shift ;;
        --max-man) MAX_MAN=$2; shift ;;
        --nanoprime) NP=$2; shift ;;
        --tokenizer) TOK=$2; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "build_corpus.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
PY=$(command -v /usr/bin/python3 || command -v python3 || true)
[ -n "$PY" ] || { echo "build_corpus.sh: python3 is required for cleaning and JSON output" >&2; exit 1; }

if [ "$INSTALL" = 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "build_corpus.sh: --install needs root" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends fortune-mod fortunes fortunes-it manpages manpages-it \
        debian-reference-en debian-reference-it groff-base >/dev/null
fi
mkdir -p "$OUT"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

# Every extractor prints documents separated by NUL bytes.
fortunes() {  # strfile sources: entries separated by lines holding only "%"
    local dir=$1
    [ -d "$dir" ] || return 0
    { find "$dir" -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' -print0 || true; } | sort -z |
        while IFS= read -r -d '' f; do
            if grep -Iq . "$f"; then  # text files only
                awk '/^%$/ { printf "%c", 0; next } { print } END { printf "%c", 0 }' "$f"
            fi
        done
}
manpages() {  # rendered to plain text, one page per document
    local n=0
    for dir in "$@"; do
        [ -d "$dir" ] || continue
        while IFS= read -r -d '' f; do
            [ "$n" -lt "$MAX_MAN" ] || break
            { zcat -f "$f" | groff -man -Tutf8 -P-cbou 2>/dev/null || true; } | col -bx 2>/dev/null || true
            printf '\0'
            n=$((n + 1))
        done < <(find "$dir" -type f -name '*.gz' -print0 2>/dev/null | sort -z)
    done
}
html_docs() {  # Debian Reference chapters, tags stripped by python
    local pattern=$1
    { find /usr/share/debian-reference /usr/share/doc/debian-reference* -type f -name "$pattern" -print0 2>/dev/null || true; } | sort -z |
        while IFS= read -r -d '' f; do
            "$PY" -c 'import html,re,sys,gzip
p=sys.argv[1]; t=(gzip.open if p.endswith(".gz") else open)(p,"rt",encoding="utf-8",errors="replace").read()
t=re.sub(r"(?is)<(script|style)\b.*?</\1>","",t); t=re.sub(r"(?i)<br\s*/?>|</(p|div|h\d|li|pre|tr)>","\n",t)
sys.stdout.write(html.unescape(re.sub(r"<[^>]+>","",t)))' "$f"
            printf '\0'
        done
}

clean() {  # NUL-separated documents on stdin -> deduplicated JSONL on $1; prints counts
    "$PY" -c '
import hashlib, json, re, sys, unicodedata
out, seen, kept, dropped, dup = open(sys.argv[1], "w", encoding="utf-8"), set(), 0, 0, 0
data = sys.stdin.buffer.read().decode("utf-8", errors="replace")
for doc in data.split("\0"):
    if not doc.strip(): continue
    doc = re.sub(r".\x08", "", doc)                       # overstrike (bold/underline)
    doc = "".join(c for c in doc if c in "\n\t" or unicodedata.category(c)[0] != "C")
    lines = [re.sub(r"[ \t]+", " ", l).strip() for l in doc.split("\n")]
    doc = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if len(doc) < 40: dropped += 1; continue
    h = hashlib.sha1(re.sub(r"\s+", " ", doc.lower()).encode()).digest()
    if h in seen: dup += 1; continue
    seen.add(h); kept += 1
    out.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")
print(f"{sys.argv[1]}: {kept} documents ({dropped} too short, {dup} duplicates dropped)")
' "$1"
}

{ fortunes /usr/share/games/fortunes; manpages /usr/share/man/man1 /usr/share/man/man5 /usr/share/man/man8 /usr/share/man/man7;
  html_docs '*.en.html'; } | clean "$OUT/en.jsonl"
{ fortunes /usr/share/games/fortunes/it; manpages /usr/share/man/it; html_docs '*.it.html'; } | clean "$OUT/it.jsonl"

if [ -n "$NP" ]; then
    [ -n "$TOK" ] || { echo "build_corpus.sh: --nanoprime needs --tokenizer" >&2; exit 2; }
    for lang in en it; do
        if [ -s "$OUT/$lang.jsonl" ]; then
            "$NP" data prepare --input "$OUT/$lang.jsonl" --tokenizer "$TOK" --out "$OUT/shards/$lang" --quiet
        fi
    done
fi
