// A model seen as a token stream -> next-token logits (DESIGN §6). The fp32 reference decoder and
// the packed ternary engine both implement it, so generate, chat and eval run on either.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "model/config.h"

namespace np::infer {

class Decoder {
public:
    virtual ~Decoder() = default;
    virtual const ModelConfig& config() const = 0;
    // What runs underneath, for reports: "reference fp32", "packed tq2", ...
    virtual std::string name() const = 0;
    // Drops all state: the next token starts a new conversation.
    virtual void reset() = 0;
    // Feeds tokens in order and writes the logits [V] that follow the last one. Token id 0 starts
    // a new document (DESIGN §2.6). tokens must not be empty; logits.size() == vocab_size.
    virtual void prefill(std::span<const int32_t> tokens, std::span<float> logits) = 0;
    // One decode step (the same contract as prefill of a single token).
    virtual void step(int32_t token, std::span<float> logits) { prefill({&token, 1}, logits); }
    // Tokens fed since reset.
    virtual int64_t n_past() const = 0;
};

}  // namespace np::infer
