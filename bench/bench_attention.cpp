// MLA decode kernels (kernels/cpu/latent_attention.h) against their plain-loop references, one
// thread, `small`-shaped: 12 heads, kv_rank 128, qk_rope_dim 32, nope/v dims 64, over cache lengths
// from 64 to 32k tokens; and the absorbed kv_up halves. Medians of the trials, microseconds per
// token per layer.
//
//   bench_attention [--quick]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/latent_attention.h"

using namespace np::kern;
using Clock = std::chrono::steady_clock;

namespace {

template <class F>
double median_us(F&& f, int reps, int trials) {
    std::vector<double> t;
    for (int i = 0; i < trials; i++) {
        const auto t0 = Clock::now();
        for (int r = 0; r < reps; r++) f();
        t.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / reps * 1e6);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
    omp_set_num_threads(1);
    const int nh = 12, r = 128, dr = 32, dn = 64, trials = quick ? 3 : 7;
    std::mt19937 rng(1);
    std::uniform_int_distribution<int> i8(-127, 127), tern(-1, 1);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> qt(size_t(nh) * r), qr(size_t(nh) * dr), cbar(qt.size());
    for (auto& v : qt) v = nd(rng);
    for (auto& v : qr) v = nd(rng);

    std::printf("| %-28s | %7s | %12s | %12s | %7s |\n", "kernel (12 heads, 1 thread)", "cache",
                "reference us", "kernel us", "speedup");
    std::printf("| %-28s | %7s | %12s | %12s | %7s |\n", "----------------------------",
                "------:", "-----------:", "--------:", "------:");
    for (int n : {64, 1024, 8192, 32768}) {
        if (quick && n > 8192) break;
        std::vector<int8_t> c(size_t(n) * r);
        for (auto& v : c) v = int8_t(i8(rng));
        std::vector<float> inv_s(size_t(n), 0.01f), kr(size_t(n) * dr);
        for (auto& v : kr) v = nd(rng);
        const LatentCache cache{c.data(), inv_s.data(), kr.data(), r, dr};
        LatentAttentionScratch scratch;
        const int reps = std::max(1, 20000 / n);
        const double ref = median_us(
            [&] {
                latent_attention_reference(cbar.data(), qt.data(), qr.data(), nh, n, cache, 0.1f);
            },
            std::max(1, reps / 4), trials);
        const double fast = median_us(
            [&] {
                latent_attention(cbar.data(), qt.data(), qr.data(), nh, n, cache, 0.1f, scratch);
            },
            reps, trials);
        std::printf("| %-28s | %7d | %12.1f | %12.1f | %6.1fx |\n", "latent attention", n, ref,
                    fast, ref / fast);
    }
    std::vector<int8_t> W(size_t(nh) * 2 * dn * r);
    for (auto& v : W) v = int8_t(tern(rng));
    std::vector<float> q(size_t(nh) * dn), o(size_t(nh) * dn);
    for (auto& v : q) v = nd(rng);
    auto heads = [&](auto fn) {
        return [&, fn] {
            for (int h = 0; h < nh; h++) fn(h);
        };
    };
    const double qref =
        median_us(heads([&](int h) {
                      absorb_query_reference(qt.data() + size_t(h) * r, q.data() + size_t(h) * dn,
                                             W.data() + size_t(h) * 2 * dn * r, dn, r, 0.5f);
                  }),
                  200, trials);
    const double qfast =
        median_us(heads([&](int h) {
                      absorb_query(qt.data() + size_t(h) * r, q.data() + size_t(h) * dn,
                                   W.data() + size_t(h) * 2 * dn * r, dn, r, 0.5f);
                  }),
                  2000, trials);
    std::printf("| %-28s | %7s | %12.1f | %12.1f | %6.1fx |\n", "absorb query (K half)", "-", qref,
                qfast, qref / qfast);
    const double oref = median_us(heads([&](int h) {
                                      absorb_output_reference(
                                          o.data() + size_t(h) * dn, cbar.data() + size_t(h) * r,
                                          W.data() + (size_t(h) * 2 + 1) * dn * r, dn, r, 0.5f);
                                  }),
                                  200, trials);
    const double ofast =
        median_us(heads([&](int h) {
                      absorb_output(o.data() + size_t(h) * dn, cbar.data() + size_t(h) * r,
                                    W.data() + (size_t(h) * 2 + 1) * dn * r, dn, r, 0.5f);
                  }),
                  2000, trials);
    std::printf("| %-28s | %7s | %12.1f | %12.1f | %6.1fx |\n", "absorb output (V half)", "-", oref,
                ofast, oref / ofast);
    std::printf(
        "Data stays in the CPU caches between repetitions here; in decode, kv_up and the "
        "latent cache come from memory once per token.\n");
    return 0;
}
