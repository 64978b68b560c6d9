#include "core/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace np {

double measure_read_bandwidth_gbps(size_t bytes, int threads) {
    using Clock = std::chrono::steady_clock;
    std::vector<uint64_t> buf(bytes / 8);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < buf.size(); i++) buf[i] = i;
    volatile uint64_t sink = 0;
    double best = 0;
    for (int pass = 0; pass < 4; pass++) {
        const auto t0 = Clock::now();
        uint64_t total = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : total)
        for (size_t i = 0; i < buf.size(); i++) total += buf[i];
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        sink = sink + total;
        best = std::max(best, double(bytes) / s / 1e9);
    }
    return best;
}

}  // namespace np
