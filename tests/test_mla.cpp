#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <complex>

#include "core/error.h"
#include "cpu_backend.h"
#include "gradcheck.h"
#include "model/mla.h"

using namespace np;
using namespace np::test;

namespace {

template <class T>
struct MlaParams {
    MlaDims d;
    std::vector<T> q_proj, kv_down, kv_norm, kv_up, o_norm, o_proj;
    MlaParams(const MlaDims& dims, std::mt19937& rng) : d(dims) {
        auto mat = [&](int out, int in) {
            auto v = random_vec(size_t(out) * in, rng, 1.0 / std::sqrt(double(in)));
            return std::vector<T>(v.begin(), v.end());
        };
        auto norm = [&](int n) {
            auto v = random_vec(n, rng, 0.2);
            std::vector<T> o(n);
            for (int i = 0; i < n; i++) o[i] = T(1 + v[i]);
            return o;
        };
        q_proj = mat(d.q_dim(), d.d_model);
        kv_down = mat(d.kv_down_dim(), d.d_model);
        kv_norm = norm(d.kv_rank);
        kv_up = mat(d.kv_up_dim(), d.kv_rank);
        o_norm = norm(d.o_dim());
        o_proj = mat(d.d_model, d.o_dim());
    }
    MlaWeights<T> w() const {
        return {q_proj.data(), kv_down.data(), kv_norm.data(),
                kv_up.data(),  o_norm.data(),  o_proj.data()};
    }
};

MlaDims tiny_dims() {
    MlaDims d;
    d.d_model = 8, d.n_heads = 2, d.qk_nope_dim = 3, d.qk_rope_dim = 4, d.v_dim = 3, d.kv_rank = 5;
    d.rope_theta = 100.0;  // small theta so positions 0..5 rotate every pair noticeably
    return d;
}

// Row 0: documents at t = 0 and t = 3; row 1: at t = 0, 1 and 4.
SeqLayout tiny_layout() {
    std::vector<int32_t> tok = {5, 7, 9, 0, 3, 4, /**/ 2, 0, 8, 6, 0, 1};
    return make_seq_layout(tok.data(), 2, 6);
}

// Independent rotate-half RoPE: pair (x_i, x_{i+d/2}) as a complex number times e^{i*angle}.
void rope_reference(double* x, int d, int pos, double theta) {
    for (int i = 0; i < d / 2; i++) {
        long double ang = (long double)pos * std::pow((long double)theta, -2.0L * i / d);
        std::complex<long double> z(x[i], x[i + d / 2]);
        z *= std::polar(1.0L, ang);
        x[i] = double(z.real()), x[i + d / 2] = double(z.imag());
    }
}

void rms_reference(double* y, const double* x, const double* w, int n, double eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    double rs = 1 / std::sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * rs * w[i];
}

void matvec(double* y, const double* W, const double* x, int out, int in) {
    for (int o = 0; o < out; o++) {
        double s = 0;
        for (int i = 0; i < in; i++) s += W[size_t(o) * in + i] * x[i];
        y[o] = s;
    }
}

// Direct transcription of DESIGN §2.4 (quantize off), one token at a time, block-diagonal by hand.
std::vector<double> mla_reference(const MlaParams<double>& p, const std::vector<double>& h,
                                  const SeqLayout& L, double eps) {
    const MlaDims& d = p.d;
    const int D = d.d_model, nh = d.n_heads, dn = d.qk_nope_dim, dr = d.qk_rope_dim, dv = d.v_dim,
              r = d.kv_rank;
    const int R = L.B * L.T;
    std::vector<std::vector<double>> q(R, std::vector<double>(d.q_dim())),
        kv(R, std::vector<double>(d.kv_up_dim())), kr(R, std::vector<double>(dr));
    for (int i = 0; i < R; i++) {
        matvec(q[i].data(), p.q_proj.data(), &h[size_t(i) * D], d.q_dim(), D);
        std::vector<double> kd(r + dr), c(r);
        matvec(kd.data(), p.kv_down.data(), &h[size_t(i) * D], r + dr, D);
        rms_reference(c.data(), kd.data(), p.kv_norm.data(), r, eps);
        matvec(kv[i].data(), p.kv_up.data(), c.data(), d.kv_up_dim(), r);
        std::copy(kd.begin() + r, kd.end(), kr[i].begin());
        rope_reference(kr[i].data(), dr, L.pos[i], d.rope_theta);
        for (int hh = 0; hh < nh; hh++)
            rope_reference(&q[i][hh * (dn + dr) + dn], dr, L.pos[i], d.rope_theta);
    }
    std::vector<double> out(size_t(R) * D);
    for (int b = 0; b < L.B; b++)
        for (int t = 0; t < L.T; t++) {
            const int i = b * L.T + t;
            int start = t;
            while (start > 0 && !L.doc_start[b * L.T + start]) start--;
            std::vector<double> o(d.o_dim(), 0.0), on(d.o_dim());
            for (int hh = 0; hh < nh; hh++) {
                std::vector<double> s;
                for (int j = start; j <= t; j++) {
                    const int jr = b * L.T + j;
                    double dot = 0;
                    for (int k = 0; k < dn; k++)
                        dot += q[i][hh * (dn + dr) + k] * kv[jr][hh * (dn + dv) + k];
                    for (int k = 0; k < dr; k++) dot += q[i][hh * (dn + dr) + dn + k] * kr[jr][k];
                    s.push_back(dot / std::sqrt(double(dn + dr)));
                }
                double m = *std::max_element(s.begin(), s.end()), z = 0;
                for (double& v : s) z += (v = std::exp(v - m));
                for (int j = start; j <= t; j++)
                    for (int k = 0; k < dv; k++)
                        o[hh * dv + k] +=
                            s[j - start] / z * kv[b * L.T + j][hh * (dn + dv) + dn + k];
            }
            rms_reference(on.data(), o.data(), p.o_norm.data(), d.o_dim(), eps);
            matvec(&out[size_t(i) * D], p.o_proj.data(), on.data(), D, d.o_dim());
        }
    return out;
}

// The math tests run on one thread: their calls are tiny, and on shared, oversubscribed cores each
// OpenMP region can cost milliseconds of spin-waiting (finite differences run ~1000 forwards).
// Threading is covered by ThreadedEqualsSingleThread.
struct SingleThreadScope {
    int keep = omp_get_max_threads();
    SingleThreadScope() { omp_set_num_threads(1); }
    ~SingleThreadScope() { omp_set_num_threads(keep); }
};

template <class T>
std::vector<T> run_forward(const MlaParams<T>& p, const std::vector<T>& h, const SeqLayout& L,
                           bool quantize, MlaActs<T>& acts) {
    std::vector<T> out(size_t(L.B) * L.T * p.d.d_model);
    mla_forward(test::cpu<T>(), out.data(), h.data(), p.w(), p.d, L, quantize, T(1e-6), acts);
    return out;
}

}  // namespace

