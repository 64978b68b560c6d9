// The training ops of the op table, each with its shapes, its inputs' initialisation and, where the
// op has one, an independent plain fp64 reference.
#include <algorithm>
#include <cmath>
#include <memory>

#include "backend_ops/op_case.h"
#include "core/rng.h"
#include "model/ffn.h"
#include "model/mamba.h"
#include "model/mla.h"
#include "model/model.h"
#include "model/ops.h"
#include "train/optimizer.h"

namespace np::backend_ops {
namespace {

std::vector<double> normal(size_t n, std::mt19937& rng, double scale, double mean = 0) {
    std::normal_distribution<double> nd(mean, scale);
    std::vector<double> v(n);
    for (double& x : v) x = nd(rng);
    return v;
}

template <class T>
std::vector<T*> grad_ptrs(Tensors<T>& g) {
    std::vector<T*> p;
    for (auto& t : g) p.push_back(t.data());
    return p;
}

// y[R,O] = x[R,I] · W[O,I]^T
struct Matmul {
    int R, I, O;
    Tensors<double> init(std::mt19937& rng) const {
        return {normal(size_t(R) * I, rng, 1), normal(size_t(O) * I, rng, 1 / std::sqrt(I))};
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& y) const {
        y.assign(size_t(R) * O, T(0));
        backend<T>().linear_forward(y.data(), in[0].data(), in[1].data(), R, I, O, false);
    }
    // dx[R,I] += dy · W;  dW[O,I] += dy^T · x
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dy, Tensors<T>& g) const {
        backend<T>().linear_backward(g[0].data(), g[1].data(), dy.data(), in[0].data(),
                                     in[1].data(), R, I, O);
    }
    void reference(const Tensors<double>& in, std::vector<double>& y) const {
        y.assign(size_t(R) * O, 0);
        for (int r = 0; r < R; r++)
            for (int o = 0; o < O; o++)
                for (int i = 0; i < I; i++)
                    y[size_t(r) * O + o] += in[0][size_t(r) * I + i] * in[1][size_t(o) * I + i];
    }
};

// y[R,C] = x * rstd * w, rstd = (mean(x^2) + eps)^-1/2 per row
struct RmsNorm {
    int R, C;
    static constexpr double eps = 1e-5;
    Tensors<double> init(std::mt19937& rng) const {
        return {normal(size_t(R) * C, rng, 1), normal(C, rng, 0.2, 1)};
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& y) const {
        std::vector<T> rstd(R);
        y.resize(size_t(R) * C);
        backend<T>().rmsnorm_forward(y.data(), rstd.data(), in[0].data(), in[1].data(), R, C,
                                     T(eps));
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dy, Tensors<T>& g) const {
        std::vector<T> y, rstd(R);
        y.resize(size_t(R) * C);
        backend<T>().rmsnorm_forward(y.data(), rstd.data(), in[0].data(), in[1].data(), R, C,
                                     T(eps));
        backend<T>().rmsnorm_backward(g[0].data(), g[1].data(), dy.data(), in[0].data(),
                                      in[1].data(), rstd.data(), R, C);
    }
    void reference(const Tensors<double>& in, std::vector<double>& y) const {
        y.resize(size_t(R) * C);
        for (int r = 0; r < R; r++) {
            double ss = 0;
            for (int c = 0; c < C; c++) ss += in[0][size_t(r) * C + c] * in[0][size_t(r) * C + c];
            const double rs = 1 / std::sqrt(ss / C + eps);
            for (int c = 0; c < C; c++)
                y[size_t(r) * C + c] = in[0][size_t(r) * C + c] * rs * in[1][c];
        }
    }
};

// wq[n] = gamma * clamp(round_half_even(W / gamma), -1, 1), gamma = max(mean|W|, 1e-5)
struct QuantTernary {
    int n;
    Tensors<double> init(std::mt19937& rng) const { return {normal(n, rng, 0.02)}; }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& wq) const {
        wq.resize(n);
        quantize_weights_ternary(wq.data(), in[0].data(), n);
    }
    void reference(const Tensors<double>& in, std::vector<double>& wq) const {
        double sum = 0;
        for (double w : in[0]) sum += std::fabs(w);
        const double gamma = std::max(sum / n, 1e-5);
        wq.resize(n);
        for (int i = 0; i < n; i++)
            wq[i] = std::clamp(std::nearbyint(in[0][i] / gamma), -1.0, 1.0) * gamma;
    }
};

// xhat[R,C] = clamp(round(x * s), -128, 127) / s, s = 127 / max(max|x_row|, 1e-5)
struct QuantInt8 {
    int R, C;
    Tensors<double> init(std::mt19937& rng) const { return {normal(size_t(R) * C, rng, 1)}; }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& xh) const {
        xh.resize(size_t(R) * C);
        quantize_activations_int8(xh.data(), in[0].data(), R, C);
    }
    void reference(const Tensors<double>& in, std::vector<double>& xh) const {
        xh.resize(size_t(R) * C);
        for (int r = 0; r < R; r++) {
            double m = 0;
            for (int c = 0; c < C; c++) m = std::max(m, std::fabs(in[0][size_t(r) * C + c]));
            const double s = 127 / std::max(m, 1e-5);
            for (int c = 0; c < C; c++)
                xh[size_t(r) * C + c] =
                    std::clamp(std::nearbyint(in[0][size_t(r) * C + c] * s), -128.0, 127.0) / s;
        }
    }
};

// y[R,O] = x̂ · W'^T with both quantisers; backward straight-through: dx += dy·W', dW += dy^T·x̂
struct BitLinear {
    int R, I, O;
    Tensors<double> init(std::mt19937& rng) const {
        return {normal(size_t(R) * I, rng, 1), normal(size_t(O) * I, rng, 0.02)};
    }
    template <class T>
    void run(const Tensors<T>& in, std::vector<T>& y, BitLinearCache<T>& cache) const {
        cache.resize(R, I, O);
        y.resize(size_t(R) * O);
        backend<T>().bitlinear_forward(y.data(), cache.xhat.data(), cache.wq.data(), in[0].data(),
                                       in[1].data(), R, I, O, true);
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& y) const {
        BitLinearCache<T> cache;
        run(in, y, cache);
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dy, Tensors<T>& g) const {
        BitLinearCache<T> cache;
        std::vector<T> y;
        run(in, y, cache);
        backend<T>().bitlinear_backward(g[0].data(), g[1].data(), dy.data(), cache.xhat.data(),
                                        cache.wq.data(), R, I, O);
    }
    void reference(const Tensors<double>& in, std::vector<double>& y) const {
        std::vector<double> xh, wq;
        QuantInt8{R, I}.reference({in[0]}, xh);
        QuantTernary{O * I}.reference({in[1]}, wq);
        Matmul{R, I, O}.reference({xh, wq}, y);
    }
};

