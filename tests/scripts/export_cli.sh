#!/usr/bin/env bash
# `nanoprime export` and `nanoprime info` end to end: a nano checkpoint with a trained tokenizer is
# exported as tq2/f16 and tq1/q8_0; info on the directory and on both files reports consistent
# fields; the GGUF container is checked by an independent Python parser; a truncated file, a
# missing tokenizer and an existing --out are clear errors.
# Usage: export_cli.sh PATH/TO/nanoprime
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # CLI, PY, a temp working dir, fail

"$CLI" init --preset nano --seed 1 --out ckpt >/dev/null
for i in $(seq 1 40); do
    echo "user: What is $((i * 37)) + $((i * 11))? assistant: the answer is $((i * 48))."
    echo "Il gatto numero $i dorme sul divano, the quick brown fox jumps over the lazy dog."
done > corpus.txt
"$CLI" tokenizer train --input corpus.txt --vocab 320 --out tok.json >/dev/null 2>&1

# No tokenizer yet: a clear error naming it.
if "$CLI" export --ckpt ckpt --out m.gguf 2>err.txt >/dev/null; then
    echo "FAIL: export without a tokenizer succeeded"; exit 1
fi
grep -q "tokenizer" err.txt || { echo "FAIL: error does not name the tokenizer"; cat err.txt; exit 1; }
cp tok.json ckpt/tokenizer.json

"$CLI" export --ckpt ckpt --out tq2.gguf >export_tq2.txt
"$CLI" export --ckpt ckpt --out tq1.gguf --weights tq1 --embed q8_0 >export_tq1.txt
grep -q "154 tensors" export_tq2.txt || { echo "FAIL: tensor count"; cat export_tq2.txt; exit 1; }
grep -q "bits per ternary weight: 2.1" export_tq2.txt || { echo "FAIL: tq2 bits"; cat export_tq2.txt; exit 1; }
grep -q "bits per ternary weight: 1.7" export_tq1.txt || { echo "FAIL: tq1 bits"; cat export_tq1.txt; exit 1; }
for part in ternary embed other metadata; do
    grep -q "^  $part " export_tq2.txt || { echo "FAIL: no $part line"; cat export_tq2.txt; exit 1; }
done

# An existing --out needs --force.
if "$CLI" export --ckpt ckpt --out tq2.gguf 2>err.txt >/dev/null; then
    echo "FAIL: export over an existing file succeeded"; exit 1
fi
grep -q -- "--force" err.txt || { echo "FAIL: error does not mention --force"; cat err.txt; exit 1; }
"$CLI" export --ckpt ckpt --out tq2.gguf --force >/dev/null
if "$CLI" export --ckpt ckpt --out x.gguf --weights tq3 2>err.txt >/dev/null; then
    echo "FAIL: --weights tq3 accepted"; exit 1
fi
grep -q -- "--weights" err.txt || { echo "FAIL: error does not name --weights"; cat err.txt; exit 1; }

"$CLI" info ckpt --json >info_dir.json
"$CLI" info tq2.gguf --json >info_tq2.json
"$CLI" info tq1.gguf --json --ctx 100 >info_tq1.json
"$CLI" info --preset elleci-1.5b --json >info_elleci.json
"$CLI" info tq2.gguf >info_tq2.txt
grep -q "cache per token: MLA latent 264 bytes" info_tq2.txt || { echo "FAIL: info text"; cat info_tq2.txt; exit 1; }

"$PY" - <<'PY'
import json, os, struct

d = json.load(open('info_dir.json'))
a = json.load(open('info_tq2.json'))
b = json.load(open('info_tq1.json'))
e = json.load(open('info_elleci.json'))
for r in (d, a, b):
    assert r['parameters'] == {'total': 8629136, 'ternary': 7548928, 'full_precision': 1080208}, r['parameters']
    assert r['attention_layers'] == 2 and r['mamba_layers'] == 6
    # nano: 2 attention layers x (kv_rank 64 + 4 + 4 * qk_rope_dim 16); fp16 MHA 2*8*4*64*2.
    assert r['per_token'] == {'mla_cache_bytes': 264, 'mha_fp16_bytes': 8192,
                              'ratio_percent': 100 * 264 / 8192}, r['per_token']
    # 6 Mamba layers x 4 x ((d_conv-1) * conv_dim 576 + H 8 * P 64 * N 32)
    assert r['mamba_state_bytes'] == 6 * 4 * (3 * 576 + 8 * 64 * 32)
assert d['kind'] == 'checkpoint' and a['kind'] == 'gguf' and b['kind'] == 'gguf'
assert d['resident_bytes'] == 4 * 8629136
assert d['file_bytes'] == os.path.getsize('ckpt/model.safetensors')
md = a['metadata']
assert md['tokenizer.ggml.tokens'][0] == '<|endoftext|>' and md['tokenizer.ggml.tokens'][-1] == '... (4096 in all)'
assert md['nanoprime.block_count'] == 8 and md['general.alignment'] == 32 and 'nanoprime.config_json' not in md
assert a['weights'] == 'tq2' and a['embed'] == 'f16' and b['weights'] == 'tq1' and b['embed'] == 'q8_0'
for r, f in ((a, 'tq2.gguf'), (b, 'tq1.gguf')):
    size = os.path.getsize(f)
    assert r['file_bytes'] == size
    # every tensor was read: the mapping is resident (page-rounded)
    assert size // 2 < r['resident_bytes'] <= (size + 4095) // 4096 * 4096, (r['resident_bytes'], size)
    s = r['sizes']
    assert s['ternary'] + s['embed'] + s['other'] + s['padding'] + s['header'] + s['metadata'] <= size
    assert abs(r['bits_per_weight']['file'] - 8 * size / 8629136) < 1e-9
