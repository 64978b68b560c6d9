// Ternary int8 x packed-weight kernels: in-cache matvec cost in cycles per weight (one thread), and
// out-of-cache matvec throughput in GB/s of packed weight bytes against the machine's measured
// memory-read bandwidth. Prints a llama-bench-like table.
//
//   bench_ternary [--quick]
//
// Cycles are TSC reference cycles (rdtsc), converted from the TSC rate measured at start; with
// turbo/boost the core clock differs from the TSC rate, and on a shared machine every number is
// noisy: each entry is the minimum over several trials.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench_clock.h"
#include "core/memory_bandwidth.h"
#include "kernels/cpu/act_quant.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/ternary_kernels.h"
#include "kernels/cpu/ternary_pack.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <x86intrin.h>
#define NP_HAVE_X86 1
#endif

using namespace np::kern;
using np::bench::min_ticks;
using np::bench::ticks;
using Clock = std::chrono::steady_clock;

namespace {

// Ticks per second (TSC rate on x86, 1e9 elsewhere where ticks are nanoseconds).
double tick_rate() {
    const auto t0 = Clock::now();
    const uint64_t c0 = ticks();
    while (Clock::now() - t0 < std::chrono::milliseconds(200)) {
    }
    const uint64_t c1 = ticks();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    return double(c1 - c0) / s;
}

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A random packed matrix: 64 distinct packed rows tiled over all rows (packing 10^8 weights one by
// one would dominate the run; the kernels' cost does not depend on the values).
PackedTernary make_matrix(TernaryFormat f, int rows, int cols, std::mt19937& rng) {
    const int distinct = std::min(rows, 64);
    std::uniform_int_distribution<int> d(-1, 1);
    std::vector<int8_t> w(size_t(distinct) * cols);
    for (auto& v : w) v = int8_t(d(rng));
    PackedTernary small = pack_ternary(f, w.data(), distinct, cols, 0.02f);
    PackedTernary p = small;
    p.rows = rows;
    const size_t rb = small.view().row_bytes();
    p.data.resize(rb * size_t(rows));
    for (int o = distinct; o < rows; o++)
        std::memcpy(p.data.data() + size_t(o) * rb, small.data.data() + size_t(o % distinct) * rb,
                    rb);
    return p;
}

QuantizedActs make_acts(int R, int cols, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> x(size_t(R) * cols);
    for (auto& v : x) v = nd(rng);
    QuantizedActs q;
    quantize_acts_int8(q, x.data(), R, cols);
    return q;
}

template <class F>
double min_seconds(F&& fn, int reps, int trials) {
    double best = 1e300;
    for (int t = 0; t < trials; t++) {
        const auto t0 = Clock::now();
        for (int i = 0; i < reps; i++) fn();
        best = std::min(best, seconds_since(t0) / reps);
    }
    return best;
}

#ifdef NP_HAVE_X86
// A ggml-like TQ2_0 x Q8_K dot product (the structure of ggml_vec_dot_tq2_0_q8_K's AVX2 branch):
// activations in 256-blocks with a float scale and 16 partial sums each, per-block float
// accumulate.
struct BlockQ8K {
    float d;
    int8_t qs[256];
    int16_t bsums[16];
};

std::vector<BlockQ8K> to_q8k(const QuantizedActs& x) {
    std::vector<BlockQ8K> b(size_t(x.cols_padded / 256));
    for (size_t i = 0; i < b.size(); i++) {
        b[i].d = 1.f / x.scale[0];
        std::memcpy(b[i].qs, x.row(0) + i * 256, 256);
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int k = 0; k < 16; k++) s += b[i].qs[16 * j + k];
            b[i].bsums[j] = int16_t(s);
        }
    }
    return b;
}