// BitLinear on the x̂ another BitLinear of the same input wrote (bitlinear_forward_xhat): the same
// y as BitLinear's reference.
struct BitLinearSharedInput : BitLinear {
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& y) const {
        BitLinearCache<T> first, second;
        first.resize(R, I, O), second.resize(R, I, O);
        std::vector<T> y_first(size_t(R) * O);
        backend<T>().bitlinear_forward(y_first.data(), first.xhat.data(), first.wq.data(),
                                       in[0].data(), in[1].data(), R, I, O, true);
        y.resize(size_t(R) * O);
        backend<T>().bitlinear_forward_xhat(y.data(), second.wq.data(), first.xhat.data(),
                                            in[1].data(), R, I, O, true);
    }
};

// Token rows with documents starting inside them (id 0), the layout every mixer takes.
SeqLayout doc_layout(int B, int T) {
    std::vector<int32_t> tok(size_t(B) * T, 1);
    for (int b = 0; b < B; b++)
        for (int t = 2 + b; t < T; t += 5 + b) tok[size_t(b) * T + t] = 0;
    return make_seq_layout(tok.data(), B, T);
}

// seg_begin[R]: the row where each row's document starts.
std::vector<int32_t> seg_begin_of(const SeqLayout& l) {
    std::vector<int32_t> sb(size_t(l.B) * l.T);
    for (int r = 0; r < l.B * l.T; r++)
        sb[r] = (r % l.T == 0 || l.doc_start[r]) ? r : sb[size_t(r) - 1];
    return sb;
}

// The Mamba mixer's own ops on their own (model/mamba_ops.h).
struct MambaOpBase {
    MambaDims d;
    int B, Tn;
    MambaShape s() const { return mamba_shape(d, "backend ops"); }
    int R() const { return B * Tn; }
    std::vector<int32_t> seg() const { return seg_begin_of(doc_layout(B, Tn)); }
};

// xbc[R, C] = SiLU(causal depthwise conv of zxbcdt's xBC columns)
struct ConvSilu : MambaOpBase {
    Tensors<double> init(std::mt19937& rng) const {
        return {normal(size_t(R()) * s().Ip, rng, 1), normal(size_t(s().C) * d.d_conv, rng, 0.5),
                normal(s().C, rng, 0.3)};
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& xbc) const {
        std::vector<T> pre(size_t(R()) * s().C);
        xbc.resize(pre.size());
        backend<T>().causal_conv_silu_forward(pre.data(), xbc.data(), in[0].data(), in[1].data(),
                                              in[2].data(), seg().data(), R(), s());
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dxbc, Tensors<T>& g) const {
        std::vector<T> pre(size_t(R()) * s().C), xbc(pre.size()), d = dxbc;
        const std::vector<int32_t> sb = seg();
        backend<T>().causal_conv_silu_forward(pre.data(), xbc.data(), in[0].data(), in[1].data(),
                                              in[2].data(), sb.data(), R(), s());
        backend<T>().causal_conv_silu_backward(g[0].data(), g[1].data(), g[2].data(), d.data(),
                                               pre.data(), in[0].data(), in[1].data(), sb.data(),
                                               R(), s());
    }
};

// dt[R, H] = softplus(dt_raw + dt_bias)
struct DtSoftplus : MambaOpBase {
    Tensors<double> init(std::mt19937& rng) const {
        return {normal(size_t(R()) * s().Ip, rng, 2), normal(s().H, rng, 1)};
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& dt) const {
        dt.resize(size_t(R()) * s().H);
        backend<T>().dt_softplus_forward(dt.data(), in[0].data(), in[1].data(), R(), s());
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& ddt, Tensors<T>& g) const {
        backend<T>().dt_softplus_backward(g[0].data(), g[1].data(), ddt.data(), in[0].data(),
                                          in[1].data(), R(), s());
    }
};

// y[R, Di] = the selective scan of xbc with steps dt, A = -exp(A_log), skip D. "cpu" runs the
// chunked SSD algorithm, the reference the sequential recurrence.
struct SsmScan : MambaOpBase {
    int L;
    Tensors<double> init(std::mt19937& rng) const {
        std::uniform_real_distribution<double> u(0.01, 0.5);
        Tensors<double> in = {
            normal(size_t(R()) * s().C, rng, 1), {}, {}, normal(s().H, rng, 0.1, 1)};
        for (int i = 0; i < R() * s().H; i++) in[1].push_back(u(rng));
        for (int h = 0; h < s().H; h++) in[2].push_back(std::log(1 + 15 * u(rng)));
        return in;
    }
    template <class T>
    void run(const Tensors<T>& in, std::vector<T>& y, std::vector<T>& states) const {
        y.resize(size_t(R()) * s().Di);
        states.resize(size_t(B) * s().H * ((Tn + L - 1) / L) * s().PN());
        backend<T>().ssm_scan_forward(y.data(), states.data(), in[0].data(), in[1].data(),
                                      in[2].data(), in[3].data(), seg().data(), B, Tn, L,
                                      std::is_same_v<T, float>, s());
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& y) const {
        std::vector<T> states;
        run(in, y, states);
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dy, Tensors<T>& g) const {
        std::vector<T> y, states;
        run(in, y, states);
        backend<T>().ssm_scan_backward(g[0].data(), g[1].data(), g[2].data(), g[3].data(),
                                       dy.data(), in[0].data(), in[1].data(), states.data(),
                                       in[2].data(), in[3].data(), seg().data(), B, Tn, L, s());
    }
};

// g[R, Di] = y * SiLU(z), z = zxbcdt's first Di columns
struct GateSilu : MambaOpBase {
    Tensors<double> init(std::mt19937& rng) const {
        return {normal(size_t(R()) * s().Ip, rng, 2), normal(size_t(R()) * s().Di, rng, 1)};
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& g) const {
        g.resize(size_t(R()) * s().Di);
        backend<T>().gate_silu_forward(g.data(), in[1].data(), in[0].data(), R(), s());
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dg, Tensors<T>& g) const {
        backend<T>().gate_silu_backward(g[0].data(), g[1].data(), dg.data(), in[1].data(),
                                        in[0].data(), R(), s());
    }
};

