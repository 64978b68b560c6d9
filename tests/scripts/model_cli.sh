#!/usr/bin/env bash
# End-to-end checks of init / params / loss, and their clear errors on bad input.
set -uo pipefail
NP="$1"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fails=0; passes=0
ok()   { passes=$((passes+1)); }
bad()  { echo "FAIL: $*"; fails=$((fails+1)); }
# expect_error "what" "substring the message must contain" cmd...
expect_error() {
    local what="$1" want="$2"; shift 2
    out=$("$@" 2>&1); rc=$?
    if [ $rc -eq 0 ]; then bad "$what: exited 0"; return; fi
    if [ $rc -ge 128 ]; then bad "$what: crashed (rc $rc)"; return; fi
    case "$out" in *"$want"*) ok ;; *) bad "$what: message lacks '$want': $out" ;; esac
}

cat > "$T/tiny.json" <<'J'
{"architecture": "nanoprime", "vocab_size": 50, "d_model": 16, "n_layers": 2, "layer_pattern": "MA",
 "tie_embeddings": true, "norm_eps": 1e-6, "max_seq_len": 32,
 "ffn": {"act": "swiglu", "hidden": 24},
 "mamba": {"expand": 2, "head_dim": 8, "d_state": 4, "n_groups": 1, "d_conv": 4},
 "mla": {"n_heads": 2, "qk_nope_dim": 4, "qk_rope_dim": 4, "v_dim": 4, "kv_rank": 8, "rope_theta": 10000}}
J
"$NP" init --config "$T/tiny.json" --out "$T/ck" --seed 5 >/dev/null && ok || bad "init --config"
"$NP" init --config "$T/tiny.json" --out "$T/ck2" --seed 5 >/dev/null
cmp -s "$T/ck/model.safetensors" "$T/ck2/model.safetensors" && ok || bad "init is not deterministic for a fixed seed"
"$NP" init --config "$T/tiny.json" --out "$T/ck3" --seed 6 >/dev/null
cmp -s "$T/ck/model.safetensors" "$T/ck3/model.safetensors" && bad "different seeds gave the same weights" || ok
"$NP" params "$T/ck" | grep -q "ternary" && ok || bad "params output"
"$NP" params --preset nano --json | grep -q '"total":8629136' && ok || bad "nano parameter count"

echo '[[1,2,3,0,4,5],[6,7,0,8,9,10]]' > "$T/tok.json"
echo '[[1,1,0,1,1,1],[1,1,1,1,1,0]]' > "$T/mask.json"
out=$("$NP" loss --ckpt "$T/ck" --tokens "$T/tok.json" --mask "$T/mask.json" --grads "$T/g.safetensors") || bad "loss"
case "$out" in *'"tokens":8'*) ok ;; *) bad "loss should count 8 targets: $out" ;; esac
[ -s "$T/g.safetensors" ] && ok || bad "--grads wrote nothing"

expect_error "unknown preset" 'unknown preset "huge"' "$NP" init --preset huge --out "$T/x"
expect_error "existing out" "already exists" "$NP" init --config "$T/tiny.json" --out "$T/ck"
sed 's/"d_model": 16/"d_modell": 16/' "$T/tiny.json" > "$T/bad1.json"
expect_error "unknown field" 'unknown field "d_modell"' "$NP" init --config "$T/bad1.json" --out "$T/x"
sed 's/"head_dim": 8/"head_dim": 7/' "$T/tiny.json" > "$T/bad2.json"
expect_error "inconsistent dims" "head_dim" "$NP" init --config "$T/bad2.json" --out "$T/x"
sed 's/"n_layers": 2/"n_layers": "2"/' "$T/tiny.json" > "$T/bad3.json"
expect_error "wrong type" '"n_layers" must be an integer' "$NP" init --config "$T/bad3.json" --out "$T/x"
echo '[[1,2,3],[4,5]]' > "$T/ragged.json"
expect_error "ragged rows" "equal length" "$NP" loss --ckpt "$T/ck" --tokens "$T/ragged.json"
echo '[[1,2,300]]' > "$T/oov.json"
expect_error "id out of vocabulary" "outside the vocabulary" "$NP" loss --ckpt "$T/ck" --tokens "$T/oov.json"
echo '[[1,2,0,1,1,1]]' > "$T/mask1.json"
expect_error "mask shape" "differs from --tokens shape" "$NP" loss --ckpt "$T/ck" --tokens "$T/tok.json" --mask "$T/mask1.json"
expect_error "missing checkpoint" "not a checkpoint directory" "$NP" loss --ckpt "$T/nope" --tokens "$T/tok.json"
cp -r "$T/ck" "$T/trunc"; head -c 1000 "$T/ck/model.safetensors" > "$T/trunc/model.safetensors"
expect_error "truncated weights" "model.safetensors" "$NP" loss --ckpt "$T/trunc" --tokens "$T/tok.json"
cp -r "$T/ck" "$T/shape"; sed 's/"d_model": 16/"d_model": 24/' "$T/tiny.json" > "$T/shape/config.json"
expect_error "config vs tensors" "has shape" "$NP" loss --ckpt "$T/shape" --tokens "$T/tok.json"
expect_error "missing flag" "--ckpt is required" "$NP" loss --tokens "$T/tok.json"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
