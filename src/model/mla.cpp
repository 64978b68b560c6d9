#include "model/mla.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/error.h"

namespace np {

namespace {

void check_dims(const MlaDims& d) {
    auto positive = [](int v, const char* name) {
        if (v <= 0)
            fail(std::string("mla: ") + name + " must be positive, got " + std::to_string(v));
    };
    positive(d.d_model, "d_model");
    positive(d.n_heads, "n_heads");
    positive(d.qk_nope_dim, "qk_nope_dim");
    positive(d.qk_rope_dim, "qk_rope_dim");
    positive(d.v_dim, "v_dim");
    positive(d.kv_rank, "kv_rank");
    if (d.qk_rope_dim % 2 != 0)
        fail("mla: qk_rope_dim must be even for rotate-half RoPE, got " +
             std::to_string(d.qk_rope_dim));
    if (!(d.rope_theta > 0)) fail("mla: rope_theta must be positive");
}

}  // namespace

// One table row: the angles of position pos, so the decoder's per-step row equals the training
// table.
template <class T>
void rope_row(T* c, T* s, int pos, int d, double theta) {
    for (int i = 0; i < d / 2; i++) {
        double a = double(pos) * std::pow(theta, -2.0 * i / d);
        c[i] = T(std::cos(a));
        s[i] = T(std::sin(a));
    }
}

template <class T>
void rope_table(std::vector<T>& cos, std::vector<T>& sin, int n_pos, int d, double theta) {
    const int half = d / 2;
    cos.resize(size_t(n_pos) * half);
    sin.resize(size_t(n_pos) * half);
    for (int p = 0; p < n_pos; p++)
        rope_row(cos.data() + size_t(p) * half, sin.data() + size_t(p) * half, p, d, theta);
}

template <class T>
void rope_apply(T* x, const T* c, const T* s, int d) {
    const int half = d / 2;
    for (int i = 0; i < half; i++) {
        T a = x[i], b = x[i + half];
        x[i] = a * c[i] - b * s[i];
        x[i + half] = b * c[i] + a * s[i];
    }
}

template <class T>
void rope_apply_backward(T* dx, const T* c, const T* s, int d) {
    const int half = d / 2;
    for (int i = 0; i < half; i++) {
        T a = dx[i], b = dx[i + half];
        dx[i] = a * c[i] + b * s[i];
        dx[i + half] = b * c[i] - a * s[i];
    }
}

// out[R, D] = MLA(h[R, D])
template <class T>
void mla_forward(T* out, const T* h, const MlaWeights<T>& w, const MlaDims& d, const SeqLayout& L,
                 bool quantize, T eps, MlaActs<T>& a) {
    check_dims(d);
    const int B = L.B, Tn = L.T, R = B * Tn, D = d.d_model, nh = d.n_heads;
    const int dn = d.qk_nope_dim, dr = d.qk_rope_dim, dv = d.v_dim, r = d.kv_rank;
    const int qd = dn + dr, kvw = dn + dv, QW = nh * qd, KW = nh * kvw, OW = nh * dv;
    if (L.doc_start.size() != size_t(R) || L.pos.size() != size_t(R))
        fail("mla_forward: SeqLayout doc_start/pos must hold B*T = " + std::to_string(R) +
             " entries");

    a.q.resize(size_t(R) * QW);
    a.kvd.resize(size_t(R) * (r + dr));
    a.c_raw.resize(size_t(R) * r);
    a.c.resize(size_t(R) * r);
    a.rstd_c.resize(R);
    a.kr.resize(size_t(R) * dr);
    a.kv.resize(size_t(R) * KW);
    a.o.resize(size_t(R) * OW);
    a.rstd_o.resize(R);
    a.on.resize(size_t(R) * OW);
    a.lse.resize(size_t(B) * nh * Tn);
    a.first.resize(R);
    a.scores.resize(size_t(B) * nh * 2 * Tn);

    bitlinear_forward(a.q.data(), h, w.q_proj, R, D, QW, quantize, a.bl_q);
    bitlinear_forward(a.kvd.data(), h, w.kv_down, R, D, r + dr, quantize, a.bl_kvd);
    for (int i = 0; i < R; i++) {
        const T* src = a.kvd.data() + size_t(i) * (r + dr);
        std::memcpy(a.c_raw.data() + size_t(i) * r, src, sizeof(T) * r);
        std::memcpy(a.kr.data() + size_t(i) * dr, src + r, sizeof(T) * dr);
    }
    rmsnorm_forward(a.c.data(), a.rstd_c.data(), a.c_raw.data(), w.kv_norm, R, r, eps);
    bitlinear_forward(a.kv.data(), a.c.data(), w.kv_up, R, r, KW, quantize, a.bl_kvu);

    int max_pos = 0;
    for (int i = 0; i < R; i++) {
        if (L.pos[i] < 0) fail("mla_forward: SeqLayout pos must be non-negative");
        max_pos = std::max(max_pos, int(L.pos[i]));
    }
    rope_table(a.cos, a.sin, max_pos + 1, dr, d.rope_theta);
    const MlaShape shape{nh, dn, dr, dv};
    rope_rows_forward(a.q.data(), a.kr.data(), L.pos.data(), a.cos.data(), a.sin.data(), R, shape);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Tn; t++) {
            int i = b * Tn + t;
            a.first[i] = (t == 0 || L.doc_start[i]) ? t : a.first[i - 1];
        }
    causal_attention_forward(a.o.data(), a.lse.data(), a.q.data(), a.kv.data(), a.kr.data(),
                             a.first.data(), B, Tn, shape, a.scores);

