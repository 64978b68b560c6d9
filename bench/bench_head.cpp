// The output head product (decode's largest single matrix): ggml's Q8_0 row layout
// (dense_matvec) against the 8-row repacked layout (q8_0x8_matvec) on a `small`-shaped head,
// [32128, 768], in cache (one thread, 256 rows) and streamed from memory (all threads, the caches
// flushed before every call) against the read bandwidth measured alongside. Medians of the trials.
//
//   bench_head [--quick]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/memory_bandwidth.h"
#include "kernels/cpu/dense_rows.h"
#include "kernels/cpu/q8_0.h"
#include "kernels/cpu/q8_0_x8.h"

using namespace np::kern;
using Clock = std::chrono::steady_clock;

namespace {

struct Head {
    std::vector<BlockQ8_0> blocks;
    DenseView view;
    Q8_0x8Matrix packed;
};

Head make_head(int rows, int cols, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.f, 1.f);
    Head h;
    h.blocks.resize(size_t(rows) * (cols / kQ8Block));
    std::vector<float> row(static_cast<size_t>(cols));
    for (int o = 0; o < rows; o++) {
        for (auto& v : row) v = nd(rng);
        quantize_row_q8_0(h.blocks.data() + size_t(o) * (cols / kQ8Block), row.data(), cols);
    }
    h.view =
        DenseView{DenseType::Q8_0, rows, cols, reinterpret_cast<const uint8_t*>(h.blocks.data())};
    h.packed = Q8_0x8Matrix::repack(h.view);
    return h;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
    std::mt19937 rng(1);
    const int cols = 768, trials = quick ? 5 : 15;
    std::vector<float> x(static_cast<size_t>(cols));
    for (auto& v : x) v = std::normal_distribution<float>()(rng);
    std::printf(
        "Q8_0 head product: row layout (ggml) vs 8-row repacked; SIMD repack kernel: %s\n\n",
        q8_0x8_has_simd() ? "yes" : "no (falls back to the plain loop)");
    std::printf("| %-30s | %-11s | %7s | %12s | %12s | %9s |\n", "test", "layout", "threads",
                "ns/weight", "GB/s", "% mem BW");
    std::printf("| %s | %s | ------: | -----------: | -----------: | --------: |\n",
                std::string(30, '-').c_str(), std::string(11, '-').c_str());

    // In cache: 256 rows (209 KB) on one thread, many calls.
    {
        const Head h = make_head(256, cols, rng);
        std::vector<float> y(256);
        const int keep = omp_get_max_threads();
        omp_set_num_threads(1);
        for (int layout = 0; layout < 2; layout++) {
            auto call = [&] {
                if (layout == 0)
                    dense_matvec(y.data(), h.view, x.data());
                else
                    q8_0x8_matvec(y.data(), h.packed, x.data());
            };
            std::vector<double> t;
            for (int tr = 0; tr < trials; tr++) {
                for (int i = 0; i < 50; i++) call();
                const auto t0 = Clock::now();
                for (int i = 0; i < 500; i++) call();
                t.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / 500);
            }
            const double s = median(t);
            std::printf("| %-30s | %-11s | %7d | %12.4f | %12.2f | %9s |\n", "in cache, 256x768",
                        layout ? "repacked x8" : "rows (ggml)", 1, s * 1e9 / (256.0 * cols),
                        double(h.view.bytes()) / s / 1e9, "");
        }
        omp_set_num_threads(keep);
    }

    // Streamed: the whole head, caches flushed by reading 64 MiB before every call.
    {
        const int rows = 32128, threads = omp_get_max_threads();
        const Head h = make_head(rows, cols, rng);
        std::vector<float> y(static_cast<size_t>(rows));
        std::vector<char> flush(size_t(64) << 20, 1);
        np::ReadBandwidthProbe probe(size_t(256) << 20);
        std::vector<double> frac[2], gbps[2];
        for (int tr = 0; tr < trials; tr++) {
            const double bw = probe.measure_gbps(threads, 1);
            for (int layout = 0; layout < 2; layout++) {
                double s = 0;
                for (int i = 0; i < 4; i++) {
                    volatile char sink = 0;
                    for (size_t j = 0; j < flush.size(); j += 64) sink = sink + flush[j];
                    const auto t0 = Clock::now();
                    if (layout == 0)
                        dense_matvec(y.data(), h.view, x.data());
                    else
                        q8_0x8_matvec(y.data(), h.packed, x.data());
                    s += std::chrono::duration<double>(Clock::now() - t0).count();
                }
                const double g = 4.0 * double(h.view.bytes()) / s / 1e9;
                gbps[layout].push_back(g);
                frac[layout].push_back(g / bw);
            }
        }
        for (int layout = 0; layout < 2; layout++)
            std::printf("| %-30s | %-11s | %7d | %12s | %12.2f | %9.1f |\n",
                        "streamed, 32128x768 (26 MB)", layout ? "repacked x8" : "rows (ggml)",
                        threads, "", median(gbps[layout]), 100 * median(frac[layout]));
    }
    std::printf(
        "\nns/weight: wall time per weight on one thread; %% mem BW: against a 256 MiB stream sum"
        " measured\nright before each trial on the same threads (medians). Noisy on a shared"
        " machine.\n");
    return 0;
}
