// The machine's memory-read bandwidth, measured: decode is memory-bound (DESIGN §6), so speed is
// reported against bytes-read-per-token / this number.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace np {

// A buffer of `bytes` (well beyond the last-level cache, e.g. 256 MiB - 1 GiB), touched once, then
// summed as 64-bit words as often as asked. Keeping it lets a benchmark re-measure right next to
// each of its repetitions, so that a ratio to the bandwidth is taken under the same conditions
// (on a shared machine the bandwidth itself moves by tens of percent over a minute).
class ReadBandwidthProbe {
public:
    explicit ReadBandwidthProbe(size_t bytes);
    // GB/s (1e9 bytes) on `threads` OpenMP threads, best of `passes` passes.
    double measure_gbps(int threads, int passes = 4);
    size_t bytes() const { return n_ * sizeof(uint64_t); }

private:
    // Written once by the threads that will read it (no serial zero-fill of the whole buffer).
    size_t n_;
    std::unique_ptr<uint64_t[]> buf_;
};

// One-off measurement: ReadBandwidthProbe(bytes).measure_gbps(threads, 4).
double measure_read_bandwidth_gbps(size_t bytes, int threads);

}  // namespace np
