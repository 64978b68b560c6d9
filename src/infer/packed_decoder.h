// One sequence on the packed engine (infer/packed_engine.h) behind the Decoder interface: prefill
// runs each document in chunks of tokens through the matrix-matrix kernels (each weight row
// decoded once per chunk); decode is the one-token case.
#pragma once
#include <algorithm>
#include <memory>

#include "infer/decoder.h"
#include "infer/packed_engine.h"

namespace np::infer {

class PackedDecoder final : public Decoder {
public:
    // chunk: tokens per prefill step (bounds the scratch memory: ~chunk x widest layer floats).
    explicit PackedDecoder(std::shared_ptr<const PackedModel> model, int chunk = 64);
    const ModelConfig& config() const override { return engine_.model().config(); }
    std::string name() const override { return "packed " + engine_.model().describe(); }
    void reset() override { engine_.reset(0); }
    void prefill(std::span<const int32_t> tokens, std::span<float> logits) override;
    int64_t n_past() const override { return engine_.n_past(0); }

    const PackedModel& model() const { return engine_.model(); }
    const std::shared_ptr<const PackedModel>& shared_model() const {
        return engine_.shared_model();
    }
    void set_gemm_attention_min_work(size_t w) { engine_.set_gemm_attention_min_work(w); }
    // Cached tokens of the current document and the bytes the caches hold now.
    int position() const { return engine_.position(0); }
    size_t cache_bytes() const { return engine_.cache_bytes(0); }

private:
    PackedEngine engine_;
};

// Checks a prefill's arguments (tokens not empty, in the vocabulary; logits of the vocabulary's
// size), throwing np::Error naming what is wrong.
void check_prefill(const ModelConfig& cfg, std::span<const int32_t> tokens,
                   std::span<float> logits);

// Calls run(begin, end) for each piece of tokens: documents split at id 0 (which starts one), then
// pieces of at most `chunk` tokens.
template <class Run>
void for_each_piece(std::span<const int32_t> tokens, int chunk, Run&& run) {
    const size_t n = tokens.size();
    for (size_t i = 0; i < n;) {
        size_t end = i + 1;
        while (end < n && tokens[end] != 0) end++;
        for (size_t c = i; c < end; c += size_t(chunk)) run(c, std::min(end, c + size_t(chunk)));
        i = end;
    }
}

}  // namespace np::infer
