#!/usr/bin/env bash
# Installs the Debian packages NanoPrime needs (build, tests, benchmarks). Safe to re-run.
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config nlohmann-json3-dev libcli11-dev
      libopenblas-dev libopenblas-openmp-dev libopenblas0-pthread libgtest-dev libgmock-dev libbenchmark-dev
      python3-torch python3-numpy clang-format libopenmpi-dev openmpi-bin libedit-dev zlib1g-dev
      libcpp-httplib-dev chromium  # chromium: the web chat's browser test
      clang libclang-rt-dev libomp-dev)  # the last three: the fuzz step (tests/fuzz/smoke.sh)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js (for the tokenizer peer check) may come from elsewhere with npm bundled: test the commands.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
