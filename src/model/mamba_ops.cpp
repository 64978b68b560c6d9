#include "model/mamba_ops.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "core/error.h"
#include "kernels/cpu/vec_ops.h"
#include "model/mamba.h"
#include "model/ops.h"

namespace np {
namespace {

// Threads only pay off above a few tens of thousands of flops; tiny test shapes and single rows
// stay serial so they do not wait on thread wake-ups.
// The N-long dot products in the scans carry `omp simd reduction` so they vectorise without
// -ffast-math; mamba_step uses the same loop so decode reorders its sums the same way.
inline bool big(size_t work) {
    return work >= (size_t(1) << 15);
}

// d/dx softplus with torch's threshold: identity above 20.
template <class T>
T softplus_grad(T x) {
    return x > T(20) ? T(1) : sigmoid(x);
}

template <class T>
void scan_sequential(T* y, T* chunk_state, const T* xbc, const T* dt, const T* A_log, const T* D,
                     const int32_t* seg_begin, int Bn, int Tn, int L, const MambaShape& s,
                     SsmScanScratch<T>& ws) {
    const int R = Bn * Tn, nch = (Tn + L - 1) / L, hpg = s.heads_per_group();
    const size_t PN = s.PN();
    ws.states.resize(size_t(omp_get_max_threads()) * PN);
#pragma omp parallel for collapse(2) schedule(static) if (big(size_t(R) * s.H * PN))
    for (int b = 0; b < Bn; b++)
        for (int hh = 0; hh < s.H; hh++) {
            T* S = ws.states.data() + size_t(omp_get_thread_num()) * PN;
            std::fill(S, S + PN, T(0));
            const T A = -std::exp(A_log[hh]), Dh = D[hh];
            const int g = hh / hpg;
            for (int t = 0; t < Tn; t++) {
                const int row = b * Tn + t;
                if (t % L == 0)
                    std::copy(S, S + PN, chunk_state + ((size_t(b) * s.H + hh) * nch + t / L) * PN);
                if (seg_begin[row] == row) std::fill(S, S + PN, T(0));
                const T dtv = dt[size_t(row) * s.H + hh], decay = std::exp(dtv * A);
                const T* xr = xbc + size_t(row) * s.C;
                const T *x = xr + hh * s.P, *Bv = xr + s.Di + g * s.N,
                        *Cv = xr + s.Di + (s.G + g) * s.N;
                ssm_step_head(S, y + size_t(row) * s.Di + hh * s.P, x, Bv, Cv, dtv, decay, Dh, s.P,
                              s.N);
            }
        }
}

template <class T>
void scan_ssd(T* yout, T* chunk_state, const T* xbc, const T* dt, const T* A_log, const T* D,
              const int32_t* seg_begin, int Bn, int Tn, int L, const MambaShape& s,
              SsmScanScratch<T>& ws) {
    const int R = Bn * Tn, nch = (Tn + L - 1) / L, hpg = s.heads_per_group();
    const size_t PN = s.PN(), stride = PN + 2 * size_t(L);
    ws.states.resize(size_t(omp_get_max_threads()) * stride);
#pragma omp parallel for collapse(2) schedule(static) if (big(size_t(R) * s.H * PN))
    for (int b = 0; b < Bn; b++)
        for (int hh = 0; hh < s.H; hh++) {
            T* S = ws.states.data() + size_t(omp_get_thread_num()) * stride;  // [P, N]
            T* cs = S + PN;                                                   // [L]
            // [L] chunk index of the current doc's start, -1 if before the chunk
            T* segbeg = cs + L;
            std::fill(S, S + PN, T(0));
            const T A = -std::exp(A_log[hh]), Dh = D[hh];
            const int g = hh / hpg;
            auto xbc_row = [&](int i, int t0) { return xbc + size_t(b * Tn + t0 + i) * s.C; };
            for (int ch = 0; ch < nch; ch++) {
                const int t0 = ch * L, len = std::min(Tn, t0 + L) - t0;
                std::copy(S, S + PN, chunk_state + ((size_t(b) * s.H + hh) * nch + ch) * PN);
                for (int i = 0; i < len; i++) {
                    const int row = b * Tn + t0 + i;
                    cs[i] = (i ? cs[i - 1] : T(0)) + dt[size_t(row) * s.H + hh] * A;
                    segbeg[i] = seg_begin[row] == row ? T(i) : (i ? segbeg[i - 1] : T(-1));
                }
                for (int i = 0; i < len; i++) {
                    const T* xi = xbc_row(i, t0);
                    const T* Ci = xi + s.Di + (s.G + g) * s.N;
                    T* y = yout + size_t(b * Tn + t0 + i) * s.Di + hh * s.P;
                    for (int p = 0; p < s.P; p++) y[p] = Dh * xi[hh * s.P + p];
                    const int j0 = segbeg[i] < 0 ? 0 : int(segbeg[i]);
                    if (segbeg[i] < 0) {
                        const T e = std::exp(cs[i]);
                        for (int p = 0; p < s.P; p++) {
                            T acc = 0;
#pragma omp simd reduction(+ : acc)
                            for (int n = 0; n < s.N; n++) acc += Ci[n] * S[size_t(p) * s.N + n];
                            y[p] += e * acc;
                        }
                    }
                    for (int j = j0; j <= i; j++) {
                        const T* xj = xbc_row(j, t0);
                        const T* Bj = xj + s.Di + g * s.N;
                        T cb = 0;
                        for (int n = 0; n < s.N; n++) cb += Ci[n] * Bj[n];
                        const T coef =
                            cb * std::exp(cs[i] - cs[j]) * dt[size_t(b * Tn + t0 + j) * s.H + hh];
                        for (int p = 0; p < s.P; p++) y[p] += coef * xj[hh * s.P + p];
                    }
                }
                const int last = len - 1;
                const T carry = segbeg[last] < 0 ? std::exp(cs[last]) : T(0);
                for (size_t k = 0; k < PN; k++) S[k] *= carry;
                for (int j = segbeg[last] < 0 ? 0 : int(segbeg[last]); j <= last; j++) {
                    const T* xj = xbc_row(j, t0);
                    const T* Bj = xj + s.Di + g * s.N;
                    const T wj =
                        std::exp(cs[last] - cs[j]) * dt[size_t(b * Tn + t0 + j) * s.H + hh];
                    for (int p = 0; p < s.P; p++) {
                        const T v = wj * xj[hh * s.P + p];
                        for (int n = 0; n < s.N; n++) S[size_t(p) * s.N + n] += v * Bj[n];
                    }
                }
            }
        }
}

}  // namespace

MambaShape mamba_shape(const MambaDims& d, const char* where) {
    if (d.d_model <= 0 || d.expand <= 0 || d.head_dim <= 0 || d.d_state <= 0 || d.n_groups <= 0 ||
        d.d_conv <= 0)
        fail(std::string(where) + ": MambaDims must all be positive (d_model, expand, head_dim, " +
             "d_state, n_groups, d_conv)");
    if (d.d_inner() % d.head_dim != 0)
        fail(std::string(where) + ": d_inner = " + std::to_string(d.d_inner()) +
             " must be a multiple of head_dim = " + std::to_string(d.head_dim));
    if (d.n_heads() % d.n_groups != 0)
        fail(std::string(where) + ": n_heads = " + std::to_string(d.n_heads()) +
             " must be a multiple of n_groups = " + std::to_string(d.n_groups));
    return {d.d_model,  d.d_inner(), d.n_heads(),  d.head_dim,     d.d_state,
            d.n_groups, d.d_conv,    d.conv_dim(), d.in_proj_dim()};
}

// ---- causal depthwise conv + SiLU ---------------------------------------------------------------

template <class T>
void causal_conv_silu_forward(T* conv_pre, T* xbc, const T* zxbcdt, const T* conv_w,
                              const T* conv_b, const int32_t* seg_begin, int R,
                              const MambaShape& s) {
#pragma omp parallel for schedule(static) if (big(size_t(R) * s.C * s.K))
    for (int row = 0; row < R; row++) {
        T* cp = conv_pre + size_t(row) * s.C;
        for (int c = 0; c < s.C; c++) cp[c] = conv_b[c];
        for (int j = 0; j < s.K; j++) {
            const int src = row - (s.K - 1) + j;
            if (src < seg_begin[row]) continue;
            const T* xin = zxbcdt + size_t(src) * s.Ip + s.Di;
            for (int c = 0; c < s.C; c++) cp[c] += conv_w[size_t(c) * s.K + j] * xin[c];
        }
        T* xo = xbc + size_t(row) * s.C;
        for (int c = 0; c < s.C; c++) xo[c] = silu(cp[c]);
    }
}

template <class T>
void causal_conv_silu_backward(T* dzxbcdt, T* dconv_w, T* dconv_b, T* dxbc, const T* conv_pre,
                               const T* zxbcdt, const T* conv_w, const int32_t* seg_begin, int R,
                               const MambaShape& s) {
#pragma omp parallel for schedule(static) if (big(size_t(R) * s.C))
    for (int row = 0; row < R; row++) {
        T* dxr = dxbc + size_t(row) * s.C;
        const T* cp = conv_pre + size_t(row) * s.C;
        for (int c = 0; c < s.C; c++) dxr[c] *= silu_grad(cp[c]);
    }
    // Parallel over channel blocks: each thread owns its channels' weights and inputs. The block's
    // taps are transposed to [K, block] (and their gradients summed there) so the channel loops
    // run over contiguous memory; conv_w is [C, K].
    constexpr int kBlock = 32;
    const int nblocks = (s.C + kBlock - 1) / kBlock, K = s.K;
#pragma omp parallel for schedule(static) if (big(size_t(R) * s.C * s.K))
    for (int blk = 0; blk < nblocks; blk++) {
        const int c0 = blk * kBlock, w = std::min(s.C, c0 + kBlock) - c0;
        thread_local std::vector<T> taps;  // [K, kBlock] weights, then [K, kBlock] their gradients
        taps.assign(size_t(2) * K * kBlock, T(0));
        T *wT = taps.data(), *dwT = wT + size_t(K) * kBlock;
        for (int j = 0; j < K; j++)
            for (int i = 0; i < w; i++) wT[j * kBlock + i] = conv_w[size_t(c0 + i) * K + j];
        for (int row = 0; row < R; row++) {
            const T* dc = dxbc + size_t(row) * s.C + c0;
            for (int i = 0; i < w; i++) dconv_b[c0 + i] += dc[i];
            for (int j = 0; j < K; j++) {
                const int src = row - (K - 1) + j;
                if (src < seg_begin[row]) continue;
                const T* xin = zxbcdt + size_t(src) * s.Ip + s.Di + c0;
                T* dxin = dzxbcdt + size_t(src) * s.Ip + s.Di + c0;
                const T* wj = wT + j * kBlock;
                T* dwj = dwT + j * kBlock;
                for (int i = 0; i < w; i++) {
                    dxin[i] += wj[i] * dc[i];
                    dwj[i] += dc[i] * xin[i];
                }
            }
        }
        for (int j = 0; j < K; j++)
            for (int i = 0; i < w; i++) dconv_w[size_t(c0 + i) * K + j] += dwT[j * kBlock + i];
    }
}

// ---- dt = softplus(dt_raw + dt_bias) ------------------------------------------------------------

template <class T>
void dt_softplus_forward(T* dt, const T* zxbcdt, const T* dt_bias, int R, const MambaShape& s) {
    for (int row = 0; row < R; row++) {
        const T* dtr = zxbcdt + size_t(row) * s.Ip + s.Di + s.C;
        for (int hh = 0; hh < s.H; hh++)
            dt[size_t(row) * s.H + hh] = softplus(dtr[hh] + dt_bias[hh]);
    }
}

template <class T>
void dt_softplus_backward(T* dzxbcdt, T* ddt_bias, const T* ddt, const T* zxbcdt, const T* dt_bias,
                          int R, const MambaShape& s) {
    const size_t col = size_t(s.Di) + s.C;
    for (int hh = 0; hh < s.H; hh++) {
        T dbias = 0;
        for (int row = 0; row < R; row++) {
            const T g = ddt[size_t(row) * s.H + hh] *
                        softplus_grad(zxbcdt[size_t(row) * s.Ip + col + hh] + dt_bias[hh]);
            dzxbcdt[size_t(row) * s.Ip + col + hh] += g;
            dbias += g;
        }
        ddt_bias[hh] += dbias;
    }
}

// ---- the selective scan -------------------------------------------------------------------------

template <class T>
void ssm_scan_forward(T* y, T* chunk_state, const T* xbc, const T* dt, const T* A_log, const T* D,
                      const int32_t* seg_begin, int B, int Tn, int L, bool ssd, const MambaShape& s,
                      SsmScanScratch<T>& scratch) {
    if (L <= 0) fail("ssm_scan_forward: the chunk length must be positive");
    (ssd ? scan_ssd<T> : scan_sequential<T>)(y, chunk_state, xbc, dt, A_log, D, seg_begin, B, Tn, L,
                                             s, scratch);
}

#if defined(__AVX512F__)
// GCC 12's avx512fintrin.h initialises its "undefined" vectors as `__m256 __Y = __Y;`, which
// -Wmaybe-uninitialized reports at every inlined use (GCC bug 105593, fixed in 12.3).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
// The reverse loop below for one (row, head) step in float, with N = 16*NV: B, C and the step's
// dB, dC stay in registers across the P state rows, sB's dot product ends in one shuffle-tree
// reduction per row (GCC finishes an `omp simd reduction` lane by lane, ~16 scalar adds, which
// cost more than the row's products), and da stays a vector until the step's end. Sums in
// another order than the generic loop: the gradients agree to float rounding.
template <int NV>
void scan_reverse_step_f32(float* dS, float* dB, float* dC, float* dx, float& ddtv, float& da,
                           float& dDh, const float* Scur, const float* Sprev, const float* x,
                           const float* dy, const float* Bv, const float* Cv, int P, float dtv,
                           float Dh, float decay, bool start) {
    constexpr int N = 16 * NV;
    __m512 b[NV], c[NV], db[NV], dc[NV];
    for (int v = 0; v < NV; v++) {
        b[v] = _mm512_loadu_ps(Bv + 16 * v), c[v] = _mm512_loadu_ps(Cv + 16 * v);
        db[v] = _mm512_setzero_ps(), dc[v] = _mm512_setzero_ps();
    }
    const __m512 vdecay = _mm512_set1_ps(decay);
    __m512 vda = _mm512_setzero_ps();
    for (int p = 0; p < P; p++) {
        const float dyp = dy[p], dtx = dtv * x[p];
        const __m512 vdy = _mm512_set1_ps(dyp), vdtx = _mm512_set1_ps(dtx);
        float* dSp = dS + size_t(p) * N;
        __m512 sB = _mm512_setzero_ps();
        for (int v = 0; v < NV; v++) {
            dc[v] = _mm512_fmadd_ps(vdy, _mm512_loadu_ps(Scur + size_t(p) * N + 16 * v), dc[v]);
            __m512 ds = _mm512_fmadd_ps(vdy, c[v], _mm512_loadu_ps(dSp + 16 * v));
            sB = _mm512_fmadd_ps(ds, b[v], sB);
            db[v] = _mm512_fmadd_ps(vdtx, ds, db[v]);
            if (start) {
                ds = _mm512_setzero_ps();
            } else {
                vda = _mm512_fmadd_ps(ds, _mm512_loadu_ps(Sprev + size_t(p) * N + 16 * v), vda);
                ds = _mm512_mul_ps(ds, vdecay);
            }
            _mm512_storeu_ps(dSp + 16 * v, ds);
        }
        const float sb = _mm512_reduce_add_ps(sB);
        dDh += dyp * x[p];
        ddtv += x[p] * sb;
        dx[p] += Dh * dyp + dtv * sb;
    }
    for (int v = 0; v < NV; v++) {
        _mm512_storeu_ps(dB + 16 * v, db[v]);
        _mm512_storeu_ps(dC + 16 * v, dc[v]);
    }
    da = _mm512_reduce_add_ps(vda);
}

// The float fast path for d_state 16, 32 or 64; false where the generic loop runs.
template <class T>
bool scan_reverse_step_fast(T* dS, T* dB, T* dC, T* dx, T& ddtv, T& da, T& dDh, const T* Scur,
                            const T* Sprev, const T* x, const T* dy, const T* Bv, const T* Cv,
                            int P, int N, T dtv, T Dh, T decay, bool start) {
    if constexpr (std::is_same_v<T, float>) {
        switch (N) {
            case 16:
                scan_reverse_step_f32<1>(dS, dB, dC, dx, ddtv, da, dDh, Scur, Sprev, x, dy, Bv, Cv,
                                         P, dtv, Dh, decay, start);
                return true;
            case 32:
                scan_reverse_step_f32<2>(dS, dB, dC, dx, ddtv, da, dDh, Scur, Sprev, x, dy, Bv, Cv,
                                         P, dtv, Dh, decay, start);
                return true;
            case 64:
                scan_reverse_step_f32<4>(dS, dB, dC, dx, ddtv, da, dDh, Scur, Sprev, x, dy, Bv, Cv,
                                         P, dtv, Dh, decay, start);
                return true;
            default:
                return false;
        }
    }
    return false;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#else
template <class T>
bool scan_reverse_step_fast(T*, T*, T*, T*, T&, T&, T&, const T*, const T*, const T*, const T*,
                            const T*, const T*, int, int, T, T, T, bool) {
    return false;
}
#endif

// Reverse scan per (batch row, head), recomputing each chunk's states from the one saved at its
// start. Each task owns its x-columns of dxbc, its ddt column, its slot of dbc_head (B/C
// gradients per head, summed over the group at the end) and its head_partial entries, so no two
// threads write the same value.
template <class T>
void ssm_scan_backward(T* dxbc, T* ddt, T* dA_log, T* dD, const T* dy_all, const T* xbc,
                       const T* dt, const T* chunk_state, const T* A_log, const T* D,
                       const int32_t* seg_begin, int Bn, int Tn, int L, const MambaShape& s,
                       SsmScanScratch<T>& ws) {
    const int R = Bn * Tn, nch = (Tn + L - 1) / L, hpg = s.heads_per_group();
    const size_t PN = s.PN(), stride = size_t(L + 2) * PN;
    ws.states.resize(size_t(omp_get_max_threads()) * stride);
    ws.dbc_head.resize(size_t(R) * s.H * 2 * s.N);
    ws.head_partial.resize(size_t(Bn) * s.H * 2);
#pragma omp parallel for collapse(2) schedule(static) if (big(size_t(R) * s.H * PN))
    for (int b = 0; b < Bn; b++)
        for (int hh = 0; hh < s.H; hh++) {
            T* Sbuf = ws.states.data() + size_t(omp_get_thread_num()) * stride;  // [L+1, P, N]
            T* dS = Sbuf + size_t(L + 1) * PN;                                   // [P, N]
            std::fill(dS, dS + PN, T(0));
            const T A = -std::exp(A_log[hh]), Dh = D[hh];
            const int g = hh / hpg;
            T dA = 0, dDh = 0;
            for (int ch = nch - 1; ch >= 0; ch--) {
                const int t0 = ch * L, len = std::min(Tn, t0 + L) - t0;
                const T* saved = chunk_state + ((size_t(b) * s.H + hh) * nch + ch) * PN;
                std::copy(saved, saved + PN, Sbuf);
                for (int i = 0; i < len; i++) {  // Sbuf[i+1] = S_t for t = t0+i
                    const int row = b * Tn + t0 + i;
                    const T keep = seg_begin[row] == row ? T(0) : T(1);
                    const T dtv = dt[size_t(row) * s.H + hh], decay = std::exp(dtv * A) * keep;
                    const T* xr = xbc + size_t(row) * s.C;
                    const T *x = xr + hh * s.P, *Bv = xr + s.Di + g * s.N;
                    const T* prev = Sbuf + size_t(i) * PN;
                    T* cur = Sbuf + size_t(i + 1) * PN;
                    for (int p = 0; p < s.P; p++) {
                        const T dtx = dtv * x[p];
                        for (int n = 0; n < s.N; n++)
                            cur[p * s.N + n] = decay * prev[p * s.N + n] + dtx * Bv[n];
                    }
                }
                for (int i = len - 1; i >= 0; i--) {
                    const int row = b * Tn + t0 + i;
                    const bool start = seg_begin[row] == row;
                    const T dtv = dt[size_t(row) * s.H + hh], decay = std::exp(dtv * A);
                    const T* xr = xbc + size_t(row) * s.C;
                    const T *x = xr + hh * s.P, *Bv = xr + s.Di + g * s.N,
                            *Cv = xr + s.Di + (s.G + g) * s.N;
                    const T* dy = dy_all + size_t(row) * s.Di + hh * s.P;
                    const T* Scur = Sbuf + size_t(i + 1) * PN;
                    const T* Sprev = Sbuf + size_t(i) * PN;
                    T* dB = ws.dbc_head.data() + (size_t(row) * s.H + hh) * 2 * s.N;
                    T* dC = dB + s.N;
                    std::fill(dB, dB + 2 * s.N, T(0));
                    T* dx = dxbc + size_t(row) * s.C + hh * s.P;
                    T ddtv = 0, da = 0;
                    const bool fast =
                        scan_reverse_step_fast(dS, dB, dC, dx, ddtv, da, dDh, Scur, Sprev, x, dy,
                                               Bv, Cv, s.P, s.N, dtv, Dh, decay, start);
                    for (int p = 0; p < s.P && !fast; p++) {
                        const T dyp = dy[p], dtx = dtv * x[p];
                        T* dSp = dS + size_t(p) * s.N;
                        const T* Sc = Scur + size_t(p) * s.N;
                        T sB = 0;
#pragma omp simd reduction(+ : sB)
                        for (int n = 0; n < s.N; n++) {
                            dC[n] += dyp * Sc[n];
                            dSp[n] += dyp * Cv[n];  // dS is now dL/dS_t in full
                            sB += dSp[n] * Bv[n];
                            dB[n] += dtx * dSp[n];
                        }
                        // Row p of dS is done with: carry it to S_{t-1} (nothing crosses a
                        // document start).
                        if (!start) {
                            const T* Sp = Sprev + size_t(p) * s.N;
#pragma omp simd reduction(+ : da)
                            for (int n = 0; n < s.N; n++) {
                                da += dSp[n] * Sp[n];
                                dSp[n] *= decay;
                            }
                        } else {
                            std::fill(dSp, dSp + s.N, T(0));
                        }
                        dDh += dyp * x[p];
                        ddtv += x[p] * sB;
                        dx[p] += Dh * dyp + dtv * sB;
                    }
                    ddtv += da * decay * A;
                    dA += da * decay * dtv;
                    ddt[size_t(row) * s.H + hh] += ddtv;
                }
            }
            ws.head_partial[(size_t(b) * s.H + hh) * 2] = dA;
            ws.head_partial[(size_t(b) * s.H + hh) * 2 + 1] = dDh;
        }

    for (int hh = 0; hh < s.H; hh++) {
        T dA = 0, dDh = 0;
        for (int b = 0; b < Bn; b++) {
            dA += ws.head_partial[(size_t(b) * s.H + hh) * 2];
            dDh += ws.head_partial[(size_t(b) * s.H + hh) * 2 + 1];
        }
        dA_log[hh] += dA * -std::exp(A_log[hh]);  // A = -exp(A_log)
        dD[hh] += dDh;
    }

    // B and C gradients summed over the heads of each group.
#pragma omp parallel for schedule(static) if (big(size_t(R) * s.C))
    for (int row = 0; row < R; row++) {
        T* dxr = dxbc + size_t(row) * s.C;
        for (int g = 0; g < s.G; g++)
            for (int k = 0; k < hpg; k++) {
                const T* src = ws.dbc_head.data() + (size_t(row) * s.H + g * hpg + k) * 2 * s.N;
                for (int n = 0; n < s.N; n++) {
                    dxr[s.Di + g * s.N + n] += src[n];
                    dxr[s.Di + (s.G + g) * s.N + n] += src[s.N + n];
                }
            }
    }
}

// ---- gate: y * SiLU(z) --------------------------------------------------------------------------

// In float both directions are the FFN's gated-activation kernels with the gate z and the value
// y (kern::gated_act and its backward).
template <class T>
void gate_silu_forward(T* g, const T* y, const T* zxbcdt, int R, const MambaShape& s) {
#pragma omp parallel for schedule(static) if (big(size_t(R) * s.Di))
    for (int row = 0; row < R; row++) {
        const T* z = zxbcdt + size_t(row) * s.Ip;
        const T* yr = y + size_t(row) * s.Di;
        T* gr = g + size_t(row) * s.Di;
        if constexpr (std::is_same_v<T, float>)
            kern::gated_act(gr, z, yr, s.Di, true);
        else
            for (int i = 0; i < s.Di; i++) gr[i] = yr[i] * silu(z[i]);
    }
}

template <class T>
void gate_silu_backward(T* dzxbcdt, T* dy, const T* dg, const T* y, const T* zxbcdt, int R,
                        const MambaShape& s) {
#pragma omp parallel for schedule(static) if (big(size_t(R) * s.Di))
    for (int row = 0; row < R; row++) {
        const T* z = zxbcdt + size_t(row) * s.Ip;
        const T* yr = y + size_t(row) * s.Di;
        const T* dgr = dg + size_t(row) * s.Di;
        T* dz = dzxbcdt + size_t(row) * s.Ip;
        T* dyr = dy + size_t(row) * s.Di;
        if constexpr (std::is_same_v<T, float>) {
            kern::gated_act_backward(dz, dyr, dgr, z, yr, s.Di, true);
            continue;
        }
        for (int i = 0; i < s.Di; i++) {
            T f, df;
            silu_and_grad(z[i], f, df);
            dz[i] += dgr[i] * yr[i] * df;
            dyr[i] += dgr[i] * f;
        }
    }
}

#define NP_INSTANTIATE_MAMBA_OPS(T)                                                            \
    template void causal_conv_silu_forward<T>(T*, T*, const T*, const T*, const T*,            \
                                              const int32_t*, int, const MambaShape&);         \
    template void causal_conv_silu_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*,   \
                                               const int32_t*, int, const MambaShape&);        \
    template void dt_softplus_forward<T>(T*, const T*, const T*, int, const MambaShape&);      \
    template void dt_softplus_backward<T>(T*, T*, const T*, const T*, const T*, int,           \
                                          const MambaShape&);                                  \
    template void ssm_scan_forward<T>(T*, T*, const T*, const T*, const T*, const T*,          \
                                      const int32_t*, int, int, int, bool, const MambaShape&,  \
                                      SsmScanScratch<T>&);                                     \
    template void ssm_scan_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, \
                                       const T*, const T*, const int32_t*, int, int, int,      \
                                       const MambaShape&, SsmScanScratch<T>&);                 \
    template void gate_silu_forward<T>(T*, const T*, const T*, int, const MambaShape&);        \
    template void gate_silu_backward<T>(T*, T*, const T*, const T*, const T*, int,             \
                                        const MambaShape&);
NP_INSTANTIATE_MAMBA_OPS(float)
NP_INSTANTIATE_MAMBA_OPS(double)

}  // namespace np