// The Mamba-2 mixer (in_proj, causal depthwise conv + SiLU, selective scan, gated RMSNorm,
// out_proj). "cpu" runs the chunked SSD scan, the reference the sequential recurrence.
struct MambaMixer {
    MambaDims d;
    int B, Tn, chunk;
    Tensors<double> init(std::mt19937& rng) const {
        const int Di = d.d_inner(), C = d.conv_dim(), H = d.n_heads();
        std::uniform_real_distribution<double> u01(0, 1);
        Tensors<double> in = {
            normal(size_t(B) * Tn * d.d_model, rng, 1),
            normal(size_t(d.in_proj_dim()) * d.d_model, rng, 1 / std::sqrt(d.d_model)),
            normal(size_t(C) * d.d_conv, rng, 0.5),
            normal(C, rng, 0.3),
            {},
            {},
            {},
            normal(Di, rng, 0.2, 1),
            normal(size_t(d.d_model) * Di, rng, 1 / std::sqrt(Di))};
        for (int h = 0; h < H; h++) {
            const double dt0 =
                std::exp(std::log(1e-2) + u01(rng) * (std::log(0.5) - std::log(1e-2)));
            in[4].push_back(dt0 + std::log(-std::expm1(-dt0)));  // dt_bias = softplus^-1(dt0)
            in[5].push_back(std::log(1 + 15 * u01(rng)));        // A_log
            in[6].push_back(1 + 0.2 * (u01(rng) - 0.5));         // D
        }
        return in;
    }
    template <class T>
    MambaWeights<T> weights(const Tensors<T>& in) const {
        return {in[1].data(), in[2].data(), in[3].data(), in[4].data(),
                in[5].data(), in[6].data(), in[7].data(), in[8].data()};
    }
    template <class T>
    void run(const Tensors<T>& in, std::vector<T>& out, MambaActs<T>& acts) const {
        acts.chunk = chunk;
        acts.ssd = std::is_same_v<T, float>;
        out.resize(size_t(B) * Tn * d.d_model);
        mamba_forward(backend<T>(), out.data(), in[0].data(), weights(in), d, doc_layout(B, Tn),
                      false, T(1e-5), acts);
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& out) const {
        MambaActs<T> acts;
        run(in, out, acts);
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dout, Tensors<T>& g) const {
        MambaActs<T> acts;
        std::vector<T> out;
        run(in, out, acts);
        MambaGrads<T> mg{g[1].data(), g[2].data(), g[3].data(), g[4].data(),
                         g[5].data(), g[6].data(), g[7].data(), g[8].data()};
        mamba_backward(backend<T>(), g[0].data(), mg, dout.data(), in[0].data(), weights(in), d,
                       doc_layout(B, Tn), false, T(1e-5), acts);
    }
};

// MLA's own ops on their own (model/mla_ops.h).
struct MlaOpBase {
    MlaShape s;
    int B, Tn;
    int R() const { return B * Tn; }
    std::vector<int> first() const {
        const SeqLayout l = doc_layout(B, Tn);
        std::vector<int> f(static_cast<size_t>(R()), 0);
        for (int i = 0; i < R(); i++)
            f[size_t(i)] = (i % Tn == 0 || l.doc_start[size_t(i)]) ? i % Tn : f[size_t(i) - 1];
        return f;
    }
};

// o[R, nh, dv] = causal softmax attention of q over k = [k_nope | kr] and v, per document.
struct Attention : MlaOpBase {
    Tensors<double> init(std::mt19937& rng) const {
        return {normal(size_t(R()) * s.nh * s.qd(), rng, 1),
                normal(size_t(R()) * s.nh * s.kvw(), rng, 1), normal(size_t(R()) * s.dr, rng, 1)};
    }
    template <class T>
    void run(const Tensors<T>& in, std::vector<T>& o, std::vector<T>& lse) const {
        o.resize(size_t(R()) * s.nh * s.dv);
        lse.resize(size_t(R()) * s.nh);
        backend<T>().causal_attention_forward(o.data(), lse.data(), in[0].data(), in[1].data(),
                                              in[2].data(), first().data(), B, Tn, s);
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& o) const {
        std::vector<T> lse;
        run(in, o, lse);
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& d_o, Tensors<T>& g) const {
        std::vector<T> o, lse;
        run(in, o, lse);
        backend<T>().causal_attention_backward(g[0].data(), g[1].data(), g[2].data(), d_o.data(),
                                               in[0].data(), in[1].data(), in[2].data(), lse.data(),
                                               first().data(), B, Tn, s);
    }
    // The softmax written out per query: scores, max, exp, normalise, weighted sum of v.
    void reference(const Tensors<double>& in, std::vector<double>& o) const {
        const std::vector<int> f = first();
        const int QW = s.nh * s.qd(), KW = s.nh * s.kvw();
        o.assign(size_t(R()) * s.nh * s.dv, 0);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < s.nh; h++)
                for (int t = 0; t < Tn; t++) {
                    const int i = b * Tn + t;
                    std::vector<double> p;
                    for (int j = f[size_t(i)]; j <= t; j++) {
                        const int k = b * Tn + j;
                        double dot = 0;
                        for (int c = 0; c < s.dn; c++)
                            dot += in[0][size_t(i) * QW + h * s.qd() + c] *
                                   in[1][size_t(k) * KW + h * s.kvw() + c];
                        for (int c = 0; c < s.dr; c++)
                            dot += in[0][size_t(i) * QW + h * s.qd() + s.dn + c] *
                                   in[2][size_t(k) * s.dr + c];
                        p.push_back(dot / std::sqrt(double(s.qd())));
                    }
                    const double m = *std::max_element(p.begin(), p.end());
                    double sum = 0;
                    for (double& x : p) sum += (x = std::exp(x - m));
                    for (int j = f[size_t(i)]; j <= t; j++)
                        for (int c = 0; c < s.dv; c++)
                            o[(size_t(i) * s.nh + h) * s.dv + c] +=
                                p[size_t(j - f[size_t(i)])] / sum *
                                in[1][size_t(b * Tn + j) * KW + h * s.kvw() + s.dn + c];
                }
    }
};

