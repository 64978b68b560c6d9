#include "infer/reference_decoder.h"

#include "core/error.h"

namespace np::infer {

ReferenceDecoder::ReferenceDecoder(Model<float> model)
    : model_(std::move(model)), state_(model_.new_decode_state()) {}

void ReferenceDecoder::reset() {
    state_ = model_.new_decode_state();
    n_past_ = 0;
}

void ReferenceDecoder::prefill(std::span<const int32_t> tokens, std::span<float> logits) {
    if (tokens.empty()) fail("decoder: prefill needs at least one token");
    if (logits.size() != size_t(model_.cfg.vocab_size))
        fail("decoder: logits buffer holds " + std::to_string(logits.size()) +
             " values, expected " + std::to_string(model_.cfg.vocab_size));
    for (int32_t t : tokens) {
        model_.decode_step(*state_, t, logits.data());
        n_past_++;
    }
}

}  // namespace np::infer
