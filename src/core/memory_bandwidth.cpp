#include "core/memory_bandwidth.h"

#include <algorithm>
#include <chrono>

namespace np {

ReadBandwidthProbe::ReadBandwidthProbe(size_t bytes)
    : n_(bytes / 8), buf_(std::make_unique_for_overwrite<uint64_t[]>(n_)) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n_; i++) buf_[i] = i;
}

double ReadBandwidthProbe::measure_gbps(int threads, int passes) {
    using Clock = std::chrono::steady_clock;
    volatile uint64_t sink = 0;
    double best = 0;
    const uint64_t* p = buf_.get();
    const size_t n = n_;
    for (int pass = 0; pass < passes; pass++) {
        const auto t0 = Clock::now();
        uint64_t total = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : total)
        for (size_t i = 0; i < n; i++) total += p[i];
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        sink = sink + total;
        best = std::max(best, double(n * 8) / s / 1e9);
    }
    return best;
}

double measure_read_bandwidth_gbps(size_t bytes, int threads) {
    return ReadBandwidthProbe(bytes).measure_gbps(threads, 4);
}

}  // namespace np
