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

// ---- activations ----------------------------------------------------------------------------

template <class T>
void plan_mamba_acts(Arena& arena, const std::string& prefix, int B, int Tn, const MambaDims& md,
                     MambaActs<T>& a) {
    const MambaShape s = mamba_shape(md, "plan_mamba_acts");
    if (a.chunk <= 0) fail("plan_mamba_acts: MambaActs.chunk must be positive");
    const size_t R = size_t(B) * Tn, nch = (size_t(Tn) + a.chunk - 1) / a.chunk;
    a.B = B, a.Tn = Tn, a.planned_chunk = a.chunk;
    arena.add(prefix + "in_proj.xhat", R * s.Dm, a.in_cache.xhat);
    arena.add(prefix + "in_proj.wq", size_t(s.Ip) * s.Dm, a.in_cache.wq);
    arena.add(prefix + "out_proj.xhat", R * s.Di, a.out_cache.xhat);
    arena.add(prefix + "out_proj.wq", size_t(s.Dm) * s.Di, a.out_cache.wq);
    arena.add(prefix + "seg_begin", R, a.seg_begin);
    arena.add(prefix + "zxbcdt", R * s.Ip, a.zxbcdt);
    arena.add(prefix + "conv_pre", R * s.C, a.conv_pre);
    arena.add(prefix + "xbc", R * s.C, a.xbc);
    arena.add(prefix + "dt", R * s.H, a.dt);
    arena.add(prefix + "y", R * s.Di, a.y);
    arena.add(prefix + "g", R * s.Di, a.g);
    arena.add(prefix + "rstd", R, a.rstd);
    arena.add(prefix + "chunk_state", size_t(B) * s.H * nch * s.PN(), a.chunk_state);
    arena.add_shared("mamba.tmp", R * s.Di, a.tmp);
    arena.add_shared("mamba.dg", R * s.Di, a.dg);
    arena.add_shared("mamba.dxbc", R * s.C, a.dxbc);
    arena.add_shared("mamba.dzxbcdt", R * s.Ip, a.dzxbcdt);
    arena.add_shared("mamba.ddt", R * s.H, a.ddt);
}

// ---- forward ------------------------------------------------------------------------------------

// out[R,D] = out_proj(RMSNorm(SSM(SiLU(conv(xBC))) * SiLU(z)) * norm_w), [z|xBC|dt] =
// in_proj(h[R,D])
template <class T>
void mamba_forward(Backend<T>& be, T* out, const T* h, const MambaWeights<T>& w,
                   const MambaDims& md, const SeqLayout& layout, bool quantize, T eps,
                   MambaActs<T>& a) {
    const MambaShape s = mamba_shape(md, "mamba_forward");
    check_layout(layout, "mamba_forward");
    const int Bn = layout.B, Tn = layout.T, R = Bn * Tn;
    if (a.B != Bn || a.Tn != Tn || a.planned_chunk != a.chunk) {
        a.own = std::make_unique<Arena>(be);
        plan_mamba_acts(*a.own, "", Bn, Tn, md, a);
        a.own->allocate();
    }
    a.seg_host.resize(R);
    for (int b = 0; b < Bn; b++)
        for (int t = 0; t < Tn; t++) {
            int row = b * Tn + t;
            a.seg_host[row] = (t == 0 || layout.doc_start[row]) ? row : a.seg_host[row - 1];
        }
    be.upload(a.seg_begin, a.seg_host.data(), sizeof(int32_t) * R);

    be.bitlinear_forward(a.zxbcdt, a.in_cache.xhat, a.in_cache.wq, h, w.in_proj, R, s.Dm, s.Ip,
                         quantize);
    be.causal_conv_silu_forward(a.conv_pre, a.xbc, a.zxbcdt, w.conv_w, w.conv_b, a.seg_begin, R, s);
    be.dt_softplus_forward(a.dt, a.zxbcdt, w.dt_bias, R, s);
    be.ssm_scan_forward(a.y, a.chunk_state, a.xbc, a.dt, w.A_log, w.D, a.seg_begin, Bn, Tn, a.chunk,
                        a.ssd, s);
    be.gate_silu_forward(a.g, a.y, a.zxbcdt, R, s);
    be.rmsnorm_forward(a.tmp, a.rstd, a.g, w.norm_w, R, s.Di, eps);
    be.bitlinear_forward(out, a.out_cache.xhat, a.out_cache.wq, a.tmp, w.out_proj, R, s.Di, s.Dm,
                         quantize);
}

// ---- backward -----------------------------------------------------------------------------------