assert a['ctx'] == 512 and b['ctx'] == 100
assert b['memory_at_ctx']['cache'] == 100 * 264
m = b['memory_at_ctx']
assert m['total'] == m['weights'] + m['state'] + m['cache']
# Packed sizes: nano's rows are multiples of 256 except kv_up (64 -> 256 padded).
assert abs(a['bits_per_weight']['ternary'] - 2.1095) < 1e-3 and abs(b['bits_per_weight']['ternary'] - 1.7260) < 1e-3
assert a['sizes']['embed'] == 4096 * 256 * 2 and b['sizes']['embed'] == 4096 * 256 // 32 * 34
# The directory's estimates match the real files apart from the tokenizer metadata.
for key, r in (('tq2_f16', a), ('tq1_q8_0', b)):
    s = r['sizes']
    data = s['ternary'] + s['embed'] + s['other'] + s['padding']
    est = d['gguf_estimate_bytes'][key]
    assert data < est and abs(est - r['file_bytes']) < 400000, (key, est, r['file_bytes'])
# elleci-1.5b (DESIGN §2.7): 192 KiB per token for fp16 MHA; tq2 with q8_0 embeddings <= 0.5 GB.
assert e['per_token']['mha_fp16_bytes'] == 196608 and e['per_token']['mla_cache_bytes'] == 3096
assert e['gguf_estimate_bytes']['tq2_q8_0'] <= 500_000_000

# Independent GGUF v3 parse of the container (the format as published, not our reader).
def parse(path):
    buf = open(path, 'rb').read()
    magic, version, nt, nkv = struct.unpack_from('<4sIQQ', buf, 0)
    assert magic == b'GGUF' and version == 3
    pos = 24
    def string():
        nonlocal pos
        (n,) = struct.unpack_from('<Q', buf, pos); pos += 8
        s = buf[pos:pos + n].decode('utf-8'); pos += n
        return s
    fmt = {0: 'B', 1: 'b', 2: 'H', 3: 'h', 4: 'I', 5: 'i', 6: 'f', 7: '?', 10: 'Q', 11: 'q', 12: 'd'}
    def value(t):
        nonlocal pos
        if t == 8: return string()
        if t == 9:
            et, n = struct.unpack_from('<IQ', buf, pos); pos += 12
            return [value(et) for _ in range(n)]
        (v,) = struct.unpack_from('<' + fmt[t], buf, pos); pos += struct.calcsize(fmt[t])
        return v
    kv = {}
    for _ in range(nkv):
        k = string()
        (t,) = struct.unpack_from('<I', buf, pos); pos += 4
        kv[k] = value(t)
    tensors = {}
    for _ in range(nt):
        name = string()
        (nd,) = struct.unpack_from('<I', buf, pos); pos += 4
        ne = list(struct.unpack_from('<%dQ' % nd, buf, pos)); pos += 8 * nd
        t, off = struct.unpack_from('<IQ', buf, pos); pos += 12
        tensors[name] = (t, ne, off)
    align = kv.get('general.alignment', 32)
    data = (pos + align - 1) // align * align
    return buf, kv, tensors, data

buf, kv, tensors, data = parse('tq2.gguf')
assert kv['general.architecture'] == 'nanoprime' and kv['general.alignment'] == 32
cfg = json.loads(kv['nanoprime.config_json'])
assert cfg == json.load(open('ckpt/config.json'))
assert kv['nanoprime.embedding_length'] == 256 and kv['nanoprime.block_count'] == 8
assert kv['nanoprime.vocab_size'] == 4096 and kv['nanoprime.layer_pattern'] == 'MMMA'
assert kv['nanoprime.weights'] == 'tq2' and kv['nanoprime.embed'] == 'f16'
assert kv['tokenizer.ggml.model'] == 'gpt2'
assert len(kv['tokenizer.ggml.tokens']) == 4096 and len(kv['tokenizer.ggml.token_type']) == 4096
assert kv['tokenizer.ggml.tokens'][3] == '<|im_end|>' and kv['tokenizer.ggml.token_type'][:6] == [3] * 6
assert kv['tokenizer.ggml.tokens'][4095] == '[PAD4095]'
assert (kv['tokenizer.ggml.bos_token_id'], kv['tokenizer.ggml.eos_token_id'],
        kv['tokenizer.ggml.padding_token_id']) == (0, 3, 1)
