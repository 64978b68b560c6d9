// Finite-difference helpers for gradient tests (double precision, central differences).
#pragma once
#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace np::test {

inline std::vector<double> random_vec(size_t n, std::mt19937& rng, double scale = 1.0) {
    std::normal_distribution<double> nd(0.0, scale);
    std::vector<double> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
}

// Central difference of scalar `loss()` with respect to every entry of `param` (perturbed in
// place).
inline std::vector<double> numeric_grad(std::vector<double>& param,
                                        const std::function<double()>& loss, double eps = 1e-5) {
    std::vector<double> g(param.size());
    for (size_t i = 0; i < param.size(); i++) {
        double keep = param[i];
        param[i] = keep + eps;
        double lp = loss();
        param[i] = keep - eps;
        double lm = loss();
        param[i] = keep;
        g[i] = (lp - lm) / (2 * eps);
    }
    return g;
}

// max |a-b| / max(1, max|b|): relative to the gradient's scale, robust to tiny entries.
inline double max_rel_err(const std::vector<double>& a, const std::vector<double>& b) {
    double m = 0, scale = 1e-12;
    for (size_t i = 0; i < a.size(); i++) {
        m = std::max(m, std::fabs(a[i] - b[i]));
        scale = std::max(scale, std::fabs(b[i]));
    }
    return m / scale;
}

// Loss used by module tests: L = sum(out * probe) for a fixed random probe, so dL/dout = probe.
inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
    return s;
}

}  // namespace np::test
