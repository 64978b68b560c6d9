#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "cpu_backend.h"
#include "gradcheck.h"
#include "model/mamba.h"

using namespace np;
using namespace np::test;

namespace {

MambaDims tiny_dims(int n_groups) {
    MambaDims d;
    d.d_model = 8, d.expand = 2, d.head_dim = 4, d.d_state = 3, d.n_groups = n_groups, d.d_conv = 4;
    return d;
}

// Rows: [5 3 | 0 2 7 1 4] and [1 2 3 4 | 0 6 | 0] (id 0 starts a document).
const std::vector<int32_t> kTokens = {5, 3, 0, 2, 7, 1, 4, 1, 2, 3, 4, 0, 6, 0};
constexpr int kB = 2, kT = 7;

template <class T>
struct Params {
    std::vector<T> in_proj, conv_w, conv_b, dt_bias, A_log, D, norm_w, out_proj;
    MambaWeights<T> view() const {
        return {in_proj.data(), conv_w.data(), conv_b.data(), dt_bias.data(),
                A_log.data(),   D.data(),      norm_w.data(), out_proj.data()};
    }
    template <class U>
    Params<U> cast() const {
        auto c = [](const std::vector<T>& v) { return std::vector<U>(v.begin(), v.end()); };
        return {c(in_proj), c(conv_w), c(conv_b), c(dt_bias),
                c(A_log),   c(D),      c(norm_w), c(out_proj)};
    }
};

// DESIGN §2.3 init (A_log = log U[1,16], dt0 = exp(U[log dt_min, log dt_max]) floored at 1e-4,
// dt_bias = softplus^-1(dt0)); the gradient test widens the dt range so the scan carries weight.
Params<double> make_params(const MambaDims& d, std::mt19937& rng, double dt_min = 1e-3,
                           double dt_max = 1e-1) {
    Params<double> p;
    const int Di = d.d_inner(), C = d.conv_dim(), H = d.n_heads(), K = d.d_conv;
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    p.in_proj = random_vec(size_t(d.in_proj_dim()) * d.d_model, rng, 1.0 / std::sqrt(d.d_model));
    p.conv_w = random_vec(size_t(C) * K, rng, 0.5);
    p.conv_b = random_vec(C, rng, 0.3);
    for (int h = 0; h < H; h++) {
        double dt0 = std::exp(std::log(dt_min) + u01(rng) * (std::log(dt_max) - std::log(dt_min)));
        dt0 = std::max(dt0, 1e-4);
        p.dt_bias.push_back(dt0 + std::log(-std::expm1(-dt0)));
        p.A_log.push_back(std::log(1.0 + 15.0 * u01(rng)));
        p.D.push_back(1.0 + 0.2 * (u01(rng) - 0.5));
    }
    p.norm_w = random_vec(Di, rng, 0.2);
    for (auto& v : p.norm_w) v += 1.0;
    p.out_proj = random_vec(size_t(d.d_model) * Di, rng, 1.0 / std::sqrt(Di));
    return p;
}

template <class T>
std::vector<T> run_forward(const std::vector<T>& h, const Params<T>& p, const MambaDims& d,
                           const SeqLayout& layout, bool quantize, MambaActs<T>& acts) {
    std::vector<T> out(size_t(layout.B) * layout.T * d.d_model);
    mamba_forward(test::cpu<T>(), out.data(), h.data(), p.view(), d, layout, quantize, T(1e-6),
                  acts);
    return out;
}

// Straightforward transcription of DESIGN §2.3 with the full state and explicit zero padding.
std::vector<double> reference_forward(const std::vector<double>& h, const Params<double>& p,
                                      const MambaDims& d, const std::vector<int32_t>& tokens, int B,
                                      int T) {
    const int Dm = d.d_model, Di = d.d_inner(), C = d.conv_dim(), H = d.n_heads(), P = d.head_dim,
              N = d.d_state, G = d.n_groups, K = d.d_conv, Ip = d.in_proj_dim();
    std::vector<double> out(size_t(B) * T * Dm);
    for (int b = 0; b < B; b++) {
        std::vector<std::vector<double>> proj(T, std::vector<double>(Ip, 0.0));
        for (int t = 0; t < T; t++)
            for (int o = 0; o < Ip; o++)
                for (int i = 0; i < Dm; i++)
                    proj[t][o] += p.in_proj[o * Dm + i] * h[(b * T + t) * Dm + i];
        std::vector<double> S(size_t(H) * P * N, 0.0);
        int doc_begin = 0;
        for (int t = 0; t < T; t++) {
            if (t == 0 || tokens[b * T + t] == 0) {
                doc_begin = t;
                std::fill(S.begin(), S.end(), 0.0);
            }
            std::vector<double> xbc(C);
            for (int c = 0; c < C; c++) {
                double v = p.conv_b[c];
                for (int j = 0; j < K; j++) {
                    int src = t - K + 1 + j;
                    double in = src >= doc_begin ? proj[src][Di + c] : 0.0;
                    v += p.conv_w[c * K + j] * in;
                }
                xbc[c] = v / (1.0 + std::exp(-v));
            }
            std::vector<double> gated(Di);
            for (int hh = 0; hh < H; hh++) {
                int g = hh / (H / G);
                double dt = std::log1p(std::exp(proj[t][Di + C + hh] + p.dt_bias[hh]));
                double A = -std::exp(p.A_log[hh]);
                for (int pp = 0; pp < P; pp++) {
                    double x = xbc[hh * P + pp], y = p.D[hh] * x;
                    for (int n = 0; n < N; n++) {
                        double& s = S[(hh * P + pp) * N + n];
                        s = std::exp(dt * A) * s + dt * x * xbc[Di + g * N + n];
                        y += s * xbc[Di + G * N + g * N + n];
                    }
                    double z = proj[t][hh * P + pp];
                    gated[hh * P + pp] = y * z / (1.0 + std::exp(-z));
                }
            }
            double ms = 0;
            for (double v : gated) ms += v * v;
            double rs = 1.0 / std::sqrt(ms / Di + 1e-6);
            for (int o = 0; o < Dm; o++) {
                double acc = 0;
                for (int i = 0; i < Di; i++)
                    acc += p.out_proj[o * Di + i] * gated[i] * rs * p.norm_w[i];
                out[(b * T + t) * Dm + o] = acc;
            }
        }
    }
    return out;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); i++) m = std::max(m, std::fabs(a[i] - b[i]));
    return m;
}

}  // namespace

