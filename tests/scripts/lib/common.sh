# Sourced first by the CLI script tests: the nanoprime binary from $1 (CLI), the Python with torch
# and jinja2 (PY), a private temporary working directory removed on exit, and fail.
CLI=${1:?usage: $(basename "$0") PATH/TO/nanoprime}
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
export OMP_WAIT_POLICY=passive

fail() { echo "FAIL: $*"; exit 1; }
