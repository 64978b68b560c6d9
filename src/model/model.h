// The whole NanoPrime model (DESIGN §2.1): embedding, L pre-norm residual layers (Mamba-2 or MLA
// mixer
// + FFN), final norm, tied or untied head. Parameters live in one flat buffer laid out by
// ParamLayout.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"
#include "model/ffn.h"
#include "model/mamba.h"
#include "model/mla.h"
#include "model/params.h"

namespace np {

struct LossResult {
    double loss = 0;     // mean cross-entropy over the counted targets (0 when there are none)
    int64_t tokens = 0;  // number of counted targets
};

template <class T>
class Model {
public:
    ModelConfig cfg;
    ParamLayout layout;
    std::vector<T> params;  // layout.total values
    std::vector<T> grads;   // accumulated by every backward; allocated zero by the first one
    bool quantize = true;   // BitLinear quantisers on (false only for finite-difference tests)

    // Training-time options (DESIGN §5), all off by default; the trainer sets them before each
    // loss(..., backward = true). Dropout and recomputation act only when backward is requested.
    struct TrainOptions {
        float dropout = 0;          // on each residual branch output (mixer, FFN), scaled 1/(1-p)
        float label_smoothing = 0;  // eps: target = (1-eps) one-hot + eps/V uniform
        bool recompute = false;     // keep only layer inputs; recompute each layer in backward
        uint64_t dropout_seed = 0;  // set per micro-step so masks replay exactly on resume
        // The backward adds the gradient of the summed cross-entropy instead of the mean's, so
        // micro-batches of different target counts accumulate into one mean by a final 1/count.
        bool grad_of_sum = false;
    };
    TrainOptions train_opts;

    // The dropout mask (DropoutMask in backend/backend.h): element `index` of residual branch
    // `branch` (0 = mixer, 1 = FFN) of `layer` is kept.
    static bool dropout_keeps(uint64_t seed, int layer, int branch, uint64_t index, float p);

    // Bytes of the training workspace's arena (activations kept for the backward, the shared
    // backward scratch, the logits chunk) and the backend's scratch: compare a step with and
    // without train_opts.recompute.
    size_t activation_bytes() const;

    // The model runs its ops on `backend` (the CPU backend when null).
    explicit Model(const ModelConfig& config, std::unique_ptr<Backend<T>> backend = nullptr);
    ~Model();
    Model(Model&&) noexcept;

    T* param(const std::string& name) { return params.data() + layout.find(name).offset; }
    const T* param(const std::string& name) const {
        return params.data() + layout.find(name).offset;
    }
    T* grad(const std::string& name) { return grads.data() + layout.find(name).offset; }
    // grads = 0 (allocating them), before the backwards of a step accumulate.
    void zero_grad() { grads.assign(layout.total, T(0)); }

    // DESIGN init rules: linear weights N(0, 0.02) (residual outputs scaled by 1/sqrt(2L)), norms
    // 1, conv like torch's default, A_log = log U[1,16], dt_bias = softplus^-1(dt0), D = 1.
    void init_random(uint64_t seed);

    // Mean next-token cross-entropy over the B rows of T tokens: position t predicts t+1, counted
    // when t+1 < T and (mask empty or mask[t+1] != 0). With backward, dL/dθ is ADDED into grads
    // (as every op's backward adds into its parameter gradients), so a caller accumulates
    // micro-batches in place and calls zero_grad() between steps.
    //
    // weights [B*T] (policy-gradient objectives, train/rl_objective.h): the loss is instead the
    // weighted sum Σ weights[t+1] * CE(t) over the counted positions, not divided by their count
    // (the weights carry their own normalisation; a weight may be negative). logprobs [B*T], when
    // given: logprobs[t+1] = log p(token t+1 | ..t) for every counted position, the rest untouched.
    LossResult loss(std::span<const int32_t> tokens, std::span<const uint8_t> mask, int B, int Tn,
                    bool backward, std::span<const float> weights = {},
                    std::span<float> logprobs = {});

    // Full forward: logits [B*T, V].
    std::vector<T> logits(std::span<const int32_t> tokens, int B, int Tn);

    // Reference incremental decode (constant Mamba state, growing MLA latent cache).
    struct DecodeState {
        std::vector<MambaState<T>> mamba;  // by layer index (unused entries for MLA layers)
        std::vector<MlaCache<T>> mla;      // by layer index (unused entries for Mamba layers)
        FfnActs<T> ffn;
        std::vector<T> x, n, rstd, tmp;  // [D] scratch
        int pos = 0;                     // position inside the current document
        bool started = false;
    };
    std::unique_ptr<DecodeState> new_decode_state() const;
    // Feeds one token; writes logits [V]. Token id 0 (or the first token) starts a new document.
    void decode_step(DecodeState& state, int32_t token, T* logits);

    Backend<T>& backend() { return *be_; }

private:
    std::unique_ptr<Backend<T>> be_;
    struct Workspace;
    std::unique_ptr<Workspace> ws_;
    // What forward_hidden keeps for a backward: every layer's activations, only each layer's input
    // (recompute), or nothing (forward only).
    enum class Keep { All, Inputs, None };
    void forward_hidden(std::span<const int32_t> tokens, int B, int Tn, Keep keep);  // -> ws_->xf
    // Lays out the workspace's arena for B x Tn and `keep` (no-op when it already is).
    void plan(int B, int Tn, Keep keep);
    // One layer from its input x [R, D] with activations in ws_->acts[slot]; x_out [R, D] may be
    // null (recomputation needs only the activations) and may alias x.
    void layer_forward(int l, int slot, const T* x, T* x_out);
    const T* head() const;
};

extern template class Model<float>;
extern template class Model<double>;

}  // namespace np
