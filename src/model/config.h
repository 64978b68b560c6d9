// Model architecture configuration (DESIGN §2, §4.1 config.json) and presets (§2.7).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace np {

struct MambaDims {
    int d_model = 0;
    int expand = 2, head_dim = 64, d_state = 32, n_groups = 1, d_conv = 4;
    int d_inner() const { return expand * d_model; }
    int n_heads() const { return d_inner() / head_dim; }
    int conv_dim() const { return d_inner() + 2 * n_groups * d_state; }     // C = xBC width
    int in_proj_dim() const { return d_inner() + conv_dim() + n_heads(); }  // [z | xBC | dt]
};

struct MlaDims {
    int d_model = 0;
    int n_heads = 4, qk_nope_dim = 48, qk_rope_dim = 16, v_dim = 64, kv_rank = 64;
    double rope_theta = 10000.0;
    int q_dim() const { return n_heads * (qk_nope_dim + qk_rope_dim); }
    int kv_down_dim() const { return kv_rank + qk_rope_dim; }
    int kv_up_dim() const { return n_heads * (qk_nope_dim + v_dim); }
    int o_dim() const { return n_heads * v_dim; }
};

struct FfnConfig {
    std::string act = "swiglu";  // "swiglu" | "relu2"
    int hidden = 768;
};

struct ModelConfig {
    std::string architecture = "nanoprime";
    int vocab_size = 4096;
    int d_model = 256;
    int n_layers = 8;
    std::string layer_pattern = "MMMA";
    bool tie_embeddings = true;
    double norm_eps = 1e-6;
    int max_seq_len = 512;
    FfnConfig ffn;
    MambaDims mamba;  // d_model copied from the top level
    MlaDims mla;      // d_model copied from the top level

    char mixer_kind(int layer) const { return layer_pattern[layer % layer_pattern.size()]; }

    // Throws np::Error naming the field for any inconsistency (e.g. d_inner % head_dim != 0) and
    // for sizes past the limits of core/checked.h (every dimension, derived ones included, at most
    // kMaxDim; vocab_size, n_layers and n_params() at most kMaxVocabSize, kMaxLayers, kMaxParams),
    // so that no size computed from a valid config overflows.
    void validate() const;
    // Number of parameters (== make_param_layout(*this).total), computed without building the
    // layout; np::Error for a config that does not validate.
    int64_t n_params() const;
    nlohmann::json to_json() const;
    // Strict: unknown keys, missing keys and wrong types are errors naming `where` and the field.
    static ModelConfig from_json(const nlohmann::json& j, const std::string& where = "config.json");
    static ModelConfig load(const std::string& path);
    void save(const std::string& path) const;            // atomic
    static ModelConfig preset(const std::string& name);  // nano | small | elleci-1.5b
    // For commands taking --preset NAME or --config FILE: exactly one must be given.
    static ModelConfig from_preset_or_file(const std::string& preset, const std::string& file,
                                           const std::string& command);
    static std::vector<std::string> preset_names();
};

}  // namespace np
