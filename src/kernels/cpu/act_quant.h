// Per-token int8 activation quantisation for the inference kernels (DESIGN §2.2):
//   s = 127 / max(max_j |x_j|, 1e-5),  xq = clamp(round_half_even(x * s), -128, 127).
// Bit-identical to the int8 values behind np::quantize_activations_int8 (kernels/bitnet_quant.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace np::kern {

// Rows of int8 activations, each zero-padded to a multiple of 256 to match the packed weight rows.
struct QuantizedActs {
    int rows = 0, cols = 0, cols_padded = 0;
    std::vector<int8_t> q;     // [rows, cols_padded]
    std::vector<float> scale;  // [rows] s
    std::vector<float>
        inv_scale;  // [rows] 1/s: the kernels' epilogue multiplies, y = dot * gamma * (1/s)
    std::vector<int32_t>
        qsum;  // [rows] sum_j q[r, j]: the kernels work on codes Wq + 1 and subtract it
    const int8_t* row(int r) const { return q.data() + size_t(r) * cols_padded; }
};

// x[R, C] -> out (buffers resized, reused across calls). AVX2 where the build targets it; the
// reference is the plain loop, and both give the same bytes.
void quantize_acts_int8(QuantizedActs& out, const float* x, int R, int C);
void quantize_acts_int8_reference(QuantizedActs& out, const float* x, int R, int C);

}  // namespace np::kern
