"""End-to-end checks of `nanoprime serve` over real HTTP (Python standard library only).

Usage: serve_client.py BASE_URL API_KEY CHECK...   (checks: api, errors, fuzz, concurrency,
queue, disconnect). Exits non-zero with a message naming the failed check.
"""
import http.client
import json
import random
import socket
import sys
import threading
import time
import urllib.parse

BASE, KEY = sys.argv[1], sys.argv[2]
URL = urllib.parse.urlparse(BASE)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def request(method, path, body=None, key=KEY, headers=None, raw=None, timeout=60):
    """(status, headers, body bytes) of one request on a fresh connection."""
    conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=timeout)
    h = dict(headers or {})
    if key is not None:
        h["Authorization"] = "Bearer " + key
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    out = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), out


def post(path, body, **kw):
    status, _, out = request("POST", path, body, **kw)
    try:
        return status, json.loads(out)
    except ValueError:
        fail(f"{path}: not JSON (status {status}): {out[:200]!r}")


def stream(path, body):
    """The parsed data events of a streamed request, [DONE] last."""
    status, headers, out = request("POST", path, dict(body, stream=True))
    if status != 200:
        fail(f"stream {path}: status {status}: {out[:300]!r}")
    if not headers.get("Content-Type", "").startswith("text/event-stream"):
        fail(f"stream {path}: content type {headers.get('Content-Type')}")
    events = []
    for block in out.decode().split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                d = line[6:]
                events.append(d if d == "[DONE]" else json.loads(d))
    if not events or events[-1] != "[DONE]":
        fail(f"stream {path}: does not end with [DONE]")
    return events[:-1]


def alive():
    status, _, out = request("GET", "/health", key=None)
    if status != 200 or json.loads(out)["status"] != "ok":
        fail(f"/health after a bad request: {status} {out!r}")


def chat(content, **kw):
    return dict({"messages": [{"role": "user", "content": content}], "temperature": 0}, **kw)


