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

template <class T>
void plan_mla_acts(Arena& arena, const std::string& prefix, int B, int Tn, const MlaDims& d,
                   MlaActs<T>& a) {
    check_dims(d);
    const size_t R = size_t(B) * Tn, D = d.d_model, nh = d.n_heads;
    const size_t dn = d.qk_nope_dim, dr = d.qk_rope_dim, dv = d.v_dim, r = d.kv_rank;
    const size_t QW = nh * (dn + dr), KW = nh * (dn + dv), OW = nh * dv;
    a.B = B, a.Tn = Tn;
    auto bitlinear = [&](const char* name, size_t I, size_t O, BitLinearActs<T>& c) {
        arena.add(prefix + name + ".xhat", R * I, c.xhat);
        arena.add(prefix + name + ".wq", O * I, c.wq);
    };
    // q_proj and kv_down read the same input: one x̂.
    arena.add_shared(prefix + "q_kv_down.xhat", R * D, a.bl_q.xhat);
    arena.add_shared(prefix + "q_kv_down.xhat", R * D, a.bl_kvd.xhat);
    arena.add(prefix + "q_proj.wq", QW * D, a.bl_q.wq);
    arena.add(prefix + "kv_down.wq", (r + dr) * D, a.bl_kvd.wq);
    bitlinear("kv_up", r, KW, a.bl_kvu);
    bitlinear("o_proj", OW, D, a.bl_o);
    arena.add(prefix + "q", R * QW, a.q);
    arena.add(prefix + "kvd", R * (r + dr), a.kvd);
    arena.add(prefix + "c_raw", R * r, a.c_raw);
    arena.add(prefix + "c", R * r, a.c);
    arena.add(prefix + "rstd_c", R, a.rstd_c);
    arena.add(prefix + "kr", R * dr, a.kr);
    arena.add(prefix + "kv", R * KW, a.kv);
    arena.add(prefix + "o", R * OW, a.o);
    arena.add(prefix + "rstd_o", R, a.rstd_o);
    arena.add(prefix + "on", R * OW, a.on);
    arena.add(prefix + "lse", R * nh, a.lse);
    arena.add(prefix + "first", R, a.first);
    arena.add(prefix + "pos", R, a.pos);
    arena.add(prefix + "rope_cos", size_t(Tn) * dr / 2, a.cos);
    arena.add(prefix + "rope_sin", size_t(Tn) * dr / 2, a.sin);
    arena.add_shared("mla.d_on", R * OW, a.d_on);
    arena.add_shared("mla.d_o", R * OW, a.d_o);
    arena.add_shared("mla.dq", R * QW, a.dq);
    arena.add_shared("mla.dkv", R * KW, a.dkv);
    arena.add_shared("mla.dkr", R * dr, a.dkr);
    arena.add_shared("mla.dc", R * r, a.dc);
    arena.add_shared("mla.dc_raw", R * r, a.dc_raw);
    arena.add_shared("mla.dkvd", R * (r + dr), a.dkvd);
}

