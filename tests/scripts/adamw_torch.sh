#!/usr/bin/env bash
# np::AdamW against torch.optim.AdamW (tests/reference/adamw_ref.py): the reference writes a case
# (params, per-step grads and LRs, per-tensor multipliers, torch's final params) and the gtest
# AdamWTorch.MatchesCaseFile replays it through our optimizer. Usage: adamw_torch.sh PATH/TO/nanoprime
# The gtest binary is found beside the CLI (build/tests/nanoprime_tests) or in $NP_TESTS_BIN.
# Exit 77 (skip) when /usr/bin/python3 has no torch.
set -euo pipefail

CLI=${1:?usage: adamw_torch.sh PATH/TO/nanoprime}
PY=${NP_TORCH_PYTHON:-/usr/bin/python3}
SRC=${NP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TESTS=${NP_TESTS_BIN:-$(dirname "$CLI")/tests/nanoprime_tests}

if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "SKIP: $PY cannot import torch (the PyTorch reference needs it)"
    exit 77
fi
if [[ ! -x $TESTS ]]; then
    echo "adamw_torch.sh: no gtest binary at $TESTS (build nanoprime_tests or set NP_TESTS_BIN)" >&2
    exit 1
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

for seed in 1 2; do
    "$PY" "$SRC/tests/reference/adamw_ref.py" --out "$TMP/case$seed.json" --seed $seed --steps 12
    out=$(NP_ADAMW_CASE="$TMP/case$seed.json" "$TESTS" --gtest_filter='AdamWTorch.MatchesCaseFile' 2>&1) || {
        echo "$out"
        exit 1
    }
    grep -E "max rel|PASSED|SKIPPED" <<<"$out" || true
    # The test skips itself without the case file: make sure it really ran.
    if [[ $out == *SKIPPED* ]]; then
        echo "adamw_torch.sh: the gtest skipped instead of comparing" >&2
        exit 1
    fi
done
echo "AdamW matches torch.optim.AdamW"