def check_api():
    status, _, out = request("GET", "/v1/models")
    models = json.loads(out)
    if status != 200 or models["object"] != "list" or not models["data"][0]["id"]:
        fail(f"/v1/models: {status} {out!r}")
    status, headers, page = request("GET", "/", key=None)
    if status != 200 or b"<textarea" not in page or "Content-Security-Policy" not in headers:
        fail("GET / does not serve the web chat")
    # Thinking on: the block comes back apart from the answer, in the response and in the stream.
    q = chat("What is 245 + 318?", think="on", max_tokens=120)
    status, r = post("/v1/chat/completions", q)
    if status != 200:
        fail(f"chat: {status} {r}")
    msg = r["choices"][0]["message"]
    if msg["role"] != "assistant" or not msg["reasoning_content"] or "<think>" in msg["content"]:
        fail(f"chat with thinking: {msg}")
    u = r["usage"]
    if u["total_tokens"] != u["prompt_tokens"] + u["completion_tokens"] or \
            not 0 < u["completion_tokens_details"]["reasoning_tokens"] <= u["completion_tokens"]:
        fail(f"usage: {u}")
    events = stream("/v1/chat/completions", q)
    reasoning = "".join(e["choices"][0]["delta"].get("reasoning_content") or ""
                        for e in events if e["choices"])
    content = "".join(e["choices"][0]["delta"].get("content") or ""
                      for e in events if e["choices"])
    if reasoning != msg["reasoning_content"] or content != msg["content"]:
        fail(f"stream differs from the response: {reasoning!r} {content!r} vs {msg}")
    if events[0]["choices"][0]["delta"].get("role") != "assistant":
        fail("the first chunk does not carry the role")
    if events[-1]["choices"] or events[-1]["usage"]["completion_tokens"] != u["completion_tokens"]:
        fail(f"the last chunk does not carry the usage: {events[-1]}")
    finishes = [e["choices"][0]["finish_reason"] for e in events if e["choices"]]
    if finishes[-1] != r["choices"][0]["finish_reason"] or any(finishes[:-1]):
        fail(f"finish reasons {finishes}")
    # Thinking off by reasoning_effort: no reasoning at all.
    status, r = post("/v1/chat/completions", chat("What is 12 + 30?", reasoning_effort="none",
                                                  max_tokens=40))
    if status != 200 or r["choices"][0]["message"]["reasoning_content"] is not None or \
            r["usage"]["completion_tokens_details"]["reasoning_tokens"] != 0:
        fail(f"reasoning_effort none: {r}")
    # Stop strings: the text ends before the first occurrence; finish_reason stop.
    full = msg["reasoning_content"]
    word = full.split()[len(full.split()) // 2]
    status, r = post("/v1/chat/completions", dict(q, stop=[word]))
    got = r["choices"][0]["message"]["reasoning_content"] or ""
    if status != 200 or word in got or not full.startswith(got.strip()) or \
            r["choices"][0]["finish_reason"] != "stop":
        fail(f"stop {word!r}: {r}")
    # Completions: the text continues the prompt; n choices with seeds differ at temperature 1.
    status, r = post("/v1/completions", {"prompt": "What is 3 + 4?", "max_tokens": 8,
                                         "temperature": 0})
    if status != 200 or r["object"] != "text_completion" or not r["choices"][0]["text"]:
        fail(f"completions: {r}")
    ev = stream("/v1/completions", {"prompt": "What is 3 + 4?", "max_tokens": 8,
                                    "temperature": 0})
    if "".join(e["choices"][0]["text"] for e in ev if e["choices"]) != r["choices"][0]["text"]:
        fail("streamed completion differs")
    status, r = post("/v1/chat/completions", chat("Sort 5, 2, 9.", n=3, temperature=1.0, seed=7,
                                                  max_tokens=30))
    if status != 200 or len(r["choices"]) != 3 or [c["index"] for c in r["choices"]] != [0, 1, 2]:
        fail(f"n=3: {r}")
    status, r2 = post("/v1/chat/completions", chat("Sort 5, 2, 9.", n=3, temperature=1.0, seed=7,
                                                   max_tokens=30))
    if [c["message"] for c in r["choices"]] != [c["message"] for c in r2["choices"]]:
        fail("the same seed gave different samples")
    status, _, m = request("GET", "/metrics")
    text = m.decode()
    for name in ["nanoprime_requests_total", "nanoprime_generated_tokens_total",
                 "nanoprime_tokens_per_second", "nanoprime_queue_length", "nanoprime_slots_busy"]:
        if f"\n{name} " not in text:
            fail(f"/metrics lacks {name}")
    print("api: ok")


def expect_error(case, status, param, method="POST", path="/v1/chat/completions", **kw):
    got, _, out = request(method, path, **kw)
    try:
        err = json.loads(out)["error"]
    except (ValueError, KeyError, TypeError):
        fail(f"{case}: not an OpenAI error body: {got} {out[:200]!r}")
    if got != status or (param is not None and err.get("param") != param) or not err["message"]:
        fail(f"{case}: want {status} naming {param}, got {got} {err}")
    alive()


def check_errors(max_body, ctx):
    msgs = [{"role": "user", "content": "hi"}]
    expect_error("malformed JSON", 400, None, raw=b'{"messages": [')
    expect_error("not an object", 400, None, raw=b"[1, 2]")
    expect_error("binary", 400, None, raw=bytes(range(256)))
    expect_error("no messages", 400, "messages", body={})
    expect_error("empty messages", 400, "messages", body={"messages": []})
    expect_error("unknown role", 400, "messages[0].role",
                 body={"messages": [{"role": "wizard", "content": "hi"}]})
    expect_error("content type", 400, "messages[0].content",
                 body={"messages": [{"role": "user", "content": {"a": 1}}]})
    expect_error("temperature type", 400, "temperature",
                 body={"messages": msgs, "temperature": "warm"})
    expect_error("top_k range", 400, "top_k", body={"messages": msgs, "top_k": -3})
    expect_error("n range", 400, "n", body={"messages": msgs, "n": 1000})
    expect_error("max_tokens beyond the context", 400, "max_tokens",
                 body={"messages": msgs, "max_tokens": ctx + 1})
    expect_error("max_completion_tokens beyond the context", 400, "max_completion_tokens",
                 body={"messages": msgs, "max_completion_tokens": ctx * 4})
    expect_error("prompt beyond the context", 400, "messages",
                 body={"messages": [{"role": "user", "content": "seven " * (ctx * 2)}]})
    expect_error("oversize body", 413, None,
                 raw=json.dumps({"messages": [{"role": "user",
                                               "content": "x" * (max_body + 10)}]}).encode())
    expect_error("completions prompt type", 400, "prompt", path="/v1/completions",
                 body={"prompt": ["a", 5]})
    expect_error("unknown endpoint", 404, None, path="/v1/embeddings", body={"input": "x"})
    expect_error("missing key", 401, None, key=None, body={"messages": msgs})
    expect_error("wrong key", 401, None, key="nope", body={"messages": msgs})
    expect_error("wrong key on models", 401, None, key="nope", method="GET", path="/v1/models")
    print("errors: ok")


def mutate(rng, body):
    """A random corruption of a valid request: type swaps, deletions, odd values, byte damage."""
    odd = [None, True, -1, 0, 1e308, -1e308, "", "x" * 300, [], {}, [None], {"a": []}, 2 ** 70,
           "\u0000", "\ud7ff\ue000", 3.5]
    b = json.loads(json.dumps(body))
    for _ in range(rng.randint(1, 3)):
        keys = list(b.keys())
        k = rng.choice(keys + ["temperature", "top_p", "top_k", "min_p", "n", "stop", "seed",
                               "presence_penalty", "frequency_penalty", "think",
                               "reasoning_effort", "think_budget", "stream", "logprobs"])
        if rng.random() < 0.2 and k in b:
            del b[k]
        elif k == "messages" and rng.random() < 0.6:
            m = rng.choice(b["messages"]) if b["messages"] else {}
            f = rng.choice(["role", "content", "name", "extra"])
            m[f] = rng.choice(odd + ["user", "system", "assistant", "tool"])
        else:
            b[k] = rng.choice(odd)
    b["max_tokens"] = rng.choice([1, 2, 3, 8, b.get("max_tokens", 4)])
    raw = json.dumps(b).encode()
    if rng.random() < 0.3:
        raw = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        raw = bytes(raw)
    if rng.random() < 0.1:
        raw = raw[: rng.randrange(len(raw))]
    return raw


def check_fuzz(cases):
    rng = random.Random(1234)
    valid = {"messages": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "What is 7 + 8?"}],
             "max_tokens": 4, "temperature": 0.5, "stop": ["\n"]}
    seen = {}
    for i in range(cases):
        raw = mutate(rng, valid)
        path = "/v1/chat/completions" if i % 4 else "/v1/completions"
        status, _, out = request("POST", path, raw=raw)
        seen[status] = seen.get(status, 0) + 1
        if status >= 500 or status not in (200, 400, 413, 429):
            fail(f"fuzz case {i}: status {status} for {raw[:300]!r}: {out[:300]!r}")
        if status == 200 and b"[DONE]" not in out:
            json.loads(out)
    alive()
    print(f"fuzz: {cases} mutated requests, statuses {sorted(seen.items())}")


