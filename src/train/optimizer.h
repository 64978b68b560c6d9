// AdamW over the model's flat parameter buffer (DESIGN §5), with fp32 or 8-bit block-wise state,
// plus global-norm gradient clipping and a finite check on gradients.
//
// The update is torch.optim.AdamW's (decoupled weight decay), per element:
//   p -= lr*wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;
//   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
// with lr = the scheduled LR times the parameter's group multiplier (LeRaC), and wd applied only to
// ParamSpec::matrix tensors.
//
// 8-bit state (bitsandbytes-style block-wise quantisation): each tensor of at least min_8bit_numel
// values is cut into blocks of block_size; a block keeps one fp32 absmax per moment and one byte
// per value, an index into bitsandbytes' dynamic-tree code book (signed for m, unsigned for v).
// Each step dequantises a block, updates it in fp32, and requantises it, rounding stochastically to
// one of the two neighbouring codes: unbiased, where nearest rounding leaves a slowly shrinking
// moment stuck on its code. The draw is a hash of step and element, so runs stay reproducible and
// resume exactly. Unlike bitsandbytes the second moment is stored as sqrt(v): v spans twice the
// decades of m, and with v itself quantised a value whose v rounds to 0 while its m does not gets
// an update of m/eps; sqrt(v) has the same dynamic range as m, so this cannot happen. Small tensors
// (norm gains, biases) stay fp32, as in bitsandbytes.
//
// The step is allocation-free, parallel over fixed work blocks (OpenMP), and each element's result
// does not depend on the thread count; serialize()/deserialize() restore the state exactly, so a
// resumed run makes bit-identical updates.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "kernels/adamw.h"
#include "model/params.h"

namespace np {

struct AdamWConfig {
    float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
    float weight_decay = 0.1f;  // on ParamSpec::matrix tensors only
    bool state_8bit = false;
    int block_size = 256;           // 8-bit quantisation block: 256 or 2048 values
    int64_t min_8bit_numel = 4096;  // smaller tensors keep fp32 state even in 8-bit mode
};

class AdamW {
public:
    // Throws np::Error for betas outside [0,1), eps <= 0, wd < 0 or a block size other than
    // 256/2048.
    AdamW(const ParamLayout& layout, const AdamWConfig& cfg);

    // One update with learning rate `lr`. params, grads: [layout.total]. spec_lr_mult: one
    // multiplier per layout spec (see lerac_multipliers), or empty for 1 everywhere.
    void step(Backend<float>& be, std::span<float> params, std::span<const float> grads, double lr,
              std::span<const float> spec_lr_mult = {});

    int64_t steps_done() const { return t_; }
    const AdamWConfig& config() const { return cfg_; }
    size_t state_bytes() const;  // bytes of m and v (codes, absmax scales, fp32 parts)

    // The whole state (step count, config, moments) as bytes for checkpoints.
    std::string serialize() const;
    // Restores serialize()'s bytes; throws np::Error naming `what` if they are truncated,
    // corrupted, or were written for a different parameter layout or state format.
    void deserialize(std::string_view bytes, const std::string& what = "optimizer state");

    // The first moment of element i, dequantised (for tests and diagnostics).
    float first_moment(size_t i) const;
    float second_moment(size_t i) const;

private:
    using Block = AdamWBlock;
    AdamWConfig cfg_;
    std::vector<int64_t> spec_numel_;
    std::vector<uint8_t> spec_decay_;
    size_t total_ = 0;
    std::vector<Block> blocks_;
    std::vector<size_t> elem_block_start_;  // blocks_[k].begin, for first_moment lookups
    std::vector<float> m32_, v32_;
    std::vector<uint8_t> m8_, v8_;
    std::vector<float> absmax_m_, absmax_v_;
    int64_t t_ = 0;

    const Block& block_of(size_t i) const;
};

// sqrt(sum g^2) accumulated in double, in a fixed order (the same bits for any thread count).
double grad_global_norm(Backend<float>& be, std::span<const float> grads);
// Scales grads by max_norm/(norm+1e-6) when the norm exceeds max_norm (as torch's
// clip_grad_norm_); returns the pre-clip norm. A non-finite norm leaves grads untouched.
double clip_grad_norm(Backend<float>& be, std::span<float> grads, double max_norm);

// 64-bit checksum that ends the serialised optimizer and SWA states (detects
// corruption/truncation).
uint64_t state_checksum(std::string_view bytes);

}  // namespace np
