#include "kernels/cpu/act_quant.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/ternary_pack.h"

namespace np::kern {

void quantize_acts_int8(QuantizedActs& out, const float* x, int R, int C) {
    out.rows = R;
    out.cols = C;
    out.cols_padded = ternary_padded_cols(C);
    out.q.resize(size_t(R) * out.cols_padded);
    out.scale.resize(size_t(R));
    out.inv_scale.resize(size_t(R));
    out.qsum.resize(size_t(R));
    for (int r = 0; r < R; r++) {
        const float* xr = x + size_t(r) * C;
        int8_t* q = out.q.data() + size_t(r) * out.cols_padded;
        // The same float operations, in the same order, as np::quantize_activations_int8.
        float m = 0;
        for (int c = 0; c < C; c++) m = std::max(m, std::fabs(xr[c]));
        const float s = 127.f / std::max(m, 1e-5f);
        int32_t sum = 0;
        for (int c = 0; c < C; c++) {
            const int8_t v = int8_t(std::clamp(std::nearbyint(xr[c] * s), -128.f, 127.f));
            q[c] = v;
            sum += v;
        }
        std::fill(q + C, q + out.cols_padded, int8_t(0));
        out.scale[size_t(r)] = s;
        out.inv_scale[size_t(r)] = 1.f / s;
        out.qsum[size_t(r)] = sum;
    }
}

}  // namespace np::kern