// out[R, D] = MLA(h[R, D])
template <class T>
void mla_forward(Backend<T>& be, T* out, const T* h, const MlaWeights<T>& w, const MlaDims& d,
                 const SeqLayout& L, bool quantize, T eps, MlaActs<T>& a) {
    check_dims(d);
    const int B = L.B, Tn = L.T, R = B * Tn, D = d.d_model, nh = d.n_heads;
    const int dn = d.qk_nope_dim, dr = d.qk_rope_dim, dv = d.v_dim, r = d.kv_rank;
    const int qd = dn + dr, kvw = dn + dv, QW = nh * qd, KW = nh * kvw, OW = nh * dv;
    if (L.doc_start.size() != size_t(R) || L.pos.size() != size_t(R))
        fail("mla_forward: SeqLayout doc_start/pos must hold B*T = " + std::to_string(R) +
             " entries");
    for (int i = 0; i < R; i++)
        if (L.pos[i] < 0 || L.pos[i] >= Tn) fail("mla_forward: SeqLayout pos must be in [0, T)");
    if (a.B != B || a.Tn != Tn) {
        a.own = std::make_unique<Arena>(be);
        plan_mla_acts(*a.own, "", B, Tn, d, a);
        a.own->allocate();
    }

    // The index arrays and rope tables, built on the host.
    a.first_host.resize(R);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Tn; t++) {
            int i = b * Tn + t;
            a.first_host[i] = (t == 0 || L.doc_start[i]) ? t : a.first_host[i - 1];
        }
    // The tables depend only on T (and the layer's fixed dims): built once per shape.
    if (a.cos_host.size() != size_t(Tn) * (dr / 2))
        rope_table(a.cos_host, a.sin_host, Tn, dr, d.rope_theta);
    be.upload(a.first, a.first_host.data(), sizeof(int32_t) * R);
    be.upload(a.pos, L.pos.data(), sizeof(int32_t) * R);
    be.upload(a.cos, a.cos_host.data(), sizeof(T) * a.cos_host.size());
    be.upload(a.sin, a.sin_host.data(), sizeof(T) * a.sin_host.size());

    be.bitlinear_forward(a.q, a.bl_q.xhat, a.bl_q.wq, h, w.q_proj, R, D, QW, quantize);
    be.bitlinear_forward_xhat(a.kvd, a.bl_kvd.wq, a.bl_kvd.xhat, w.kv_down, R, D, r + dr, quantize);
    be.copy_cols(a.c_raw, r, a.kvd, r + dr, R, r);
    be.copy_cols(a.kr, dr, a.kvd + r, r + dr, R, dr);
    be.rmsnorm_forward(a.c, a.rstd_c, a.c_raw, w.kv_norm, R, r, eps);
    be.bitlinear_forward(a.kv, a.bl_kvu.xhat, a.bl_kvu.wq, a.c, w.kv_up, R, r, KW, quantize);

    const MlaShape shape{nh, dn, dr, dv};
    be.rope_rows_forward(a.q, a.kr, a.pos, a.cos, a.sin, R, shape);
    be.causal_attention_forward(a.o, a.lse, a.q, a.kv, a.kr, a.first, B, Tn, shape);

    be.rmsnorm_forward(a.on, a.rstd_o, a.o, w.o_norm, R, OW, eps);
    be.bitlinear_forward(out, a.bl_o.xhat, a.bl_o.wq, a.on, w.o_proj, R, OW, D, quantize);
}

// dh[R, D] += dL/dh, g += dL/dθ, from dout[R, D] and the acts of the matching forward.
template <class T>
void mla_backward(Backend<T>& be, T* dh, MlaGrads<T>& g, const T* dout, const T* h,
                  const MlaWeights<T>& w, const MlaDims& d, const SeqLayout& L, bool quantize,
                  T eps, MlaActs<T>& a) {
    const int B = L.B, Tn = L.T, R = B * Tn, D = d.d_model, nh = d.n_heads;
    const int dn = d.qk_nope_dim, dr = d.qk_rope_dim, dv = d.v_dim, r = d.kv_rank;
    const int qd = dn + dr, kvw = dn + dv, QW = nh * qd, KW = nh * kvw, OW = nh * dv;
    if (a.B != B || a.Tn != Tn)
        fail("mla_backward: acts do not come from a forward with the same shapes");

    be.zero(a.d_on, size_t(R) * OW);
    be.zero(a.d_o, size_t(R) * OW);
    be.zero(a.dq, size_t(R) * QW);
    be.zero(a.dkv, size_t(R) * KW);
    be.zero(a.dc, size_t(R) * r);
    be.zero(a.dc_raw, size_t(R) * r);
    be.zero(a.dkr, size_t(R) * dr);

    be.bitlinear_backward(a.d_on, g.o_proj, dout, a.bl_o.xhat, a.bl_o.wq, R, OW, D);
    be.rmsnorm_backward(a.d_o, g.o_norm, a.d_on, a.o, w.o_norm, a.rstd_o, R, OW);

    const MlaShape shape{nh, dn, dr, dv};
    be.causal_attention_backward(a.dq, a.dkv, a.dkr, a.d_o, a.q, a.kv, a.kr, a.lse, a.first, B, Tn,
                                 shape);
    be.rope_rows_backward(a.dq, a.dkr, a.pos, a.cos, a.sin, R, shape);
    be.copy_cols(a.dkvd + r, r + dr, a.dkr, dr, R, dr);

    be.bitlinear_backward(a.dc, g.kv_up, a.dkv, a.bl_kvu.xhat, a.bl_kvu.wq, R, r, KW);
    be.rmsnorm_backward(a.dc_raw, g.kv_norm, a.dc, a.c_raw, w.kv_norm, a.rstd_c, R, r);
    be.copy_cols(a.dkvd, r + dr, a.dc_raw, r, R, r);
    be.bitlinear_backward(dh, g.kv_down, a.dkvd, a.bl_kvd.xhat, a.bl_kvd.wq, R, D, r + dr);
    be.bitlinear_backward(dh, g.q_proj, a.dq, a.bl_q.xhat, a.bl_q.wq, R, D, QW);
}

