// Software prefetch for the decode products, which stream their weights from DRAM once per token.
// The hardware prefetchers alone leave a 2-thread matvec at ~50-70% of the read bandwidth on a
// Zen 3 (they restart at every 4 KiB page and every new matrix); asking for the line 2 KiB ahead of
// the one being multiplied brings a 64 MiB TQ2_0 matvec to ~80% and a sequence of model-sized
// matrices from ~60% to ~70% (bench/bench_ternary "stream" rows). Distances of 1-8 KiB measured
// within noise of each other; 2 KiB also works for rows of 200 bytes (d_model 768) to 1 KiB.
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
