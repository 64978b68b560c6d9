#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every test (C++ unit tests, the
# independent PyTorch reference, CLI end-to-end scripts). Pass ctest options through, e.g. -L unit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
# The tokenizer peer check compares with the Hugging Face tokenizers library from npm.
if [ -f tests/peer/package.json ] && [ ! -d tests/peer/node_modules ]; then
    npm ci --prefix tests/peer --no-audit --no-fund --silent || echo "warning: npm ci failed; the tokenizer peer check will be skipped"
fi
cd build
ctest --output-on-failure -j2 "$@"