TEST(Mamba, ForwardMatchesNaiveReference) {
    for (int G : {1, 2}) {
        std::mt19937 rng(10 + G);
        MambaDims d = tiny_dims(G);
        auto p = make_params(d, rng, 1e-2, 1.0);
        auto h = random_vec(size_t(kB) * kT * d.d_model, rng);
        SeqLayout layout = make_seq_layout(kTokens.data(), kB, kT);
        auto ref = reference_forward(h, p, d, kTokens, kB, kT);
        for (int chunk : {1, 3, 64}) {
            MambaActs<double> acts;
            acts.chunk = chunk;
            EXPECT_LT(max_abs_diff(run_forward(h, p, d, layout, false, acts), ref), 1e-12)
                << "G=" << G << " chunk=" << chunk;
        }
    }
}

TEST(Mamba, GradientsMatchFiniteDifferences) {
    for (int G : {1, 2}) {
        SCOPED_TRACE("n_groups=" + std::to_string(G));
        std::mt19937 rng(20 + G);
        MambaDims d = tiny_dims(G);
        auto p = make_params(d, rng, 1e-2, 1.0);
        auto h = random_vec(size_t(kB) * kT * d.d_model, rng);
        auto probe = random_vec(h.size(), rng);
        SeqLayout layout = make_seq_layout(kTokens.data(), kB, kT);
        MambaActs<double> acts;
        acts.chunk = 3;  // chunks [0,3) [3,6) [6,7): doc starts inside and at a chunk start
        auto loss = [&] { return dot(run_forward(h, p, d, layout, false, acts), probe); };

        Params<double> g = p;
        for (auto* v :
             {&g.in_proj, &g.conv_w, &g.conv_b, &g.dt_bias, &g.A_log, &g.D, &g.norm_w, &g.out_proj})
            std::fill(v->begin(), v->end(), 0.0);
        std::vector<double> dh(h.size(), 0.0);
        MambaGrads<double> grads{g.in_proj.data(), g.conv_w.data(),  g.conv_b.data(),
                                 g.dt_bias.data(), g.A_log.data(),   g.D.data(),
                                 g.norm_w.data(),  g.out_proj.data()};
        loss();
        mamba_backward(test::cpu<double>(), dh.data(), grads, probe.data(), h.data(), p.view(), d,
                       layout, false, 1e-6, acts);

        const double tol = 1e-7;
        EXPECT_LT(max_rel_err(dh, numeric_grad(h, loss)), tol) << "dh";
        EXPECT_LT(max_rel_err(g.in_proj, numeric_grad(p.in_proj, loss)), tol) << "in_proj";
        EXPECT_LT(max_rel_err(g.conv_w, numeric_grad(p.conv_w, loss)), tol) << "conv_w";
        EXPECT_LT(max_rel_err(g.conv_b, numeric_grad(p.conv_b, loss)), tol) << "conv_b";
        EXPECT_LT(max_rel_err(g.dt_bias, numeric_grad(p.dt_bias, loss)), tol) << "dt_bias";
        EXPECT_LT(max_rel_err(g.A_log, numeric_grad(p.A_log, loss)), tol) << "A_log";
        EXPECT_LT(max_rel_err(g.D, numeric_grad(p.D, loss)), tol) << "D";
        EXPECT_LT(max_rel_err(g.norm_w, numeric_grad(p.norm_w, loss)), tol) << "norm_w";
        EXPECT_LT(max_rel_err(g.out_proj, numeric_grad(p.out_proj, loss)), tol) << "out_proj";
    }
}