def check_concurrency(clients):
    prompts = [f"What is {100 + 37 * i} + {11 * i + 5}?" for i in range(clients)]
    body = lambda p: chat(p, think="on" if len(p) % 2 else "off", max_tokens=48)
    alone = []
    for p in prompts:
        status, r = post("/v1/chat/completions", body(p))
        if status != 200:
            fail(f"alone: {status} {r}")
        alone.append(r["choices"][0]["message"])
    together, errors = [None] * clients, []

    def client(i):
        try:
            status, r = post("/v1/chat/completions", body(prompts[i]), timeout=120)
            if status != 200:
                errors.append((i, status, r))
            else:
                together[i] = r["choices"][0]["message"]
        except Exception as e:  # noqa: BLE001 - any failure is a test failure
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    if any(t.is_alive() for t in threads):
        fail("concurrent clients did not finish within 180 s")
    if errors:
        fail(f"concurrent requests failed: {errors[:3]}")
    for i in range(clients):
        if together[i] != alone[i]:
            fail(f"client {i}: batched {together[i]} != alone {alone[i]}")
    status, _, out = request("GET", "/health", key=None)
    h = json.loads(out)
    if h["slots_processing"] != 0 or h["queued"] != 0:
        fail(f"slots not freed after the clients: {h}")
    print(f"concurrency: {clients} clients identical to alone ({time.time() - t0:.1f} s)")


