#include "kernels/cpu/latent_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/simd_avx2.h"
#include "kernels/scalar_math.h"

namespace np::kern {

void latent_attention_reference(float* cbar, const float* qt, const float* qr, int nh, int n,
                                const LatentCache& cache, float scale) {
    const int r = cache.r, dr = cache.dr;
    std::vector<float> s(static_cast<size_t>(n));
    for (int h = 0; h < nh; h++) {
        const float *q = qt + size_t(h) * r, *qrh = qr + size_t(h) * dr;
        float m = -std::numeric_limits<float>::infinity();
        for (int j = 0; j < n; j++) {
            float a = 0, b = 0;
            for (int k = 0; k < r; k++) a += float(cache.c[size_t(j) * r + k]) * q[k];
            for (int k = 0; k < dr; k++) b += qrh[k] * cache.k_rope[size_t(j) * dr + k];
            s[size_t(j)] = (cache.inv_s[j] * a + b) * scale;
            m = std::max(m, s[size_t(j)]);
        }
        float sum = 0;
        for (int j = 0; j < n; j++) sum += (s[size_t(j)] = std::exp(s[size_t(j)] - m));
        float* out = cbar + size_t(h) * r;
        std::fill(out, out + r, 0.f);
        for (int j = 0; j < n; j++) {
            const float w = s[size_t(j)] / sum * cache.inv_s[j];
            for (int k = 0; k < r; k++) out[k] += w * float(cache.c[size_t(j) * r + k]);
        }
    }
}

namespace {

#ifdef NP_VEC_AVX2
// q · rows[i] + qr · krows[i] for NR rows (stride r / dr) in NR accumulators: eight independent
// FMA chains keep both FMA pipes busy (four left the loop waiting on FMA latency).
template <int NR>
void rows_dot(__m256 acc[NR], const float* q, const float* qr, const float* c, const float* k,
              int r, int dr) {
    for (int i = 0; i < NR; i++) acc[i] = _mm256_setzero_ps();
    for (int x = 0; x + 8 <= r; x += 8) {
        const __m256 v = _mm256_loadu_ps(q + x);
        for (int i = 0; i < NR; i++)
            acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps(c + size_t(i) * r + x), v, acc[i]);
    }
    for (int x = 0; x + 8 <= dr; x += 8) {
        const __m256 v = _mm256_loadu_ps(qr + x);
        for (int i = 0; i < NR; i++)
            acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps(k + size_t(i) * dr + x), v, acc[i]);
    }
}
#endif

// The columns past the last multiple of 8 (all of them without AVX2).
float dot_tail(const float* q, const float* qr, const float* c, const float* k, int r, int dr,
               int from_r, int from_dr) {
    float e = 0;
    for (int x = from_r; x < r; x++) e += c[x] * q[x];
    for (int x = from_dr; x < dr; x++) e += k[x] * qr[x];
    return e;
}

// s[jj] = scale * (q · cd_jj + qr · kr_jj) for jj < nb.
void block_scores(float* s, const float* q, const float* qr, const float* cd, const float* kr,
                  int nb, int r, int dr, float scale) {
    int jj = 0;
#ifdef NP_VEC_AVX2
    const int rv = r & ~7, drv = dr & ~7;
    const __m256 vs = _mm256_set1_ps(scale);
    for (; jj + 8 <= nb; jj += 8) {
        const float *c = cd + size_t(jj) * r, *k = kr + size_t(jj) * dr;
        __m256 a[8];
        rows_dot<8>(a, q, qr, c, k, r, dr);
        __m256 sum = simd::hsum8(a);  // lane i: row jj + i
        if (rv < r || drv < dr) {
            alignas(32) float t[8];
            for (int i = 0; i < 8; i++)
                t[i] = dot_tail(q, qr, c + size_t(i) * r, k + size_t(i) * dr, r, dr, rv, drv);
            sum = _mm256_add_ps(sum, _mm256_load_ps(t));
        }
        _mm256_storeu_ps(s + jj, _mm256_mul_ps(sum, vs));
    }
    for (; jj < nb; jj++) {
        __m256 a[1];
        rows_dot<1>(a, q, qr, cd + size_t(jj) * r, kr + size_t(jj) * dr, r, dr);
        s[jj] = (simd::hsum(a[0]) +
                 dot_tail(q, qr, cd + size_t(jj) * r, kr + size_t(jj) * dr, r, dr, rv, drv)) *
                scale;
    }
#else
    for (; jj < nb; jj++)
        s[jj] = dot_tail(q, qr, cd + size_t(jj) * r, kr + size_t(jj) * dr, r, dr, 0, 0) * scale;
#endif
}

