// AVX-512 VNNI kernels: vpdpbusd multiplies u8 codes by s8 activations and adds groups of four
// straight into int32 lanes, so there is no int16 stage. TQ2_0 uses 512-bit vectors (one 64-byte
// qs load is a whole block); TQ1_0 decodes with the shared 256-bit code and accumulates with the
// 256-bit form. Per-function target attributes: the file builds anywhere, runs only when
// dispatched.
#include "kernels/cpu/ternary_impl.h"

#if defined(__x86_64__) || defined(__i386__)
// GCC 12's avx512fintrin.h initialises its "undefined" vectors as `__m256i __Y = __Y;`, which
// -Wmaybe-uninitialized (or -Wuninitialized) reports at every inlined use (GCC bug 105593, fixed
// in 12.3).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "kernels/cpu/ternary_x86_inl.h"

#define NP_VNNI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))

namespace np::kern::detail {

namespace {

using namespace x86;

// With the whole 64-byte qs in one register, shift n gives weights 32n+m in bytes 0..31 and
// 128+32n+m in bytes 32..63; the matching activations are two 32-byte halves.
NP_VNNI inline int32_t hsum512(__m512i v) {
    return hsum(_mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)));
}

template <int N>
NP_VNNI inline __m512i tq2_codes512(__m512i v, __m512i m3) {
    return _mm512_and_si512(_mm512_srli_epi16(v, 2 * N), m3);
}
template <int N>
NP_VNNI inline __m512i tq2_x512(const int8_t* xb) {
    return _mm512_inserti64x4(_mm512_zextsi256_si512(ld(xb + 32 * N)), ld(xb + 128 + 32 * N), 1);
}

template <int NR>
NP_VNNI void tq2_rows(const KernelArgs& a, int o, const DotOut& out) {
    const __m512i m3 = _mm512_set1_epi8(3);
    const uint8_t* w[NR];
    __m512i acc[NR];
    for (int r = 0; r < NR; r++) {
        w[r] = a.W + size_t(o + r) * a.row_bytes;
        acc[r] = _mm512_setzero_si512();
    }
    for (int b = 0; b < a.nblocks; b++) {
        const int8_t* xb = a.x + b * kTernaryBlock;
        const __m512i x0 = tq2_x512<0>(xb), x1 = tq2_x512<1>(xb), x2 = tq2_x512<2>(xb),
                      x3 = tq2_x512<3>(xb);
        for (int r = 0; r < NR; r++) {
            const __m512i v = _mm512_loadu_si512(w[r]);
            acc[r] = _mm512_dpbusd_epi32(acc[r], tq2_codes512<0>(v, m3), x0);
            acc[r] = _mm512_dpbusd_epi32(acc[r], tq2_codes512<1>(v, m3), x1);
            acc[r] = _mm512_dpbusd_epi32(acc[r], tq2_codes512<2>(v, m3), x2);
            acc[r] = _mm512_dpbusd_epi32(acc[r], tq2_codes512<3>(v, m3), x3);
            w[r] += sizeof(BlockTQ2_0);
        }
    }
    for (int r = 0; r < NR; r++) out.put(0, o + r, hsum512(acc[r]) - a.xsum[0]);
}

NP_VNNI void tq2_matvec(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    int o = o0;
    for (; o + 2 <= o1; o += 2) tq2_rows<2>(a, o, out);
    if (o < o1) tq2_rows<1>(a, o, out);
}

template <int NR>
NP_VNNI void tq1_rows(const KernelArgs& a, int o, const DotOut& out) {
    const Tq1Consts k = tq1_consts();
    const uint8_t* w[NR];
    __m256i acc[NR];
    for (int r = 0; r < NR; r++) {
        w[r] = a.W + size_t(o + r) * a.row_bytes;
        acc[r] = _mm256_setzero_si256();
    }
    for (int b = 0; b < a.nblocks; b++) {
        const int8_t* xb = a.x + b * kTernaryBlock;
        for (int r = 0; r < NR; r++) {
            __m256i c[8];
            tq1_block_codes(w[r], k, c);
            for (int i = 0; i < 8; i++) acc[r] = _mm256_dpbusd_epi32(acc[r], c[i], ld(xb + 32 * i));
            w[r] += sizeof(BlockTQ1_0);
        }
    }
    for (int r = 0; r < NR; r++) out.put(0, o + r, hsum(acc[r]) - a.xsum[0]);
}

