#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/rng.h"

namespace np {

namespace {
constexpr int kHeadChunk = 256;  // rows of logits materialised at once by the fused head + CE

// Pointers to one layer's tensors inside a flat buffer (parameters or gradients), by DESIGN name.
template <class Ptr>
struct LayerTensors {
    const ParamLayout& layout;
    Ptr base;
    const std::string& prefix;  // "layers.i."
    Ptr operator()(const char* name) const { return base + layout.find(prefix + name).offset; }
};

template <class S, class Ptr>
S mamba_at(const LayerTensors<Ptr>& at) {
    return S{at("mamba.in_proj.weight"), at("mamba.conv1d.weight"),  at("mamba.conv1d.bias"),
             at("mamba.dt_bias"),        at("mamba.A_log"),          at("mamba.D"),
             at("mamba.norm.weight"),    at("mamba.out_proj.weight")};
}
template <class S, class Ptr>
S mla_at(const LayerTensors<Ptr>& at) {
    return S{at("mla.q_proj.weight"), at("mla.kv_down.weight"), at("mla.kv_norm.weight"),
             at("mla.kv_up.weight"),  at("mla.o_norm.weight"),  at("mla.o_proj.weight")};
}
template <class S, class Ptr>
S ffn_at(const LayerTensors<Ptr>& at) {
    return S{at("ffn.gate.weight"), at("ffn.up.weight"), at("ffn.down_norm.weight"),
             at("ffn.down.weight")};
}

}  // namespace

template <class T>
struct Model<T>::Workspace {
    // What one layer's forward leaves for its backward. With Keep::All a slot per layer holds its
    // mixer's acts; otherwise every layer shares slot 0, which holds both mixer kinds' acts.
    struct LayerActs {
        T *n1 = nullptr, *rstd1 = nullptr, *x_mid = nullptr, *n2 = nullptr,
          *rstd2 = nullptr;  // [R,D] / [R]
        MambaActs<T> mamba;
        MlaActs<T> mla;
        FfnActs<T> ffn;
    };
    explicit Workspace(DeviceMemory& mem) : arena(mem) {}
    Arena arena;  // every tensor below, planned by Model::plan for one (B, T, Keep)
    int B = 0, Tn = 0;
    Keep keep = Keep::None;
    SeqLayout seq;
    std::vector<T*> x_in;  // [L] -> [R,D] each layer's input (Keep::All/Inputs)
    std::vector<std::unique_ptr<LayerActs>> acts;  // [L] with Keep::All, else [1]
    float drop_p = 0;  // dropout of the last forward (0 unless training)
    uint64_t drop_seed = 0;
    int32_t* tokens = nullptr;                         // [R]
    T *x = nullptr, *xf = nullptr, *rstd_f = nullptr;  // [R,D] residual stream, final-normed, [R]
    T* mix_out = nullptr;                              // [R,D]
    T *dx = nullptr, *dn = nullptr, *dxf = nullptr;    // [R,D] backward scratch
    T* dbranch = nullptr;          // [R,D] gradient of a residual branch through dropout
    T* logits_chunk = nullptr;     // [kHeadChunk, V]
    int32_t* ce_target = nullptr;  // [kHeadChunk] target of each row, -1 if not counted
    float *ce_weight = nullptr, *ce_logprob = nullptr;  // [kHeadChunk]
    std::vector<int32_t> target_host;                   // host staging of ce_target
    std::vector<float> logprob_host;                    // and of ce_logprob
};

template <class T>
Model<T>::Model(const ModelConfig& config, std::unique_ptr<Backend<T>> backend)
    : cfg(config),
      layout(make_param_layout(config)),
      params(layout.total, T(0)),
      be_(backend ? std::move(backend) : make_cpu_backend<T>()),
      ws_(std::make_unique<Workspace>(*be_)) {
    cfg.validate();
}

// llm.c's fill_in_activation_sizes: every tensor a forward (and its backward) at B x Tn touches,
// in one arena of the backend's memory; planned again only when the shape or Keep changes.
template <class T>
void Model<T>::plan(int B, int Tn, Keep keep) {
    Workspace& w = *ws_;
    if (w.B == B && w.Tn == Tn && w.keep == keep) return;
    w.arena.clear();
    const size_t R = size_t(B) * Tn, RD = R * cfg.d_model;
    const int L = cfg.n_layers, D = cfg.d_model, F = cfg.ffn.hidden;
    Arena& a = w.arena;
    a.add("tokens", R, w.tokens);
    a.add("x", RD, w.x);
    a.add("mix_out", RD, w.mix_out);
    a.add("xf", RD, w.xf);
    a.add("rstd_f", R, w.rstd_f);
    a.add("logits_chunk", size_t(kHeadChunk) * cfg.vocab_size, w.logits_chunk);
    a.add("ce_target", kHeadChunk, w.ce_target);
    a.add("ce_weight", kHeadChunk, w.ce_weight);
    a.add("ce_logprob", kHeadChunk, w.ce_logprob);
    w.x_in.assign(L, nullptr);
    if (keep != Keep::None) {
        a.add("dx", RD, w.dx);
        a.add("dn", RD, w.dn);
        a.add("dxf", RD, w.dxf);
        a.add("dbranch", RD, w.dbranch);
        for (int l = 0; l < L; l++) a.add("layers." + std::to_string(l) + ".x_in", RD, w.x_in[l]);
    }
    const int slots = keep == Keep::All ? L : 1;
    w.acts.resize(slots);
    for (int s = 0; s < slots; s++) {
        if (!w.acts[s]) w.acts[s] = std::make_unique<typename Workspace::LayerActs>();
        auto& la = *w.acts[s];
        const std::string p = keep == Keep::All ? "layers." + std::to_string(s) + "." : "layer.";
        a.add(p + "n1", RD, la.n1);
        a.add(p + "rstd1", R, la.rstd1);
        a.add(p + "x_mid", RD, la.x_mid);
        a.add(p + "n2", RD, la.n2);
        a.add(p + "rstd2", R, la.rstd2);
        bool mamba = false, mla = false;
        for (int l = 0; l < L; l++)
            if (keep != Keep::All || l == s) (cfg.mixer_kind(l) == 'M' ? mamba : mla) = true;
        if (mamba) plan_mamba_acts(a, p + "mamba.", B, Tn, cfg.mamba, la.mamba);
        if (mla) plan_mla_acts(a, p + "mla.", B, Tn, cfg.mla, la.mla);
        plan_ffn_acts(a, p + "ffn.", int(R), D, F, la.ffn);
    }
    // A training plan gets a block of its own size (switching to recomputation gives the other
    // layers' activations back); a forward-only plan keeps the block for the next training step.
    a.allocate(keep != Keep::None);
    w.B = B, w.Tn = Tn, w.keep = keep;
}
template <class T>
Model<T>::~Model() = default;
template <class T>
Model<T>::Model(Model&&) noexcept = default;

template <class T>
const T* Model<T>::head() const {
    return param(cfg.tie_embeddings ? "embed.weight" : "lm_head.weight");
}

template <class T>
void Model<T>::init_random(uint64_t seed) {
    Rng rng(seed);
    const double resid_scale = 1.0 / std::sqrt(2.0 * cfg.n_layers);
    for (const ParamSpec& s : layout.specs) {
        T* p = params.data() + s.offset;
        auto ends = [&](const char* suffix) {
            size_t n = std::strlen(suffix);
            return s.name.size() >= n && s.name.compare(s.name.size() - n, n, suffix) == 0;
        };
        if (ends("norm.weight") || ends(".mamba.D")) {
            std::fill(p, p + s.numel, T(1));
        } else if (ends("A_log")) {
            for (int64_t i = 0; i < s.numel; i++) p[i] = T(std::log(rng.uniform(1.0, 16.0)));
        } else if (ends("dt_bias")) {
            for (int64_t i = 0; i < s.numel; i++) {
                double dt = std::exp(rng.uniform(std::log(1e-3), std::log(1e-1)));
                dt = std::max(dt, 1e-4);
                p[i] = T(dt + std::log(-std::expm1(-dt)));  // softplus^-1(dt)
            }
        } else if (ends("conv1d.weight") || ends("conv1d.bias")) {
            // torch Conv1d default for a depthwise conv: U(-1/sqrt(K), 1/sqrt(K)), fan_in = K
            double bound = 1.0 / std::sqrt(double(cfg.mamba.d_conv));
            for (int64_t i = 0; i < s.numel; i++) p[i] = T(rng.uniform(-bound, bound));
        } else {
            bool residual_out =
                ends("out_proj.weight") || ends("o_proj.weight") || ends("down.weight");
            double std = 0.02 * (residual_out ? resid_scale : 1.0);
            for (int64_t i = 0; i < s.numel; i++) p[i] = T(rng.normal() * std);
        }
    }
}

template <class T>
bool Model<T>::dropout_keeps(uint64_t seed, int layer, int branch, uint64_t index, float p) {
    return DropoutMask{p, seed, layer, branch}.hash().keeps(index);
}

template <class T>
size_t Model<T>::activation_bytes() const {
    return ws_->arena.allocated_bytes() + be_->scratch_bytes();
}

template <class T>
void Model<T>::layer_forward(int l, int slot, const T* x, T* x_out) {
    Workspace& w = *ws_;
    auto& a = *w.acts[slot];
    const int R = w.seq.B * w.seq.T, D = cfg.d_model;
    const size_t RD = size_t(R) * D;
    const T eps = T(cfg.norm_eps);
    const FfnAct act = cfg.ffn.act == "relu2" ? FfnAct::ReLU2 : FfnAct::SwiGLU;
    const std::string p = "layers." + std::to_string(l) + ".";
    Backend<T>& be = *be_;
    be.rmsnorm_forward(a.n1, a.rstd1, x, param(p + "mixer_norm.weight"), R, D, eps);
    if (cfg.mixer_kind(l) == 'M') {
        MambaWeights<T> mw =
            mamba_at<MambaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
        mamba_forward(be, w.mix_out, a.n1, mw, cfg.mamba, w.seq, quantize, eps, a.mamba);
    } else {
        MlaWeights<T> aw = mla_at<MlaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
        mla_forward(be, w.mix_out, a.n1, aw, cfg.mla, w.seq, quantize, eps, a.mla);
    }
    be.residual_add(a.x_mid, x, w.mix_out, RD, {w.drop_p, w.drop_seed, l, 0});
    be.rmsnorm_forward(a.n2, a.rstd2, a.x_mid, param(p + "ffn_norm.weight"), R, D, eps);
    FfnWeights<T> fw = ffn_at<FfnWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
    ffn_forward(be, w.mix_out, a.n2, fw, R, D, cfg.ffn.hidden, act, quantize, eps, a.ffn);
    if (x_out) be.residual_add(x_out, a.x_mid, w.mix_out, RD, {w.drop_p, w.drop_seed, l, 1});
}

template <class T>
void Model<T>::forward_hidden(std::span<const int32_t> tokens, int B, int Tn, Keep keep) {
    const int R = B * Tn, D = cfg.d_model, V = cfg.vocab_size;
    if (int64_t(tokens.size()) != int64_t(R)) fail("model: expected B*T token ids");
    Workspace& w = *ws_;
    for (int r = 0; r < R; r++)
        if (tokens[r] < 0 || tokens[r] >= V)
            fail("token id " + std::to_string(tokens[r]) + " at position " + std::to_string(r) +
                 " is outside the vocabulary [0, " + std::to_string(V) + ")");
    w.seq = make_seq_layout(tokens.data(), B, Tn);
    plan(B, Tn, keep);
    const size_t RD = size_t(R) * D;
    be_->upload(w.tokens, tokens.data(), sizeof(int32_t) * R);
    be_->embedding_forward(w.x, w.tokens, param("embed.weight"), R, D);
    for (int l = 0; l < cfg.n_layers; l++) {
        if (keep == Keep::None) {
            layer_forward(l, 0, w.x, w.x);
            continue;
        }
        be_->copy(w.x_in[l], w.x, RD);
        layer_forward(l, keep == Keep::All ? l : 0, w.x_in[l], w.x);
    }
    be_->rmsnorm_forward(w.xf, w.rstd_f, w.x, param("final_norm.weight"), R, D, T(cfg.norm_eps));
}

template <class T>
std::vector<T> Model<T>::logits(std::span<const int32_t> tokens, int B, int Tn) {
    ws_->drop_p = 0;
    forward_hidden(tokens, B, Tn, Keep::None);
    const int R = B * Tn, D = cfg.d_model, V = cfg.vocab_size;
    std::vector<T> out(size_t(R) * V);
    for (int r0 = 0; r0 < R; r0 += kHeadChunk) {
        const int rc = std::min(kHeadChunk, R - r0);
        be_->linear_forward(ws_->logits_chunk, ws_->xf + size_t(r0) * D, head(), rc, D, V, false);
        be_->download(out.data() + size_t(r0) * V, ws_->logits_chunk, sizeof(T) * rc * V);
    }
    return out;
}

template <class T>
LossResult Model<T>::loss(std::span<const int32_t> tokens, std::span<const uint8_t> mask, int B,
                          int Tn, bool backward, std::span<const float> weights,
                          std::span<float> logprobs) {
    if (!mask.empty() && mask.size() != tokens.size())
        fail("loss: mask must have the same shape as tokens");
    if (!weights.empty() && weights.size() != tokens.size())
        fail("loss: weights must have the same shape as tokens");
    if (!logprobs.empty() && logprobs.size() != tokens.size())
        fail("loss: logprobs must have the same shape as tokens");
    const TrainOptions& o = train_opts;
    if (backward && !(o.dropout >= 0 && o.dropout < 1))
        fail("train options: dropout must be in [0, 1), got " + std::to_string(o.dropout));
    if (backward && !(o.label_smoothing >= 0 && o.label_smoothing <= 1))
        fail("train options: label_smoothing must be in [0, 1], got " +
             std::to_string(o.label_smoothing));
    Workspace& w = *ws_;
    w.drop_p = backward ? o.dropout : 0.0f;
    w.drop_seed = o.dropout_seed;
    const Keep keep = !backward ? Keep::None : o.recompute ? Keep::Inputs : Keep::All;
    forward_hidden(tokens, B, Tn, keep);
    const int R = B * Tn, D = cfg.d_model, V = cfg.vocab_size;
    const size_t RD = size_t(R) * D;
    // A row r = b*T + t is counted when its target r+1 is in the same row and not masked out.
    auto counted = [&](int r) { return (r % Tn) + 1 < Tn && (mask.empty() || mask[r + 1] != 0); };
    int64_t n = 0;
    for (int r = 0; r < R; r++) n += counted(r);
    LossResult res;
    res.tokens = n;
    if (backward) {
        if (grads.empty()) zero_grad();
        be_->zero(w.dxf, RD);
    }
    // Label smoothing (training only), as torch's cross_entropy(label_smoothing = ls): per row
    // (1-ls) * CE(target) + ls * mean_v(-log p_v) = lse - (1-ls) z_target - ls * mean_v(z_v).
    const double ls = backward ? double(o.label_smoothing) : 0.0;
    const T* Wh = head();
    T* dWh = backward ? grad(cfg.tie_embeddings ? "embed.weight" : "lm_head.weight") : nullptr;
    w.target_host.resize(kHeadChunk);
    double total = 0;
    // Fused head + cross-entropy, kHeadChunk rows at a time: logits never exist for the whole
    // batch.
    for (int r0 = 0; r0 < R; r0 += kHeadChunk) {
        const int rc = std::min(kHeadChunk, R - r0);
        T* lg = w.logits_chunk;
        be_->linear_forward(lg, w.xf + size_t(r0) * D, Wh, rc, D, V, false);
        // Row r's target, weight and log-prob live at r + 1 (the weights and log-probs of the
        // last row of the batch, never counted, are not read or written).
        const int rw = std::min(rc, R - 1 - r0);
        for (int i = 0; i < rc; i++)
            w.target_host[size_t(i)] = counted(r0 + i) ? tokens[r0 + i + 1] : -1;
        be_->upload(w.ce_target, w.target_host.data(), sizeof(int32_t) * rc);
        CrossEntropyOptions ce;
        ce.label_smoothing = ls;
        ce.grad_count = o.grad_of_sum ? 1.0 : double(n);
        ce.backward = backward;
        if (!weights.empty()) {
            be_->upload(w.ce_weight, weights.data() + r0 + 1, sizeof(float) * rw);
            ce.weights = w.ce_weight;
        }
        if (!logprobs.empty()) ce.logprobs = w.ce_logprob;
        const double chunk_loss = be_->cross_entropy_rows(lg, w.ce_target, rc, V, ce);
        if (!logprobs.empty()) {
            w.logprob_host.resize(rc);
            be_->download(w.logprob_host.data(), w.ce_logprob, sizeof(float) * rc);
            for (int i = 0; i < rc; i++)
                if (w.target_host[size_t(i)] >= 0) logprobs[r0 + i + 1] = w.logprob_host[size_t(i)];
        }
        total += chunk_loss;
        if (backward && n > 0)
            be_->linear_backward(w.dxf + size_t(r0) * D, dWh, lg, w.xf + size_t(r0) * D, Wh, rc, D,
                                 V);
    }
    res.loss = n > 0 ? (weights.empty() ? total / double(n) : total) : 0.0;
    if (!backward || n == 0) return res;

    const T eps = T(cfg.norm_eps);
    const FfnAct act = cfg.ffn.act == "relu2" ? FfnAct::ReLU2 : FfnAct::SwiGLU;
    const bool dropout = w.drop_p > 0;
    Backend<T>& be = *be_;
    be.zero(w.dx, RD);
    be.rmsnorm_backward(w.dx, grad("final_norm.weight"), w.dxf, w.x, param("final_norm.weight"),
                        w.rstd_f, R, D);
    for (int l = cfg.n_layers - 1; l >= 0; l--) {
        const std::string p = "layers." + std::to_string(l) + ".";
        // With recomputation the forward left the last layer's activations in slot 0; every
        // other layer is recomputed from its input, with the same arithmetic and dropout masks.
        if (keep == Keep::Inputs && l != cfg.n_layers - 1) layer_forward(l, 0, w.x_in[l], nullptr);
        auto& a = *w.acts[keep == Keep::All ? l : 0];
        // x_out = x_mid + drop(FFN(n2)), n2 = RMSNorm(x_mid)
        const T* dbranch = w.dx;
        if (dropout) {
            be.dropout_backward(w.dbranch, w.dx, RD, {w.drop_p, w.drop_seed, l, 1});
            dbranch = w.dbranch;
        }
        be.zero(w.dn, RD);
        FfnWeights<T> fw = ffn_at<FfnWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
        FfnGrads<T> fg = ffn_at<FfnGrads<T>>(LayerTensors<T*>{layout, grads.data(), p});
        ffn_backward(be, w.dn, fg, dbranch, a.n2, fw, R, D, cfg.ffn.hidden, act, a.ffn);
        be.rmsnorm_backward(w.dx, grad(p + "ffn_norm.weight"), w.dn, a.x_mid,
                            param(p + "ffn_norm.weight"), a.rstd2, R, D);
        // x_mid = x_in + drop(Mixer(n1)), n1 = RMSNorm(x_in)
        if (dropout) {
            be.dropout_backward(w.dbranch, w.dx, RD, {w.drop_p, w.drop_seed, l, 0});
            dbranch = w.dbranch;
        }
        be.zero(w.dn, RD);
        if (cfg.mixer_kind(l) == 'M') {
            MambaWeights<T> mw =
                mamba_at<MambaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
            MambaGrads<T> mg = mamba_at<MambaGrads<T>>(LayerTensors<T*>{layout, grads.data(), p});
            mamba_backward(be, w.dn, mg, dbranch, a.n1, mw, cfg.mamba, w.seq, quantize, eps,
                           a.mamba);
        } else {
            MlaWeights<T> aw =
                mla_at<MlaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
            MlaGrads<T> ag = mla_at<MlaGrads<T>>(LayerTensors<T*>{layout, grads.data(), p});
            mla_backward(be, w.dn, ag, dbranch, a.n1, aw, cfg.mla, w.seq, quantize, eps, a.mla);
        }
        be.rmsnorm_backward(w.dx, grad(p + "mixer_norm.weight"), w.dn, w.x_in[l],
                            param(p + "mixer_norm.weight"), a.rstd1, R, D);
    }
    be.embedding_backward(grad("embed.weight"), w.dx, w.tokens, R, D);
    return res;
}

template <class T>
std::unique_ptr<typename Model<T>::DecodeState> Model<T>::new_decode_state() const {
    auto s = std::make_unique<DecodeState>();
    s->mamba.resize(cfg.n_layers);
    s->mla.resize(cfg.n_layers);
    for (int l = 0; l < cfg.n_layers; l++)
        if (cfg.mixer_kind(l) == 'M') s->mamba[l].reset(cfg.mamba);
    return s;
}

template <class T>
void Model<T>::decode_step(DecodeState& s, int32_t token, T* out_logits) {
    const int D = cfg.d_model, V = cfg.vocab_size;
    if (token < 0 || token >= V)
        fail("decode: token id " + std::to_string(token) + " outside the vocabulary");
    const bool doc_start = !s.started || token == 0;
    s.started = true;
    if (doc_start) s.pos = 0;
    const T eps = T(cfg.norm_eps);
    const FfnAct act = cfg.ffn.act == "relu2" ? FfnAct::ReLU2 : FfnAct::SwiGLU;
    Backend<T>& be = *be_;
    s.x.resize(D);
    be.embedding_forward(s.x.data(), &token, param("embed.weight"), 1, D);
    s.n.resize(D), s.tmp.resize(D), s.rstd.resize(1);
    for (int l = 0; l < cfg.n_layers; l++) {
        const std::string p = "layers." + std::to_string(l) + ".";
        be.rmsnorm_forward(s.n.data(), s.rstd.data(), s.x.data(), param(p + "mixer_norm.weight"), 1,
                           D, eps);
        if (cfg.mixer_kind(l) == 'M') {
            MambaWeights<T> mw =
                mamba_at<MambaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
            mamba_step(be, s.tmp.data(), s.n.data(), mw, cfg.mamba, quantize, eps, doc_start,
                       s.mamba[l]);
        } else {
            MlaWeights<T> aw =
                mla_at<MlaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
            mla_step(be, s.tmp.data(), s.n.data(), aw, cfg.mla, quantize, eps, s.pos, doc_start,
                     s.mla[l]);
        }
        be.residual_add(s.x.data(), s.x.data(), s.tmp.data(), D, {});
        be.rmsnorm_forward(s.n.data(), s.rstd.data(), s.x.data(), param(p + "ffn_norm.weight"), 1,
                           D, eps);
        FfnWeights<T> fw = ffn_at<FfnWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
        ffn_forward(be, s.tmp.data(), s.n.data(), fw, 1, D, cfg.ffn.hidden, act, quantize, eps,
                    s.ffn);
        be.residual_add(s.x.data(), s.x.data(), s.tmp.data(), D, {});
    }
    be.rmsnorm_forward(s.n.data(), s.rstd.data(), s.x.data(), param("final_norm.weight"), 1, D,
                       eps);
    be.linear_forward(out_logits, s.n.data(), head(), 1, D, V, false);
    s.pos++;
}

template class Model<float>;
template class Model<double>;

}  // namespace np