TEST(Mamba, ChunkLengthDoesNotChangeGradientsAndBackwardAccumulates) {
    std::mt19937 rng(30);
    MambaDims d = tiny_dims(2);
    auto p = make_params(d, rng, 1e-2, 1.0);
    auto h = random_vec(size_t(kB) * kT * d.d_model, rng);
    auto probe = random_vec(h.size(), rng);
    SeqLayout layout = make_seq_layout(kTokens.data(), kB, kT);
    auto grads_for = [&](int chunk, int repeats) {
        MambaActs<double> acts;
        acts.chunk = chunk;
        Params<double> g = p;
        for (auto* v :
             {&g.in_proj, &g.conv_w, &g.conv_b, &g.dt_bias, &g.A_log, &g.D, &g.norm_w, &g.out_proj})
            std::fill(v->begin(), v->end(), 0.0);
        std::vector<double> dh(h.size(), 0.0);
        MambaGrads<double> grads{g.in_proj.data(), g.conv_w.data(),  g.conv_b.data(),
                                 g.dt_bias.data(), g.A_log.data(),   g.D.data(),
                                 g.norm_w.data(),  g.out_proj.data()};
        for (int r = 0; r < repeats; r++) {
            run_forward(h, p, d, layout, false, acts);
            mamba_backward(test::cpu<double>(), dh.data(), grads, probe.data(), h.data(), p.view(),
                           d, layout, false, 1e-6, acts);
        }
        std::vector<double> all = dh;
        for (auto* v :
             {&g.in_proj, &g.conv_w, &g.conv_b, &g.dt_bias, &g.A_log, &g.D, &g.norm_w, &g.out_proj})
            all.insert(all.end(), v->begin(), v->end());
        return all;
    };
    auto ref = grads_for(64, 1);
    EXPECT_LT(max_abs_diff(grads_for(1, 1), ref), 1e-12);
    EXPECT_LT(max_abs_diff(grads_for(2, 1), ref), 1e-12);
    auto twice = grads_for(3, 2);
    for (auto& v : twice) v *= 0.5;
    EXPECT_LT(max_abs_diff(twice, ref), 1e-12) << "backward must add into its outputs";
}

TEST(Mamba, DocumentsAreIsolated) {
    for (bool quantize : {false, true}) {
        SCOPED_TRACE(quantize ? "quantize" : "plain");
        std::mt19937 rng(40);
        MambaDims d = tiny_dims(1);
        auto p = make_params(d, rng);
        auto h = random_vec(size_t(kB) * kT * d.d_model, rng);
        SeqLayout layout = make_seq_layout(kTokens.data(), kB, kT);
        MambaActs<double> acts;
        auto base = run_forward(h, p, d, layout, quantize, acts);
        const int Dm = d.d_model;

        // Row 0 holds document 1 at t = 0..1 and document 2 at t = 2..6.
        auto h1 = h;
        for (int i = 0; i < 2 * Dm; i++) h1[i] += 1.0;
        auto changed = run_forward(h1, p, d, layout, quantize, acts);
        double doc1_change = 0;
        for (int i = 0; i < 2 * Dm; i++)
            doc1_change = std::max(doc1_change, std::fabs(changed[i] - base[i]));
        EXPECT_GT(doc1_change, 1e-3) << "document 1 should depend on its own tokens";
        for (int i = 2 * Dm; i < kB * kT * Dm; i++) EXPECT_EQ(changed[i], base[i]) << "entry " << i;

        // Document 2 alone, as its own row of 5 tokens, gives the same outputs as inside the pack:
        // the conv window and the SSM state restart at its first token.
        std::vector<double> h2(h.begin() + 2 * Dm, h.begin() + 7 * Dm);
        std::vector<int32_t> tok2 = {0, 2, 7, 1, 4};
        SeqLayout l2 = make_seq_layout(tok2.data(), 1, 5);
        MambaActs<double> acts2;
        auto alone = run_forward(h2, p, d, l2, quantize, acts2);
        for (int i = 0; i < 5 * Dm; i++)
            EXPECT_NEAR(alone[i], base[2 * Dm + i], 1e-12) << "entry " << i;
    }
}

