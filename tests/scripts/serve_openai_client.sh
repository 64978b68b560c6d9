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
MODEL=$SRC/models/nano-think.gguf
source "$NP_TEST_LIB/serve.sh"  # start_server, stop_server
start_server serve.log -np 2 -c 1024 --api-key sekret --alias nano-think
node "$PEER/openai_client.js" "$BASE" sekret
stop_server serve.log