// out[r] += sum_jj p[jj] * cd_jj: 64 columns at a time held in eight accumulators.
void block_weighted_sum(float* out, const float* p, const float* cd, int nb, int r) {
    int k0 = 0;
#ifdef NP_VEC_AVX2
    for (; k0 + 64 <= r; k0 += 64) {
        __m256 acc[8];
        for (int i = 0; i < 8; i++) acc[i] = _mm256_loadu_ps(out + k0 + 8 * i);
        for (int jj = 0; jj < nb; jj++) {
            const __m256 w = _mm256_set1_ps(p[jj]);
            const float* c = cd + size_t(jj) * r + k0;
            for (int i = 0; i < 8; i++)
                acc[i] = _mm256_fmadd_ps(w, _mm256_loadu_ps(c + 8 * i), acc[i]);
        }
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(out + k0 + 8 * i, acc[i]);
    }
    for (; k0 + 8 <= r; k0 += 8) {
        __m256 acc = _mm256_loadu_ps(out + k0);
        for (int jj = 0; jj < nb; jj++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(p[jj]), _mm256_loadu_ps(cd + size_t(jj) * r + k0),
                                  acc);
        _mm256_storeu_ps(out + k0, acc);
    }
#endif
    for (int jj = 0; jj < nb; jj++)
        for (int k = k0; k < r; k++) out[k] += p[jj] * cd[size_t(jj) * r + k];
}

// p[jj] = exp(s[jj] - m) in place; returns their sum.
float block_exp(float* p, int nb, float m) {
    int jj = 0;
    float sum = 0;
#ifdef NP_VEC_AVX2
    const __m256 vm = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    for (; jj + 8 <= nb; jj += 8) {
        const __m256 e = simd::exp_fast8(_mm256_sub_ps(_mm256_loadu_ps(p + jj), vm));
        _mm256_storeu_ps(p + jj, e);
        acc = _mm256_add_ps(acc, e);
    }
    sum = simd::hsum(acc);
#endif
    for (; jj < nb; jj++) sum += (p[jj] = exp_fast(p[jj] - m));
    return sum;
}

}  // namespace

void latent_attention(float* cbar, const float* qt, const float* qr, int nh, int n,
                      const LatentCache& cache, float scale, LatentAttentionScratch& sc) {
    const int r = cache.r, dr = cache.dr;
    sc.block.resize(size_t(kLatentBlock) * r);
    sc.scores.resize(kLatentBlock);
    sc.m.assign(size_t(nh), -std::numeric_limits<float>::infinity());
    sc.l.assign(size_t(nh), 0.f);
    std::fill(cbar, cbar + size_t(nh) * r, 0.f);
    float *cd = sc.block.data(), *s = sc.scores.data();
    for (int j0 = 0; j0 < n; j0 += kLatentBlock) {
        const int nb = std::min(kLatentBlock, n - j0);
        for (int jj = 0; jj < nb; jj++) {
            const int8_t* c = cache.c + size_t(j0 + jj) * r;
            float* d = cd + size_t(jj) * r;
            const float is = cache.inv_s[j0 + jj];
            int k = 0;
#ifdef NP_VEC_AVX2
            for (; k + 8 <= r; k += 8)
                _mm256_storeu_ps(d + k, _mm256_mul_ps(simd::load_i8x8(c + k), _mm256_set1_ps(is)));
#endif
            for (; k < r; k++) d[k] = float(c[k]) * is;
        }
        const float* kr = cache.k_rope + size_t(j0) * dr;
        for (int h = 0; h < nh; h++) {
            float* out = cbar + size_t(h) * r;
            block_scores(s, qt + size_t(h) * r, qr + size_t(h) * dr, cd, kr, nb, r, dr, scale);
            const float mb = *std::max_element(s, s + nb);
            float& m = sc.m[size_t(h)];
            float& l = sc.l[size_t(h)];
            if (mb > m) {
                // Rescale what the earlier blocks summed to the new maximum (nothing on the
                // first block).
                if (j0 > 0) {
                    const float corr = exp_fast(m - mb);
                    l *= corr;
                    for (int k = 0; k < r; k++) out[k] *= corr;
                }
                m = mb;
            }
            l += block_exp(s, nb, m);
            block_weighted_sum(out, s, cd, nb, r);
        }
    }
    for (int h = 0; h < nh; h++) {
        const float inv = 1.f / sc.l[size_t(h)];
        float* out = cbar + size_t(h) * r;
        for (int k = 0; k < r; k++) out[k] *= inv;
    }
}

