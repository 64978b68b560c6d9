#!/usr/bin/env bash
# The official `openai` npm client (installed by `npm ci --prefix tests/peer`), unchanged, against
# `nanoprime serve` with the shipped demo model (tests/peer/openai_client.js). Exit 77 (skip)
# without node or the package.
# Usage: serve_openai_client.sh PATH/TO/nanoprime
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # CLI, PY, a temp dir, fail, ...
SRC=${NP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PEER=$SRC/tests/peer
if ! command -v node >/dev/null || ! (cd "$PEER" && node -e 'require("openai")' 2>/dev/null); then
    echo "SKIP: npm package 'openai' not installed (run: npm ci --prefix tests/peer)"
    exit 77
fi
"$CLI" serve -m "$SRC/models/nano-think.gguf" --port 0 -np 2 -c 1024 --api-key sekret \
    --alias nano-think 2>serve.log &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
for _ in $(seq 300); do
    BASE=$(grep -o 'http://[0-9.]*:[0-9]*' serve.log || true)
    [ -n "$BASE" ] && break
    sleep 0.1
done
[ -n "$BASE" ] || { cat serve.log; fail "serve did not start"; }
node "$PEER/openai_client.js" "$BASE" sekret
kill -TERM $PID
wait $PID || fail "serve exited non-zero on SIGTERM"