hf = json.loads(kv['tokenizer.huggingface.json'])
assert len(kv['tokenizer.ggml.merges']) == len(hf['model']['merges'])
assert '<|im_start|>' in kv['tokenizer.chat_template']
assert tensors['embed.weight'][:2] == (1, [256, 4096])
assert tensors['layers.0.mamba.in_proj.weight'][:2] == (35, [256, 512 + 576 + 8])
assert tensors['layers.3.mla.kv_up.weight'][:2] == (35, [256, 4 * (48 + 64)])  # 64 cols padded
assert tensors['layers.0.mamba.conv1d.weight'][:2] == (0, [4, 576])
t, ne, off = tensors['layers.0.ffn.gate.weight.scale']
assert (t, ne) == (0, [1])
(gamma,) = struct.unpack_from('<f', buf, data + off)
# each TQ2_0 block of the tensor ends with d = fp16(gamma)
t, ne, off = tensors['layers.0.ffn.gate.weight']
(d,) = struct.unpack_from('<e', buf, data + off + 64)
assert gamma > 0 and abs(d - gamma) <= gamma * 2 ** -10, (d, gamma)
for name, (t, ne, off) in tensors.items():
    assert off % 32 == 0, name
# Each tensor's CRC-32 (zlib's), in file order, as int32 bit patterns.
import zlib
block = {0: (1, 4), 1: (1, 2), 8: (32, 34), 34: (256, 54), 35: (256, 66)}
crcs = []
for name, (t, ne, off) in tensors.items():
    n = 1
    for x in ne: n *= x
    elems, size = block[t]
    crcs.append(zlib.crc32(buf[data + off:data + off + n // elems * size]))
assert [c & 0xffffffff for c in kv['nanoprime.tensor_crc32']] == crcs
# A flipped low mantissa bit in an F32 tensor stays a valid, finite value: only the checksum sees it.
t, ne, off = tensors['layers.0.mamba.conv1d.weight']
bad = bytearray(buf)
bad[data + off + 8] ^= 1
open('flipped.gguf', 'wb').write(bytes(bad))
_, kv1, tensors1, _ = parse('tq1.gguf')
assert tensors1['embed.weight'][:2] == (8, [256, 4096]) and tensors1['layers.0.ffn.up.weight'][0] == 34
# The chat template renders DESIGN §3's ChatML with thinking (as Hugging Face runs templates).
try:
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    ImmutableSandboxedEnvironment = None
if ImmutableSandboxedEnvironment is not None:
    tpl = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(
        kv['tokenizer.chat_template'])
    msgs = [{'role': 'system', 'content': 'Be brief.'},
            {'role': 'user', 'content': 'What is 2 + 3?'},
            {'role': 'assistant', 'content': '<think>\n2 plus 3 is 5.\n</think>\n\n5'},
            {'role': 'user', 'content': 'And 4 + 4?'},
            {'role': 'assistant', 'content': '8'}]
    want = ('<|im_start|>system\nBe brief.<|im_end|>\n'
            '<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n'
            '<|im_start|>assistant\n<think>\n2 plus 3 is 5.\n</think>\n\n5<|im_end|>\n'
            '<|im_start|>user\nAnd 4 + 4?<|im_end|>\n'
            '<|im_start|>assistant\n<think>\n\n</think>\n\n8<|im_end|>\n')
    got = tpl.render(messages=msgs, add_generation_prompt=False)
    assert got == want, repr(got)
    q = [{'role': 'user', 'content': 'Hi'}]
    assert tpl.render(messages=q, add_generation_prompt=True) == \
        '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n'
    assert tpl.render(messages=q, add_generation_prompt=True, enable_thinking=False) == \
        '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n'
print('export_cli python checks passed')
PY

# Integrity: info --check counts the checksums; a flipped byte is named by tensor, by info --check
# and by every command that loads the model.
"$CLI" info tq2.gguf --check | grep -Eq "^tensor checksums: ([0-9]+) of \1 match$" || fail "info --check"
"$CLI" info flipped.gguf >/dev/null || fail "info without --check reads the file"
expect_error "layers.0.mamba.conv1d.weight" info flipped.gguf --check
expect_error "layers.0.mamba.conv1d.weight" generate -m flipped.gguf -p hi -n 2

# Truncated file: non-zero exit and the message names the file.
head -c $(( $(stat -c %s tq2.gguf) / 2 )) tq2.gguf > cut.gguf
if "$CLI" info cut.gguf 2>err.txt >/dev/null; then
    echo "FAIL: info on a truncated gguf succeeded"; exit 1
fi
grep -q "cut.gguf" err.txt || { echo "FAIL: error does not name the file"; cat err.txt; exit 1; }
printf 'GGUF\002\000\000\000' > v2.gguf
head -c 64 /dev/zero >> v2.gguf
if "$CLI" info v2.gguf 2>err.txt >/dev/null; then
    echo "FAIL: info on a version-2 file succeeded"; exit 1
fi
grep -q "v2.gguf: GGUF version 2" err.txt || { echo "FAIL: version error"; cat err.txt; exit 1; }
if "$CLI" info 2>err.txt >/dev/null; then echo "FAIL: info without MODEL succeeded"; exit 1; fi
echo "export_cli: OK"
