// AVX-512 VNNI kernels: vpdpbusd multiplies u8 codes by s8 activations and adds groups of four
// straight into int32 lanes, so there is no int16 stage. TQ2_0 uses 512-bit vectors (one 64-byte
// qs load is a whole block); TQ1_0 decodes with the shared 256-bit code and accumulates with the
// 256-bit form. Per-function target attributes: the file builds anywhere, runs only when
// dispatched.
#include <algorithm>
#include <array>
#include <utility>

#include "kernels/cpu/prefetch.h"
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

NP_VNNI int x16_rows(const KernelArgs& a, int o0, int o1, const DotOut& out);

NP_VNNI void tq2_matvec(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    int o = x16_rows(a, o0, o1, out);
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

// dots[t] of 16 rows o..o+15 -> out, in the scalar put's order of operations.
NP_VNNI inline void put16(const DotOut& out, int t, int o, __m512i d) {
    const size_t at = size_t(t) * out.ld + size_t(o);
    if (out.dots) _mm512_storeu_si512(out.dots + at, d);
    if (out.y) {
        const __m512 f =
            _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_set1_ps(out.gamma)),
                          _mm512_set1_ps(out.inv_scale[t]));
        _mm512_storeu_ps(out.y + at, f);
    }
}

// acc += dot4(a u8, b s8) per lane. The intrinsic makes GCC 12 copy the accumulator around every
// vpdpbusd (and spill some) once a tile holds 16 or more of them; the tied asm operand does not.
NP_VNNI inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
    asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

// 4 activation bytes in every 32-bit lane.
NP_VNNI inline __m512i bcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// Tokens per tile at most; a longer run is cut into near equal pieces (8 tokens: 4 + 4, not
// 6 + 2, so no tile is left with too few accumulators to hide the vpdpbusd latency).
constexpr int kMaxTileTokens = 8;

// ---- TQ2_0 rows repacked 16 at a time (ternary_x16.h) ------------------------------------------
// Shift 2s and mask 3 of layout vector c give, in lane r, the codes of weights 16c+4s..16c+4s+3
// of row r: one vpdpbusd against those 4 activation bytes broadcast to every lane adds into the 16
// row sums at once, so a tile of NRV groups x NT tokens keeps NRV*NT accumulators in registers
// and needs no horizontal sums. NRV groups of 16 rows are NRV sequential streams, prefetched
// kX16Ahead bytes ahead (a decode step streams them from DRAM).
constexpr size_t kX16Ahead = 2048;

template <int NRV, int NT>
NP_VNNI void x16_tile(const KernelArgs& a, int t0, int g0, const DotOut& out) {
    const __m512i m3 = _mm512_set1_epi8(3);
    const int chunks = a.nblocks * kTernaryBlock / 16;
    const uint8_t* p[NRV];
    const int8_t* x[NT];
    __m512i acc[NRV][NT];
    for (int rv = 0; rv < NRV; rv++) p[rv] = a.x16 + size_t(g0 + rv) * size_t(chunks) * 64;
    for (int t = 0; t < NT; t++) x[t] = a.x + size_t(t0 + t) * a.ldx;
    for (auto& row : acc)
        for (auto& v : row) v = _mm512_setzero_si512();
    auto step = [&]<int S>(int c) {
        __m512i w[NRV];
        for (int rv = 0; rv < NRV; rv++)
            w[rv] = _mm512_and_si512(
                _mm512_srli_epi16(_mm512_load_si512(p[rv] + size_t(c) * 64), 2 * S), m3);
        for (int t = 0; t < NT; t++) {
            const __m512i xb = bcast4(x[t] + 16 * c + 4 * S);
            for (int rv = 0; rv < NRV; rv++) acc[rv][t] = dpbusd(acc[rv][t], w[rv], xb);
        }
    };
    for (int c = 0; c < chunks; c++) {
        for (int rv = 0; rv < NRV; rv++) prefetch_weights(p[rv] + size_t(c) * 64 + kX16Ahead);
        step.template operator()<0>(c);
        step.template operator()<1>(c);
        step.template operator()<2>(c);
        step.template operator()<3>(c);
    }
    for (int t = 0; t < NT; t++) {
        const __m512i xs = _mm512_set1_epi32(a.xsum[t0 + t]);
        for (int rv = 0; rv < NRV; rv++)
            put16(out, t0 + t, 16 * (g0 + rv), _mm512_sub_epi32(acc[rv][t], xs));
    }
}

// x16_tile<NRV, 1..kMaxTileTokens>, indexed by the token count minus one.
template <int NRV, int... I>
constexpr auto x16_tiles(std::integer_sequence<int, I...>) {
    return std::array{&x16_tile<NRV, I + 1>...};
}

template <int NRV>
NP_VNNI void x16_all_tokens(const KernelArgs& a, int g0, const DotOut& out) {
    constexpr auto tiles = x16_tiles<NRV>(std::make_integer_sequence<int, kMaxTileTokens>{});
    const int runs = (a.ntok + kMaxTileTokens - 1) / kMaxTileTokens;
    for (int i = 0, t = 0; i < runs; i++) {
        const int nt = (a.ntok - t) / (runs - i);
        tiles[size_t(nt - 1)](a, t, g0, out);
        t += nt;
    }
}

// One token against group g: one sequential stream of weights (what a decode step reads from
// DRAM), and an accumulator per shift so the four vpdpbusd of a vector do not wait on each other.
NP_VNNI void x16_matvec_group(const KernelArgs& a, int g, const DotOut& out) {
    const __m512i m3 = _mm512_set1_epi8(3);
    const int chunks = a.nblocks * kTernaryBlock / 16;
    const uint8_t* p = a.x16 + size_t(g) * size_t(chunks) * 64;
    const int8_t* x = a.x;
    __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int c = 0; c < chunks; c++, p += 64) {
        prefetch_weights(p + kX16Ahead);
        const __m512i v = _mm512_load_si512(p);
        acc0 = dpbusd(acc0, _mm512_and_si512(v, m3), bcast4(x + 16 * c));
        acc1 = dpbusd(acc1, _mm512_and_si512(_mm512_srli_epi16(v, 2), m3), bcast4(x + 16 * c + 4));
        acc2 = dpbusd(acc2, _mm512_and_si512(_mm512_srli_epi16(v, 4), m3), bcast4(x + 16 * c + 8));
        acc3 = dpbusd(acc3, _mm512_and_si512(_mm512_srli_epi16(v, 6), m3), bcast4(x + 16 * c + 12));
    }
    const __m512i sum =
        _mm512_add_epi32(_mm512_add_epi32(acc0, acc1), _mm512_add_epi32(acc2, acc3));
    put16(out, 0, 16 * g, _mm512_sub_epi32(sum, _mm512_set1_epi32(a.xsum[0])));
}

// Rows [o0, o1) that lie in whole repacked groups (several tokens: 3 groups at a time where it
// can); returns the first row left to the TQ2_0 kernels.
NP_VNNI int x16_rows(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    if (!a.x16 || o0 % 16 != 0) return o0;
    const int g1 = std::min(o1 / 16, a.x16_groups);
    int g = o0 / 16;
    if (a.ntok == 1)
        for (; g < g1; g++) x16_matvec_group(a, g, out);
    for (; g + 3 <= g1; g += 3) x16_all_tokens<3>(a, g, out);
    for (; g < g1; g++) x16_all_tokens<1>(a, g, out);
    return std::max(o0, g * 16);
}

// The repacked rows, then the rest on the row-major tiles above.
NP_VNNI void tq2_matmul(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    matmul_rows(a, x16_rows(a, o0, o1, out), o1, out,
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