TEST(MlaRope, MatchesIndependentRotationAndPreservesNorm) {
    const int d = 8, n_pos = 40;
    const double theta = 1e4;
    std::vector<double> cos, sin;
    rope_table(cos, sin, n_pos, d, theta);
    std::mt19937 rng(11);
    for (int pos : {0, 1, 7, 39}) {
        auto x = random_vec(d, rng), ref = x, y = x;
        rope_apply(y.data(), &cos[size_t(pos) * d / 2], &sin[size_t(pos) * d / 2], d);
        rope_reference(ref.data(), d, pos, theta);
        for (int i = 0; i < d; i++)
            EXPECT_NEAR(y[i], ref[i], 1e-13) << "pos " << pos << " dim " << i;
        EXPECT_NEAR(std::sqrt(dot(y, y)), std::sqrt(dot(x, x)), 1e-13);
        if (pos == 0) {
            for (int i = 0; i < d; i++) EXPECT_EQ(y[i], x[i]);
        }
        // The backward is the transposed rotation: <R x, g> == <x, R^T g>.
        auto g = random_vec(d, rng), gt = g;
        rope_apply_backward(gt.data(), &cos[size_t(pos) * d / 2], &sin[size_t(pos) * d / 2], d);
        EXPECT_NEAR(dot(y, g), dot(x, gt), 1e-12);
    }
    // Float tables are the double angles rounded once.
    std::vector<float> fc, fs;
    rope_table(fc, fs, n_pos, d, theta);
    for (size_t i = 0; i < cos.size(); i++) EXPECT_EQ(fc[i], float(cos[i]));
}

TEST(Mla, ForwardMatchesDirectReference) {
    SingleThreadScope serial;
    std::mt19937 rng(21);
    MlaParams<double> p(tiny_dims(), rng);
    SeqLayout L = tiny_layout();
    auto h = random_vec(size_t(L.B) * L.T * p.d.d_model, rng);
    MlaActs<double> acts;
    auto out = run_forward(p, h, L, false, acts);
    auto ref = mla_reference(p, h, L, 1e-6);
    EXPECT_LT(max_rel_err(out, ref), 1e-12);
}

