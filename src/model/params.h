// The parameter table of a model: every tensor's DESIGN §4.1 name, shape and offset into one flat
// buffer (parameters, gradients and optimizer state share this layout).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/config.h"

namespace np {

struct ParamSpec {
    std::string name;
    std::vector<int64_t> shape;  // [out, in] for matrices, like torch.nn.Linear
    size_t offset = 0;           // into the flat buffer
    int64_t numel = 0;
    bool ternary = false;  // a BitLinear weight (quantised to {-1,0,1} * gamma)
    bool matrix = false;   // 2-D weight: receives weight decay
    int layer = -1;        // -1: embedding, final norm, head
};

struct ParamLayout {
    std::vector<ParamSpec> specs;
    size_t total = 0;
    const ParamSpec& find(const std::string& name) const;  // throws np::Error if absent
    const ParamSpec* try_find(const std::string& name) const;
};

ParamLayout make_param_layout(const ModelConfig& cfg);

// The first tensor of `layout` holding a NaN or an infinity in `params`, or nullptr.
const ParamSpec* find_non_finite(const ParamLayout& layout, std::span<const float> params);

// Parameter counts by component for `nanoprime params`.
struct ParamCounts {
    int64_t total = 0, ternary = 0, full_precision = 0;
    int64_t embedding = 0, head = 0, norms = 0;
    int64_t mamba = 0, mla = 0, ffn = 0;  // all of each mixer/FFN kind's tensors, norms included
};
ParamCounts count_params(const ModelConfig& cfg);

}  // namespace np
