# Sourced first by the CLI script tests: the nanoprime binary from $1 (CLI), the Python with torch
# and jinja2 (PY), a private temporary working directory removed on exit, and fail.
CLI=$(realpath "${1:?usage: $(basename "$0") PATH/TO/nanoprime}")
PY=/usr/bin/python3
# Python helpers of the script tests (npts.py: shards written independently of the C++ writer).
NP_TEST_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export NP_TEST_LIB
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
export OMP_WAIT_POLICY=passive

fail() { echo "FAIL: $*"; exit 1; }

# signal_after_lines SIGNAL FILE N PID: waits (up to 10 s) until FILE has N lines, sends SIGNAL to
# the background job PID and waits for it; its exit status lands in SIGNALLED_RC.
signal_after_lines() {
    local sig=$1 file=$2 n=$3 pid=$4
    for _ in $(seq 500); do
        [[ -f $file && $(wc -l < "$file") -ge $n ]] && break
        sleep 0.02
    done
    kill -"$sig" "$pid" 2>/dev/null || true
    SIGNALLED_RC=0
    wait "$pid" || SIGNALLED_RC=$?
}

# expect_error WHAT_THE_MESSAGE_NAMES ARGS...: `nanoprime ARGS` fails cleanly (non-zero, no crash)
# and its output names the culprit.
expect_error() {
    local want=$1 rc=0
    shift
    "$CLI" "$@" >err.txt 2>&1 </dev/null || rc=$?
    [ "$rc" -ne 0 ] || fail "accepted: $*"
    [ "$rc" -lt 128 ] || { cat err.txt; fail "crashed (rc $rc): $*"; }
    grep -q -- "$want" err.txt || { cat err.txt; fail "error for '$*' does not name $want"; }
}

# The smallest hybrid model (d_model 8, one Mamba and one MLA layer) as model.json.
# Usage: write_micro_model_json [VOCAB_SIZE (320)] [MAX_SEQ_LEN (256)]
write_micro_model_json() {
    local vocab=${1:-320} max_seq=${2:-256}
    cat > model.json <<JSON
{"architecture": "nanoprime", "vocab_size": $vocab, "d_model": 8, "n_layers": 2, "layer_pattern": "MA",
 "tie_embeddings": true, "norm_eps": 1e-6, "max_seq_len": $max_seq, "ffn": {"act": "swiglu", "hidden": 12},
 "mamba": {"expand": 2, "head_dim": 4, "d_state": 3, "n_groups": 1, "d_conv": 4},
 "mla": {"n_heads": 2, "qk_nope_dim": 3, "qk_rope_dim": 4, "v_dim": 3, "kv_rank": 5, "rope_theta": 100}}
JSON
}

# train_tiny_tokenizer OUT: a 300-token BPE tokenizer trained on 60 generated English/Italian lines.
train_tiny_tokenizer() {
    for i in $(seq 1 60); do
        echo "What is $((i * 37)) + $((i * 11))? The answer is $((i * 48)). Ciao, però è così."
    done > corpus.txt
    "$CLI" tokenizer train --input corpus.txt --vocab 300 --out "$1" >/dev/null 2>&1
}
