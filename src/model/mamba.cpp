#include "model/mamba.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"

namespace np {
namespace {

void check_layout(const SeqLayout& layout, const char* where) {
    if (layout.B <= 0 || layout.T <= 0)
        fail(std::string(where) + ": layout.B and layout.T must be positive");
    if (layout.doc_start.size() != size_t(layout.B) * layout.T)
        fail(std::string(where) + ": layout.doc_start has " +
             std::to_string(layout.doc_start.size()) +
             " entries, expected B*T = " + std::to_string(size_t(layout.B) * layout.T));
}

}  // namespace

// ---- forward ------------------------------------------------------------------------------------

// out[R,D] = out_proj(RMSNorm(SSM(SiLU(conv(xBC))) * SiLU(z)) * norm_w), [z|xBC|dt] =
// in_proj(h[R,D])
template <class T>
void mamba_forward(T* out, const T* h, const MambaWeights<T>& w, const MambaDims& md,
                   const SeqLayout& layout, bool quantize, T eps, MambaActs<T>& a) {
    const MambaShape s = mamba_shape(md, "mamba_forward");
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
    a.conv_pre.resize(size_t(R) * s.C);
    a.xbc.resize(size_t(R) * s.C);
    causal_conv_silu_forward(a.conv_pre.data(), a.xbc.data(), a.zxbcdt.data(), w.conv_w, w.conv_b,
                             a.seg_begin.data(), R, s);
    a.dt.resize(size_t(R) * s.H);
    dt_softplus_forward(a.dt.data(), a.zxbcdt.data(), w.dt_bias, R, s);
    a.chunk_used = L;
    a.chunk_state.resize(size_t(Bn) * s.H * nch * s.PN());
    a.y.resize(size_t(R) * s.Di);
    ssm_scan_forward(a.y.data(), a.chunk_state.data(), a.xbc.data(), a.dt.data(), w.A_log, w.D,
                     a.seg_begin.data(), Bn, Tn, L, a.ssd, s, a.scan);
    a.g.resize(size_t(R) * s.Di);
    gate_silu_forward(a.g.data(), a.y.data(), a.zxbcdt.data(), R, s);
    a.rstd.resize(R);
    a.tmp.resize(size_t(R) * s.Di);
    rmsnorm_forward(a.tmp.data(), a.rstd.data(), a.g.data(), w.norm_w, R, s.Di, eps);
    bitlinear_forward(out, a.tmp.data(), w.out_proj, R, s.Di, s.Dm, quantize, a.out_cache);
}

// ---- backward -----------------------------------------------------------------------------------

// dh[R,D] += dL/dh, grads += dL/dθ, given dout[R,D] and the acts of the matching forward.
template <class T>
void mamba_backward(T* dh, MambaGrads<T>& gr, const T* dout, const T* h, const MambaWeights<T>& w,
                    const MambaDims& md, const SeqLayout& layout, bool quantize, T eps,
                    MambaActs<T>& a) {
    const MambaShape s = mamba_shape(md, "mamba_backward");
    check_layout(layout, "mamba_backward");
    const int Bn = layout.B, Tn = layout.T, R = Bn * Tn, L = a.chunk_used;
    if (L <= 0 || a.y.size() != size_t(R) * s.Di || a.zxbcdt.size() != size_t(R) * s.Ip)
        fail(
            "mamba_backward: MambaActs does not hold a forward of this shape (run mamba_forward "
            "first)");

    // out_proj and the gated RMSNorm: a.dg = dL/dg.
    a.tmp.assign(size_t(R) * s.Di, T(0));
    bitlinear_backward(a.tmp.data(), gr.out_proj, dout, a.out_cache, R, s.Di, s.Dm);
    a.dg.assign(size_t(R) * s.Di, T(0));
    rmsnorm_backward(a.dg.data(), gr.norm_w, a.tmp.data(), a.g.data(), w.norm_w, a.rstd.data(), R,
                     s.Di);
    // The gate: dz into dzxbcdt, dy into a.tmp.
    a.dzxbcdt.assign(size_t(R) * s.Ip, T(0));
    std::fill(a.tmp.begin(), a.tmp.end(), T(0));
    gate_silu_backward(a.dzxbcdt.data(), a.tmp.data(), a.dg.data(), a.y.data(), a.zxbcdt.data(), R,
                       s);
    a.dxbc.assign(size_t(R) * s.C, T(0));
    a.ddt.assign(size_t(R) * s.H, T(0));
    ssm_scan_backward(a.dxbc.data(), a.ddt.data(), gr.A_log, gr.D, a.tmp.data(), a.xbc.data(),
                      a.dt.data(), a.chunk_state.data(), w.A_log, w.D, a.seg_begin.data(), Bn, Tn,
                      L, s, a.scan);
    dt_softplus_backward(a.dzxbcdt.data(), gr.dt_bias, a.ddt.data(), a.zxbcdt.data(), w.dt_bias, R,
                         s);
    causal_conv_silu_backward(a.dzxbcdt.data(), gr.conv_w, gr.conv_b, a.dxbc.data(),
                              a.conv_pre.data(), a.zxbcdt.data(), w.conv_w, a.seg_begin.data(), R,
                              s);
    bitlinear_backward(dh, gr.in_proj, a.dzxbcdt.data(), a.in_cache, R, s.Dm, s.Ip);
}

// ---- decode
// ----------------------------------------------------------------------------------------

template <class T>
void MambaState<T>::reset(const MambaDims& md) {
    const MambaShape s = mamba_shape(md, "MambaState::reset");
    conv.assign(size_t(s.K - 1) * s.C, T(0));
    ssm.assign(size_t(s.H) * s.PN(), T(0));
}

// out[D] = Mamba(h[D]) for the next token, updating the conv window and SSM state.
template <class T>
void mamba_step(T* out, const T* h, const MambaWeights<T>& w, const MambaDims& md, bool quantize,
                T eps, bool doc_start, MambaState<T>& st) {
    const MambaShape s = mamba_shape(md, "mamba_step");
    if (st.conv.size() != size_t(s.K - 1) * s.C || st.ssm.size() != size_t(s.H) * s.PN())
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
        const int g = hh / s.heads_per_group();
        const T dt = softplus(dtr[hh] + w.dt_bias[hh]),
                decay = std::exp(dt * -std::exp(w.A_log[hh]));
        const T *x = st.xbc.data() + hh * s.P, *Bv = st.xbc.data() + s.Di + g * s.N,
                *Cv = st.xbc.data() + s.Di + (s.G + g) * s.N;
        T* y = st.y.data() + hh * s.P;
        ssm_step_head(st.ssm.data() + size_t(hh) * s.PN(), y, x, Bv, Cv, dt, decay, w.D[hh], s.P,
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
