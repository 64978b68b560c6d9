// Timing for the kernel micro-benchmarks: the time-stamp counter (nanoseconds where there is
// none) and the minimum over trials, the estimate that noise on a shared machine disturbs least.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define NP_BENCH_TSC 1
#endif

namespace np::bench {

inline uint64_t ticks() {
#ifdef NP_BENCH_TSC
    return __rdtsc();
#else
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
#endif
}

// Minimum ticks per call of fn over `trials` trials of `reps` calls.
template <class F>
double min_ticks(F&& fn, int reps, int trials) {
    double best = 1e300;
    for (int t = 0; t < trials; t++) {
        const uint64_t c0 = ticks();
        for (int i = 0; i < reps; i++) fn();
        best = std::min(best, double(ticks() - c0) / reps);
    }
    return best;
}

}  // namespace np::bench
