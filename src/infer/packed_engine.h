// The packed inference engine (DESIGN §2.3, §2.4, §6) over a fixed set of sequence slots: int8-
// activation x ternary products for every BitLinear, and per slot a constant-size Mamba-2 state
// (K-1 conv inputs + S per layer) and, per MLA layer, a latent cache of int8(c) + one fp32 scale +
// the rotated k_rope per token. Decode never expands the cache to K and V: kv_up's K part is
// absorbed into the query (q̃ = Wk^T q_nope) and its V part is applied after the attention-weighted
// sum of latents — exact, because kv_up quantises c per token and the cache holds exactly those
// int8 values and scales.
//
// One run() takes segments of tokens from any slots (a prompt chunk of one, the next token of
// others) and sends all their rows through each weight matrix once: the matrix-matrix kernels
// decode every weight row once per run, so a batch of decoding sequences costs little more than
// one. Only the recurrent and attention steps look at a row's slot. A row's result does not depend
// on the other rows of the run: every kernel is row-independent and exact in its int32 sums, and
// the attention path of a segment is chosen from that segment alone, so a sequence gets the same
// bits alone or batched.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "infer/packed_model.h"
#include "kernels/cpu/act_quant.h"
#include "kernels/cpu/latent_attention.h"

namespace np::infer {

class PackedEngine {
public:
    // max_rows: tokens per run, all segments together (bounds the scratch: ~max_rows x widest
    // layer floats).
    PackedEngine(std::shared_ptr<const PackedModel> model, int n_slots, int max_rows);

    // Tokens of one slot that continue its current document. A segment whose first token is id 0,
    // or the first one of a slot since reset, starts a new document (DESIGN §2.6); id 0 anywhere
    // else is an error (split documents into segments). logits [V] receives the logits after the
    // segment's last token, when not null.
    struct Segment {
        int slot = 0;
        std::span<const int32_t> tokens;
        float* logits = nullptr;
    };
    // Segments of distinct slots, at most max_rows tokens in all.
    void run(std::span<const Segment> segments);

    // Drops the slot's state: its next token starts a new document.
    void reset(int slot);

    // A slot's state at one point of its current document, to come back to later: the recurrent
    // state cannot be rewound, so it is copied (a few KB per Mamba layer), while the latent caches
    // only grow and are cut back to their length at the mark.
    struct Checkpoint {
        std::vector<std::vector<float>> conv, ssm;  // by layer (empty for MLA layers)
        int pos = 0;
        int64_t n_past = 0;
        uint64_t document = 0;  // which document of the slot (0: no checkpoint)
    };
    Checkpoint checkpoint(int slot) const;
    // Back to the checkpoint: false (nothing changed) when the slot has started another document
    // since, or was reset.
    bool rewind(int slot, const Checkpoint& cp);
    int n_slots() const { return int(slots_.size()); }
    int max_rows() const { return max_rows_; }
    const PackedModel& model() const { return *model_; }
    const std::shared_ptr<const PackedModel>& shared_model() const { return model_; }
    // Tokens fed to the slot since reset, position inside its current document, and the bytes its
    // latent caches hold now.
    int64_t n_past(int slot) const { return slots_.at(size_t(slot)).n_past; }
    int position(int slot) const { return slots_.at(size_t(slot)).pos; }
    size_t cache_bytes(int slot) const;
    // Segments of at least kMinGemmAttentionTokens tokens whose tokens x cache length reach this
    // run MLA attention as blocked GEMMs (same math, different float summation order than the
    // latent attention kernel that decode uses).
    void set_gemm_attention_min_work(size_t w) { gemm_attention_min_work_ = w; }

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
    struct Slot {
        std::vector<MambaLayerState> mamba;  // by layer index (empty for MLA layers)
        std::vector<MlaLayerState> mla;      // by layer index (empty for Mamba layers)
        int pos = 0;                         // position inside the current document
        bool started = false;
        int64_t n_past = 0;
        uint64_t document = 0;  // counts the documents started by any slot: tells checkpoints apart
    };
    // A segment of the current run: its rows [row0, row0 + R) of the activations.
    struct Rows {
        int slot = 0, row0 = 0, R = 0, pos0 = 0;
        float* logits = nullptr;
    };

    void start_document(Slot& s);
    void mamba_layer(float* out, const float* h, int R, const PackedLayer& L, int layer);
    void mla_layer(float* out, const float* h, int R, const PackedLayer& L, int layer);
    void ffn_layer(float* out, const float* h, int R, const PackedLayer& L);
    // Attention of the M = R*nh query rows of a segment from query row q0 (att_q_, att_qr_) over
    // the slot's cache -> att_cbar_.
    void attention_gemm(int q0, int M, int nh, int n0, int n_max, int r, int dr, float scale,
                        const kern::LatentCache& cache);

    std::shared_ptr<const PackedModel> model_;
    int max_rows_;
    std::vector<Slot> slots_;
    std::vector<Rows> rows_;  // the segments of the current run
    uint64_t documents_ = 0;
    // Scratch, sized for max_rows_ tokens at construction and reused: no allocation per token.
    kern::QuantizedActs xq_, lat_q_;
    std::vector<float> x_, n_, tmp_, a_, b_, c_, d_;
    std::vector<float> rope_cos_, rope_sin_;
    std::vector<kern::LatentAttentionScratch> thread_scratch_;  // per OpenMP thread
    std::vector<float> att_q_, att_qr_, att_cbar_;              // [max_rows*nh, r | dr | r]
    std::vector<float> att_s_, att_cd_, att_m_, att_l_;  // GEMM path: scores, dequantised block
    // Latent-kernel work items of a run: (segment, token, first head, end head).
    struct AttentionItem {
        int seg, t, h0, h1;
    };
    std::vector<AttentionItem> att_items_;
    std::vector<float*> head_out_;  // the logits of this run's segments (capacity: the slots)
    size_t gemm_attention_min_work_ = size_t(1) << 15;
    static constexpr int kMinGemmAttentionTokens = 4;
};

}  // namespace np::infer
