// Checkpoint directory -> deployment GGUF (DESIGN §4.2; layout in infer/gguf.h), size estimates
// for a configuration, and the inference memory a model needs (`nanoprime export` / `info`).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "infer/gguf.h"
#include "model/config.h"

namespace np::infer {

struct ExportOptions {
    std::string weights = "tq2";  // "tq2" (TQ2_0, 2.06 bits/weight) | "tq1" (TQ1_0, 1.69)
    std::string embed = "f16";    // embed.weight / lm_head.weight: "f16" | "q8_0"
    std::string tokenizer;        // overrides CKPT/tokenizer.json when not empty
};

// Throws np::Error naming --weights / --embed when a value is unknown or does not fit the model
// (q8_0 needs d_model % 32 == 0).
void check_export_options(const ExportOptions& opt, const ModelConfig& cfg);

// Reads CKPT (config.json, model.safetensors, tokenizer.json) and writes out_path atomically
// (temp file + rename). Errors name the file and what is wrong.
void export_gguf(const std::string& ckpt_dir, const std::string& out_path,
                 const ExportOptions& opt);

// Byte breakdown of a GGUF file. For a real file every field is measured; for an estimate every
// field is exact except `metadata`, whose tokenizer part is kTokenizerBytesPerToken per
// vocabulary entry.
struct GgufSizes {
    size_t ternary = 0;   // TQ2_0/TQ1_0 payloads (padded rows included)
    size_t embed = 0;     // embed.weight (+ lm_head.weight)
    size_t other = 0;     // F32 tensors: norms, conv, SSM parameters, ternary scales
    size_t padding = 0;   // alignment padding between tensors in the data section
    size_t header = 0;    // fixed header + tensor-info records
    size_t metadata = 0;  // key/value section
    size_t total = 0;     // == align(header + metadata, 32) + ternary + embed + other + padding
    int64_t tensors = 0;
    int64_t ternary_weights = 0;  // logical ternary weights (without row padding)
    // total with the metadata section replaced by one of `kv_bytes`.
    size_t total_with_metadata(size_t kv_bytes) const;
    double ternary_bits_per_weight() const;
};
constexpr size_t kTokenizerBytesPerToken = 96;

GgufSizes estimate_gguf_sizes(const ModelConfig& cfg, const ExportOptions& opt);
size_t estimate_gguf_bytes(const ModelConfig& cfg, const ExportOptions& opt);
GgufSizes measure_gguf_sizes(const gguf::GgufFile& f);

// Decode memory (DESIGN §2.3, §2.4), in bytes.
struct InferenceMemory {
    int attention_layers = 0, mamba_layers = 0;
    // Per token, summed over attention layers: kv_rank int8 + one fp32 scale + qk_rope_dim fp32.
    size_t mla_cache_per_token = 0;
    // A same-shaped fp16 multi-head transformer, every layer attention, caching K and V of
    // n_heads x v_dim each: 2 * n_layers * n_heads * v_dim * 2 bytes.
    size_t mha_fp16_per_token = 0;
    // Constant per sequence, summed over Mamba layers: fp32 conv window (d_conv-1) * conv_dim
    // + SSM state H * P * N.
    size_t mamba_state = 0;
    double cache_ratio() const {  // MLA / MHA
        return mha_fp16_per_token ? double(mla_cache_per_token) / double(mha_fp16_per_token) : 0;
    }
};
InferenceMemory inference_memory(const ModelConfig& cfg);

}  // namespace np::infer