// Rotate-half RoPE on q's rope parts and on kr: out = [q rotated | kr rotated].
struct RopeRows : MlaOpBase {
    double theta;
    Tensors<double> init(std::mt19937& rng) const {
        return {normal(size_t(R()) * s.nh * s.qd(), rng, 1), normal(size_t(R()) * s.dr, rng, 1)};
    }
    template <class T>
    void tables(std::vector<T>& c, std::vector<T>& sn) const {
        rope_table(c, sn, Tn, s.dr, theta);
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& out) const {
        std::vector<T> q = in[0], kr = in[1], c, sn;
        tables(c, sn);
        backend<T>().rope_rows_forward(q.data(), kr.data(), doc_layout(B, Tn).pos.data(), c.data(),
                                       sn.data(), R(), s);
        out = q;
        out.insert(out.end(), kr.begin(), kr.end());
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dout, Tensors<T>& g) const {
        std::vector<T> dq(dout.begin(), dout.begin() + long(in[0].size())),
            dkr(dout.begin() + long(in[0].size()), dout.end()), c, sn;
        tables(c, sn);
        backend<T>().rope_rows_backward(dq.data(), dkr.data(), doc_layout(B, Tn).pos.data(),
                                        c.data(), sn.data(), R(), s);
        for (size_t i = 0; i < dq.size(); i++) g[0][i] += dq[i];
        for (size_t i = 0; i < dkr.size(); i++) g[1][i] += dkr[i];
    }
    // (x_i, x_{i+d/2}) rotated by pos * theta^(-2i/d), angles computed here.
    void reference(const Tensors<double>& in, std::vector<double>& out) const {
        const std::vector<int32_t> pos = doc_layout(B, Tn).pos;
        std::vector<double> q = in[0], kr = in[1];
        auto rotate = [&](double* x, int p) {
            for (int i = 0; i < s.dr / 2; i++) {
                const double a = p * std::pow(theta, -2.0 * i / s.dr), x0 = x[i],
                             x1 = x[i + s.dr / 2];
                x[i] = x0 * std::cos(a) - x1 * std::sin(a);
                x[i + s.dr / 2] = x1 * std::cos(a) + x0 * std::sin(a);
            }
        };
        for (int i = 0; i < R(); i++) {
            rotate(kr.data() + size_t(i) * s.dr, pos[size_t(i)]);
            for (int h = 0; h < s.nh; h++)
                rotate(q.data() + size_t(i) * s.nh * s.qd() + h * s.qd() + s.dn, pos[size_t(i)]);
        }
        out = q;
        out.insert(out.end(), kr.begin(), kr.end());
    }
};

// Multi-head latent attention with decoupled RoPE (causal, documents isolated).
struct MlaMixer {
    MlaDims d;
    int B, Tn;
    Tensors<double> init(std::mt19937& rng) const {
        const int D = d.d_model;
        return {normal(size_t(B) * Tn * D, rng, 1),
                normal(size_t(d.q_dim()) * D, rng, 1 / std::sqrt(D)),
                normal(size_t(d.kv_down_dim()) * D, rng, 1 / std::sqrt(D)),
                normal(d.kv_rank, rng, 0.2, 1),
                normal(size_t(d.kv_up_dim()) * d.kv_rank, rng, 1 / std::sqrt(d.kv_rank)),
                normal(d.o_dim(), rng, 0.2, 1),
                normal(size_t(D) * d.o_dim(), rng, 1 / std::sqrt(d.o_dim()))};
    }
    template <class T>
    MlaWeights<T> weights(const Tensors<T>& in) const {
        return {in[1].data(), in[2].data(), in[3].data(), in[4].data(), in[5].data(), in[6].data()};
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& out) const {
        MlaActs<T> acts;
        out.resize(size_t(B) * Tn * d.d_model);
        mla_forward(backend<T>(), out.data(), in[0].data(), weights(in), d, doc_layout(B, Tn),
                    false, T(1e-5), acts);
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dout, Tensors<T>& g) const {
        MlaActs<T> acts;
        std::vector<T> out(size_t(B) * Tn * d.d_model);
        const SeqLayout layout = doc_layout(B, Tn);
        mla_forward(backend<T>(), out.data(), in[0].data(), weights(in), d, layout, false, T(1e-5),
                    acts);
        MlaGrads<T> mg{g[1].data(), g[2].data(), g[3].data(),
                       g[4].data(), g[5].data(), g[6].data()};
        mla_backward(backend<T>(), g[0].data(), mg, dout.data(), in[0].data(), weights(in), d,
                     layout, false, T(1e-5), acts);
    }
};

// The decode steps: the same mixers fed one token at a time (Mamba: conv window and SSM state;
// MLA: the latent cache), against the whole-sequence forward in fp64.
struct MambaStep {
    MambaMixer mixer;
    Tensors<double> init(std::mt19937& rng) const { return mixer.init(rng); }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& out) const {
        const int D = mixer.d.d_model;
        const SeqLayout layout = doc_layout(mixer.B, mixer.Tn);
        MambaState<T> state;
        state.reset(mixer.d);
        out.resize(size_t(mixer.B) * mixer.Tn * D);
        for (int row = 0; row < mixer.B * mixer.Tn; row++)
            mamba_step(backend<T>(), out.data() + size_t(row) * D, in[0].data() + size_t(row) * D,
                       mixer.weights(in), mixer.d, false, T(1e-5),
                       row % mixer.Tn == 0 || layout.doc_start[row], state);
    }
};

struct MlaStep {
    MlaMixer mixer;
    Tensors<double> init(std::mt19937& rng) const { return mixer.init(rng); }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& out) const {
        const int D = mixer.d.d_model;
        const SeqLayout layout = doc_layout(mixer.B, mixer.Tn);
        MlaCache<T> cache;
        out.resize(size_t(mixer.B) * mixer.Tn * D);
        for (int row = 0; row < mixer.B * mixer.Tn; row++)
            mla_step(backend<T>(), out.data() + size_t(row) * D, in[0].data() + size_t(row) * D,
                     mixer.weights(in), mixer.d, false, T(1e-5), layout.pos[row],
                     row % mixer.Tn == 0 || layout.doc_start[row], cache);
    }
};

// out[R,D] = down(RMSNorm(act(gate h) * up h) * down_norm), act = SiLU (SwiGLU) or ReLU².
struct FeedForward {
    int R, D, F;
    FfnAct act;
    Tensors<double> init(std::mt19937& rng) const {
        return {normal(size_t(R) * D, rng, 1), normal(size_t(F) * D, rng, 1 / std::sqrt(D)),
                normal(size_t(F) * D, rng, 1 / std::sqrt(D)), normal(F, rng, 0.2, 1),
                normal(size_t(D) * F, rng, 1 / std::sqrt(F))};
    }
    template <class T>
    FfnWeights<T> weights(const Tensors<T>& in) const {
        return {in[1].data(), in[2].data(), in[3].data(), in[4].data()};
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& out) const {
        FfnActs<T> acts;
        out.resize(size_t(R) * D);
        ffn_forward(backend<T>(), out.data(), in[0].data(), weights(in), R, D, F, act, false,
                    T(1e-5), acts);
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dout, Tensors<T>& g) const {
        FfnActs<T> acts;
        std::vector<T> out(size_t(R) * D);
        ffn_forward(backend<T>(), out.data(), in[0].data(), weights(in), R, D, F, act, false,
                    T(1e-5), acts);
        FfnGrads<T> fg{g[1].data(), g[2].data(), g[3].data(), g[4].data()};
        ffn_backward(backend<T>(), g[0].data(), fg, dout.data(), in[0].data(), weights(in), R, D, F,
                     act, acts);
    }
};

