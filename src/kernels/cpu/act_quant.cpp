#include "kernels/cpu/act_quant.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/saturate.h"
#include "kernels/cpu/ternary_pack.h"

#if defined(__AVX2__)
#include <immintrin.h>
#define NP_ACT_QUANT_AVX2 1
#endif

namespace np::kern {

namespace {

// The same float operations, in the same order, as np::quantize_activations_int8, one row:
// returns s and writes q[0..C), q's padding is the caller's.
float quantize_row_scalar(int8_t* q, int32_t& sum, const float* x, int C) {
    float m = 0;
    for (int c = 0; c < C; c++) m = std::max(m, std::fabs(x[c]));
    const float s = 127.f / std::max(m, 1e-5f);
    sum = 0;
    for (int c = 0; c < C; c++) {
        const int8_t v = saturate_int8(std::nearbyint(x[c] * s));
        q[c] = v;
        sum += v;
    }
    return s;
}

#ifdef NP_ACT_QUANT_AVX2
// The same values with 8 lanes: the maximum does not depend on order, x * s is one rounding in
// both, and _MM_FROUND_TO_NEAREST_INT rounds half to even like nearbyint in the default mode.
float quantize_row_avx2(int8_t* q, int32_t& sum, const float* x, int C) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 vm = _mm256_setzero_ps();
    int c = 0;
    for (; c + 8 <= C; c += 8)
        vm = _mm256_max_ps(vm, _mm256_and_ps(_mm256_loadu_ps(x + c), abs_mask));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float m = _mm_cvtss_f32(h);
    for (; c < C; c++) m = std::max(m, std::fabs(x[c]));
    const float s = 127.f / std::max(m, 1e-5f);

    const __m256 vs = _mm256_set1_ps(s), lo = _mm256_set1_ps(-128.f), hi = _mm256_set1_ps(127.f);
    // packs_epi32 / packs_epi16 interleave the 128-bit lanes; this puts the 8 dwords back in order.
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    auto to_i32 = [&](const float* p) {
        const __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(p), vs),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        return _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(r, lo), hi));
    };
    __m256i vsum = _mm256_setzero_si256();
    c = 0;
    for (; c + 32 <= C; c += 32) {
        const __m256i a = to_i32(x + c), b = to_i32(x + c + 8), d = to_i32(x + c + 16),
                      e = to_i32(x + c + 24);
        vsum = _mm256_add_epi32(vsum,
                                _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(d, e)));
        const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(d, e));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + c),
                            _mm256_permutevar8x32_epi32(p, order));
    }
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(vsum), _mm256_extracti128_si256(vsum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    sum = _mm_cvtsi128_si32(s4);
    for (; c < C; c++) {
        const int8_t v = saturate_int8(std::nearbyint(x[c] * s));
        q[c] = v;
        sum += v;
    }
    return s;
}
#endif

using QuantizeRowFn = float (*)(int8_t*, int32_t&, const float*, int);

void quantize_acts_rows(QuantizedActs& out, const float* x, int R, int C, QuantizeRowFn row_fn) {
    out.rows = R;
    out.cols = C;
    out.cols_padded = ternary_padded_cols(C);
    out.q.resize(size_t(R) * out.cols_padded);
    out.scale.resize(size_t(R));
    out.inv_scale.resize(size_t(R));
    out.qsum.resize(size_t(R));
    for (int r = 0; r < R; r++) {
        int8_t* q = out.q.data() + size_t(r) * out.cols_padded;
        const float s = row_fn(q, out.qsum[size_t(r)], x + size_t(r) * C, C);
        std::fill(q + C, q + out.cols_padded, int8_t(0));
        out.scale[size_t(r)] = s;
        out.inv_scale[size_t(r)] = 1.f / s;
    }
}

}  // namespace

void quantize_acts_int8_reference(QuantizedActs& out, const float* x, int R, int C) {
    quantize_acts_rows(out, x, R, C, quantize_row_scalar);
}

void quantize_acts_int8(QuantizedActs& out, const float* x, int R, int C) {
#ifdef NP_ACT_QUANT_AVX2
    quantize_acts_rows(out, x, R, C, quantize_row_avx2);
#else
    quantize_acts_rows(out, x, R, C, quantize_row_scalar);
#endif
}

}  // namespace np::kern
