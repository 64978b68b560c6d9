#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cpu_backend.h"
#include "gradcheck.h"
#include "model/ops.h"

using namespace np;
using namespace np::test;

TEST(Ops, LinearBackwardMatchesFiniteDifferences) {
    std::mt19937 rng(1);
    const int R = 5, I = 7, O = 3;
    auto x = random_vec(R * I, rng), W = random_vec(O * I, rng), probe = random_vec(R * O, rng);
    auto loss = [&] {
        std::vector<double> y(R * O);
        linear_forward(y.data(), x.data(), W.data(), R, I, O);
        return dot(y, probe);
    };
    std::vector<double> dx(R * I, 0), dW(O * I, 0);
    linear_backward(dx.data(), dW.data(), probe.data(), x.data(), W.data(), R, I, O);
    EXPECT_LT(max_rel_err(dx, numeric_grad(x, loss)), 1e-8);
    EXPECT_LT(max_rel_err(dW, numeric_grad(W, loss)), 1e-8);
}

TEST(Ops, RmsNormBackwardMatchesFiniteDifferences) {
    std::mt19937 rng(2);
    const int R = 4, C = 9;
    auto x = random_vec(R * C, rng), w = random_vec(C, rng), probe = random_vec(R * C, rng);
    std::vector<double> rstd(R);
    auto loss = [&] {
        std::vector<double> y(R * C);
        rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), R, C, 1e-6);
        return dot(y, probe);
    };
    loss();
    std::vector<double> dx(R * C, 0), dw(C, 0);
    rmsnorm_backward(dx.data(), dw.data(), probe.data(), x.data(), w.data(), rstd.data(), R, C);
    EXPECT_LT(max_rel_err(dx, numeric_grad(x, loss)), 1e-7);
    EXPECT_LT(max_rel_err(dw, numeric_grad(w, loss)), 1e-7);
}

TEST(Ops, TernaryQuantisationFollowsDesign) {
    // mean|W| = 1 -> gamma = 1; values round half to even: 0.5 -> 0, 1.5 -> 2 -> clamp 1, -0.49 ->
    // 0.
    std::vector<float> W = {0.5f, 1.5f, -0.49f, -2.0f, 0.51f, -0.5f, 1.0f, 2.0f};
    float sum = 0;
    for (float v : W) sum += std::fabs(v);
    std::vector<float> wq(W.size());
    float gamma = quantize_weights_ternary(wq.data(), W.data(), int64_t(W.size()));
    EXPECT_FLOAT_EQ(gamma, sum / W.size());
    for (size_t i = 0; i < W.size(); i++) {
        float q = std::nearbyint(W[i] / gamma);
        q = std::fmax(-1.f, std::fmin(1.f, q));
        EXPECT_EQ(wq[i], q * gamma) << i;
        EXPECT_TRUE(wq[i] == 0 || std::fabs(wq[i]) == gamma);
    }
    std::vector<float> zeros(4, 0.f), zq(4);
    EXPECT_FLOAT_EQ(quantize_weights_ternary(zq.data(), zeros.data(), 4), 1e-5f);
}

TEST(Ops, Int8ActivationQuantisationIsPerRowAndExactOnGrid) {
    std::vector<float> x = {1.f, -0.5f, 0.25f, 0.f, /* row 2 */ -3.f, 3.f, 1.5f, 0.1f};
    std::vector<float> xh(8);
    quantize_activations_int8(xh.data(), x.data(), 2, 4);
    for (int r = 0; r < 2; r++) {
        float m = 0;
        for (int c = 0; c < 4; c++) m = std::fmax(m, std::fabs(x[r * 4 + c]));
        float s = 127.f / m;
        for (int c = 0; c < 4; c++) {
            float q = xh[r * 4 + c] * s;
            EXPECT_NEAR(q, std::nearbyint(q), 1e-4) << "not on the int8 grid";
            EXPECT_LE(std::fabs(q), 127.5f);
            EXPECT_NEAR(xh[r * 4 + c], x[r * 4 + c], 0.5f / s + 1e-7f);
        }
    }
    EXPECT_FLOAT_EQ(xh[0], 1.f);  // the row max maps to exactly 127
}