// m[R, F] = act(a) * u: the FFN's gated activation on its own.
struct GatedAct {
    int R, F;
    FfnAct act;
    Tensors<double> init(std::mt19937& rng) const {
        return {normal(size_t(R) * F, rng, 2), normal(size_t(R) * F, rng, 1)};
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& m) const {
        m.resize(size_t(R) * F);
        backend<T>().gated_act_forward(m.data(), in[0].data(), in[1].data(), m.size(), act);
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dm, Tensors<T>& g) const {
        backend<T>().gated_act_backward(g[0].data(), g[1].data(), dm.data(), in[0].data(),
                                        in[1].data(), dm.size(), act);
    }
    void reference(const Tensors<double>& in, std::vector<double>& m) const {
        m.resize(size_t(R) * F);
        for (size_t i = 0; i < m.size(); i++) {
            const double a = in[0][i];
            m[i] =
                (act == FfnAct::SwiGLU ? a / (1 + std::exp(-a)) : (a > 0 ? a * a : 0)) * in[1][i];
        }
    }
};

// x[R, D] = E[tokens[r]] (tokens repeat, so the backward's rows collide).
struct Embedding {
    int V, D, R;
    std::vector<int32_t> tokens() const {
        std::vector<int32_t> t(size_t(R), 0);
        for (int r = 0; r < R; r++) t[size_t(r)] = (r * 7 + r / 3) % V;
        return t;
    }
    Tensors<double> init(std::mt19937& rng) const { return {normal(size_t(V) * D, rng, 1)}; }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& x) const {
        x.resize(size_t(R) * D);
        backend<T>().embedding_forward(x.data(), tokens().data(), in[0].data(), R, D);
    }
    template <class T>
    void backward(const Tensors<T>&, const std::vector<T>& dx, Tensors<T>& g) const {
        backend<T>().embedding_backward(g[0].data(), dx.data(), tokens().data(), R, D);
    }
};

// The loss summed over rows of logits [rows, V] (every third row not counted), plain, label
// smoothed or weighted; out = [loss], the backward scales dL/dlogits by dout.
struct CrossEntropy {
    int rows, V;
    double smoothing;
    bool weighted;
    std::vector<int32_t> targets() const {
        std::vector<int32_t> t(size_t(rows), 0);
        for (int r = 0; r < rows; r++) t[size_t(r)] = r % 3 == 2 ? -1 : (r * 5 + 1) % V;
        return t;
    }
    std::vector<float> weights() const {
        std::vector<float> w(size_t(rows), 0);
        for (int r = 0; r < rows; r++) w[size_t(r)] = 0.5f - 0.25f * float(r % 4);
        return w;
    }
    CrossEntropyOptions options(bool backward, const std::vector<float>& w) const {
        CrossEntropyOptions o;
        o.label_smoothing = smoothing;
        o.backward = backward;
        if (weighted) o.weights = w.data();
        return o;
    }
    Tensors<double> init(std::mt19937& rng) const { return {normal(size_t(rows) * V, rng, 3)}; }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& out) const {
        std::vector<T> lg = in[0];
        const std::vector<float> w = weights();
        out = {T(backend<T>().cross_entropy_rows(lg.data(), targets().data(), rows, V,
                                                 options(false, w)))};
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dout, Tensors<T>& g) const {
        std::vector<T> lg = in[0];
        const std::vector<float> w = weights();
        backend<T>().cross_entropy_rows(lg.data(), targets().data(), rows, V, options(true, w));
        for (size_t i = 0; i < lg.size(); i++) g[0][i] += dout[0] * lg[i];
    }
    void reference(const Tensors<double>& in, std::vector<double>& out) const {
        const std::vector<int32_t> t = targets();
        const std::vector<float> w = weights();
        double loss = 0;
        for (int r = 0; r < rows; r++) {
            if (t[size_t(r)] < 0) continue;
            const double* z = in[0].data() + size_t(r) * V;
            double sum = 0, mean_nll = 0;
            for (int v = 0; v < V; v++) sum += std::exp(z[v]);
            for (int v = 0; v < V; v++) mean_nll += (std::log(sum) - z[v]) / V;
            const double ce = std::log(sum) - z[t[size_t(r)]];
            loss += weighted ? w[size_t(r)] * ce : (1 - smoothing) * ce + smoothing * mean_nll;
        }
        out = {loss};
    }
};

// The whole model's masked mean cross-entropy (embedding, every layer, final norm, the fused head
// + cross-entropy) as one op of its flat parameters: out = [loss].
struct ModelLoss {
    ModelConfig cfg;
    int B, Tn;
    std::shared_ptr<Model<float>> m32;
    std::shared_ptr<Model<double>> m64;
    std::vector<int32_t> tokens;
    std::vector<uint8_t> mask;
    ModelLoss(const ModelConfig& c, int b, int t) : cfg(c), B(b), Tn(t) {
        m32 = std::make_shared<Model<float>>(cfg);
        m64 = std::make_shared<Model<double>>(cfg);
        m32->quantize = m64->quantize = false;
        std::mt19937 rng(7);
        std::uniform_int_distribution<int> tok(1, cfg.vocab_size - 1);
        for (int i = 0; i < B * Tn; i++) tokens.push_back(i % 11 == 4 ? 0 : tok(rng));
        mask.assign(tokens.size(), 1);
        mask[1] = 0;
    }
    Tensors<double> init(std::mt19937& rng) const {
        m64->init_random(rng());
        Tensors<double> in = {m64->params};
        // Wider than the init, so every path carries a gradient the differences can see.
        for (const ParamSpec& s : m64->layout.specs)
            if (s.matrix)
                for (int64_t i = 0; i < s.numel; i++) in[0][s.offset + i] *= 10;
        return in;
    }
    template <class T>
    Model<T>& model() const {
        if constexpr (std::is_same_v<T, float>)
            return *m32;
        else
            return *m64;
    }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& out) const {
        Model<T>& m = model<T>();
        m.params = in[0];
        out = {T(m.loss(tokens, mask, B, Tn, false).loss)};
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dout, Tensors<T>& g) const {
        Model<T>& m = model<T>();
        m.params = in[0];
        m.zero_grad();
        m.loss(tokens, mask, B, Tn, true);
        for (size_t i = 0; i < g[0].size(); i++) g[0][i] += dout[0] * m.grads[i];
    }
};