TEST(Mamba, ResetAtDocStartZeroesConvWindowAndState) {
    // With the document boundary removed the outputs after it change: the reset is what isolates.
    std::mt19937 rng(50);
    MambaDims d = tiny_dims(1);
    auto p = make_params(d, rng, 1e-2, 1.0);
    auto h = random_vec(size_t(kT) * d.d_model, rng);
    std::vector<int32_t> with_doc = {5, 3, 0, 2, 7, 1, 4}, no_doc = {5, 3, 9, 2, 7, 1, 4};
    MambaActs<double> acts;
    auto a = run_forward(h, p, d, make_seq_layout(with_doc.data(), 1, kT), false, acts);
    auto b = run_forward(h, p, d, make_seq_layout(no_doc.data(), 1, kT), false, acts);
    const int Dm = d.d_model;
    for (int i = 0; i < 2 * Dm; i++) EXPECT_EQ(a[i], b[i]);
    for (int t = 2; t < kT; t++) {
        double diff = 0;
        for (int i = 0; i < Dm; i++)
            diff = std::max(diff, std::fabs(a[t * Dm + i] - b[t * Dm + i]));
        EXPECT_GT(diff, 1e-6) << "t=" << t;
    }
}

template <class T>
void check_step_matches_forward(bool quantize, int G, double tol) {
    std::mt19937 rng(60 + G);
    MambaDims d = tiny_dims(G);
    auto p = make_params(d, rng, 1e-2, 1.0).cast<T>();
    auto hd = random_vec(size_t(kB) * kT * d.d_model, rng);
    std::vector<T> h(hd.begin(), hd.end());
    SeqLayout layout = make_seq_layout(kTokens.data(), kB, kT);
    MambaActs<T> acts;
    acts.chunk = 3;
    auto full = run_forward(h, p, d, layout, quantize, acts);
    const int Dm = d.d_model;
    double scale = 0;
    for (T v : full) scale = std::max(scale, double(std::fabs(v)));
    for (int b = 0; b < kB; b++) {
        MambaState<T> st;
        st.reset(d);
        std::vector<T> out(Dm);
        for (int t = 0; t < kT; t++) {
            int row = b * kT + t;
            mamba_step(test::cpu<T>(), out.data(), h.data() + size_t(row) * Dm, p.view(), d,
                       quantize, T(1e-6), layout.doc_start[row] != 0, st);
            for (int i = 0; i < Dm; i++)
                EXPECT_NEAR(double(out[i]), double(full[size_t(row) * Dm + i]), tol * scale)
                    << "b=" << b << " t=" << t << " i=" << i;
        }
        EXPECT_EQ(st.conv.size(), size_t(d.d_conv - 1) * d.conv_dim());
        EXPECT_EQ(st.ssm.size(), size_t(d.n_heads()) * d.head_dim * d.d_state);
    }
}

TEST(Mamba, StepDecodeMatchesFullForward) {
    for (int G : {1, 2}) {
        check_step_matches_forward<double>(false, G, 1e-12);
        check_step_matches_forward<double>(true, G, 1e-12);
        check_step_matches_forward<float>(false, G, 1e-5);
        check_step_matches_forward<float>(true, G, 1e-5);
    }
}