// out[D] = MLA(h[D]) for one token, attending to the cached tokens of its document and itself.
template <class T>
void mla_step(Backend<T>& be, T* out, const T* h, const MlaWeights<T>& w, const MlaDims& d,
              bool quantize, T eps, int pos, bool doc_start, MlaCache<T>& cache) {
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
    auto bitlinear = [&](T* y, const T* x, const T* W, int R, int I, int O) {
        cache.bl.resize(R, I, O);
        be.bitlinear_forward(y, cache.bl.xhat.data(), cache.bl.wq.data(), x, W, R, I, O, quantize);
    };
    bitlinear(cache.q.data(), h, w.q_proj, 1, D, QW);
    bitlinear(cache.kvd.data(), h, w.kv_down, 1, D, r + dr);

    const int n = cache.n + 1;
    cache.latent.resize(size_t(n) * r);
    cache.k_rope.resize(size_t(n) * dr);
    T rs;
    be.rmsnorm_forward(cache.latent.data() + size_t(n - 1) * r, &rs, cache.kvd.data(), w.kv_norm, 1,
                       r, eps);
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
    bitlinear(cache.kv.data(), cache.latent.data(), w.kv_up, n, r, KW);

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
    be.rmsnorm_forward(cache.on.data(), &rs, cache.o.data(), w.o_norm, 1, OW, eps);
    bitlinear(out, cache.on.data(), w.o_proj, 1, OW, D);
}

#define NP_INSTANTIATE(T)                                                                          \
    template void rope_row<T>(T*, T*, int, int, double);                                           \
    template void plan_mla_acts<T>(Arena&, const std::string&, int, int, const MlaDims&,           \
                                   MlaActs<T>&);                                                   \
    template void rope_table<T>(std::vector<T>&, std::vector<T>&, int, int, double);               \
    template void rope_apply<T>(T*, const T*, const T*, int);                                      \
    template void rope_apply_backward<T>(T*, const T*, const T*, int);                             \
    template void mla_forward<T>(Backend<T>&, T*, const T*, const MlaWeights<T>&, const MlaDims&,  \
                                 const SeqLayout&, bool, T, MlaActs<T>&);                          \
    template void mla_backward<T>(Backend<T>&, T*, MlaGrads<T>&, const T*, const T*,               \
                                  const MlaWeights<T>&, const MlaDims&, const SeqLayout&, bool, T, \
                                  MlaActs<T>&);                                                    \
    template void mla_step<T>(Backend<T>&, T*, const T*, const MlaWeights<T>&, const MlaDims&,     \
                              bool, T, int, bool, MlaCache<T>&);
NP_INSTANTIATE(float)
NP_INSTANTIATE(double)
#undef NP_INSTANTIATE

}  // namespace np