// Three AdamW steps (fp32 or 8-bit state) on a matrix (decayed) and a vector: out = the change of
// the parameters, against the update written out in fp64.
TrainOp adamw_op(bool state_8bit, int rows, int cols) {
    ParamLayout layout;
    layout.specs.push_back({"w", {rows, cols}, 0, int64_t(rows) * cols, true, true, 0});
    layout.specs.push_back({"b", {cols}, size_t(rows) * cols, cols, false, false, 0});
    layout.total = size_t(rows + 1) * cols;
    AdamWConfig cfg;
    cfg.state_8bit = state_8bit;
    cfg.min_8bit_numel = 64;
    constexpr int kSteps = 3;
    constexpr double kLr = 1e-2;
    TrainOp op;
    op.name = state_8bit ? "adamw_8bit" : "adamw";
    op.shape = std::to_string(rows) + "x" + std::to_string(cols) + " +" + std::to_string(cols);
    op.inputs = {"params", "grads"};
    op.differentiable = {false, false};
    const size_t n = layout.total;
    op.init = [n](std::mt19937& rng) {
        return Tensors<double>{normal(n, rng, 1), normal(n, rng, 1)};
    };
    op.forward = [layout, cfg](const Tensors<float>& in, std::vector<float>& out) {
        AdamW adam(layout, cfg);
        std::vector<float> p = in[0];
        for (int s = 0; s < kSteps; s++) adam.step(backend<float>(), p, in[1], kLr);
        out.resize(p.size());
        for (size_t i = 0; i < p.size(); i++) out[i] = p[i] - in[0][i];
    };
    op.reference = [layout, cfg](const Tensors<double>& in, std::vector<double>& out) {
        std::vector<double> p = in[0], m(p.size(), 0), v(p.size(), 0);
        const double b1 = cfg.beta1, b2 = cfg.beta2, eps = cfg.eps, wd = cfg.weight_decay;
        for (int t = 1; t <= kSteps; t++)
            for (const ParamSpec& s : layout.specs)
                for (size_t i = s.offset; i < s.offset + size_t(s.numel); i++) {
                    const double g = in[1][i];
                    if (s.matrix) p[i] -= kLr * wd * p[i];
                    m[i] = b1 * m[i] + (1 - b1) * g;
                    v[i] = b2 * v[i] + (1 - b2) * g * g;
                    p[i] -= kLr / (1 - std::pow(b1, t)) * m[i] /
                            (std::sqrt(v[i]) / std::sqrt(1 - std::pow(b2, t)) + eps);
                }
        out.resize(p.size());
        for (size_t i = 0; i < p.size(); i++) out[i] = p[i] - in[0][i];
    };
    op.forward64 = op.reference;
    // fp32 updates of parameters of size 1 by steps of 1e-2: the subtraction p_after - p_before
    // keeps about 6e-8 / 1e-2 of relative precision. 8-bit moments: per-value errors of a few
    // percent (bitsandbytes' dynamic-tree code book, stochastic rounding), bounded in rms.
    op.tol_forward = state_8bit ? 0.05 : 5e-5;
    op.rms_forward = state_8bit;
    op.flops = double(n) * 16 * kSteps;
    return op;
}

// out[n] = base + mask(branch) / (1 - p): a residual add through a branch's dropout mask (p = 0:
// none). Backward: dbase += dout, dbranch += mask(dout) / (1 - p).
struct ResidualDropout {
    size_t n;
    float p;
    static constexpr uint64_t kSeed = 77;
    static constexpr int kLayer = 3, kBranch = 1;
    Tensors<double> init(std::mt19937& rng) const { return {normal(n, rng, 1), normal(n, rng, 1)}; }
    DropoutMask mask() const { return {p, kSeed, kLayer, kBranch}; }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& out) const {
        out.resize(n);
        backend<T>().residual_add(out.data(), in[0].data(), in[1].data(), n, mask());
    }
    template <class T>
    void backward(const Tensors<T>& in, const std::vector<T>& dout, Tensors<T>& g) const {
        std::vector<T> dbranch(n);
        if (p > 0)
            backend<T>().dropout_backward(dbranch.data(), dout.data(), n, mask());
        else
            dbranch = dout;
        for (size_t i = 0; i < n; i++) g[0][i] += dout[i], g[1][i] += dbranch[i];
    }
    // The mask from its definition: keep element i when the top 32 bits of splitmix64(key + i)
    // reach p * 2^32, key = splitmix64(splitmix64(seed) ^ splitmix64(2 * layer + branch)).
    void reference(const Tensors<double>& in, std::vector<double>& out) const {
        const uint64_t key =
            splitmix64(splitmix64(kSeed) ^ splitmix64(uint64_t(2 * kLayer + kBranch)));
        const double threshold = std::round(double(p) * 4294967296.0);
        out.resize(n);
        for (size_t i = 0; i < n; i++) {
            const bool keep = double(splitmix64(key + i) >> 32) >= threshold;
            out[i] = in[0][i] + (keep ? in[1][i] / (1.0 - double(p)) : 0.0);
        }
    }
};

// out[rows, cols] = the columns [c0, c0 + cols) of src[rows, width] (a strided copy).
struct CopyCols {
    int rows, width, c0, cols;
    Tensors<double> init(std::mt19937& rng) const { return {normal(size_t(rows) * width, rng, 1)}; }
    template <class T>
    void forward(const Tensors<T>& in, std::vector<T>& out) const {
        out.resize(size_t(rows) * cols);
        backend<T>().copy_cols(out.data(), cols, in[0].data() + c0, width, rows, cols);
    }
    void reference(const Tensors<double>& in, std::vector<double>& out) const {
        out.resize(size_t(rows) * cols);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                out[size_t(r) * cols + c] = in[0][size_t(r) * width + c0 + c];
    }
};

