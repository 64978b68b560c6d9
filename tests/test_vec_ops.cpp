// The decode step's vector kernels (kernels/cpu/vec_ops.h): the SIMD bodies against the plain
// loops, over lengths that exercise the 16- and 8-lane bodies and the scalar tails.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/vec_ops.h"
#include "model/ops.h"

using namespace np::kern;

namespace {

const int kLengths[] = {1, 7, 8, 9, 15, 16, 17, 31, 32, 64, 100, 128, 131};

std::vector<float> normals(int n, std::mt19937& rng, float sd = 1.f) {
    std::normal_distribution<float> nd(0.f, sd);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = nd(rng);
    return v;
}

// Bound for a float sum of n terms in another order: a few ulp of the sum of |terms|.
float sum_tolerance(const std::vector<float>& abs_terms) {
    float s = 0;
    for (float t : abs_terms) s += t;
    return 4e-7f * float(abs_terms.size() + 1) * s + 1e-30f;
}

}  // namespace

TEST(VecOps, SsmRowUpdateMatchesPlainLoop) {
    std::mt19937 rng(5);
    for (int n : kLengths) {
        auto S = normals(n, rng);
        const auto B = normals(n, rng), C = normals(n, rng);
        auto S_ref = S;
        const float y = ssm_row_update(S.data(), 0.93f, 0.21f, B.data(), C.data(), n);
        const float y_ref =
            ssm_row_update_reference(S_ref.data(), 0.93f, 0.21f, B.data(), C.data(), n);
        std::vector<float> abs_terms(static_cast<size_t>(n));
        for (int k = 0; k < n; k++) {
            EXPECT_NEAR(S[size_t(k)], S_ref[size_t(k)], 1e-6f * (std::fabs(S_ref[size_t(k)]) + 1))
                << n << " " << k;
            abs_terms[size_t(k)] = std::fabs(S_ref[size_t(k)] * C[size_t(k)]);
        }
        EXPECT_NEAR(y, y_ref, sum_tolerance(abs_terms)) << "n=" << n;
    }
}

TEST(VecOps, GatedActivationsMatchScalarSilu) {
    std::mt19937 rng(6);
    for (int n : kLengths) {
        auto g = normals(n, rng, 4.f);
        const auto u = normals(n, rng);
        // The clamps of exp: far beyond where silu saturates (to x and to -0).
        g[0] = n % 2 ? 120.f : -120.f;
        for (bool swiglu : {true, false}) {
            std::vector<float> out(static_cast<size_t>(n));
            gated_act(out.data(), g.data(), u.data(), n, swiglu);
            for (int k = 0; k < n; k++) {
                const float a = g[size_t(k)];
                const float want = (swiglu ? np::silu(a) : (a > 0 ? a * a : 0.f)) * u[size_t(k)];
                ASSERT_TRUE(std::isfinite(out[size_t(k)]));
                EXPECT_NEAR(out[size_t(k)], want, 2e-6f * (std::fabs(want) + 1e-6f))
                    << "n=" << n << " k=" << k << " x=" << a;
            }
        }
        std::vector<float> s = g;
        silu_rows(s.data(), s.data(), n);  // in place
        for (int k = 0; k < n; k++)
            EXPECT_NEAR(s[size_t(k)], np::silu(g[size_t(k)]),
                        2e-6f * (std::fabs(np::silu(g[size_t(k)])) + 1e-6f));
    }
}

TEST(VecOps, SiluSaturatesWithoutInfOrNan) {
    // silu(x) -> x for large x and -> 0 for very negative x; exp's argument is clamped to
    // [-87, 88], so nothing overflows (for x = -1e30 the result is -1e30 / e^88 ~ -6e-9, as the
    // scalar silu).
    const std::vector<float> x = {100.f, 50.f, 30.f, -30.f, -50.f, -90.f, -100.f, -1e30f, 0.f};
    std::vector<float> y(x.size(), 0.f);
    silu_rows(y.data(), x.data(), int(x.size()));
    EXPECT_FLOAT_EQ(y[0], 100.f);
    EXPECT_FLOAT_EQ(y[1], 50.f);
    for (size_t i = 3; i < x.size(); i++) {
        EXPECT_TRUE(std::isfinite(y[i])) << x[i];
        EXPECT_LE(std::fabs(y[i]), x[i] >= -100.f ? 1e-11f : 1e-8f) << x[i];
        EXPECT_NEAR(y[i], np::silu(x[i]), 1e-6f * std::fabs(np::silu(x[i]))) << x[i];
    }
}

TEST(VecOps, RmsnormRowMatchesPlainLoopAndOpsForward) {
    std::mt19937 rng(7);
    for (int n : kLengths) {
        const auto x = normals(n, rng, 3.f), w = normals(n, rng);
        std::vector<float> y(static_cast<size_t>(n)), y_ref(y.size()), y_ops(y.size());
        const float rs = rmsnorm_row(y.data(), x.data(), w.data(), n, 1e-6f);
        const float rs_ref = rmsnorm_row_reference(y_ref.data(), x.data(), w.data(), n, 1e-6f);
        float rs_ops = 0;
        np::rmsnorm_forward(y_ops.data(), &rs_ops, x.data(), w.data(), 1, n, 1e-6f);
        // The training forward runs this row kernel in float: the same bits.
        EXPECT_EQ(rs, rs_ops) << "n=" << n;
        EXPECT_EQ(y, y_ops) << "n=" << n;
        // Only the order of the sum of squares differs: relative error of a few ulp per term.
        EXPECT_NEAR(rs, rs_ref, 4e-7f * float(n + 4) * rs_ref) << "n=" << n;
        for (int k = 0; k < n; k++)
            EXPECT_NEAR(y[size_t(k)], y_ref[size_t(k)],
                        4e-7f * float(n + 4) * (std::fabs(y_ref[size_t(k)]) + 1e-30f))
                << "n=" << n << " k=" << k;
    }
    // All zero: rs = 1/sqrt(eps), y = 0.
    std::vector<float> z(40, 0.f), w(40, 1.f), y(40, 1.f);
    EXPECT_FLOAT_EQ(rmsnorm_row(y.data(), z.data(), w.data(), 40, 1e-6f), 1000.f);
    for (float v : y) EXPECT_EQ(v, 0.f);
}
