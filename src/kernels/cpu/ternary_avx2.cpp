// AVX2 kernels. Compiled with a per-function target attribute, so this file builds (and the library
// runs) on CPUs without AVX2; the dispatcher only calls these when the CPU has it.
//
// Arithmetic: _mm256_maddubs_epi16(codes u8 in {0,1,2}, x s8) gives pair sums in [-512, 508], and a
// block (256 weights = 8 such vectors) summed in int16 stays within [-4096, 4064]: exact. Blocks
// are widened to int32 (madd with ones) before accumulating across the row.
#include "kernels/cpu/ternary_impl.h"

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/cpu/prefetch.h"
#include "kernels/cpu/ternary_x86_inl.h"

namespace np::kern::detail {

namespace {

using namespace x86;

// NR rows at once share each activation load; within a block the codes of shift n of every row
// meet the same 32 activations. Pair sums of maddubs lie in [-512, 508] (codes <= 2, x in
// [-128, 127]), a block adds 8 of them per int16 lane, so int16 lanes hold kBlocksPerWiden = 8
// blocks ([-32768, 32512]) before they are widened to int32: one widening per 2048 weights instead
// of per block keeps the loop to shift, and, maddubs, add.
constexpr int kBlocksPerWiden = 8;

template <int NR>
NP_AVX2 void tq2_rows(const KernelArgs& a, int o, const DotOut& out) {
    const __m256i m3 = _mm256_set1_epi8(3);
    const uint8_t* w[NR];
    __m256i acc[NR];
    for (int r = 0; r < NR; r++) {
        w[r] = a.W + size_t(o + r) * a.row_bytes;
        acc[r] = _mm256_setzero_si256();
    }
    for (int b0 = 0; b0 < a.nblocks; b0 += kBlocksPerWiden) {
        const int b1 = std::min(a.nblocks, b0 + kBlocksPerWiden);
        __m256i s[NR];
        for (int r = 0; r < NR; r++) s[r] = _mm256_setzero_si256();
        for (int b = b0; b < b1; b++) {
            const int8_t* xb = a.x + b * kTernaryBlock;
            for (int r = 0; r < NR; r++)
                prefetch_weights(w[r] + size_t(b) * sizeof(BlockTQ2_0) + kWeightPrefetchBytes);
            for (int j = 0; j < 2; j++) {
                const int8_t* xj = xb + 128 * j;
                const __m256i x0 = ld(xj), x1 = ld(xj + 32), x2 = ld(xj + 64), x3 = ld(xj + 96);
                for (int r = 0; r < NR; r++) {
                    const __m256i v = ld(w[r] + size_t(b) * sizeof(BlockTQ2_0) + 32 * j);
                    const __m256i p0 = _mm256_maddubs_epi16(tq2_codes<0>(v, m3), x0);
                    const __m256i p1 = _mm256_maddubs_epi16(tq2_codes<1>(v, m3), x1);
                    const __m256i p2 = _mm256_maddubs_epi16(tq2_codes<2>(v, m3), x2);
                    const __m256i p3 = _mm256_maddubs_epi16(tq2_codes<3>(v, m3), x3);
                    s[r] = _mm256_add_epi16(
                        s[r], _mm256_add_epi16(_mm256_add_epi16(p0, p1), _mm256_add_epi16(p2, p3)));
                }
            }
        }
        for (int r = 0; r < NR; r++)
            acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(s[r], _mm256_set1_epi16(1)));
    }
    for (int r = 0; r < NR; r++) out.put(0, o + r, hsum(acc[r]) - a.xsum[0]);
}

NP_AVX2 void tq2_matvec(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    int o = o0;
    for (; o + 2 <= o1; o += 2) tq2_rows<2>(a, o, out);
    if (o < o1) tq2_rows<1>(a, o, out);
}

template <int NR>
NP_AVX2 void tq1_rows(const KernelArgs& a, int o, const DotOut& out) {
    const Tq1Consts k = tq1_consts();
    const __m256i ones = _mm256_set1_epi16(1);
    const uint8_t* w[NR];
    __m256i acc[NR];
    for (int r = 0; r < NR; r++) {
        w[r] = a.W + size_t(o + r) * a.row_bytes;
        acc[r] = _mm256_setzero_si256();
    }
    for (int b = 0; b < a.nblocks; b++) {
        const int8_t* xb = a.x + b * kTernaryBlock;
        for (int r = 0; r < NR; r++) {
            prefetch_weights(w[r] + kWeightPrefetchBytes);
            __m256i s = _mm256_setzero_si256();
            __m256i c[8];
            tq1_block_codes(w[r], k, c);
            for (int i = 0; i < 8; i++)
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c[i], ld(xb + 32 * i)));
            acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(s, ones));
            w[r] += sizeof(BlockTQ1_0);
        }
    }
    for (int r = 0; r < NR; r++) out.put(0, o + r, hsum(acc[r]) - a.xsum[0]);
}

