// The AdamW update's kernels (train/optimizer.h has the optimizer they serve): the per-block
// update over fp32 master weights with fp32 or 8-bit block-wise moments, bitsandbytes' dynamic
// code books for the 8-bit state, and the gradient's sum of squares for the global norm.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace np {

// One work block of the update: elements [begin, begin + len) of the flat parameter buffer, all
// of parameter tensor `spec`. fp32 state at m32/v32 + state; 8-bit state (q8) at m8/v8 + state
// with one absmax per moment at absmax_m/absmax_v[scale].
struct AdamWBlock {
    size_t begin = 0, len = 0;
    uint32_t spec = 0;
    bool q8 = false;
    size_t state = 0;
    uint32_t scale = 0;
};

// Everything one update reads and writes. step t counts from 1 (the bias corrections' power);
// spec_lr_mult [specs] may be null (1 everywhere); spec_decay [specs]: 1 where weight decay
// applies.
struct AdamWUpdate {
    float* params = nullptr;
    const float* grads = nullptr;
    const AdamWBlock* blocks = nullptr;
    size_t n_blocks = 0;
    float *m32 = nullptr, *v32 = nullptr;
    uint8_t *m8 = nullptr, *v8 = nullptr;
    float *absmax_m = nullptr, *absmax_v = nullptr;
    const float* spec_lr_mult = nullptr;
    const uint8_t* spec_decay = nullptr;
    double lr = 0;
    int64_t step = 0;
    float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0;
};

// Per element (torch.optim.AdamW): p -= lr*wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
// p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). 8-bit blocks dequantise, update in fp32
// and requantise against the block's new absmax, rounding stochastically (a hash of step and
// element, so any thread count and a resumed run give the same bits); v is stored as sqrt(v).
void adamw_update(const AdamWUpdate& u);

// Σ g², summed in double over a fixed partition (the same bits for any thread count).
double sum_squares(const float* g, size_t n);
// x[n] *= a
void scale_values(float* x, size_t n, float a);

// bitsandbytes' dynamic-tree code books (256 sorted values in [-1, 1] / [0, 1]).
const std::array<float, 256>& dynamic_code_signed();
const std::array<float, 256>& dynamic_code_unsigned();
// The index of the code nearest 0 (a zero-initialised 8-bit state).
uint8_t code_of_zero(const std::array<float, 256>& code);
// Block-wise quantisation with a code book: one absmax per block of `block` values, codes[i] the
// index of the code nearest x[i]/absmax. x, codes: [n]; absmax: [ceil(n/block)].
void quantize_blockwise(const float* x, uint8_t* codes, float* absmax, size_t n, int block,
                        const std::array<float, 256>& code);
void dequantize_blockwise(const uint8_t* codes, const float* absmax, float* x, size_t n, int block,
                          const std::array<float, 256>& code);

}  // namespace np
