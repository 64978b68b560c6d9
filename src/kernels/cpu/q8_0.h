// ggml's Q8_0 block (embeddings / untied head in a GGUF file, DESIGN §4.2): 32 weights as int8
// with one fp16 scale, 8.5 bits/weight. Quantisation is bit-identical to ggml's reference
// quantize_row_q8_0_ref: d = max|x| / 127 (rounded to fp16 only for storage), q = roundf(x / d)
// (round half away from zero) computed with the fp32 d.
#pragma once
#include <cstdint>

namespace np::kern {

constexpr int kQ8Block = 32;  // weights per block (ggml QK8_0)

struct BlockQ8_0 {
    uint16_t d;  // fp16 bits
    int8_t qs[kQ8Block];
};
static_assert(sizeof(BlockQ8_0) == 34);

// x[n] -> n/32 blocks; n % 32 == 0 (np::Error otherwise).
void quantize_row_q8_0(BlockQ8_0* out, const float* x, int64_t n);
// n/32 blocks -> out[n] = qs * fp16_to_fp32(d); n % 32 == 0.
void dequantize_row_q8_0(float* out, const BlockQ8_0* in, int64_t n);

}  // namespace np::kern
