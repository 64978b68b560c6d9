# Sourced by the serve script tests after common.sh: start_server LOG ARGS... starts
# `nanoprime serve -m $MODEL --port 0 ARGS` in the background (SERVER_PID), waits for the address it
# prints (BASE) and stops it when the script exits; stop_server LOG sends SIGTERM and fails unless it
# exits 0.
start_server() {
    local log=$1
    shift
    "$CLI" serve -m "$MODEL" --port 0 "$@" 2>"$log" &
    SERVER_PID=$!
    trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
    for _ in $(seq 300); do
        BASE=$(grep -o 'http://[0-9.]*:[0-9]*' "$log" || true)
        [ -n "$BASE" ] && return
        kill -0 $SERVER_PID 2>/dev/null || { cat "$log"; fail "serve exited at start"; }
        sleep 0.1
    done
    fail "serve did not start within 30 s"
}
stop_server() {
    kill -TERM $SERVER_PID
    local rc=0
    wait $SERVER_PID || rc=$?
    [ $rc -eq 0 ] || { cat "$1"; fail "serve exited $rc on SIGTERM"; }
}