TEST(Mamba, RejectsInconsistentShapes) {
    std::mt19937 rng(70);
    MambaDims d = tiny_dims(1);
    auto p = make_params(d, rng);
    std::vector<double> h(size_t(kB) * kT * d.d_model, 0.1), out(h.size());
    SeqLayout layout = make_seq_layout(kTokens.data(), kB, kT);
    layout.doc_start.pop_back();
    MambaActs<double> acts;
    EXPECT_THROW(mamba_forward(test::cpu<double>(), out.data(), h.data(), p.view(), d, layout,
                               false, 1e-6, acts),
                 Error);
    MambaDims bad = d;
    bad.n_groups = 3;  // 4 heads are not divisible into 3 groups
    MambaState<double> st;
    EXPECT_THROW(st.reset(bad), Error);
    st.reset(d);
    d.d_state = 5;
    EXPECT_THROW(
        mamba_step(test::cpu<double>(), out.data(), h.data(), p.view(), d, false, 1e-6, true, st),
        Error);
}

template <class T>
void check_ssd_matches_sequential(int G, double tol) {
    std::mt19937 rng(80 + G);
    MambaDims d = tiny_dims(G);
    auto p = make_params(d, rng, 1e-2, 1.0).cast<T>();
    const int B = 2, Tn = 23;
    std::vector<int32_t> tok(size_t(B) * Tn);
    for (size_t i = 0; i < tok.size(); i++) tok[i] = (i % 7 == 3 || i == 30 || i == 31) ? 0 : 5;
    SeqLayout layout = make_seq_layout(tok.data(), B, Tn);
    auto hd = random_vec(size_t(B) * Tn * d.d_model, rng);
    std::vector<T> h(hd.begin(), hd.end());
    auto probe = random_vec(h.size(), rng);
    std::vector<T> dout(probe.begin(), probe.end());
    auto fwd_bwd = [&](bool ssd, int chunk, std::vector<T>& y, std::vector<T>& states) {
        MambaActs<T> acts;
        acts.chunk = chunk;
        acts.ssd = ssd;
        auto out = run_forward(h, p, d, layout, false, acts);
        const MambaShape s = mamba_shape(d, "test");
        y.assign(acts.y, acts.y + size_t(B) * Tn * s.Di);
        states.assign(acts.chunk_state,
                      acts.chunk_state + size_t(B) * s.H * ((Tn + chunk - 1) / chunk) * s.PN());
        std::vector<T> dh(h.size(), T(0));
        Params<T> g = p;
        for (auto* v :
             {&g.in_proj, &g.conv_w, &g.conv_b, &g.dt_bias, &g.A_log, &g.D, &g.norm_w, &g.out_proj})
            std::fill(v->begin(), v->end(), T(0));
        MambaGrads<T> grads{g.in_proj.data(), g.conv_w.data(), g.conv_b.data(), g.dt_bias.data(),
                            g.A_log.data(),   g.D.data(),      g.norm_w.data(), g.out_proj.data()};
        mamba_backward(test::cpu<T>(), dh.data(), grads, dout.data(), h.data(), p.view(), d, layout,
                       false, T(1e-6), acts);
        out.insert(out.end(), dh.begin(), dh.end());
        for (auto* v : {&g.in_proj, &g.A_log, &g.dt_bias})
            out.insert(out.end(), v->begin(), v->end());
        return out;
    };
    auto rel = [](const std::vector<T>& a, const std::vector<T>& b) {
        double m = 0, scale = 1e-30;
        for (size_t i = 0; i < a.size(); i++) {
            m = std::max(m, double(std::fabs(a[i] - b[i])));
            scale = std::max(scale, double(std::fabs(b[i])));
        }
        return m / scale;
    };
    for (int chunk : {1, 4, 5, 64}) {
        std::vector<T> y_seq, y_ssd, st_seq, st_ssd;
        auto seq = fwd_bwd(false, chunk, y_seq, st_seq);
        auto ssd = fwd_bwd(true, chunk, y_ssd, st_ssd);
        EXPECT_LT(rel(y_ssd, y_seq), tol) << "y, chunk=" << chunk;
        EXPECT_LT(rel(st_ssd, st_seq), tol) << "chunk states, chunk=" << chunk;
        EXPECT_LT(rel(ssd, seq), tol) << "outputs and gradients, chunk=" << chunk;
    }
}

TEST(Mamba, ChunkedSsdMatchesSequentialScan) {
    for (int G : {1, 2}) {
        check_ssd_matches_sequential<double>(G, 1e-12);
        check_ssd_matches_sequential<float>(G, 2e-5);
    }
}
