// Work sharing for the decode products: rows split into one contiguous share per thread, which
// its owner walks front to back (one sequential stream, as with static scheduling, so the weight
// prefetch keeps running ahead), and which the other threads take from the back once their own
// shares are done.
//
// Why: with equal static shares, a 2-thread region of ~25 us on a 2-vCPU VM ended with one thread
// waiting ~3.5 us for the other on average (the two finish at random times: they share the memory
// bus and the host). OpenMP's dynamic and guided schedules balanced that but interleaved the
// threads' chunks, which cost more than the wait (A/B runs: -7% and -5% end to end).
//
// A share is one 64-bit atomic word, front in the low half and back in the high half, on its own
// cache line. The owner claims guided-size chunks (a quarter of what is left, at least `grain`)
// off the front; a thief claims half of what is left off the back. Both are one compare-and-swap,
// so a row is computed exactly once, by whoever claims it.
#pragma once
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

namespace np::kern {

class RowShares {
public:
    // Shares of rows [0, rows) for `nshares` threads, boundaries and chunks multiples of `align`
    // (the kernels' row tile). Call before the parallel region; each call reuses the storage.
    void reset(int rows, int nshares, int align, int grain);
    int shares() const { return n_; }

    // The next chunk [b, e) of share `me`, from its front; false when the share is empty.
    bool take_front(int me, int& b, int& e) {
        std::atomic<uint64_t>& w = word(me);
        uint64_t v = w.load(std::memory_order_relaxed);
        for (;;) {
            const int f = front(v), k = back(v);
            if (f >= k) return false;
            const int c = round_up(std::max(grain_, (k - f) / 4));
            const int nf = std::min(k, f + c);
            if (w.compare_exchange_weak(v, pack(nf, k), std::memory_order_relaxed)) {
                b = f;
                e = nf;
                return true;
            }
        }
    }

    // A chunk [b, e) off the back of another share (half of what is left); false when every
    // share is empty.
    bool steal(int me, int& b, int& e) {
        for (int i = 1; i < n_; i++) {
            std::atomic<uint64_t>& w = word((me + i) % n_);
            uint64_t v = w.load(std::memory_order_relaxed);
            for (;;) {
                const int f = front(v), k = back(v);
                if (f >= k) break;
                const int c = round_up(std::max(grain_, (k - f) / 2));
                const int nk = std::max(f, k - c);
                if (w.compare_exchange_weak(v, pack(f, nk), std::memory_order_relaxed)) {
                    b = nk;
                    e = k;
                    return true;
                }
            }
        }
        return false;
    }

private:
    struct alignas(64) Share {
        std::atomic<uint64_t> word{0};
    };
    static int front(uint64_t v) { return int(uint32_t(v)); }
    static int back(uint64_t v) { return int(uint32_t(v >> 32)); }
    static uint64_t pack(int f, int k) {
        return uint64_t(uint32_t(f)) | uint64_t(uint32_t(k)) << 32;
    }
    int round_up(int c) const { return (c + align_ - 1) / align_ * align_; }
    std::atomic<uint64_t>& word(int i) { return shares_[size_t(i)].word; }

    std::unique_ptr<Share[]> shares_;
    int capacity_ = 0, n_ = 0, align_ = 1, grain_ = 1;
};

// body(b, e) over chunks of rows [0, rows), on every thread when `parallel` (else on the calling
// thread), each thread streaming its own share before taking from the others'.
template <class Body>
void parallel_for_shared_rows(int rows, bool parallel, int align, int grain, Body&& body) {
    const int nth = parallel ? omp_get_max_threads() : 1;
    // The calling thread's words, passed by pointer: in the region a thread_local name would
    // denote each worker's own copy.
    thread_local RowShares shares_tls;
    RowShares* shares = &shares_tls;
    shares->reset(rows, nth, align, grain);
#pragma omp parallel num_threads(nth) if (nth > 1)
    {
        const int me = omp_get_thread_num();
        int b = 0, e = 0;
        while (shares->take_front(me, b, e) || shares->steal(me, b, e)) body(b, e);
    }
}

}  // namespace np::kern
