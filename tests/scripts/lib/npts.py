"""Token shards written independently of the C++ writer (DESIGN §4.3): 40-byte header, 2-byte ids,
an optional loss mask (one bit per token, LSB first), FNV-1a 64 of the payload."""
import struct


def fnv(b, h=0xcbf29ce484222325):
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
    return h


def shard(path, ids, vocab=64, mask=None):
    payload = struct.pack('<%dH' % len(ids), *ids)
    flags = 0
    if mask is not None:
        bits = bytearray((len(ids) + 7) // 8)
        for j, m in enumerate(mask):
            if m:
                bits[j // 8] |= 1 << (j % 8)
        payload += bytes(bits)
        flags = 1
    hdr = b'NPTS' + struct.pack('<IIIQIIQ', 1, 2, flags, len(ids), vocab, 0, fnv(payload))
    with open(path, 'wb') as f:
        f.write(hdr + payload)
