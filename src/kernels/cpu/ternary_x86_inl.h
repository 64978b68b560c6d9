// x86 SIMD helpers shared by the AVX2 and AVX-512 VNNI kernels (ternary_avx2.cpp,
// ternary_avx512.cpp): TQ2_0/TQ1_0 block decoding to codes in {0,1,2}. AVX2-targeted inline
// functions, so they inline into either path's functions.
#pragma once
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/ternary_impl.h"

#define NP_AVX2 __attribute__((target("avx2,fma")))

namespace np::kern::detail::x86 {

NP_AVX2 inline __m256i ld(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

NP_AVX2 inline int32_t hsum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

// ---- TQ2_0 ------------------------------------------------------------------------------------
// Codes of weights 128j + 32n + m are bits 2n..2n+1 of qs[32j + m].
template <int N>
NP_AVX2 inline __m256i tq2_codes(__m256i v, __m256i m3) {
    return _mm256_and_si256(_mm256_srli_epi16(v, 2 * N), m3);
}

NP_AVX2 inline void tq2_decode_row(uint8_t* codes, const uint8_t* row, int nblocks) {
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int b = 0; b < nblocks; b++, row += sizeof(BlockTQ2_0), codes += kTernaryBlock)
        for (int j = 0; j < 2; j++) {
            const __m256i v = ld(row + 32 * j);
            __m256i* c = reinterpret_cast<__m256i*>(codes + 128 * j);
            _mm256_store_si256(c + 0, tq2_codes<0>(v, m3));
            _mm256_store_si256(c + 1, tq2_codes<1>(v, m3));
            _mm256_store_si256(c + 2, tq2_codes<2>(v, m3));
            _mm256_store_si256(c + 3, tq2_codes<3>(v, m3));
        }
}

// ---- TQ1_0 ------------------------------------------------------------------------------------
// Byte multiply by 3 modulo 256, and trit extraction (3t) >> 8 computed in 8 bits as
// avg(t', avg(t', 0)) >> 6 with t' = sat(t - 1) (ggml's formulation; exact for every valid byte).
NP_AVX2 inline __m256i mul3(__m256i t) {
    return _mm256_add_epi8(t, _mm256_add_epi8(t, t));
}
NP_AVX2 inline __m128i mul3(__m128i t) {
    return _mm_add_epi8(t, _mm_add_epi8(t, t));
}
NP_AVX2 inline __m256i trit(__m256i t, __m256i one, __m256i m3) {
    const __m256i t1 = _mm256_subs_epu8(t, one);
    const __m256i h = _mm256_avg_epu8(t1, _mm256_avg_epu8(t1, _mm256_setzero_si256()));
    return _mm256_and_si256(_mm256_srli_epi16(h, 6), m3);
}

// The 256 codes of a block as 8 vectors in weight order: 5 from qs[0..31]; then 3 built from
// qs[32..47] (times 1, 3 | 9, 27 | 81) and qh (times 1, 3, 9, 27 per group of 4 bytes), which lines
// them up with weights 160..191, 192..223, 224..255.
struct Tq1Consts {
    __m256i one, m3;
    __m128i lo_mask, hi_mask, qh_pow;
};
NP_AVX2 inline Tq1Consts tq1_consts() {
    return {_mm256_set1_epi8(1), _mm256_set1_epi8(3), _mm_set1_epi16(0x00ff),
            _mm_set1_epi16(short(0xff00)), _mm_setr_epi16(1, 1, 3, 3, 9, 9, 27, 27)};
}

NP_AVX2 inline void tq1_block_codes(const uint8_t* blk, const Tq1Consts& k, __m256i c[8]) {
    __m256i t = ld(blk);
    c[0] = trit(t, k.one, k.m3);
    t = mul3(t);
    c[1] = trit(t, k.one, k.m3);
    t = mul3(t);
    c[2] = trit(t, k.one, k.m3);
    t = mul3(t);
    c[3] = trit(t, k.one, k.m3);
    t = mul3(t);
    c[4] = trit(t, k.one, k.m3);

    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32));
    const __m128i q3 = mul3(q), q9 = mul3(q3), q27 = mul3(q9), q81 = mul3(q27);
    uint32_t qh32;
    std::memcpy(&qh32, blk + offsetof(BlockTQ1_0, qh), 4);
    // byte 4n+j = qh[j] * 3^n (mod 256): 16-bit multiplies, even and odd bytes separately so that
    // no carry crosses into the neighbouring byte.
    const __m128i h = _mm_set1_epi32(int(qh32));
    const __m128i he = _mm_and_si128(_mm_mullo_epi16(h, k.qh_pow), k.lo_mask);
    const __m128i ho = _mm_mullo_epi16(_mm_and_si128(h, k.hi_mask), k.qh_pow);
    const __m128i hx = _mm_or_si128(he, ho);
    c[5] = trit(_mm256_set_m128i(q3, q), k.one, k.m3);
    c[6] = trit(_mm256_set_m128i(q27, q9), k.one, k.m3);
    c[7] = trit(_mm256_set_m128i(hx, q81), k.one, k.m3);
}

NP_AVX2 inline void tq1_decode_row(uint8_t* codes, const uint8_t* row, int nblocks) {
    const Tq1Consts k = tq1_consts();
    for (int b = 0; b < nblocks; b++, row += sizeof(BlockTQ1_0), codes += kTernaryBlock) {
        __m256i c[8];
        tq1_block_codes(row, k, c);
        for (int i = 0; i < 8; i++) _mm256_store_si256(reinterpret_cast<__m256i*>(codes) + i, c[i]);
    }
}

}  // namespace np::kern::detail::x86
