#include "model/mamba.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"

namespace np {
namespace {

// Derived sizes. Row layouts: zxbcdt = [z (Di) | xBC (C) | dt (H)], xBC = [x (Di) | B (G*N) | C
// (G*N)].
struct Dims {
    int Dm, Di, H, P, N, G, K, C, Ip, heads_per_group;
    size_t PN;
};

Dims dims_of(const MambaDims& d, const char* where) {
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
    Dims s;
    s.Dm = d.d_model, s.Di = d.d_inner(), s.H = d.n_heads(), s.P = d.head_dim, s.N = d.d_state;
    s.G = d.n_groups, s.K = d.d_conv, s.C = d.conv_dim(), s.Ip = d.in_proj_dim();
    s.heads_per_group = s.H / s.G;
    s.PN = size_t(s.P) * s.N;
    return s;
}

void check_layout(const SeqLayout& layout, const char* where) {
    if (layout.B <= 0 || layout.T <= 0)
        fail(std::string(where) + ": layout.B and layout.T must be positive");
    if (layout.doc_start.size() != size_t(layout.B) * layout.T)
        fail(std::string(where) + ": layout.doc_start has " +
             std::to_string(layout.doc_start.size()) +
             " entries, expected B*T = " + std::to_string(size_t(layout.B) * layout.T));
}

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

// y[R, d_inner] (including D*x) from xbc and dt by the sequential recurrence, one (batch row, head)
// per task; the state entering each chunk of a.chunk_used tokens goes to a.chunk_state.
template <class T>
void scan_sequential(MambaActs<T>& a, const MambaWeights<T>& w, const Dims& s, int Bn, int Tn,
                     int nch) {
    const int R = Bn * Tn, L = a.chunk_used;
    a.scratch.resize(size_t(omp_get_max_threads()) * s.PN);
#pragma omp parallel for collapse(2) schedule(static) if (big(size_t(R) * s.H * s.PN))
    for (int b = 0; b < Bn; b++)
        for (int hh = 0; hh < s.H; hh++) {
            T* S = a.scratch.data() + size_t(omp_get_thread_num()) * s.PN;
            std::fill(S, S + s.PN, T(0));
            const T A = -std::exp(w.A_log[hh]), Dh = w.D[hh];
            const int g = hh / s.heads_per_group;
            for (int t = 0; t < Tn; t++) {
                const int row = b * Tn + t;
                if (t % L == 0)
                    std::copy(S, S + s.PN,
                              a.chunk_state.data() + ((size_t(b) * s.H + hh) * nch + t / L) * s.PN);
                if (a.seg_begin[row] == row) std::fill(S, S + s.PN, T(0));
                const T dt = a.dt[size_t(row) * s.H + hh], decay = std::exp(dt * A);
                const T* xr = a.xbc.data() + size_t(row) * s.C;
                const T *x = xr + hh * s.P, *Bv = xr + s.Di + g * s.N,
                        *Cv = xr + s.Di + (s.G + g) * s.N;
                ssm_step_head(S, a.y.data() + size_t(row) * s.Di + hh * s.P, x, Bv, Cv, dt, decay,
                              Dh, s.P, s.N);
            }
        }
}

// Same outputs as scan_sequential by the chunked SSD algorithm (mamba_ssm ssd_minimal): inside a
// chunk y_i = sum_{j<=i, same doc} (C_i·B_j) exp(cs_i - cs_j) dt_j x_j + exp(cs_i) C_i·S_in + D
// x_i, cs = cumulative dt*A; only the chunk-boundary states are materialised.
template <class T>
void scan_ssd(MambaActs<T>& a, const MambaWeights<T>& w, const Dims& s, int Bn, int Tn, int nch) {
    const int R = Bn * Tn, L = a.chunk_used;
    const size_t stride = s.PN + 2 * size_t(L);
    a.scratch.resize(size_t(omp_get_max_threads()) * stride);
#pragma omp parallel for collapse(2) schedule(static) if (big(size_t(R) * s.H * s.PN))
    for (int b = 0; b < Bn; b++)
        for (int hh = 0; hh < s.H; hh++) {
            T* S = a.scratch.data() + size_t(omp_get_thread_num()) * stride;  // [P, N]
            T* cs = S + s.PN;                                                 // [L]
            T* segbeg =
                cs + L;  // [L] chunk index of the current doc's start, -1 if before the chunk
            std::fill(S, S + s.PN, T(0));
            const T A = -std::exp(w.A_log[hh]), Dh = w.D[hh];
            const int g = hh / s.heads_per_group;
            auto xbc_row = [&](int i, int t0) {
                return a.xbc.data() + size_t(b * Tn + t0 + i) * s.C;
            };
            for (int ch = 0; ch < nch; ch++) {
                const int t0 = ch * L, len = std::min(Tn, t0 + L) - t0;
                std::copy(S, S + s.PN,
                          a.chunk_state.data() + ((size_t(b) * s.H + hh) * nch + ch) * s.PN);
                for (int i = 0; i < len; i++) {
                    const int row = b * Tn + t0 + i;
                    cs[i] = (i ? cs[i - 1] : T(0)) + a.dt[size_t(row) * s.H + hh] * A;
                    segbeg[i] = a.seg_begin[row] == row ? T(i) : (i ? segbeg[i - 1] : T(-1));
                }
                for (int i = 0; i < len; i++) {
                    const T* xi = xbc_row(i, t0);
                    const T* Ci = xi + s.Di + (s.G + g) * s.N;
                    T* y = a.y.data() + size_t(b * Tn + t0 + i) * s.Di + hh * s.P;
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
                            cb * std::exp(cs[i] - cs[j]) * a.dt[size_t(b * Tn + t0 + j) * s.H + hh];
                        for (int p = 0; p < s.P; p++) y[p] += coef * xj[hh * s.P + p];
                    }
                }
                const int last = len - 1;
                const T carry = segbeg[last] < 0 ? std::exp(cs[last]) : T(0);
                for (size_t k = 0; k < s.PN; k++) S[k] *= carry;
                for (int j = segbeg[last] < 0 ? 0 : int(segbeg[last]); j <= last; j++) {
                    const T* xj = xbc_row(j, t0);
                    const T* Bj = xj + s.Di + g * s.N;
                    const T wj =
                        std::exp(cs[last] - cs[j]) * a.dt[size_t(b * Tn + t0 + j) * s.H + hh];
                    for (int p = 0; p < s.P; p++) {
                        const T v = wj * xj[hh * s.P + p];
                        for (int n = 0; n < s.N; n++) S[size_t(p) * s.N + n] += v * Bj[n];
                    }
                }
            }
        }
}

}  // namespace