def metric(name):
    _, _, out = request("GET", "/metrics")
    for line in out.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    fail(f"/metrics lacks {name}")


def wait_idle(what):
    for _ in range(200):
        _, _, out = request("GET", "/health", key=None)
        h = json.loads(out)
        if h["slots_processing"] == 0 and h["queued"] == 0:
            return
        time.sleep(0.05)
    fail(f"{what}: slots still busy 10 s later: {h}")


def open_stream(body):
    """A raw socket with a streamed request sent and the response's headers read (a queued job
    sends its first event only once it has a slot)."""
    s = socket.create_connection((URL.hostname, URL.port), timeout=30)
    data = json.dumps(dict(body, stream=True)).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
              KEY.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: " +
              str(len(data)).encode() + b"\r\n\r\n" + data)
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            fail("stream closed before its headers")
        got += chunk
    if not got.startswith(b"HTTP/1.1 200"):
        fail(f"stream refused: {got[:200]!r}")
    return s


# Generations that run until the context is full.
ENDLESS = chat("Tell me a story.", temperature=1.0, think="on", seed=3, ignore_eos=True)


def check_queue(slots, queue):
    # Fill every slot and the queue with long generations, then one more request is refused.
    held = [open_stream(ENDLESS) for _ in range(slots + queue)]
    status, r = post("/v1/chat/completions", chat("hi", max_tokens=2))
    if status != 429 or r["error"]["type"] != "rate_limit_error":
        fail(f"full queue: want 429, got {status} {r}")
    cancelled = metric("nanoprime_sequences_cancelled_total")
    for s in held:
        s.close()
    wait_idle("clients that went away")
    if metric("nanoprime_sequences_cancelled_total") < cancelled + slots:
        fail("closed streams were not cancelled")
    status, r = post("/v1/chat/completions", chat("hi", max_tokens=2))
    if status != 200:
        fail(f"after the queue drained: {status} {r}")
    print("queue: 429 when full, disconnected clients cancelled, slots freed")


def check_disconnect():
    # A non-streamed request whose client goes away is cancelled too.
    cancelled = metric("nanoprime_sequences_cancelled_total")
    s = socket.create_connection((URL.hostname, URL.port), timeout=30)
    data = json.dumps(ENDLESS).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
              KEY.encode() + b"\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    time.sleep(0.3)
    s.close()
    wait_idle("a non-streamed client that went away")
    if metric("nanoprime_sequences_cancelled_total") != cancelled + 1:
        fail("the non-streamed request was not cancelled")
    print("disconnect: ok")


def check_sigterm_stream():
    """Opens an endless stream and reads it until the server closes it (the script sends SIGTERM
    once this prints 'streaming')."""
    s = open_stream(ENDLESS)
    print("streaming", flush=True)
    s.settimeout(20)
    while s.recv(65536):
        pass
    print("closed by the server")


if __name__ == "__main__":
    for check in sys.argv[3:]:
        name, _, arg = check.partition("=")
        args = [int(x) for x in arg.split(",")] if arg else []
        globals()["check_" + name](*args)