NP_AVX2 void tq1_matvec(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    int o = o0;
    for (; o + 2 <= o1; o += 2) tq1_rows<2>(a, o, out);
    if (o < o1) tq1_rows<1>(a, o, out);
}

// ---- matmul: decode a row once, then tiles of up to 4 tokens over the codes
// -----------------------
template <int NT>
NP_AVX2 void codes_dot_tile(const KernelArgs& a, int t0, int o, const DotOut& out) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int8_t* x[NT];
    __m256i acc[NT];
    for (int t = 0; t < NT; t++) {
        x[t] = a.x + size_t(t0 + t) * a.ldx;
        acc[t] = _mm256_setzero_si256();
    }
    const uint8_t* c = a.codes;
    for (int b = 0; b < a.nblocks; b++, c += kTernaryBlock) {
        __m256i s[NT];
        for (int t = 0; t < NT; t++) s[t] = _mm256_setzero_si256();
        for (int i = 0; i < 8; i++) {
            const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(c) + i);
            for (int t = 0; t < NT; t++)
                s[t] = _mm256_add_epi16(
                    s[t], _mm256_maddubs_epi16(w, ld(x[t] + b * kTernaryBlock + 32 * i)));
        }
        for (int t = 0; t < NT; t++)
            acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(s[t], ones));
    }
    for (int t = 0; t < NT; t++) out.put(t0 + t, o, hsum(acc[t]) - a.xsum[t0 + t]);
}

NP_AVX2 void codes_dot_all(const KernelArgs& a, int o, const DotOut& out) {
    int t = 0;
    for (; t + 4 <= a.ntok; t += 4) codes_dot_tile<4>(a, t, o, out);
    switch (a.ntok - t) {
        case 3:
            codes_dot_tile<3>(a, t, o, out);
            break;
        case 2:
            codes_dot_tile<2>(a, t, o, out);
            break;
        case 1:
            codes_dot_tile<1>(a, t, o, out);
            break;
        default:
            break;
    }
}

NP_AVX2 void tq2_matmul(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    for (int o = o0; o < o1; o++) {
        tq2_decode_row(a.codes, a.W + size_t(o) * a.row_bytes, a.nblocks);
        codes_dot_all(a, o, out);
    }
}
NP_AVX2 void tq1_matmul(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    for (int o = o0; o < o1; o++) {
        tq1_decode_row(a.codes, a.W + size_t(o) * a.row_bytes, a.nblocks);
        codes_dot_all(a, o, out);
    }
}

}  // namespace

PathKernels avx2_kernels() {
    PathKernels k;
    k.matvec[0] = tq2_matvec;
    k.matvec[1] = tq1_matvec;
    k.matmul[0] = tq2_matmul;
    k.matmul[1] = tq1_matmul;
    return k;
}

}  // namespace np::kern::detail

#else
namespace np::kern::detail {
PathKernels avx2_kernels() {
    return {};
}
}  // namespace np::kern::detail
#endif