void absorb_query_reference(float* qt, const float* qn, const int8_t* W, int n_in, int r,
                            float gamma) {
    std::fill(qt, qt + r, 0.f);
    for (int i = 0; i < n_in; i++)
        for (int k = 0; k < r; k++) qt[k] += qn[i] * gamma * float(W[size_t(i) * r + k]);
}

void absorb_output_reference(float* o, const float* cbar, const int8_t* W, int n_out, int r,
                             float gamma) {
    for (int i = 0; i < n_out; i++) {
        float s = 0;
        for (int k = 0; k < r; k++) s += float(W[size_t(i) * r + k]) * cbar[k];
        o[i] = gamma * s;
    }
}

void absorb_query(float* qt, const float* qn, const int8_t* W, int n_in, int r, float gamma) {
    int k0 = 0;
#ifdef NP_VEC_AVX2
    // 64 columns at a time in eight accumulators, every row of W adding into them: no round trip
    // of qt through memory per row (an axpy per row stored and reloaded it).
    for (; k0 + 64 <= r; k0 += 64) {
        __m256 acc[8];
        for (int c = 0; c < 8; c++) acc[c] = _mm256_setzero_ps();
        for (int i = 0; i < n_in; i++) {
            const __m256 a = _mm256_set1_ps(qn[i] * gamma);
            const int8_t* w = W + size_t(i) * r + k0;
            for (int c = 0; c < 8; c++)
                acc[c] = _mm256_fmadd_ps(a, simd::load_i8x8(w + 8 * c), acc[c]);
        }
        for (int c = 0; c < 8; c++) _mm256_storeu_ps(qt + k0 + 8 * c, acc[c]);
    }
    for (; k0 + 8 <= r; k0 += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int i = 0; i < n_in; i++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(qn[i] * gamma),
                                  simd::load_i8x8(W + size_t(i) * r + k0), acc);
        _mm256_storeu_ps(qt + k0, acc);
    }
#endif
    for (int k = k0; k < r; k++) {
        float s = 0;
        for (int i = 0; i < n_in; i++) s += qn[i] * gamma * float(W[size_t(i) * r + k]);
        qt[k] = s;
    }
}

void absorb_output(float* o, const float* cbar, const int8_t* W, int n_out, int r, float gamma) {
    int i = 0;
#ifdef NP_VEC_AVX2
    // Eight rows at a time: each slice of cbar is loaded once for the eight, eight FMA chains.
    const int rv = r & ~7;
    for (; i + 8 <= n_out; i += 8) {
        const int8_t* w = W + size_t(i) * r;
        __m256 acc[8];
        for (int rr = 0; rr < 8; rr++) acc[rr] = _mm256_setzero_ps();
        for (int k = 0; k < rv; k += 8) {
            const __m256 c = _mm256_loadu_ps(cbar + k);
            for (int rr = 0; rr < 8; rr++)
                acc[rr] = _mm256_fmadd_ps(simd::load_i8x8(w + size_t(rr) * r + k), c, acc[rr]);
        }
        __m256 sum = simd::hsum8(acc);
        if (rv < r) {
            alignas(32) float t[8];
            for (int rr = 0; rr < 8; rr++) {
                t[rr] = 0;
                for (int k = rv; k < r; k++) t[rr] += float(w[size_t(rr) * r + k]) * cbar[k];
            }
            sum = _mm256_add_ps(sum, _mm256_load_ps(t));
        }
        _mm256_storeu_ps(o + i, _mm256_mul_ps(sum, _mm256_set1_ps(gamma)));
    }
#endif
    for (; i < n_out; i++) {
        float s = 0;
        for (int k = 0; k < r; k++) s += float(W[size_t(i) * r + k]) * cbar[k];
        o[i] = gamma * s;
    }
}

}  // namespace np::kern
