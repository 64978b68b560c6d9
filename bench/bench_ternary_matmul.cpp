// The int8 x ternary matrix-matrix kernel that prefill and batched decode share: one thread,
// weights and activations in cache, multiply-adds per TSC tick (minimum over trials) for each
// kernel path and token count, against the machine's int8 multiply-add peak measured the same
// way (a loop of independent vpdpbusd where the CPU has AVX-512 VNNI, else AVX2 vpmaddubsw).
// Shapes: small's d_model (768) and FFN (2048) widths. "x16": the rows repacked 16 at a time
// (ternary_x16.h), as the packed model holds them where this path runs.
//
//   bench_ternary_matmul [--quick]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench_clock.h"
#include "kernels/cpu/act_quant.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/ternary_kernels.h"
#include "kernels/cpu/ternary_pack.h"
#include "kernels/cpu/ternary_x16.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <x86intrin.h>
#define NP_HAVE_X86 1
#endif

using namespace np::kern;
using np::bench::min_ticks;

namespace {

#ifdef NP_HAVE_X86
// Peak int8 multiply-adds: 12 independent accumulator chains in registers (written in assembly:
// compilers keep an array of vector accumulators in memory), enough to cover the latency.
// vpdpbusd: 64 u8 x s8 products per instruction.
__attribute__((target("avx512f,avx512vnni"), noinline)) void vnni_peak_loop(long n) {
    asm volatile(
        "vpxord %%zmm12, %%zmm12, %%zmm12\n vpternlogd $0xff, %%zmm13, %%zmm13, %%zmm13\n"
        "1:\n"
        "vpdpbusd %%zmm12, %%zmm13, %%zmm0\n vpdpbusd %%zmm12, %%zmm13, %%zmm1\n"
        "vpdpbusd %%zmm12, %%zmm13, %%zmm2\n vpdpbusd %%zmm12, %%zmm13, %%zmm3\n"
        "vpdpbusd %%zmm12, %%zmm13, %%zmm4\n vpdpbusd %%zmm12, %%zmm13, %%zmm5\n"
        "vpdpbusd %%zmm12, %%zmm13, %%zmm6\n vpdpbusd %%zmm12, %%zmm13, %%zmm7\n"
        "vpdpbusd %%zmm12, %%zmm13, %%zmm8\n vpdpbusd %%zmm12, %%zmm13, %%zmm9\n"
        "vpdpbusd %%zmm12, %%zmm13, %%zmm10\n vpdpbusd %%zmm12, %%zmm13, %%zmm11\n"
        "dec %0\n jnz 1b\n"
        : "+r"(n)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
          "xmm11", "xmm12", "xmm13", "cc");
}
// AVX2: vpmaddubsw (32 u8 x s8 products into int16 pairs) + vpaddw, the AVX2 kernel's step.
__attribute__((target("avx2"), noinline)) void avx2_peak_loop(long n) {
    asm volatile(
        "vpxor %%ymm12, %%ymm12, %%ymm12\n vpcmpeqb %%ymm13, %%ymm13, %%ymm13\n"
        "1:\n"
        "vpmaddubsw %%ymm12, %%ymm13, %%ymm6\n vpaddw %%ymm6, %%ymm0, %%ymm0\n"
        "vpmaddubsw %%ymm12, %%ymm13, %%ymm7\n vpaddw %%ymm7, %%ymm1, %%ymm1\n"
        "vpmaddubsw %%ymm12, %%ymm13, %%ymm8\n vpaddw %%ymm8, %%ymm2, %%ymm2\n"
        "vpmaddubsw %%ymm12, %%ymm13, %%ymm9\n vpaddw %%ymm9, %%ymm3, %%ymm3\n"
        "vpmaddubsw %%ymm12, %%ymm13, %%ymm10\n vpaddw %%ymm10, %%ymm4, %%ymm4\n"
        "vpmaddubsw %%ymm12, %%ymm13, %%ymm11\n vpaddw %%ymm11, %%ymm5, %%ymm5\n"
        "dec %0\n jnz 1b\n"
        : "+r"(n)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
          "xmm11", "xmm12", "xmm13", "cc");
}
#endif

}  // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
    const int trials = quick ? 3 : 9;
    std::mt19937 rng(1);
    std::printf(
        "int8 x ternary matmul, one thread, in cache: multiply-adds per TSC tick "
        "(min of %d trials)\n\n",
        trials);
    double peak = 0;
    const char* peak_name = "none";
#ifdef NP_HAVE_X86
    const long n = 1 << 16;
    if (__builtin_cpu_supports("avx512vnni")) {
        peak = 12.0 * 64 * double(n) / min_ticks([&] { vnni_peak_loop(n); }, 4, trials);
        peak_name = "avx512 vpdpbusd";
    } else if (__builtin_cpu_supports("avx2")) {
        peak = 6.0 * 32 * double(n) / min_ticks([&] { avx2_peak_loop(n); }, 4, trials);
        peak_name = "avx2 vpmaddubsw";
    }
#endif
    std::printf("int8 multiply-add peak (%s): %.1f MAC/tick\n\n", peak_name, peak);
    std::printf("| path           | rows x cols  | tokens | MAC/tick | %% of peak |\n");
    std::printf("| -------------- | ------------ | -----: | -------: | --------: |\n");
    for (auto [rows, cols] : {std::pair{768, 768}, std::pair{2048, 768}, std::pair{768, 2048}}) {
        std::uniform_int_distribution<int> d(-1, 1);
        std::vector<int8_t> w(size_t(rows) * cols);
        for (auto& v : w) v = int8_t(d(rng));
        const PackedTernary p = pack_ternary(TernaryFormat::TQ2_0, w.data(), rows, cols, 0.02f);
        const TernaryX16 x16 = TernaryX16::repack(p.view());
        for (int tokens : {8, 128}) {
            std::normal_distribution<float> nd(0.f, 1.f);
            std::vector<float> xf(size_t(tokens) * cols);
            for (auto& v : xf) v = nd(rng);
            QuantizedActs x;
            quantize_acts_int8(x, xf.data(), tokens, cols);
            std::vector<int32_t> out(size_t(tokens) * rows);
            for (KernelPath path : available_kernel_paths()) {
                if (path == KernelPath::Scalar) continue;
                for (bool repacked : {false, true}) {
                    if (repacked && path != KernelPath::AVX512VNNI) continue;
                    TernaryView v = p.view();
                    if (repacked) v.x16 = x16.data(), v.x16_groups = x16.groups();
                    const double t = min_ticks([&] { ternary_matmul_dots(out.data(), v, x, path); },
                                               quick ? 2 : 5, trials);
                    const double mac = double(rows) * cols * tokens / t;
                    const std::string name =
                        std::string(kernel_path_name(path)) + (repacked ? " x16" : "");
                    std::printf("| %-14s | %5d x %-4d | %6d | %8.1f | %8.1f%% |\n", name.c_str(),
                                rows, cols, tokens, mac, peak > 0 ? 100 * mac / peak : 0.0);
                }
            }
        }
    }
    return 0;
}