__attribute__((target("avx2,fma"))) float ggml_like_dot_tq2(const uint8_t* xw, const BlockQ8K* y,
                                                            int nb) {
    __m256 sumf = _mm256_setzero_ps();
    for (int i = 0; i < nb; ++i, xw += 66) {
        __m256i sumi0 = _mm256_setzero_si256(), sumi1 = _mm256_setzero_si256();
        for (int j = 0; j < 64; j += 32) {
            __m256i qx0 = _mm256_loadu_si256((const __m256i*)(xw + j));
            __m256i qx1 = _mm256_srli_epi16(qx0, 2);
            __m256i qx2 = _mm256_srli_epi16(qx0, 4);
            __m256i qx3 = _mm256_srli_epi16(qx0, 6);
            qx0 = _mm256_and_si256(qx0, _mm256_set1_epi8(3));
            qx1 = _mm256_and_si256(qx1, _mm256_set1_epi8(3));
            qx2 = _mm256_and_si256(qx2, _mm256_set1_epi8(3));
            qx3 = _mm256_and_si256(qx3, _mm256_set1_epi8(3));
            const __m256i qy0 = _mm256_loadu_si256((const __m256i*)(y[i].qs + j * 4 + 0));
            const __m256i qy1 = _mm256_loadu_si256((const __m256i*)(y[i].qs + j * 4 + 32));
            const __m256i qy2 = _mm256_loadu_si256((const __m256i*)(y[i].qs + j * 4 + 64));
            const __m256i qy3 = _mm256_loadu_si256((const __m256i*)(y[i].qs + j * 4 + 96));
            qx0 = _mm256_maddubs_epi16(qx0, qy0);
            qx1 = _mm256_maddubs_epi16(qx1, qy1);
            qx2 = _mm256_maddubs_epi16(qx2, qy2);
            qx3 = _mm256_maddubs_epi16(qx3, qy3);
            sumi0 = _mm256_add_epi16(sumi0, _mm256_add_epi16(qx0, qx1));
            sumi1 = _mm256_add_epi16(sumi1, _mm256_add_epi16(qx2, qx3));
        }
        const __m256i ysum = _mm256_loadu_si256((const __m256i*)y[i].bsums);
        uint16_t dh;
        std::memcpy(&dh, xw + 64, 2);
        const __m256 d = _mm256_set1_ps(y[i].d * fp16_to_fp32(dh));
        sumi0 = _mm256_sub_epi16(_mm256_add_epi16(sumi0, sumi1), ysum);
        sumi0 = _mm256_madd_epi16(sumi0, _mm256_set1_epi16(1));
        sumf = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(sumi0), d), sumf);
    }
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(sumf), _mm256_extractf128_ps(sumf, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

// ggml's generic (scalar) TQ2_0 dot, for scale.
float ggml_like_dot_tq2_scalar(const uint8_t* xw, const int8_t* y, float yd, int nb) {
    float sumf = 0;
    for (int i = 0; i < nb; ++i, xw += 66, y += 256) {
        int32_t sumi = 0;
        for (int j = 0; j < 64; j += 32)
            for (int l = 0; l < 4; ++l)
                for (int k = 0; k < 32; ++k)
                    sumi += y[j * 4 + l * 32 + k] * (((xw[j + k] >> (l * 2)) & 3) - 1);
        uint16_t dh;
        std::memcpy(&dh, xw + 64, 2);
        sumf += float(sumi) * fp16_to_fp32(dh) * yd;
    }
    return sumf;
}

void print_sep() {
    std::printf("| %-26s | %-6s | %-10s | %-11s | %7s | %11s | %8s | %9s |\n", "", "", "", "", "",
                "", "", "");
}

}  // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
    std::mt19937 rng(1);
    const double rate = tick_rate();
    const int max_threads = omp_get_max_threads();
    std::printf("ternary kernels bench: tick = %s at %.3f GHz; %d OpenMP threads available\n",
#ifdef NP_HAVE_X86
                "rdtsc (TSC reference cycle)",
#else
                "nanosecond",
#endif
                rate / 1e9, max_threads);
    std::printf("paths available:");
    for (KernelPath p : available_kernel_paths()) std::printf(" %s", kernel_path_name(p));
    std::printf("   (target: <= 0.05 cycles/weight, one core, in cache)\n\n");

    std::printf("| %-26s | %-6s | %-10s | %-11s | %7s | %11s | %8s | %9s |\n", "test", "format",
                "path", "shape", "threads", "cyc/weight", "GB/s", "% mem BW");
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", std::string(26, '-').c_str(),
                std::string(6, '-').c_str(), std::string(10, '-').c_str(),
                std::string(11, '-').c_str(), std::string(7, '-').c_str(),
                std::string(11, '-').c_str(), std::string(8, '-').c_str(),
                std::string(9, '-').c_str());

    // ---- in cache, one thread
    // --------------------------------------------------------------------
    omp_set_num_threads(1);
    const int N = 1024;
    const double weights = double(N) * N;
    const int trials = quick ? 3 : 15;
    std::vector<float> y(size_t(N) * 16);
    for (TernaryFormat f : {TernaryFormat::TQ2_0, TernaryFormat::TQ1_0}) {
        const PackedTernary p = make_matrix(f, N, N, rng);
        const QuantizedActs x = make_acts(1, N, rng);
        const char* fname = f == TernaryFormat::TQ2_0 ? "tq2_0" : "tq1_0";
        for (KernelPath path : available_kernel_paths()) {
            const int reps = path == KernelPath::Scalar ? 2 : 20;
            const double t =
                min_ticks([&] { ternary_matvec(y.data(), p.view(), x, 0, path); }, reps, trials);
            std::printf("| %-26s | %-6s | %-10s | %5dx%-5d | %7d | %11.4f | %8.2f | %9s |\n",
                        "matvec in cache", fname, kernel_path_name(path), N, N, 1, t / weights,
                        double(p.data.size()) / (t / rate) / 1e9, "");
        }
        if (f == TernaryFormat::TQ2_0) {
            const QuantizedActs& xa = x;
            volatile float sink = 0;
#ifdef NP_HAVE_X86
            if (kernel_path_available(KernelPath::AVX2)) {
                const auto q8 = to_q8k(xa);
                const double t = min_ticks(
                    [&] {
                        for (int o = 0; o < N; o++)
                            y[o] = ggml_like_dot_tq2(p.view().row(o), q8.data(), N / 256);
                        sink = sink + y[0];
                    },
                    20, trials);
                std::printf("| %-26s | %-6s | %-10s | %5dx%-5d | %7d | %11.4f | %8.2f | %9s |\n",
                            "ggml-like dot (reference)", fname, "avx2", N, N, 1, t / weights,
                            double(p.data.size()) / (t / rate) / 1e9, "");
            }
#endif
            const double t = min_ticks(
                [&] {
                    for (int o = 0; o < N; o++)
                        y[o] = ggml_like_dot_tq2_scalar(p.view().row(o), xa.row(0), 1.f, N / 256);
                    sink = sink + y[0];
                },
                2, trials);
            std::printf("| %-26s | %-6s | %-10s | %5dx%-5d | %7d | %11.4f | %8.2f | %9s |\n",
                        "ggml-like dot (reference)", fname, "scalar", N, N, 1, t / weights,
                        double(p.data.size()) / (t / rate) / 1e9, "");
        }
        // Prefill: 16 tokens at once, cost per weight per token.
        const QuantizedActs x16 = make_acts(16, N, rng);
        const KernelPath best = best_kernel_path();
        const double t =
            min_ticks([&] { ternary_matmul(y.data(), p.view(), x16, best); }, 4, trials);
        std::printf("| %-26s | %-6s | %-10s | %5dx%-5d | %7d | %11.4f | %8s | %9s |\n",
                    "matmul 16 tok (per w*tok)", fname, kernel_path_name(best), N, N, 1,
                    t / weights / 16, "", "");
    }
    print_sep();

    // ---- out of cache: streaming the weights
    // -------------------------------------------------------
    const size_t mem_bytes = quick ? (size_t(256) << 20) : (size_t(1) << 30);
    const int big_rows = quick ? 8192 : 16384, big_cols = quick ? 8192 : 16384;
    for (int threads : {1, max_threads}) {
        if (threads == 1 && max_threads == 1) continue;
        const double bw = np::measure_read_bandwidth_gbps(mem_bytes, threads);
        std::printf("| %-26s | %-6s | %-10s | %-11s | %7d | %11s | %8.2f | %9s |\n",
                    "memory read (stream sum)", "-", "-",
                    (std::to_string(mem_bytes >> 20) + " MiB").c_str(), threads, "", bw, "100");
        omp_set_num_threads(threads);
        for (TernaryFormat f : {TernaryFormat::TQ2_0, TernaryFormat::TQ1_0}) {
            const PackedTernary p = make_matrix(f, big_rows, big_cols, rng);
            const QuantizedActs x = make_acts(1, big_cols, rng);
            std::vector<float> yb(static_cast<size_t>(big_rows));
            const KernelPath best = best_kernel_path();
            ternary_matvec(yb.data(), p.view(), x, 0, best);  // warm up the thread pool
            const double s = min_seconds([&] { ternary_matvec(yb.data(), p.view(), x, 0, best); },
                                         3, quick ? 2 : 5);
            const double gbps = double(p.data.size()) / s / 1e9;
            std::printf(
                "| %-26s | %-6s | %-10s | %5dx%-5d | %7d | %11.4f | %8.2f | %9.1f |\n",
                (std::string("matvec ") + std::to_string(p.data.size() >> 20) + " MiB").c_str(),
                f == TernaryFormat::TQ2_0 ? "tq2_0" : "tq1_0", kernel_path_name(best), big_rows,
                big_cols, threads, s * rate * threads / (double(big_rows) * big_cols), gbps,
                100 * gbps / bw);
        }
        // Decode reads many small matrices, not one big one: a sequence of FFN-sized [2048, 768]
        // TQ2_0 matrices (~400 KB each) adding up to more than the caches, one product each.
        {
            const int rows = 2048, cols = 768, count = quick ? 96 : 160;
            const PackedTernary one = make_matrix(TernaryFormat::TQ2_0, rows, cols, rng);
            const std::vector<PackedTernary> seq(size_t(count), one);
            const QuantizedActs x = make_acts(1, cols, rng);
            std::vector<float> ys(static_cast<size_t>(rows));
            const KernelPath best = best_kernel_path();
            const double s = min_seconds(
                [&] {
                    for (const PackedTernary& p : seq)
                        ternary_matvec(ys.data(), p.view(), x, 0, best);
                },
                2, quick ? 2 : 5);
            const double bytes = double(one.data.size()) * count;
            std::printf("| %-26s | %-6s | %-10s | %5dx%-5d | %7d | %11.4f | %8.2f | %9.1f |\n",
                        ("matvec seq " + std::to_string(count) + " x " +
                         std::to_string(one.data.size() >> 10) + " KiB")
                            .c_str(),
                        "tq2_0", kernel_path_name(best), rows, cols, threads,
                        s * rate * threads / (double(rows) * cols * count), bytes / s / 1e9,
                        100 * bytes / s / 1e9 / bw);
        }
    }
    std::printf(
        "\ncyc/weight: ticks per weight per thread (TSC cycles, not core cycles); GB/s: packed"
        " weight bytes per second;\n%% mem BW: against the stream-sum read bandwidth on the"
        " same thread count. Shared machine: numbers are noisy (min of trials).\n");
    return 0;
}
