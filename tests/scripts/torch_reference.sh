#!/usr/bin/env bash
# The C++ model against the independent PyTorch reference (tests/reference/nanoprime_ref.py):
# same checkpoint, same tokens (documents separated by id 0 inside rows) and loss mask -> same loss
# and same gradient for every parameter. Two tiny architectures cover both mixers, both FFN
# activations and tied/untied heads. Usage: torch_reference.sh PATH/TO/nanoprime
# Exit 77 (skip) when /usr/bin/python3 has no torch.
set -euo pipefail

CLI=${1:?usage: torch_reference.sh PATH/TO/nanoprime}
PY=${NP_TORCH_PYTHON:-/usr/bin/python3}
SRC=${NP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
REF="$SRC/tests/reference/nanoprime_ref.py"

if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "SKIP: $PY cannot import torch (the PyTorch reference needs it)"
    exit 77
fi

# The reference checks itself first (its three mixer forms agree in fp64, documents are independent,
# finite differences match autograd, BitLinear STE); a broken reference must not judge the engine.
if ! "$PY" "$REF" selftest >"${TMPDIR:-/tmp}/np_ref_selftest.$$.log" 2>&1; then
    cat "${TMPDIR:-/tmp}/np_ref_selftest.$$.log"
    rm -f "${TMPDIR:-/tmp}/np_ref_selftest.$$.log"
    echo "FAIL: the PyTorch reference's own selftest failed"
    exit 1
fi
rm -f "${TMPDIR:-/tmp}/np_ref_selftest.$$.log"
echo "reference selftest: ok"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# name pattern layers act tie n_groups
VARIANTS=(
    "swiglu_tied MMA 3 swiglu true 1"
    "relu2_untied AMM 4 relu2 false 2"
)

status=0
for v in "${VARIANTS[@]}"; do
    read -r name pattern layers act tie groups <<<"$v"
    dir="$TMP/$name"
    mkdir -p "$dir"
    cat >"$dir/config.json" <<EOF
{"architecture": "nanoprime", "vocab_size": 64, "d_model": 32, "n_layers": $layers,
 "layer_pattern": "$pattern", "tie_embeddings": $tie, "norm_eps": 1e-6, "max_seq_len": 64,
 "ffn": {"act": "$act", "hidden": 48},
 "mamba": {"expand": 2, "head_dim": 16, "d_state": 8, "n_groups": $groups, "d_conv": 4},
 "mla": {"n_heads": 2, "qk_nope_dim": 8, "qk_rope_dim": 4, "v_dim": 8, "kv_rank": 12,
         "rope_theta": 10000}}
EOF
    "$CLI" init --config "$dir/config.json" --out "$dir/ckpt" --seed 3
    "$PY" "$REF" batch --vocab 64 --batch 2 --seq 24 --seed 7 --out "$dir/tokens.json" \
        --mask-out "$dir/mask.json"
    for quant in quant no-quant; do
        flag=()
        [[ $quant == no-quant ]] && flag=(--no-quant)
        echo "=== $name ($pattern, $act, tied=$tie, n_groups=$groups), $quant"
        line=$("$CLI" loss --ckpt "$dir/ckpt" --tokens "$dir/tokens.json" --mask "$dir/mask.json" \
            --grads "$dir/grads.safetensors" "${flag[@]}" | tail -n 1)
        echo "nanoprime loss: $line"
        if ! "$PY" "$REF" compare --ckpt "$dir/ckpt" --tokens "$dir/tokens.json" \
            --mask "$dir/mask.json" --loss-json "$line" --grads "$dir/grads.safetensors" "${flag[@]}"; then
            status=1
        fi
    done
done
exit $status
