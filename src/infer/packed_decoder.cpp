#include "infer/packed_decoder.h"

#include "core/error.h"

namespace np::infer {

PackedDecoder::PackedDecoder(std::shared_ptr<const PackedModel> model, int chunk)
    : engine_(std::move(model), 1, chunk) {}

void check_prefill(const ModelConfig& cfg, std::span<const int32_t> tokens,
                   std::span<float> logits) {
    if (tokens.empty()) fail("decoder: prefill needs at least one token");
    if (logits.size() != size_t(cfg.vocab_size))
        fail("decoder: logits buffer holds " + std::to_string(logits.size()) +
             " values, expected " + std::to_string(cfg.vocab_size));
    for (int32_t t : tokens)
        if (t < 0 || t >= cfg.vocab_size)
            fail("decode: token id " + std::to_string(t) + " outside the vocabulary");
}

void PackedDecoder::prefill(std::span<const int32_t> tokens, std::span<float> logits) {
    check_prefill(config(), tokens, logits);
    for_each_piece(tokens, engine_.max_rows(), [&](size_t begin, size_t end) {
        const PackedEngine::Segment seg{0, tokens.subspan(begin, end - begin),
                                        end == tokens.size() ? logits.data() : nullptr};
        engine_.run({&seg, 1});
    });
}

}  // namespace np::infer
