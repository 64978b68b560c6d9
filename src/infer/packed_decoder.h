// The packed inference engine (DESIGN §2.3, §2.4, §6): int8-activation x ternary products for
// every BitLinear, a constant-size Mamba-2 state (K-1 conv inputs + S per layer) and, per MLA
// layer, a latent cache of int8(c) + one fp32 scale + the rotated k_rope per token. Decode never
// expands the cache to K and V: kv_up's K part is absorbed into the query (q̃ = Wk^T q_nope) and
// its V part is applied after the attention-weighted sum of latents — exact, because kv_up
// quantises c per token and the cache holds exactly those int8 values and scales.
// Prefill runs chunks of tokens through matrix-matrix kernels (each weight row decoded once per
// chunk); decode is the one-token case.
#pragma once
#include <memory>
#include <vector>

#include "infer/decoder.h"
#include "infer/packed_model.h"
#include "kernels/cpu/act_quant.h"
#include "kernels/cpu/latent_attention.h"

namespace np::infer {

class PackedDecoder final : public Decoder {
public:
    // chunk: tokens per prefill step (bounds the scratch memory: ~chunk x widest layer floats).
    explicit PackedDecoder(std::shared_ptr<const PackedModel> model, int chunk = 64);
    const ModelConfig& config() const override { return model_->config(); }
    std::string name() const override { return "packed " + model_->describe(); }
    void reset() override;
    void prefill(std::span<const int32_t> tokens, std::span<float> logits) override;
    int64_t n_past() const override { return n_past_; }

    const PackedModel& model() const { return *model_; }
    // Prefill chunks of at least kMinGemmAttentionTokens tokens whose tokens x cache length reach
    // this run MLA attention as blocked GEMMs (same math, different float summation order than
    // the latent attention kernel that decode uses).
    void set_gemm_attention_min_work(size_t w) { gemm_attention_min_work_ = w; }
    // Cached tokens of the current document and the bytes the caches hold now.
    int position() const { return pos_; }
    size_t cache_bytes() const;

private:
    struct MambaLayerState {
        std::vector<float> conv;  // [K-1, C] last K-1 conv inputs, oldest first
        std::vector<float> ssm;   // [H, P, N]
    };
    struct MlaLayerState {
        std::vector<int8_t> cq;     // [n, r] int8(c), exactly what kv_up consumes
        std::vector<float> inv_s;   // [n] 1/s of each token's c
        std::vector<float> k_rope;  // [n, dr] rotated
    };

    void start_document();
    // R tokens of one document (R <= chunk_); writes the last token's logits when logits != null.
    void run_chunk(const int32_t* tokens, int R, float* logits);
    void mamba_chunk(float* out, const float* h, int R, const PackedLayer& L, MambaLayerState& st);
    void mla_chunk(float* out, const float* h, int R, const PackedLayer& L, MlaLayerState& st);
    void ffn_chunk(float* out, const float* h, int R, const PackedLayer& L);
    // Attention of M = R*nh query rows (att_q_, att_qr_) over the cache -> att_cbar_ [M, r].
    void attention_rows(int M, int nh, int n0, int n_max, int r, int dr, float scale,
                        const int8_t* cq, const float* inv_s, const float* krope);
    void attention_gemm(int M, int nh, int n0, int n_max, int r, int dr, float scale,
                        const int8_t* cq, const float* inv_s, const float* krope);

    std::shared_ptr<const PackedModel> model_;
    int chunk_;
    std::vector<MambaLayerState> mamba_;  // by layer index (empty for MLA layers)
    std::vector<MlaLayerState> mla_;      // by layer index (empty for Mamba layers)
    int pos_ = 0;                         // position inside the current document
    bool started_ = false;
    int64_t n_past_ = 0;
    // Scratch, sized for chunk_ tokens on first use and reused: no allocation per token.
    kern::QuantizedActs xq_, lat_q_;
    std::vector<float> x_, n_, tmp_, a_, b_, c_, d_;
    std::vector<float> rope_cos_, rope_sin_;
    std::vector<kern::LatentAttentionScratch> thread_scratch_;  // per OpenMP thread
    std::vector<float> att_q_, att_qr_, att_cbar_;              // [chunk*nh, r | dr | r]
    std::vector<float> att_s_, att_cd_, att_m_, att_l_;  // GEMM path: scores, dequantised block
    size_t gemm_attention_min_work_ = size_t(1) << 15;
    static constexpr int kMinGemmAttentionTokens = 4;
};

}  // namespace np::infer