    rmsnorm_forward(a.on.data(), a.rstd_o.data(), a.o.data(), w.o_norm, R, OW, eps);
    bitlinear_forward(out, a.on.data(), w.o_proj, R, OW, D, quantize, a.bl_o);
}

// dh[R, D] += dL/dh, g += dL/dθ, from dout[R, D] and the acts of the matching forward.
template <class T>
void mla_backward(T* dh, MlaGrads<T>& g, const T* dout, const T* h, const MlaWeights<T>& w,
                  const MlaDims& d, const SeqLayout& L, bool quantize, T eps, MlaActs<T>& a) {
    const int B = L.B, Tn = L.T, R = B * Tn, D = d.d_model, nh = d.n_heads;
    const int dn = d.qk_nope_dim, dr = d.qk_rope_dim, dv = d.v_dim, r = d.kv_rank;
    const int qd = dn + dr, kvw = dn + dv, QW = nh * qd, KW = nh * kvw, OW = nh * dv;
    if (a.lse.size() != size_t(B) * nh * Tn || a.q.size() != size_t(R) * QW)
        fail("mla_backward: acts do not come from a forward with the same shapes");

    auto zeroed = [](std::vector<T>& v, size_t n) { v.assign(n, T(0)); };
    zeroed(a.d_on, size_t(R) * OW);
    zeroed(a.d_o, size_t(R) * OW);
    zeroed(a.dq, size_t(R) * QW);
    zeroed(a.dkv, size_t(R) * KW);
    zeroed(a.dc, size_t(R) * r);
    zeroed(a.dc_raw, size_t(R) * r);
    a.dkvd.resize(size_t(R) * (r + dr));

    bitlinear_backward(a.d_on.data(), g.o_proj, dout, a.bl_o, R, OW, D);
    rmsnorm_backward(a.d_o.data(), g.o_norm, a.d_on.data(), a.o.data(), w.o_norm, a.rstd_o.data(),
                     R, OW);

    const MlaShape shape{nh, dn, dr, dv};
    zeroed(a.dkr, size_t(R) * dr);
    causal_attention_backward(a.dq.data(), a.dkv.data(), a.dkr.data(), a.d_o.data(), a.q.data(),
                              a.kv.data(), a.kr.data(), a.lse.data(), a.first.data(), B, Tn, shape,
                              a.scores, a.dkr_heads);
    rope_rows_backward(a.dq.data(), a.dkr.data(), L.pos.data(), a.cos.data(), a.sin.data(), R,
                       shape);
    for (int i = 0; i < R; i++)
        std::memcpy(a.dkvd.data() + size_t(i) * (r + dr) + r, a.dkr.data() + size_t(i) * dr,
                    sizeof(T) * dr);

    bitlinear_backward(a.dc.data(), g.kv_up, a.dkv.data(), a.bl_kvu, R, r, KW);
    rmsnorm_backward(a.dc_raw.data(), g.kv_norm, a.dc.data(), a.c_raw.data(), w.kv_norm,
                     a.rstd_c.data(), R, r);
    for (int i = 0; i < R; i++)
        std::memcpy(a.dkvd.data() + size_t(i) * (r + dr), a.dc_raw.data() + size_t(i) * r,
                    sizeof(T) * r);
    bitlinear_backward(dh, g.kv_down, a.dkvd.data(), a.bl_kvd, R, D, r + dr);
    bitlinear_backward(dh, g.q_proj, a.dq.data(), a.bl_q, R, D, QW);
}

