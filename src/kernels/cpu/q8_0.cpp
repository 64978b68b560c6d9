#include "kernels/cpu/q8_0.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/saturate.h"

namespace np::kern {

namespace {
void check_length(const char* fn, int64_t n) {
    if (n < 0 || n % kQ8Block != 0)
        fail(std::string(fn) + ": length " + std::to_string(n) + " is not a multiple of " +
             std::to_string(kQ8Block));
}
}  // namespace

void quantize_row_q8_0(BlockQ8_0* out, const float* x, int64_t n) {
    check_length("quantize_row_q8_0", n);
    for (int64_t b = 0; b < n / kQ8Block; b++) {
        const float* xb = x + b * kQ8Block;
        float amax = 0.f;
        for (int j = 0; j < kQ8Block; j++) amax = std::fmax(amax, std::fabs(xb[j]));
        const float d = amax / 127.f;
        const float id = d != 0.f ? 1.f / d : 0.f;
        out[b].d = fp32_to_fp16(d);
        for (int j = 0; j < kQ8Block; j++) out[b].qs[j] = saturate_int8(std::roundf(xb[j] * id));
    }
}

void dequantize_row_q8_0(float* out, const BlockQ8_0* in, int64_t n) {
    check_length("dequantize_row_q8_0", n);
    for (int64_t b = 0; b < n / kQ8Block; b++) {
        const float d = fp16_to_fp32(in[b].d);
        for (int j = 0; j < kQ8Block; j++) out[b * kQ8Block + j] = float(in[b].qs[j]) * d;
    }
}

}  // namespace np::kern