// Global-norm clipping to half the norm: out = clipped gradients.
TrainOp clip_op(size_t n) {
    TrainOp op;
    op.name = "clip_grad_norm";
    op.shape = std::to_string(n);
    op.inputs = {"grads"};
    op.differentiable = {false};
    op.init = [n](std::mt19937& rng) { return Tensors<double>{normal(n, rng, 1)}; };
    op.reference = [](const Tensors<double>& in, std::vector<double>& out) {
        double ss = 0;
        for (double g : in[0]) ss += g * g;
        const double norm = std::sqrt(ss), max_norm = norm / 2;
        out = in[0];
        for (double& g : out) g *= max_norm / (norm + 1e-6);
    };
    op.forward = [](const Tensors<float>& in, std::vector<float>& out) {
        double ss = 0;
        for (float g : in[0]) ss += double(g) * g;
        out = in[0];
        clip_grad_norm(backend<float>(), out, std::sqrt(ss) / 2);
    };
    op.forward64 = op.reference;
    op.flops = double(n) * 3;
    return op;
}

template <class Impl>
TrainOp with_reference(TrainOp op, const Impl& impl) {
    op.reference = [impl](const Tensors<double>& in, std::vector<double>& out) {
        impl.reference(in, out);
    };
    return op;
}

std::string dims(std::initializer_list<int> v) {
    std::string s;
    for (int x : v) s += (s.empty() ? "" : "x") + std::to_string(x);
    return s;
}

}  // namespace

