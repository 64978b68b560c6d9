// The machine's memory-read bandwidth, measured: decode is memory-bound (DESIGN §6), so speed is
// reported against bytes-read-per-token / this number.
#pragma once
#include <cstddef>

namespace np {

// GB/s (1e9 bytes) of summing a `bytes` buffer of 64-bit words on `threads` OpenMP threads; best
// of four passes after a first touch. Use a buffer well beyond the last-level cache (e.g. 1 GiB).
double measure_read_bandwidth_gbps(size_t bytes, int threads);

}  // namespace np
