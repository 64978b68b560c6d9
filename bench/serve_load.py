"""Load generator for `nanoprime serve` (standard library only): S concurrent streaming clients,
each generating exactly N tokens (ignore_eos, greedy), for each S given. Prints one JSON line per
S: aggregate generation tokens/s over the wall time, time to first token (median, max), and the
per-stream decode rate after the first token.

Usage: serve_load.py BASE_URL STREAMS(1,2,4,...) N_TOKENS [REPEATS]
"""
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

BASE = urllib.parse.urlparse(sys.argv[1])
STREAMS = [int(s) for s in sys.argv[2].split(",")]
N = int(sys.argv[3])
REPEATS = int(sys.argv[4]) if len(sys.argv) > 4 else 1


def one_stream(i, out):
    body = json.dumps({"prompt": f"Request {i}: tell me about the number {i * 37}.",
                       "max_tokens": N, "temperature": 0, "ignore_eos": True,
                       "stream": True}).encode()
    conn = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=600)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body=body,
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    first, tokens, buf = None, 0, b""
    while True:
        chunk = r.read1(65536)
        if not chunk:
            break
        if first is None and b"data: " in chunk:
            first = time.perf_counter()
        buf += chunk
    end = time.perf_counter()
    for line in buf.decode().splitlines():
        if line.startswith("data: {"):
            ev = json.loads(line[6:])
            if ev.get("usage"):
                tokens = ev["usage"]["completion_tokens"]
    conn.close()
    out[i] = (t0, first, end, tokens)


def run(streams):
    out = [None] * streams
    threads = [threading.Thread(target=one_stream, args=(i, out)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    start = min(o[0] for o in out)
    wall = max(o[2] for o in out) - start
    tokens = sum(o[3] for o in out)
    if any(o[3] != N for o in out):
        raise SystemExit(f"a stream generated {[o[3] for o in out]} tokens, expected {N}")
    ttft = [o[1] - o[0] for o in out]
    decode = [(o[3] - 1) / (o[2] - o[1]) for o in out]
    return {"streams": streams, "tokens": tokens, "wall_s": wall, "aggregate_tps": tokens / wall,
            "ttft_median_ms": 1000 * statistics.median(ttft), "ttft_max_ms": 1000 * max(ttft),
            "per_stream_decode_tps": statistics.median(decode)}


if __name__ == "__main__":
    run(1)  # warm-up
    for _ in range(REPEATS):
        for s in STREAMS:
            print(json.dumps(run(s)), flush=True)