TEST(Mla, BackwardMatchesFiniteDifferences) {
    SingleThreadScope serial;
    std::mt19937 rng(22);
    MlaParams<double> p(tiny_dims(), rng);
    const MlaDims& d = p.d;
    SeqLayout L = tiny_layout();
    const int R = L.B * L.T;
    auto h = random_vec(size_t(R) * d.d_model, rng);
    auto probe = random_vec(size_t(R) * d.d_model, rng);
    MlaActs<double> acts;
    auto loss = [&] { return dot(run_forward(p, h, L, false, acts), probe); };

    loss();
    std::vector<double> dh(h.size(), 0.0), gq(p.q_proj.size(), 0.0), gkd(p.kv_down.size(), 0.0),
        gkn(p.kv_norm.size(), 0.0), gku(p.kv_up.size(), 0.0), gon(p.o_norm.size(), 0.0),
        gop(p.o_proj.size(), 0.0);
    MlaGrads<double> g{gq.data(), gkd.data(), gkn.data(), gku.data(), gon.data(), gop.data()};
    mla_backward(test::cpu<double>(), dh.data(), g, probe.data(), h.data(), p.w(), d, L, false,
                 1e-6, acts);

    const double tol = 1e-7;
    EXPECT_LT(max_rel_err(dh, numeric_grad(h, loss)), tol) << "dh";
    EXPECT_LT(max_rel_err(gq, numeric_grad(p.q_proj, loss)), tol) << "q_proj";
    EXPECT_LT(max_rel_err(gkd, numeric_grad(p.kv_down, loss)), tol) << "kv_down";
    EXPECT_LT(max_rel_err(gkn, numeric_grad(p.kv_norm, loss)), tol) << "kv_norm";
    EXPECT_LT(max_rel_err(gku, numeric_grad(p.kv_up, loss)), tol) << "kv_up";
    EXPECT_LT(max_rel_err(gon, numeric_grad(p.o_norm, loss)), tol) << "o_norm";
    EXPECT_LT(max_rel_err(gop, numeric_grad(p.o_proj, loss)), tol) << "o_proj";

    // Backward adds into its outputs: a second call doubles every gradient.
    auto dh1 = dh, gq1 = gq;
    loss();
    mla_backward(test::cpu<double>(), dh.data(), g, probe.data(), h.data(), p.w(), d, L, false,
                 1e-6, acts);
    for (size_t i = 0; i < dh.size(); i++) EXPECT_NEAR(dh[i], 2 * dh1[i], 1e-12);
    for (size_t i = 0; i < gq.size(); i++) EXPECT_NEAR(gq[i], 2 * gq1[i], 1e-12);
}

TEST(Mla, DocumentsAreIsolated) {
    SingleThreadScope serial;
    for (bool quantize : {false, true}) {
        std::mt19937 rng(23);
        MlaParams<double> p(tiny_dims(), rng);
        SeqLayout L = tiny_layout();  // row 0: doc [0,3) then [3,6)
        const int D = p.d.d_model;
        auto h = random_vec(size_t(L.B) * L.T * D, rng);
        MlaActs<double> acts;
        auto a = run_forward(p, h, L, quantize, acts);
        for (int i = 0; i < 3 * D; i++) h[i] += 0.7 * std::cos(double(i));
        auto b = run_forward(p, h, L, quantize, acts);
        double first_changed = 0;
        for (int i = 0; i < 3 * D; i++)
            first_changed = std::max(first_changed, std::fabs(a[i] - b[i]));
        EXPECT_GT(first_changed, 1e-3) << "the perturbation must matter to its own document";
        for (size_t i = 3 * D; i < a.size(); i++)
            EXPECT_NEAR(a[i], b[i], 1e-13) << "quantize " << quantize;
    }
}

TEST(Mla, IsCausal) {
    SingleThreadScope serial;
    for (bool quantize : {false, true}) {
        std::mt19937 rng(24);
        MlaDims d = tiny_dims();
        MlaParams<double> p(d, rng);
        std::vector<int32_t> tok(10, 7);  // a single document
        SeqLayout L = make_seq_layout(tok.data(), 1, 10);
        auto h = random_vec(size_t(10) * d.d_model, rng);
        MlaActs<double> acts;
        auto a = run_forward(p, h, L, quantize, acts);
        for (int k = 0; k < d.d_model; k++) h[size_t(7) * d.d_model + k] += 0.5;  // token 7
        auto b = run_forward(p, h, L, quantize, acts);
        for (int i = 0; i < 7 * d.d_model; i++)
            EXPECT_NEAR(a[i], b[i], 1e-13) << "quantize " << quantize;
        double later = 0;
        for (size_t i = size_t(7) * d.d_model; i < a.size(); i++)
            later = std::max(later, std::fabs(a[i] - b[i]));
        EXPECT_GT(later, 1e-3);
    }
}