// ---- forward
// ---------------------------------------------------------------------------------------

// out[R,D] = out_proj(RMSNorm(SSM(SiLU(conv(xBC))) * SiLU(z)) * norm_w), [z|xBC|dt] =
// in_proj(h[R,D])
template <class T>
void mamba_forward(T* out, const T* h, const MambaWeights<T>& w, const MambaDims& md,
                   const SeqLayout& layout, bool quantize, T eps, MambaActs<T>& a) {
    const Dims s = dims_of(md, "mamba_forward");
    check_layout(layout, "mamba_forward");
    if (a.chunk <= 0) fail("mamba_forward: MambaActs.chunk must be positive");
    const int Bn = layout.B, Tn = layout.T, R = Bn * Tn, L = a.chunk;
    const int nch = (Tn + L - 1) / L;

    a.seg_begin.resize(R);
    for (int b = 0; b < Bn; b++)
        for (int t = 0; t < Tn; t++) {
            int row = b * Tn + t;
            a.seg_begin[row] = (t == 0 || layout.doc_start[row]) ? row : a.seg_begin[row - 1];
        }

    a.zxbcdt.resize(size_t(R) * s.Ip);
    bitlinear_forward(a.zxbcdt.data(), h, w.in_proj, R, s.Dm, s.Ip, quantize, a.in_cache);

    // Causal depthwise conv; inputs before the document's first row are the zero padding.
    a.conv_pre.resize(size_t(R) * s.C);
    a.xbc.resize(size_t(R) * s.C);
    a.dt.resize(size_t(R) * s.H);
#pragma omp parallel for schedule(static) if (big(size_t(R) * s.C * s.K))
    for (int row = 0; row < R; row++) {
        T* cp = a.conv_pre.data() + size_t(row) * s.C;
        for (int c = 0; c < s.C; c++) cp[c] = w.conv_b[c];
        for (int j = 0; j < s.K; j++) {
            int src = row - (s.K - 1) + j;
            if (src < a.seg_begin[row]) continue;
            const T* xin = a.zxbcdt.data() + size_t(src) * s.Ip + s.Di;
            for (int c = 0; c < s.C; c++) cp[c] += w.conv_w[size_t(c) * s.K + j] * xin[c];
        }
        T* xo = a.xbc.data() + size_t(row) * s.C;
        for (int c = 0; c < s.C; c++) xo[c] = silu(cp[c]);
        const T* dtr = a.zxbcdt.data() + size_t(row) * s.Ip + s.Di + s.C;
        for (int hh = 0; hh < s.H; hh++)
            a.dt[size_t(row) * s.H + hh] = softplus(dtr[hh] + w.dt_bias[hh]);
    }

    a.chunk_used = L;
    a.chunk_state.resize(size_t(Bn) * s.H * nch * s.PN);
    a.y.resize(size_t(R) * s.Di);
    if (a.ssd)
        scan_ssd(a, w, s, Bn, Tn, nch);
    else
        scan_sequential(a, w, s, Bn, Tn, nch);

    a.g.resize(size_t(R) * s.Di);
#pragma omp parallel for schedule(static) if (big(size_t(R) * s.Di))
    for (int row = 0; row < R; row++) {
        const T* z = a.zxbcdt.data() + size_t(row) * s.Ip;
        const T* y = a.y.data() + size_t(row) * s.Di;
        T* g = a.g.data() + size_t(row) * s.Di;
        for (int i = 0; i < s.Di; i++) g[i] = y[i] * silu(z[i]);
    }
    a.rstd.resize(R);
    a.tmp.resize(size_t(R) * s.Di);
    rmsnorm_forward(a.tmp.data(), a.rstd.data(), a.g.data(), w.norm_w, R, s.Di, eps);
    bitlinear_forward(out, a.tmp.data(), w.out_proj, R, s.Di, s.Dm, quantize, a.out_cache);
}