NP_VNNI void tq1_matvec(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    int o = o0;
    for (; o + 2 <= o1; o += 2) tq1_rows<2>(a, o, out);
    if (o < o1) tq1_rows<1>(a, o, out);
}

// Rows o..o+NR-1 (their codes at a.codes + r*n) against tokens t0..t0+NT-1, in NR x NT int32
// accumulators: each 64-byte code vector meets NT tokens and each token vector NR rows. One row at
// a time would stream every token's activations again per row (from L2 once a prompt's
// activations outgrow L1) and issue a load per dpbusd.
template <int NR, int NT>
NP_VNNI void codes_dot_tile(const KernelArgs& a, int t0, int o, const DotOut& out) {
    const int n = a.nblocks * kTernaryBlock;
    const int8_t* x[NT];
    __m512i acc[NR][NT];
    for (int t = 0; t < NT; t++) x[t] = a.x + size_t(t0 + t) * a.ldx;
    for (auto& row : acc)
        for (auto& v : row) v = _mm512_setzero_si512();
    for (int k = 0; k < n; k += 64) {
        __m512i xv[NT];
        for (int t = 0; t < NT; t++) {
            xv[t] = _mm512_loadu_si512(x[t] + k);
            // Keeps the vector in a register: GCC would fold the load into each of the NR
            // dpbusd that use it, and the loads, not the multiply-adds, would set the pace.
            asm("" : "+v"(xv[t]));
        }
        for (int r = 0; r < NR; r++) {
            const __m512i w = _mm512_load_si512(a.codes + size_t(r) * n + k);
            for (int t = 0; t < NT; t++) acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], w, xv[t]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) out.put(t0 + t, o + r, hsum512(acc[r][t]) - a.xsum[t0 + t]);
}

template <int NR>
NP_VNNI void codes_dot_all(const KernelArgs& a, int o, const DotOut& out) {
    int t = 0;
    for (; t + 4 <= a.ntok; t += 4) codes_dot_tile<NR, 4>(a, t, o, out);
    switch (a.ntok - t) {
        case 3:
            codes_dot_tile<NR, 3>(a, t, o, out);
            break;
        case 2:
            codes_dot_tile<NR, 2>(a, t, o, out);
            break;
        case 1:
            codes_dot_tile<NR, 1>(a, t, o, out);
            break;
        default:
            break;
    }
}

// Rows decoded kMatmulRowTile at a time, the rest one by one.
template <class Decode>
NP_VNNI void matmul_rows(const KernelArgs& a, int o0, int o1, const DotOut& out, Decode decode) {
    const size_t n = size_t(a.nblocks) * kTernaryBlock;
    int o = o0;
    for (; o + kMatmulRowTile <= o1; o += kMatmulRowTile) {
        for (int r = 0; r < kMatmulRowTile; r++)
            decode(a.codes + size_t(r) * n, a.W + size_t(o + r) * a.row_bytes, a.nblocks);
        codes_dot_all<kMatmulRowTile>(a, o, out);
    }
    for (; o < o1; o++) {
        decode(a.codes, a.W + size_t(o) * a.row_bytes, a.nblocks);
        codes_dot_all<1>(a, o, out);
    }
}

NP_VNNI void tq2_matmul(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    matmul_rows(a, o0, o1, out,
                [](uint8_t* c, const uint8_t* row, int nb) { tq2_decode_row(c, row, nb); });
}
NP_VNNI void tq1_matmul(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    matmul_rows(a, o0, o1, out,
                [](uint8_t* c, const uint8_t* row, int nb) { tq1_decode_row(c, row, nb); });
}

}  // namespace

PathKernels avx512vnni_kernels() {
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
PathKernels avx512vnni_kernels() {
    return {};
}
}  // namespace np::kern::detail
#endif