TEST(Mla, StepDecodeEqualsForward) {
    SingleThreadScope serial;
    MlaDims d;
    d.d_model = 24, d.n_heads = 3, d.qk_nope_dim = 8, d.qk_rope_dim = 6, d.v_dim = 7,
    d.kv_rank = 10;
    d.rope_theta = 1e4;
    std::vector<int32_t> tok = {3,      4, 5, 6, 0, 8, 9, 0, 1, 2, 3, 4,
                                /**/ 9, 8, 7, 6, 5, 4, 3, 0, 1, 2, 3, 4};
    SeqLayout L = make_seq_layout(tok.data(), 2, 12);
    const int R = 24, D = d.d_model;
    for (bool quantize : {false, true}) {
        std::mt19937 rng(25);
        MlaParams<float> p(d, rng);
        auto hd = random_vec(size_t(R) * D, rng);
        std::vector<float> h(hd.begin(), hd.end());
        MlaActs<float> acts;
        auto full = run_forward(p, h, L, quantize, acts);
        MlaCache<float> cache;
        double err = 0, scale = 0;
        for (int i = 0; i < R; i++) {
            std::vector<float> o(D);
            bool start = (i % L.T == 0) || L.doc_start[i];
            mla_step(test::cpu<float>(), o.data(), &h[size_t(i) * D], p.w(), d, quantize, 1e-6f,
                     L.pos[i], start, cache);
            EXPECT_EQ(cache.n, L.pos[i] + 1);
            EXPECT_EQ(cache.latent.size(), size_t(cache.n) * d.kv_rank);
            EXPECT_EQ(cache.k_rope.size(), size_t(cache.n) * d.qk_rope_dim);
            for (int k = 0; k < D; k++) {
                err = std::max(err, double(std::fabs(o[k] - full[size_t(i) * D + k])));
                scale = std::max(scale, double(std::fabs(full[size_t(i) * D + k])));
            }
        }
        EXPECT_LT(err / scale, 2e-6) << "quantize " << quantize;
    }
}

TEST(Mla, StepRejectsPositionThatSkipsTheCache) {
    SingleThreadScope serial;
    std::mt19937 rng(26);
    MlaParams<float> p(tiny_dims(), rng);
    std::vector<float> h(p.d.d_model, 0.5f), o(p.d.d_model);
    MlaCache<float> cache;
    mla_step(test::cpu<float>(), o.data(), h.data(), p.w(), p.d, false, 1e-6f, 0, true, cache);
    EXPECT_THROW(
        mla_step(test::cpu<float>(), o.data(), h.data(), p.w(), p.d, false, 1e-6f, 3, false, cache),
        Error);
    MlaDims odd = p.d;
    odd.qk_rope_dim = 3;
    EXPECT_THROW(
        mla_step(test::cpu<float>(), o.data(), h.data(), p.w(), odd, false, 1e-6f, 0, true, cache),
        Error);
}

// Big enough that the (batch, head) loops take their OpenMP path; the threaded result must equal
// the single-threaded one (the k_rope gradient is shared by all heads of a row).
TEST(Mla, ThreadedEqualsSingleThread) {
    MlaDims d;
    d.d_model = 16, d.n_heads = 4, d.qk_nope_dim = 8, d.qk_rope_dim = 4, d.v_dim = 8, d.kv_rank = 8;
    std::mt19937 rng(27);
    MlaParams<double> p(d, rng);
    const int B = 2, T = 48, R = B * T;
    std::vector<int32_t> tok(R, 5);
    tok[20] = tok[T + 30] = 0;
    SeqLayout L = make_seq_layout(tok.data(), B, T);
    auto h = random_vec(size_t(R) * d.d_model, rng), probe = random_vec(size_t(R) * d.d_model, rng);
    auto run = [&] {
        MlaActs<double> acts;
        auto out = run_forward(p, h, L, true, acts);
        std::vector<double> dh(h.size(), 0.0), gq(p.q_proj.size(), 0.0), gkd(p.kv_down.size(), 0.0),
            gkn(p.kv_norm.size(), 0.0), gku(p.kv_up.size(), 0.0), gon(p.o_norm.size(), 0.0),
            gop(p.o_proj.size(), 0.0);
        MlaGrads<double> g{gq.data(), gkd.data(), gkn.data(), gku.data(), gon.data(), gop.data()};
        mla_backward(test::cpu<double>(), dh.data(), g, probe.data(), h.data(), p.w(), d, L, true,
                     1e-6, acts);
        out.insert(out.end(), dh.begin(), dh.end());
        out.insert(out.end(), gkd.begin(), gkd.end());
        return out;
    };
    auto threaded = run();
    std::vector<double> serial;
    {
        SingleThreadScope scope;
        serial = run();
    }
    EXPECT_LT(max_rel_err(threaded, serial), 1e-12);
}