std::vector<TrainOp> training_ops(bool perf) {
    std::vector<TrainOp> ops;
    using Shape3 = std::array<int, 3>;
    const std::vector<Shape3> mm =
        perf ? std::vector<Shape3>{{256, 768, 768}, {256, 768, 2048}}
             : std::vector<Shape3>{{1, 1, 1}, {1, 7, 5}, {3, 33, 17}, {37, 64, 129}};
    for (auto [R, I, O] : mm) {
        const Matmul m{R, I, O};
        TrainOp op = with_reference(make_train_op(m, "matmul", dims({R, I, O}), {"x", "W"}), m);
        op.flops = 2.0 * R * I * O;
        ops.push_back(op);
        const BitLinear b{R, I, O};
        op = with_reference(make_train_op(b, "bitlinear", dims({R, I, O}), {"x", "W"}), b);
        op.differentiable = {false, false};  // straight-through: not the forward's derivative
        op.flops = 2.0 * R * I * O;
        ops.push_back(op);
        const BitLinearSharedInput bs{{R, I, O}};
        op = with_reference(make_train_op(bs, "bitlinear_xhat", dims({R, I, O}), {"x", "W"}), bs);
        op.differentiable = {false, false};
        op.flops = 2.0 * R * I * O;
        ops.push_back(op);
    }
    for (auto [R, C] : perf ? std::vector<std::array<int, 2>>{{256, 768}}
                            : std::vector<std::array<int, 2>>{{1, 1}, {1, 8}, {5, 33}, {17, 130}}) {
        const RmsNorm r{R, C};
        TrainOp op = with_reference(make_train_op(r, "rms_norm", dims({R, C}), {"x", "w"}), r);
        op.flops = 4.0 * R * C;
        ops.push_back(op);
        const QuantInt8 q{R, C};
        op = with_reference(make_train_op(q, "quant_int8", dims({R, C}), {"x"}), q);
        op.differentiable = {false};
        op.flops = 3.0 * R * C;
        ops.push_back(op);
        const QuantTernary t{R * C};
        op = with_reference(make_train_op(t, "quant_ternary", dims({R * C}), {"W"}), t);
        op.differentiable = {false};
        op.flops = 3.0 * R * C;
        ops.push_back(op);
    }
    for (FfnAct act : {FfnAct::SwiGLU, FfnAct::ReLU2}) {
        const char* name = act == FfnAct::SwiGLU ? "ffn_swiglu" : "ffn_relu2";
        for (auto [R, D, F] : perf ? std::vector<Shape3>{{256, 768, 2048}}
                                   : std::vector<Shape3>{{1, 4, 6}, {7, 8, 12}, {13, 16, 40}}) {
            TrainOp op = make_train_op(FeedForward{R, D, F, act}, name, dims({R, D, F}),
                                       {"h", "gate", "up", "down_norm", "down"});
            op.flops = 6.0 * R * D * F;
            ops.push_back(op);
            const GatedAct ga{R, F, act};
            TrainOp g =
                with_reference(make_train_op(ga, act == FfnAct::SwiGLU ? "swiglu" : "relu2_glu",
                                             dims({R, F}), {"a", "u"}),
                               ga);
            g.flops = 6.0 * R * F;
            ops.push_back(g);
        }
    }
    const std::vector<std::string> mamba_in = {"h",     "in_proj", "conv_w", "conv_b",  "dt_bias",
                                               "A_log", "D",       "norm_w", "out_proj"};
    // d_model, head_dim, d_state, n_groups; B, T, chunk
    using MambaShape = std::array<int, 7>;
    for (auto [D, P, N, G, B, T, L] : perf ? std::vector<MambaShape>{{256, 64, 32, 1, 2, 128, 64}}
                                           : std::vector<MambaShape>{{4, 4, 3, 1, 1, 1, 4},
                                                                     {8, 4, 3, 2, 2, 13, 4},
                                                                     {12, 8, 5, 1, 1, 19, 8},
                                                                     {16, 8, 16, 2, 2, 11, 4},
                                                                     {16, 8, 32, 1, 1, 9, 8},
                                                                     {8, 4, 64, 1, 1, 5, 4}}) {
        MambaDims d;
        d.d_model = D, d.head_dim = P, d.d_state = N, d.n_groups = G;
        TrainOp op =
            make_train_op(MambaMixer{d, B, T, L}, "mamba_mixer",
                          dims({B, T, D}) + " P" + std::to_string(P) + " N" + std::to_string(N) +
                              " G" + std::to_string(G) + " chunk" + std::to_string(L),
                          mamba_in);
        op.flops =
            2.0 * B * T * D * (d.in_proj_dim() + d.d_inner()) + 6.0 * B * T * d.d_inner() * N;
        ops.push_back(op);
        const MambaOpBase base{d, B, T};
        ops.push_back(make_train_op(ConvSilu{base}, "causal_conv_silu", op.shape,
                                    {"zxbcdt", "conv_w", "conv_b"}));
        ops.push_back(
            make_train_op(DtSoftplus{base}, "dt_softplus", op.shape, {"zxbcdt", "dt_bias"}));
        ops.push_back(
            make_train_op(SsmScan{base, L}, "ssm_scan", op.shape, {"xbc", "dt", "A_log", "D"}));
        ops.back().flops = 6.0 * B * T * d.d_inner() * N;
        ops.push_back(make_train_op(GateSilu{base}, "gate_silu", op.shape, {"zxbcdt", "y"}));
        const MambaMixer whole{d, B, T, L};
        TrainOp step = make_train_op(MambaStep{whole}, "mamba_step", op.shape, mamba_in);
        step.reference = op.forward64;
        step.differentiable.assign(mamba_in.size(), false);
        step.flops = op.flops;
        ops.push_back(step);
    }
    using MlaShape = std::array<int, 8>;  // D, heads, nope, rope, v, rank; B, T
    for (auto [D, nh, dn, dr, dv, r, B, T] :
         perf ? std::vector<MlaShape>{{256, 4, 48, 16, 64, 64, 2, 128}}
              : std::vector<MlaShape>{{8, 2, 3, 4, 3, 5, 1, 1},
                                      {8, 2, 3, 4, 3, 5, 2, 11},
                                      {12, 3, 4, 2, 5, 6, 1, 17}}) {
        MlaDims d;
        d.d_model = D, d.n_heads = nh, d.qk_nope_dim = dn, d.qk_rope_dim = dr, d.v_dim = dv,
        d.kv_rank = r;
        TrainOp op = make_train_op(
            MlaMixer{d, B, T}, "mla_attention",
            dims({B, T, D}) + " heads" + std::to_string(nh) + " rank" + std::to_string(r),
            {"h", "q_proj", "kv_down", "kv_norm", "kv_up", "o_norm", "o_proj"});
        op.flops = 2.0 * B * T * D * (d.q_dim() + d.kv_down_dim() + d.o_dim()) +
                   2.0 * B * T * r * d.kv_up_dim() + 2.0 * B * T * T * nh * (dn + dr + dv);
        ops.push_back(op);
        const MlaOpBase base{{nh, dn, dr, dv}, B, T};
        const Attention att{base};
        TrainOp a = with_reference(
            make_train_op(att, "causal_attention", op.shape, {"q", "kv", "kr"}), att);
        a.flops = 2.0 * B * T * T * nh * (dn + dr + dv);
        ops.push_back(a);
        const RopeRows rope{base, d.rope_theta};
        ops.push_back(
            with_reference(make_train_op(rope, "rope_rows", op.shape, {"q", "kr"}), rope));
        TrainOp step = make_train_op(MlaStep{MlaMixer{d, B, T}}, "mla_step", op.shape, op.inputs);
        step.reference = op.forward64;
        step.differentiable.assign(op.inputs.size(), false);
        step.flops = op.flops;
        ops.push_back(step);
    }
    for (const char* pattern :
         perf ? std::vector<const char*>{"MMA"} : std::vector<const char*>{"MA", "AM"}) {
        ModelConfig c;
        c.vocab_size = perf ? 4096 : 23;
        c.d_model = perf ? 128 : 8;
        c.n_layers = int(std::string(pattern).size());
        c.layer_pattern = pattern;
        c.tie_embeddings = pattern[0] == 'M';
        c.max_seq_len = 256;
        c.ffn = {pattern[0] == 'M' ? "swiglu" : "relu2", perf ? 384 : 12};
        c.mamba = perf ? MambaDims{128, 2, 32, 16, 1, 4} : MambaDims{8, 2, 4, 3, 1, 4};
        c.mla = perf ? MlaDims{128, 4, 16, 16, 32, 32, 10000.0} : MlaDims{8, 2, 3, 4, 3, 5, 100.0};
        c.validate();
        const int B = perf ? 2 : 2, T = perf ? 128 : 9;
        TrainOp op = make_train_op(ModelLoss(c, B, T), "model_loss",
                                   std::string(pattern) + (c.tie_embeddings ? " tied" : " untied") +
                                       " " + dims({B, T}) + " V" + std::to_string(c.vocab_size),
                                   {"params"});
        op.flops = 2.0 * B * T * double(c.n_params());
        ops.push_back(op);
    }
    for (auto [V, D, R] : perf ? std::vector<Shape3>{{32000, 768, 256}}
                               : std::vector<Shape3>{{1, 1, 1}, {5, 3, 17}, {50, 8, 40}}) {
        const Embedding e{V, D, R};
        TrainOp op = make_train_op(e, "embedding", dims({V, D}) + " R" + std::to_string(R), {"E"});
        op.flops = double(R) * D;
        ops.push_back(op);
    }
    for (auto [rows, V] : perf ? std::vector<std::array<int, 2>>{{256, 32000}}
                               : std::vector<std::array<int, 2>>{{1, 2}, {4, 7}, {17, 300}})
        for (int variant = 0; variant < 3; variant++) {
            const CrossEntropy ce{rows, V, variant == 1 ? 0.1 : 0.0, variant == 2};
            TrainOp op =
                with_reference(make_train_op(ce, "cross_entropy",
                                             dims({rows, V}) + (variant == 1   ? " smoothed"
                                                                : variant == 2 ? " weighted"
                                                                               : ""),
                                             {"logits"}),
                               ce);
            op.flops = 5.0 * rows * V;
            ops.push_back(op);
        }
    for (bool q8 : {false, true})
        for (auto [rows, cols] : perf ? std::vector<std::array<int, 2>>{{768, 2048}}
                                      : std::vector<std::array<int, 2>>{{3, 5}, {33, 300}})
            ops.push_back(adamw_op(q8, rows, cols));
    for (size_t n : perf ? std::vector<size_t>{size_t(1) << 22} : std::vector<size_t>{1, 1001})
        ops.push_back(clip_op(n));
    for (size_t n : perf ? std::vector<size_t>{size_t(1) << 22} : std::vector<size_t>{1, 4099})
        for (float p : {0.0f, 0.1f, 0.5f}) {
            const ResidualDropout rd{n, p};
            TrainOp op = with_reference(
                make_train_op(rd, "residual_add",
                              std::to_string(n) + " p" + std::to_string(p).substr(0, 3),
                              {"base", "branch"}),
                rd);
            op.flops = 2.0 * double(n);
            ops.push_back(op);
        }
    for (auto [rows, width, c0, cols] :
         perf ? std::vector<std::array<int, 4>>{{4096, 576, 512, 64}}
              : std::vector<std::array<int, 4>>{{1, 1, 0, 1}, {7, 80, 64, 16}, {33, 48, 0, 40}}) {
        const CopyCols cc{rows, width, c0, cols};
        TrainOp op = with_reference(
            make_train_op(cc, "copy_cols", dims({rows, width, c0, cols}), {"src"}), cc);
        op.differentiable = {false};
        ops.push_back(op);
    }
    return ops;
}

}  // namespace np::backend_ops
