// Software prefetch for the decode products, which stream their weights from DRAM once per token.
// The hardware prefetchers alone left a 2-thread TQ2_0 matvec at ~45-50% of the read bandwidth on
// a Zen 3 VM (they restart at every 4 KiB page and every new matrix); asking for the line 2 KiB
// ahead of the one being multiplied brought it to ~70-80% (a one-off A/B harness during
// development, medians of 15 runs; distances of 1-8 KiB were within noise of each other, the
// non-temporal hint was slower). bench/bench_ternary's "matvec seq" row and bench/bench_head show
// the kernels' streamed throughput with it.
#pragma once
#include <cstddef>

namespace np::kern {

inline constexpr size_t kWeightPrefetchBytes = 2048;

// Read prefetch into all cache levels (x86 prefetcht0, ARM prfm pldl1keep); never faults, so
// running past the end of a matrix is harmless.
inline void prefetch_weights(const void* p) {
    __builtin_prefetch(p, 0, 3);
}

}  // namespace np::kern
