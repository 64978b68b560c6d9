#!/usr/bin/env bash
# `nanoprime serve` end to end over loopback HTTP with the shipped demo model: the OpenAI endpoints
# (thinking as reasoning_content in responses and streams, stop strings, n, completions, usage,
# metrics, the web page), a malformed-request corpus and a fuzz of mutated requests (each 4xx,
# the server alive), 16 concurrent greedy clients that get exactly what each gets alone, 429 when
# the queue is full, cancellation of clients that go away, and SIGTERM ending a stream and the
# server with exit 0. Bad flags fail cleanly.
# Usage: serve_cli.sh PATH/TO/nanoprime
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"  # CLI, PY, a temp dir, fail, expect_error, ...
SRC=${NP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MODEL=$SRC/models/nano-think.gguf
CLIENT="$PY $NP_TEST_LIB/serve_client.py"
source "$NP_TEST_LIB/serve.sh"  # start_server, stop_server

expect_error "--model" serve
expect_error "nope.gguf" serve -m nope.gguf
expect_error "--parallel" serve -m "$MODEL" -np 0
expect_error "--port" serve -m "$MODEL" --port 70000
expect_error "--think" serve -m "$MODEL" --think maybe
expect_error "--temperature" serve -m "$MODEL" --temperature -2

CTX=4096
start_server serve.log -np 4 --queue 16 -c $CTX --api-key sekret --max-body 65536 -t 2
# Binding an address in use fails with a message naming it.
PORT=${BASE##*:}
expect_error "127.0.0.1:$PORT" serve -m "$MODEL" --port "$PORT"
$CLIENT "$BASE" sekret api "errors=65536,$CTX" fuzz=300 concurrency=16 queue=4,16 disconnect
stop_server serve.log

# SIGTERM while a stream runs: the stream ends, the server exits 0.
start_server serve2.log -np 1 -c $CTX --api-key k
$CLIENT "$BASE" k sigterm_stream > stream.out &
CLIENT_PID=$!
for _ in $(seq 300); do grep -q streaming stream.out && break; sleep 0.05; done
grep -q streaming stream.out || fail "the stream did not start"
stop_server serve2.log
wait $CLIENT_PID || { cat stream.out; fail "the stream client failed"; }
grep -q "closed by the server" stream.out || fail "the stream was not closed"
grep -q "SIGTERM, stopping" serve2.log || fail "serve did not report the signal"
echo "serve_cli: all checks passed"