TEST(Ops, BitLinearBackwardIsStraightThrough) {
    std::mt19937 rng(3);
    const int R = 3, I = 16, O = 5;
    std::vector<float> x(R * I), W(O * I), dy(R * O);
    std::normal_distribution<float> nd;
    for (auto* v : {&x, &W, &dy})
        for (auto& e : *v) e = nd(rng);
    BitLinearCache<float> cache;
    cache.resize(R, I, O);
    std::vector<float> y(R * O), dx(R * I, 0), dW(O * I, 0);
    Backend<float>& be = test::cpu<float>();
    be.bitlinear_forward(y.data(), cache.xhat.data(), cache.wq.data(), x.data(), W.data(), R, I, O,
                         true);
    be.bitlinear_backward(dx.data(), dW.data(), dy.data(), cache.xhat.data(), cache.wq.data(), R, I,
                          O);
    // Naive loops: y = x̂ W'^T, dx = dy W', dW = dy^T x̂
    for (int r = 0; r < R; r++)
        for (int o = 0; o < O; o++) {
            double s = 0;
            for (int i = 0; i < I; i++) s += double(cache.xhat[r * I + i]) * cache.wq[o * I + i];
            EXPECT_NEAR(y[r * O + o], s, 1e-4);
        }
    for (int r = 0; r < R; r++)
        for (int i = 0; i < I; i++) {
            double s = 0;
            for (int o = 0; o < O; o++) s += double(dy[r * O + o]) * cache.wq[o * I + i];
            EXPECT_NEAR(dx[r * I + i], s, 1e-4);
        }
    for (int o = 0; o < O; o++)
        for (int i = 0; i < I; i++) {
            double s = 0;
            for (int r = 0; r < R; r++) s += double(dy[r * O + o]) * cache.xhat[r * I + i];
            EXPECT_NEAR(dW[o * I + i], s, 1e-4);
        }
}

TEST(Ops, SeqLayoutRestartsAtEndOfText) {
    std::vector<int32_t> tok = {5, 6, 0, 7, 8, /* row 2 */ 0, 9, 0, 0, 3};
    SeqLayout L = make_seq_layout(tok.data(), 2, 5);
    std::vector<int> start = {1, 0, 1, 0, 0, 1, 0, 1, 1, 0}, pos = {0, 1, 0, 1, 2, 0, 1, 0, 0, 1};
    for (int i = 0; i < 10; i++) {
        EXPECT_EQ(L.doc_start[i], start[i]) << i;
        EXPECT_EQ(L.pos[i], pos[i]) << i;
    }
}

TEST(Ops, FastExpIsWithinTwoUlpOfLibm) {
    double worst = 0;
    for (float x = -87.f; x <= 88.f; x += 0.0137f) {
        float a = exp_fast(x), b = std::exp(x);
        worst = std::max(worst, std::fabs(double(a) - double(b)) / double(b));
    }
    EXPECT_LT(worst, 2.5e-7);
    EXPECT_EQ(exp_fast(0.f), 1.f);
    EXPECT_LT(exp_fast(-200.f), 1e-37f);
    EXPECT_TRUE(std::isfinite(exp_fast(200.f)));
    // NaN (from inf - inf in the activations of extreme weights) stays NaN; converting it to
    // int32 for the exponent bits was undefined behaviour (caught by UBSan).
    EXPECT_TRUE(std::isnan(exp_fast(std::nanf(""))));
    EXPECT_EQ(exp_fast(-std::numeric_limits<float>::infinity()), exp_fast(-87.f));
    EXPECT_EQ(exp_fast(std::numeric_limits<float>::infinity()), exp_fast(88.f));
}
