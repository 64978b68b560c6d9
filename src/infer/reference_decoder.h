// The fp32 checkpoint behind the Decoder interface: Model::decode_step token by token (the ground
// truth the packed engine is tested against; slow because it re-quantises weights every token).
#pragma once
#include <memory>

#include "infer/decoder.h"
#include "model/model.h"

namespace np::infer {

class ReferenceDecoder final : public Decoder {
public:
    explicit ReferenceDecoder(Model<float> model);
    const ModelConfig& config() const override { return model_.cfg; }
    std::string name() const override { return "reference fp32"; }
    void reset() override;
    void prefill(std::span<const int32_t> tokens, std::span<float> logits) override;
    int64_t n_past() const override { return n_past_; }
    Model<float>& model() { return model_; }

private:
    Model<float> model_;
    std::unique_ptr<Model<float>::DecodeState> state_;
    int64_t n_past_ = 0;
};

}  // namespace np::infer