// dh[R,D] += dL/dh, grads += dL/dθ, given dout[R,D] and the acts of the matching forward.
template <class T>
void mamba_backward(Backend<T>& be, T* dh, MambaGrads<T>& gr, const T* dout, const T* h,
                    const MambaWeights<T>& w, const MambaDims& md, const SeqLayout& layout,
                    bool quantize, T eps, MambaActs<T>& a) {
    const MambaShape s = mamba_shape(md, "mamba_backward");
    check_layout(layout, "mamba_backward");
    const int Bn = layout.B, Tn = layout.T, R = Bn * Tn;
    if (a.B != Bn || a.Tn != Tn || a.planned_chunk != a.chunk)
        fail(
            "mamba_backward: MambaActs does not hold a forward of this shape (run mamba_forward "
            "first)");
    const size_t RDi = size_t(R) * s.Di;

    // out_proj and the gated RMSNorm: a.dg = dL/dg.
    be.zero(a.tmp, RDi);
    be.bitlinear_backward(a.tmp, gr.out_proj, dout, a.out_cache.xhat, a.out_cache.wq, R, s.Di,
                          s.Dm);
    be.zero(a.dg, RDi);
    be.rmsnorm_backward(a.dg, gr.norm_w, a.tmp, a.g, w.norm_w, a.rstd, R, s.Di);
    // The gate: dz into dzxbcdt, dy into a.tmp.
    be.zero(a.dzxbcdt, size_t(R) * s.Ip);
    be.zero(a.tmp, RDi);
    be.gate_silu_backward(a.dzxbcdt, a.tmp, a.dg, a.y, a.zxbcdt, R, s);
    be.zero(a.dxbc, size_t(R) * s.C);
    be.zero(a.ddt, size_t(R) * s.H);
    be.ssm_scan_backward(a.dxbc, a.ddt, gr.A_log, gr.D, a.tmp, a.xbc, a.dt, a.chunk_state, w.A_log,
                         w.D, a.seg_begin, Bn, Tn, a.chunk, s);
    be.dt_softplus_backward(a.dzxbcdt, gr.dt_bias, a.ddt, a.zxbcdt, w.dt_bias, R, s);
    be.causal_conv_silu_backward(a.dzxbcdt, gr.conv_w, gr.conv_b, a.dxbc, a.conv_pre, a.zxbcdt,
                                 w.conv_w, a.seg_begin, R, s);
    be.bitlinear_backward(dh, gr.in_proj, a.dzxbcdt, a.in_cache.xhat, a.in_cache.wq, R, s.Dm, s.Ip);
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
void mamba_step(Backend<T>& be, T* out, const T* h, const MambaWeights<T>& w, const MambaDims& md,
                bool quantize, T eps, bool doc_start, MambaState<T>& st) {
    const MambaShape s = mamba_shape(md, "mamba_step");
    if (st.conv.size() != size_t(s.K - 1) * s.C || st.ssm.size() != size_t(s.H) * s.PN())
        fail("mamba_step: MambaState does not match these MambaDims (call reset(dims) first)");
    if (doc_start) {
        std::fill(st.conv.begin(), st.conv.end(), T(0));
        std::fill(st.ssm.begin(), st.ssm.end(), T(0));
    }
    st.zxbcdt.resize(s.Ip);
    st.in_cache.resize(1, s.Dm, s.Ip);
    be.bitlinear_forward(st.zxbcdt.data(), st.in_cache.xhat.data(), st.in_cache.wq.data(), h,
                         w.in_proj, 1, s.Dm, s.Ip, quantize);
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
    be.rmsnorm_forward(st.normed.data(), &rstd, st.y.data(), w.norm_w, 1, s.Di, eps);
    st.out_cache.resize(1, s.Di, s.Dm);
    be.bitlinear_forward(out, st.out_cache.xhat.data(), st.out_cache.wq.data(), st.normed.data(),
                         w.out_proj, 1, s.Di, s.Dm, quantize);
}

#define NP_INSTANTIATE_MAMBA(T)                                                                 \
    template struct MambaState<T>;                                                              \
    template void plan_mamba_acts<T>(Arena&, const std::string&, int, int, const MambaDims&,    \
                                     MambaActs<T>&);                                            \
    template void mamba_forward<T>(Backend<T>&, T*, const T*, const MambaWeights<T>&,           \
                                   const MambaDims&, const SeqLayout&, bool, T, MambaActs<T>&); \
    template void mamba_backward<T>(Backend<T>&, T*, MambaGrads<T>&, const T*, const T*,        \
                                    const MambaWeights<T>&, const MambaDims&, const SeqLayout&, \
                                    bool, T, MambaActs<T>&);                                    \
    template void mamba_step<T>(Backend<T>&, T*, const T*, const MambaWeights<T>&,              \
                                const MambaDims&, bool, T, bool, MambaState<T>&);
NP_INSTANTIATE_MAMBA(float)
NP_INSTANTIATE_MAMBA(double)

}  // namespace np
