// Next-token sampling from logits: repetition, presence and frequency penalties, top-k,
// temperature, top-p, min-p, in that order (the order of Hugging Face's logits processors; top-k
// before temperature is the same as after it). Deterministic: its own RNG seeded by `seed`.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.h"

namespace np::infer {

struct SamplerOptions {
    float temperature = 0;         // 0: greedy argmax (ties to the lowest id); the filters are moot
    int top_k = 0;                 // keep the k highest logits; 0: off
    float top_p = 1;               // keep the smallest most-likely set with mass >= top_p; 1: off
    float min_p = 0;               // drop tokens with p < min_p * p_max; 0: off
    float repetition_penalty = 1;  // recent tokens: logit > 0 -> logit / r, else logit * r; 1: off
    // OpenAI's additive penalties over the same recent tokens: logit -= count * frequency_penalty
    // + presence_penalty for each token seen (count times); 0: off. In [-2, 2].
    float presence_penalty = 0, frequency_penalty = 0;
    int repeat_last_n = 64;  // how many recent tokens (prompt and generated) the penalties see
    uint64_t seed = 0;
};

// Throws np::Error naming the CLI flag (--temperature, --top-k, ...) of the first invalid field.
void validate(const SamplerOptions& opt);

class Sampler {
public:
    explicit Sampler(const SamplerOptions& opt = {});
    const SamplerOptions& options() const { return opt_; }
    // Restarts the random stream from the seed and forgets the recent tokens.
    void reset();
    // Records a token the repetition penalty will see (feed prompt tokens and chosen tokens).
    void accept(int32_t token);
    // Picks the next token from logits [V] (left unchanged). No allocation after the first call
    // for a given V.
    int32_t sample(std::span<const float> logits);

private:
    struct Candidate {
        float logit;
        int32_t id;
        double p;
    };
    SamplerOptions opt_;
    Rng rng_;
    std::vector<int32_t> recent_;  // ring buffer of the last repeat_last_n accepted tokens
    size_t recent_next_ = 0;
    std::vector<Candidate> cand_;
    std::vector<uint32_t> seen_;  // [V] scratch: occurrences of each recent token
};

}  // namespace np::infer
