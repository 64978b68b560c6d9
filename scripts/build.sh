#!/usr/bin/env bash
# Configures and builds NanoPrime into build/ (Release, host CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build
