#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every test (C++ unit tests, the
# independent PyTorch reference, CLI end-to-end scripts). Pass ctest options through, e.g. -L unit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
[ -f tests/peer/package.json ] && [ ! -d tests/peer/node_modules ] && (cd tests/peer && npm ci --silent --no-audit --no-fund) || true
cd build
ctest --output-on-failure -j2 "$@"