// ---- backward
// --------------------------------------------------------------------------------------

// dh[R,D] += dL/dh, grads += dL/dθ, given dout[R,D] and the acts of the matching forward.
template <class T>
void mamba_backward(T* dh, MambaGrads<T>& gr, const T* dout, const T* h, const MambaWeights<T>& w,
                    const MambaDims& md, const SeqLayout& layout, bool quantize, T eps,
                    MambaActs<T>& a) {
    const Dims s = dims_of(md, "mamba_backward");
    check_layout(layout, "mamba_backward");
    const int Bn = layout.B, Tn = layout.T, R = Bn * Tn, L = a.chunk_used;
    if (L <= 0 || a.y.size() != size_t(R) * s.Di || a.zxbcdt.size() != size_t(R) * s.Ip)
        fail(
            "mamba_backward: MambaActs does not hold a forward of this shape (run mamba_forward "
            "first)");
    const int nch = (Tn + L - 1) / L;

    // out_proj and gated RMSNorm.
    a.tmp.assign(size_t(R) * s.Di, T(0));
    bitlinear_backward(a.tmp.data(), gr.out_proj, dout, a.out_cache, R, s.Di, s.Dm);
    a.dg.assign(size_t(R) * s.Di, T(0));
    rmsnorm_backward(a.dg.data(), gr.norm_w, a.tmp.data(), a.g.data(), w.norm_w, a.rstd.data(), R,
                     s.Di);

    // g = y*SiLU(z): dz goes straight into dzxbcdt, dg becomes dy in place.
    a.dzxbcdt.assign(size_t(R) * s.Ip, T(0));
#pragma omp parallel for schedule(static) if (big(size_t(R) * s.Di))
    for (int row = 0; row < R; row++) {
        const T* z = a.zxbcdt.data() + size_t(row) * s.Ip;
        const T* y = a.y.data() + size_t(row) * s.Di;
        T* dz = a.dzxbcdt.data() + size_t(row) * s.Ip;
        T* dg = a.dg.data() + size_t(row) * s.Di;
        for (int i = 0; i < s.Di; i++) {
            T gd = dg[i];
            dz[i] = gd * y[i] * silu_grad(z[i]);
            dg[i] = gd * silu(z[i]);
        }
    }

    // Reverse scan per (batch row, head). Each task owns its x-columns of dxbc, its dt column of
    // dzxbcdt, its slot of dbc_head (B/C grads per head, summed over the group below) and its
    // head_partial entries, so no two threads write the same value.
    const size_t stride = size_t(L + 2) * s.PN;
    a.scratch.resize(size_t(omp_get_max_threads()) * stride);
    a.dxbc.assign(size_t(R) * s.C, T(0));
    a.dbc_head.resize(size_t(R) * s.H * 2 * s.N);
    a.head_partial.resize(size_t(Bn) * s.H * 2);
    const T* dy_all = a.dg.data();
#pragma omp parallel for collapse(2) schedule(static) if (big(size_t(R) * s.H * s.PN))
    for (int b = 0; b < Bn; b++)
        for (int hh = 0; hh < s.H; hh++) {
            T* Sbuf = a.scratch.data() + size_t(omp_get_thread_num()) * stride;  // [L+1, P, N]
            T* dS = Sbuf + size_t(L + 1) * s.PN;                                 // [P, N]
            std::fill(dS, dS + s.PN, T(0));
            const T A = -std::exp(w.A_log[hh]), Dh = w.D[hh];
            const int g = hh / s.heads_per_group;
            T dA = 0, dD = 0;
            for (int ch = nch - 1; ch >= 0; ch--) {
                const int t0 = ch * L, len = std::min(Tn, t0 + L) - t0;
                const T* saved = a.chunk_state.data() + ((size_t(b) * s.H + hh) * nch + ch) * s.PN;
                std::copy(saved, saved + s.PN, Sbuf);
                for (int i = 0; i < len; i++) {  // Sbuf[i+1] = S_t for t = t0+i
                    const int row = b * Tn + t0 + i;
                    const T keep = a.seg_begin[row] == row ? T(0) : T(1);
                    const T dt = a.dt[size_t(row) * s.H + hh], decay = std::exp(dt * A) * keep;
                    const T* xr = a.xbc.data() + size_t(row) * s.C;
                    const T *x = xr + hh * s.P, *Bv = xr + s.Di + g * s.N;
                    const T* prev = Sbuf + size_t(i) * s.PN;
                    T* cur = Sbuf + size_t(i + 1) * s.PN;
                    for (int p = 0; p < s.P; p++) {
                        const T dtx = dt * x[p];
                        for (int n = 0; n < s.N; n++)
                            cur[p * s.N + n] = decay * prev[p * s.N + n] + dtx * Bv[n];
                    }
                }
                for (int i = len - 1; i >= 0; i--) {
                    const int row = b * Tn + t0 + i;
                    const bool start = a.seg_begin[row] == row;
                    const T dt = a.dt[size_t(row) * s.H + hh], decay = std::exp(dt * A);
                    const T* xr = a.xbc.data() + size_t(row) * s.C;
                    const T *x = xr + hh * s.P, *Bv = xr + s.Di + g * s.N,
                            *Cv = xr + s.Di + (s.G + g) * s.N;
                    const T* dy = dy_all + size_t(row) * s.Di + hh * s.P;
                    const T* Scur = Sbuf + size_t(i + 1) * s.PN;
                    const T* Sprev = Sbuf + size_t(i) * s.PN;
                    T* dB = a.dbc_head.data() + (size_t(row) * s.H + hh) * 2 * s.N;
                    T* dC = dB + s.N;
                    std::fill(dB, dB + 2 * s.N, T(0));
                    T* dx = a.dxbc.data() + size_t(row) * s.C + hh * s.P;
                    T ddt = 0, da = 0;
                    for (int p = 0; p < s.P; p++) {
                        const T dyp = dy[p], dtx = dt * x[p];
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
                        if (!start) {
                            const T* Sp = Sprev + size_t(p) * s.N;
#pragma omp simd reduction(+ : da)
                            for (int n = 0; n < s.N; n++) da += dSp[n] * Sp[n];
                        }
                        dD += dyp * x[p];
                        ddt += x[p] * sB;
                        dx[p] += Dh * dyp + dt * sB;
                    }
                    ddt += da * decay * A;
                    dA += da * decay * dt;
                    const T dt_pre = a.zxbcdt[size_t(row) * s.Ip + s.Di + s.C + hh] + w.dt_bias[hh];
                    a.dzxbcdt[size_t(row) * s.Ip + s.Di + s.C + hh] = ddt * softplus_grad(dt_pre);
                    if (start)
                        std::fill(dS, dS + s.PN, T(0));
                    else
                        for (size_t k = 0; k < s.PN; k++) dS[k] *= decay;
                }
            }
            a.head_partial[(size_t(b) * s.H + hh) * 2] = dA;
            a.head_partial[(size_t(b) * s.H + hh) * 2 + 1] = dD;
        }

    for (int hh = 0; hh < s.H; hh++) {
        T dA = 0, dD = 0, dbias = 0;
        for (int b = 0; b < Bn; b++) {
            dA += a.head_partial[(size_t(b) * s.H + hh) * 2];
            dD += a.head_partial[(size_t(b) * s.H + hh) * 2 + 1];
        }
        for (int row = 0; row < R; row++) dbias += a.dzxbcdt[size_t(row) * s.Ip + s.Di + s.C + hh];
        gr.A_log[hh] += dA * -std::exp(w.A_log[hh]);  // A = -exp(A_log)
        gr.D[hh] += dD;
        gr.dt_bias[hh] += dbias;
    }

    // Sum B/C grads over the heads of each group, then back through SiLU.
#pragma omp parallel for schedule(static) if (big(size_t(R) * s.C))
    for (int row = 0; row < R; row++) {
        T* dxr = a.dxbc.data() + size_t(row) * s.C;
        for (int g = 0; g < s.G; g++)
            for (int k = 0; k < s.heads_per_group; k++) {
                const T* src =
                    a.dbc_head.data() + (size_t(row) * s.H + g * s.heads_per_group + k) * 2 * s.N;
                for (int n = 0; n < s.N; n++) {
                    dxr[s.Di + g * s.N + n] += src[n];
                    dxr[s.Di + (s.G + g) * s.N + n] += src[s.N + n];
                }
            }
        const T* cp = a.conv_pre.data() + size_t(row) * s.C;
        for (int c = 0; c < s.C; c++) dxr[c] *= silu_grad(cp[c]);
    }

    // Conv backward, parallel over channel blocks: each thread owns its channels' weights and
    // inputs.
    constexpr int kBlock = 32;
    const int nblocks = (s.C + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (big(size_t(R) * s.C * s.K))
    for (int blk = 0; blk < nblocks; blk++) {
        const int c0 = blk * kBlock, c1 = std::min(s.C, c0 + kBlock);
        for (int row = 0; row < R; row++) {
            const T* dc = a.dxbc.data() + size_t(row) * s.C;
            for (int c = c0; c < c1; c++) gr.conv_b[c] += dc[c];
            for (int j = 0; j < s.K; j++) {
                const int src = row - (s.K - 1) + j;
                if (src < a.seg_begin[row]) continue;
                const T* xin = a.zxbcdt.data() + size_t(src) * s.Ip + s.Di;
                T* dxin = a.dzxbcdt.data() + size_t(src) * s.Ip + s.Di;
                for (int c = c0; c < c1; c++) {
                    dxin[c] += w.conv_w[size_t(c) * s.K + j] * dc[c];
                    gr.conv_w[size_t(c) * s.K + j] += dc[c] * xin[c];
                }
            }
        }
    }

    bitlinear_backward(dh, gr.in_proj, a.dzxbcdt.data(), a.in_cache, R, s.Dm, s.Ip);
}

// ---- decode
// ----------------------------------------------------------------------------------------

template <class T>
void MambaState<T>::reset(const MambaDims& md) {
    const Dims s = dims_of(md, "MambaState::reset");
    conv.assign(size_t(s.K - 1) * s.C, T(0));
    ssm.assign(size_t(s.H) * s.PN, T(0));
}

// out[D] = Mamba(h[D]) for the next token, updating the conv window and SSM state.
template <class T>
void mamba_step(T* out, const T* h, const MambaWeights<T>& w, const MambaDims& md, bool quantize,
                T eps, bool doc_start, MambaState<T>& st) {
    const Dims s = dims_of(md, "mamba_step");
    if (st.conv.size() != size_t(s.K - 1) * s.C || st.ssm.size() != size_t(s.H) * s.PN)
        fail("mamba_step: MambaState does not match these MambaDims (call reset(dims) first)");
    if (doc_start) {
        std::fill(st.conv.begin(), st.conv.end(), T(0));
        std::fill(st.ssm.begin(), st.ssm.end(), T(0));
    }
    st.zxbcdt.resize(s.Ip);
    bitlinear_forward(st.zxbcdt.data(), h, w.in_proj, 1, s.Dm, s.Ip, quantize, st.in_cache);
    const T* z = st.zxbcdt.data();
    const T* xin = z + s.Di;
    const T* dtr = xin + s.C;

    // Same accumulation order as mamba_forward (bias, then oldest to newest) so both agree bitwise
    // for identical in_proj outputs.
    st.xbc.resize(s.C);
    for (int c = 0; c < s.C; c++) {
        T v = w.conv_b[c];
        for (int j = 0; j < s.K - 1; j++)
            v += w.conv_w[size_t(c) * s.K + j] * st.conv[size_t(j) * s.C + c];
        v += w.conv_w[size_t(c) * s.K + s.K - 1] * xin[c];
        st.xbc[c] = silu(v);
    }
    if (s.K > 1) {
        std::copy(st.conv.begin() + s.C, st.conv.end(), st.conv.begin());
        std::copy(xin, xin + s.C, st.conv.end() - s.C);
    }

    st.y.resize(s.Di);
    for (int hh = 0; hh < s.H; hh++) {
        const int g = hh / s.heads_per_group;
        const T dt = softplus(dtr[hh] + w.dt_bias[hh]),
                decay = std::exp(dt * -std::exp(w.A_log[hh]));
        const T *x = st.xbc.data() + hh * s.P, *Bv = st.xbc.data() + s.Di + g * s.N,
                *Cv = st.xbc.data() + s.Di + (s.G + g) * s.N;
        T* y = st.y.data() + hh * s.P;
        ssm_step_head(st.ssm.data() + size_t(hh) * s.PN, y, x, Bv, Cv, dt, decay, w.D[hh], s.P,
                      s.N);
        for (int p = 0; p < s.P; p++) y[p] *= silu(z[hh * s.P + p]);
    }
    T rstd;
    st.normed.resize(s.Di);
    rmsnorm_forward(st.normed.data(), &rstd, st.y.data(), w.norm_w, 1, s.Di, eps);
    bitlinear_forward(out, st.normed.data(), w.out_proj, 1, s.Di, s.Dm, quantize, st.out_cache);
}

#define NP_INSTANTIATE_MAMBA(T)                                                                  \
    template struct MambaState<T>;                                                               \
    template void mamba_forward<T>(T*, const T*, const MambaWeights<T>&, const MambaDims&,       \
                                   const SeqLayout&, bool, T, MambaActs<T>&);                    \
    template void mamba_backward<T>(T*, MambaGrads<T>&, const T*, const T*,                      \
                                    const MambaWeights<T>&, const MambaDims&, const SeqLayout&,  \
                                    bool, T, MambaActs<T>&);                                     \
    template void mamba_step<T>(T*, const T*, const MambaWeights<T>&, const MambaDims&, bool, T, \
                                bool, MambaState<T>&);
NP_INSTANTIATE_MAMBA(float)
NP_INSTANTIATE_MAMBA(double)

}  // namespace np
