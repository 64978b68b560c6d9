#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan + UBSan) and runs each one briefly from its
# committed corpus: the fuzz step of CI (ctest -L fuzz). Longer runs: see README.md.
#   smoke.sh SOURCE_DIR BUILD_DIR    (BUILD_DIR: a clang build directory of its own)
# NP_FUZZ_SMOKE_SECONDS (default 20) sets the time per fuzzer. A crash leaves its input as
# BUILD_DIR/findings/<name>/crash-* (add it to tests/fuzz/regressions/<name>/ once fixed).
# Exit 77 (ctest: skipped) when clang or its libFuzzer runtime is not installed.
set -euo pipefail
src=$(cd "$1" && pwd)
build=$2
secs=${NP_FUZZ_SMOKE_SECONDS:-20}
targets=(gguf safetensors tokenizer shard config checkpoint prepare chat request)

if ! command -v clang++ >/dev/null; then
    echo "fuzz smoke: clang++ not found (install clang, libclang-rt-dev, libomp-dev); skipped"
    exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <cstdint>\n#include <cstddef>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' \
    >"$probe/p.cpp"
if ! clang++ -fsanitize=fuzzer,address,undefined -fopenmp "$probe/p.cpp" -o "$probe/p" 2>"$probe/err"; then
    echo "fuzz smoke: clang cannot link a libFuzzer + ASan + OpenMP program (install libclang-rt-dev, libomp-dev); skipped"
    cat "$probe/err"
    exit 77
fi

CXX=clang++ cmake -S "$src" -B "$build" -G Ninja -DNP_FUZZ=ON -DNP_BUILD_TESTS=OFF \
    -DNP_BUILD_BENCH=OFF -DNP_MPI=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1" >/dev/null
ninja -C "$build" -j2 fuzzers

export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
# Leak checks stay on; report UBSan findings with stacks.
export UBSAN_OPTIONS=print_stacktrace=1
status=0
for t in "${targets[@]}"; do
    work="$build/findings/$t"
    rm -rf "$work"
    mkdir -p "$work/new"
    # New inputs go to a scratch directory (the first), never into the committed corpus.
    args=("$work/new" "$src/tests/fuzz/corpus/$t")
    [ -d "$src/tests/fuzz/regressions/$t" ] && args+=("$src/tests/fuzz/regressions/$t")
    [ -f "$src/tests/fuzz/dict/$t.dict" ] && args+=("-dict=$src/tests/fuzz/dict/$t.dict")
    if "$build/tests/fuzz/fuzz_$t" "${args[@]}" -max_total_time="$secs" -timeout=20 \
        -rss_limit_mb=2048 -artifact_prefix="$work/" -print_final_stats=1 \
        >"$work/log.txt" 2>&1; then
        echo "fuzz_$t: ok ($(grep -E '^(stat::number_of_executed_units|#[0-9]+\s+DONE)' "$work/log.txt" | tr '\n' ' '))"
    else
        echo "fuzz_$t: FAILED; log $work/log.txt, input: $(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | tr '\n' ' ')"
        tail -n 60 "$work/log.txt"
        status=1
    fi
done
exit $status
