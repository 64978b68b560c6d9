#include "kernels/cpu/vec_ops.h"

#include <cmath>

#include "kernels/cpu/simd_avx2.h"
#include "kernels/scalar_math.h"

namespace np::kern {

#ifdef NP_VEC_AVX2
using simd::exp_fast8;
using simd::hsum;
#endif

float ssm_row_update_reference(float* S, float decay, float dtx, const float* B, const float* C,
                               int n) {
    float acc = 0;
    for (int k = 0; k < n; k++) {
        S[k] = decay * S[k] + dtx * B[k];
        acc += S[k] * C[k];
    }
    return acc;
}

float rmsnorm_row_reference(float* y, const float* x, const float* w, int n, float eps) {
    float ss = 0;
    for (int k = 0; k < n; k++) ss += x[k] * x[k];
    const float rs = 1.f / std::sqrt(ss / float(n) + eps);
    for (int k = 0; k < n; k++) y[k] = x[k] * rs * w[k];
    return rs;
}

#ifdef NP_VEC_AVX2
namespace {

__m256 silu8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.f);
    const __m256 e = exp_fast8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_mul_ps(x, _mm256_div_ps(one, _mm256_add_ps(one, e)));
}

}  // namespace
#endif

namespace {

float dot(const float* a, const float* b, int n) {
#ifdef NP_VEC_AVX2
    return simd::dot(a, b, n);
#else
    float s = 0;
    for (int k = 0; k < n; k++) s += a[k] * b[k];
    return s;
#endif
}

}  // namespace

float ssm_row_update(float* S, float decay, float dtx, const float* B, const float* C, int n) {
    int k = 0;
    float acc = 0;
#ifdef NP_VEC_AVX2
    const __m256 vd = _mm256_set1_ps(decay), vx = _mm256_set1_ps(dtx);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; k + 16 <= n; k += 16) {
        const __m256 s0 =
            _mm256_fmadd_ps(vd, _mm256_loadu_ps(S + k), _mm256_mul_ps(vx, _mm256_loadu_ps(B + k)));
        const __m256 s1 = _mm256_fmadd_ps(vd, _mm256_loadu_ps(S + k + 8),
                                          _mm256_mul_ps(vx, _mm256_loadu_ps(B + k + 8)));
        _mm256_storeu_ps(S + k, s0);
        _mm256_storeu_ps(S + k + 8, s1);
        acc0 = _mm256_fmadd_ps(s0, _mm256_loadu_ps(C + k), acc0);
        acc1 = _mm256_fmadd_ps(s1, _mm256_loadu_ps(C + k + 8), acc1);
    }
    acc = hsum(_mm256_add_ps(acc0, acc1));
#endif
    for (; k < n; k++) {
        S[k] = decay * S[k] + dtx * B[k];
        acc += S[k] * C[k];
    }
    return acc;
}

void gated_act(float* out, const float* g, const float* u, int n, bool swiglu) {
    int k = 0;
#ifdef NP_VEC_AVX2
    if (swiglu)
        for (; k + 8 <= n; k += 8)
            _mm256_storeu_ps(out + k,
                             _mm256_mul_ps(silu8(_mm256_loadu_ps(g + k)), _mm256_loadu_ps(u + k)));
#endif
    for (; k < n; k++) {
        const float a = g[k];
        out[k] = (swiglu ? silu(a) : (a > 0 ? a * a : 0.f)) * u[k];
    }
}

void gated_act_backward(float* dg, float* du, const float* dm, const float* g, const float* u,
                        int n, bool swiglu) {
    int k = 0;
#ifdef NP_VEC_AVX2
    if (swiglu) {
        const __m256 one = _mm256_set1_ps(1.f);
        for (; k + 8 <= n; k += 8) {
            const __m256 a = _mm256_loadu_ps(g + k), d = _mm256_loadu_ps(dm + k);
            const __m256 s = _mm256_div_ps(
                one, _mm256_add_ps(one, exp_fast8(_mm256_sub_ps(_mm256_setzero_ps(), a))));
            const __m256 f = _mm256_mul_ps(a, s);
            const __m256 df = _mm256_mul_ps(s, _mm256_fmadd_ps(a, _mm256_sub_ps(one, s), one));
            _mm256_storeu_ps(du + k, _mm256_fmadd_ps(d, f, _mm256_loadu_ps(du + k)));
            _mm256_storeu_ps(dg + k, _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_loadu_ps(u + k)), df,
                                                     _mm256_loadu_ps(dg + k)));
        }
    }
#endif
    for (; k < n; k++) {
        const float a = g[k];
        float f, df;
        if (swiglu)
            silu_and_grad(a, f, df);
        else
            f = a > 0 ? a * a : 0.f, df = a > 0 ? 2.f * a : 0.f;
        du[k] += dm[k] * f;
        dg[k] += dm[k] * u[k] * df;
    }
}

float rmsnorm_row(float* y, const float* x, const float* w, int n, float eps) {
    const float rs = 1.f / std::sqrt(dot(x, x, n) / float(n) + eps);
    int k = 0;
#ifdef NP_VEC_AVX2
    const __m256 vr = _mm256_set1_ps(rs);
    for (; k + 8 <= n; k += 8)
        _mm256_storeu_ps(y + k, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + k), vr),
                                              _mm256_loadu_ps(w + k)));
#endif
    for (; k < n; k++) y[k] = x[k] * rs * w[k];
    return rs;
}

void silu_rows(float* out, const float* x, int n) {
    int k = 0;
#ifdef NP_VEC_AVX2
    for (; k + 8 <= n; k += 8) _mm256_storeu_ps(out + k, silu8(_mm256_loadu_ps(x + k)));
#endif
    for (; k < n; k++) out[k] = silu(x[k]);
}

}  // namespace np::kern