// out[D] = MLA(h[D]) for one token, attending to the cached tokens of its document and itself.
template <class T>
void mla_step(T* out, const T* h, const MlaWeights<T>& w, const MlaDims& d, bool quantize, T eps,
              int pos, bool doc_start, MlaCache<T>& cache) {
    check_dims(d);
    const int D = d.d_model, nh = d.n_heads;
    const int dn = d.qk_nope_dim, dr = d.qk_rope_dim, dv = d.v_dim, r = d.kv_rank;
    const int qd = dn + dr, kvw = dn + dv, QW = nh * qd, KW = nh * kvw, OW = nh * dv, half = dr / 2;
    if (doc_start) cache.reset();
    if (pos != cache.n)
        fail("mla_step: pos " + std::to_string(pos) +
             " must equal the number of cached tokens of the document (" + std::to_string(cache.n) +
             ")");
    if (cache.latent.size() != size_t(cache.n) * r || cache.k_rope.size() != size_t(cache.n) * dr)
        fail("mla_step: cache does not match the dims (kv_rank/qk_rope_dim)");

    cache.q.resize(QW);
    cache.kvd.resize(r + dr);
    cache.o.resize(OW);
    cache.on.resize(OW);
    bitlinear_forward(cache.q.data(), h, w.q_proj, 1, D, QW, quantize, cache.bl);
    bitlinear_forward(cache.kvd.data(), h, w.kv_down, 1, D, r + dr, quantize, cache.bl);

    const int n = cache.n + 1;
    cache.latent.resize(size_t(n) * r);
    cache.k_rope.resize(size_t(n) * dr);
    T rs;
    rmsnorm_forward(cache.latent.data() + size_t(n - 1) * r, &rs, cache.kvd.data(), w.kv_norm, 1, r,
                    eps);
    T* kr_new = cache.k_rope.data() + size_t(n - 1) * dr;
    std::memcpy(kr_new, cache.kvd.data() + r, sizeof(T) * dr);
    cache.cos.resize(half);
    cache.sin.resize(half);
    rope_row(cache.cos.data(), cache.sin.data(), pos, dr, d.rope_theta);
    rope_apply(kr_new, cache.cos.data(), cache.sin.data(), dr);
    for (int hh = 0; hh < nh; hh++)
        rope_apply(cache.q.data() + hh * qd + dn, cache.cos.data(), cache.sin.data(), dr);
    cache.n = n;

    // The reference recomputes k_nope and v of every cached token from its latent.
    cache.kv.resize(size_t(n) * KW);
    bitlinear_forward(cache.kv.data(), cache.latent.data(), w.kv_up, n, r, KW, quantize, cache.bl);

    const T scale = T(1) / std::sqrt(T(qd));
    cache.p.resize(n);
    T* sc = cache.p.data();
    for (int hh = 0; hh < nh; hh++) {
        const T* qn = cache.q.data() + hh * qd;
        const T* qr = qn + dn;
        T m = -std::numeric_limits<T>::infinity();
        for (int j = 0; j < n; j++) {
            const T* kn = cache.kv.data() + size_t(j) * KW + hh * kvw;
            const T* kr = cache.k_rope.data() + size_t(j) * dr;
            const T dot = vdot(qn, kn, dn) + vdot(qr, kr, dr);
            sc[j] = dot * scale;
            m = std::max(m, sc[j]);
        }
        T sum = 0;
        for (int j = 0; j < n; j++) sum += (sc[j] = std::exp(sc[j] - m));
        T* ot = cache.o.data() + hh * dv;
        std::fill(ot, ot + dv, T(0));
        for (int j = 0; j < n; j++) {
            const T p = sc[j] / sum;
            const T* v = cache.kv.data() + size_t(j) * KW + hh * kvw + dn;
            for (int k = 0; k < dv; k++) ot[k] += p * v[k];
        }
    }
    rmsnorm_forward(cache.on.data(), &rs, cache.o.data(), w.o_norm, 1, OW, eps);
    bitlinear_forward(out, cache.on.data(), w.o_proj, 1, OW, D, quantize, cache.bl);
}

#define NP_INSTANTIATE(T)                                                                       \
    template void rope_row<T>(T*, T*, int, int, double);                                        \
    template void rope_table<T>(std::vector<T>&, std::vector<T>&, int, int, double);            \
    template void rope_apply<T>(T*, const T*, const T*, int);                                   \
    template void rope_apply_backward<T>(T*, const T*, const T*, int);                          \
    template void mla_forward<T>(T*, const T*, const MlaWeights<T>&, const MlaDims&,            \
                                 const SeqLayout&, bool, T, MlaActs<T>&);                       \
    template void mla_backward<T>(T*, MlaGrads<T>&, const T*, const T*, const MlaWeights<T>&,   \
                                  const MlaDims&, const SeqLayout&, bool, T, MlaActs<T>&);      \
    template void mla_step<T>(T*, const T*, const MlaWeights<T>&, const MlaDims&, bool, T, int, \
                              bool, MlaCache<T>&);
NP_INSTANTIATE(float)
NP_INSTANTIATE(double)
#undef NP_INSTANTIATE

}  // namespace np
