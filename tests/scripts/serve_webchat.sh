#!/usr/bin/env bash
# The web chat of `nanoprime serve` in headless Chromium (Debian's `chromium`, driven by the npm
# package playwright-core from tests/peer): a message sent with thinking on streams an answer and
# a thinking block that match the API's and show in the screenshot (tests/peer/webchat_check.js).
# The page never parses model output as HTML. Exit 77 (skip) without chromium or the package.
# Usage: serve_webchat.sh PATH/TO/nanoprime
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # CLI, PY, a temp dir, fail, ...
SRC=${NP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PEER=$SRC/tests/peer
PAGE=$SRC/src/server/web/index.html
# Safe rendering: model text reaches the page through textContent only.
if grep -nE 'innerHTML|outerHTML|insertAdjacentHTML|document\.write' "$PAGE"; then
    fail "the web chat inserts HTML"
fi
grep -qE 'https?://' <(grep -v '^<!doctype' "$PAGE") && fail "the web chat fetches from the internet"
CHROMIUM=$(command -v chromium || true)
if [ -z "$CHROMIUM" ] || ! command -v node >/dev/null ||
    ! (cd "$PEER" && node -e 'require("playwright-core")' 2>/dev/null); then
    echo "SKIP: needs Debian's chromium and npm package playwright-core (npm ci --prefix tests/peer)"
    exit 77
fi
MODEL=$SRC/models/nano-think.gguf
source "$NP_TEST_LIB/serve.sh"  # start_server, stop_server
start_server serve.log -np 2 -c 1024 --temperature 0
OUT=${NP_SCREENSHOT_DIR:-$TMP}
node "$PEER/webchat_check.js" "$BASE" "$CHROMIUM" "$OUT"
stop_server serve.log
