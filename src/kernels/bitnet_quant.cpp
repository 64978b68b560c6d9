#include "kernels/bitnet_quant.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace np {

template <class T>
T quantize_weights_ternary(T* wq, const T* W, int64_t n) {
    double sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
    for (int64_t i = 0; i < n; i++) sum += std::fabs(double(W[i]));
    // torch computes mean in the tensor's dtype; a double sum rounded once is as close as it gets.
    T gamma = std::max(T(sum / double(n)), T(1e-5));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        T q = std::nearbyint(W[i] / gamma);  // default rounding mode: half to even, as torch.round
        wq[i] = std::clamp(q, T(-1), T(1)) * gamma;
    }
    return gamma;
}

template <class T>
void quantize_activations_int8(T* xhat, const T* x, int R, int C) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        const T* xr = x + size_t(r) * C;
        T* o = xhat + size_t(r) * C;
        T m = 0;
        for (int c = 0; c < C; c++) m = std::max(m, std::fabs(xr[c]));
        T s = T(127) / std::max(m, T(1e-5));
        for (int c = 0; c < C; c++)
            o[c] = std::clamp(std::nearbyint(xr[c] * s), T(-128), T(127)) / s;
    }
}

template float quantize_weights_ternary<float>(float*, const float*, int64_t);
template double quantize_weights_ternary<double>(double*, const double*, int64_t);
template void quantize_activations_int8<float>(float*, const float*, int, int);
template void quantize_activations_int8<double>(double*, const double*, int, int);

}  // namespace np
