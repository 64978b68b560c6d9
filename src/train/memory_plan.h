// Training memory planner (`nanoprime plan`): bytes of weights, gradients, AdamW state and
// activations for a model configuration at a given batch x sequence length, derived from the
// tensors the engine plans in its arena (Model::plan: MambaActs, MlaActs, FfnActs, the BitLinear
// inputs x̂ and weights W').
#pragma once
#include <cstdint>
#include <string>

#include "model/config.h"

namespace np {

struct PlanOptions {
    int batch = 1;
    int seq = 0;             // 0: the config's max_seq_len
    bool recompute = false;  // keep only per-layer residual inputs + one layer at a time
    bool adam8bit = false;   // 8-bit block-wise AdamW state
    bool bf16 = false;       // bf16 weight copy and bf16 activations (residual stream stays fp32)
    int block_size = 256;    // 8-bit quantisation block
    int64_t min_8bit_numel = 4096;  // smaller tensors keep fp32 state
    int head_chunk = 256;           // logits rows materialised at once by the fused head + CE
};

struct MemoryPlan {
    int64_t params = 0;
    int64_t weights = 0;      // fp32 latent weights (+ bf16 copy)
    int64_t gradients = 0;    // fp32
    int64_t optimizer = 0;    // AdamW m + v
    int64_t activations = 0;  // what the forward keeps for backward (all layers, or with
                              // recompute: residual inputs + one layer)
    int64_t bwd_scratch = 0;  // gradient buffers of the backward (one layer's, shared)
    int64_t quant_cache = 0;  // quantised ternary weight copies W' held by the BitLinear caches
    int64_t logits = 0;       // one head chunk [head_chunk, vocab]
    int64_t margin = 0;       // CUDA context / allocator fragmentation / library workspaces
    int64_t total = 0;
    int64_t per_layer_acts_max = 0;  // the largest single layer's kept activations
};

// Throws np::Error for batch/seq < 1 or an invalid config.
MemoryPlan plan_memory(const ModelConfig& cfg, const PlanOptions& opt);

// "12GiB", "12 GB", "8000MiB", "1.5G", "4096" (bytes). Binary (KiB/MiB/GiB/TiB, K/M/G/T) and
// decimal (KB/MB/GB/TB) units, case-insensitive. Throws np::Error naming `what` on bad input.
int64_t parse_size(const std::string& text, const std::string& what = "size");
std::string format_bytes(int64_t bytes);

// Largest batch (<= max_batch) whose plan fits in `budget` bytes; 0 when even batch 1 does not.
int largest_fitting_batch(const ModelConfig& cfg, PlanOptions opt, int64_t budget,
                          int max_batch = 1 << 16);

// Human-readable table, verdict and suggestion.
std::string render_plan(const ModelConfig& cfg, const PlanOptions& opt, const MemoryPlan& plan,
                        int64_t budget);

}  // namespace np
