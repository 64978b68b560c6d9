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

// Dropout of one residual branch: the keep mask of Model::dropout_keeps, scaled by 1/(1-p).
struct BranchDropout {
    uint64_t key = 0;
    uint64_t threshold = 0;  // drop when the hash's top 32 bits are below it
    static uint64_t make_key(uint64_t seed, int layer, int branch) {
        return splitmix64(splitmix64(seed) ^ splitmix64(uint64_t(2 * int64_t(layer) + branch)));
    }
    BranchDropout(uint64_t seed, int layer, int branch, float p)
        : key(make_key(seed, layer, branch)),
          threshold(uint64_t(std::llround(double(p) * 4294967296.0))) {}
    bool keeps(uint64_t i) const { return (splitmix64(key + i) >> 32) >= threshold; }
};

// Capacity in bytes of every buffer a module's Acts holds (kept in step with mamba.h, mla.h,
// ffn.h), for Model::activation_bytes.
template <class V>
size_t held_bytes(const std::vector<V>& v) {
    return v.capacity() * sizeof(V);
}
template <class V, class... Rest>
size_t held_bytes(const std::vector<V>& v, const Rest&... rest) {
    return held_bytes(v) + held_bytes(rest...);
}
template <class T>
size_t held_bytes(const BitLinearCache<T>& c) {
    return held_bytes(c.xhat, c.wq);
}
template <class T>
size_t held_bytes(const MambaActs<T>& a) {
    return held_bytes(a.in_cache) + held_bytes(a.out_cache) +
           held_bytes(a.seg_begin, a.zxbcdt, a.conv_pre, a.xbc, a.dt, a.y, a.g, a.rstd,
                      a.chunk_state, a.tmp, a.dg, a.dxbc, a.dzxbcdt, a.ddt, a.scan.states,
                      a.scan.dbc_head, a.scan.head_partial);
}
template <class T>
size_t held_bytes(const MlaActs<T>& a) {
    return held_bytes(a.bl_q) + held_bytes(a.bl_kvd) + held_bytes(a.bl_kvu) + held_bytes(a.bl_o) +
           held_bytes(a.q, a.kvd, a.c_raw, a.c, a.rstd_c, a.kr, a.kv, a.o, a.rstd_o, a.on, a.lse,
                      a.first, a.cos, a.sin, a.scores, a.d_on, a.d_o, a.dq, a.dkv, a.dkr, a.dc,
                      a.dc_raw, a.dkvd, a.dkr_heads);
}
template <class T>
size_t held_bytes(const FfnActs<T>& a) {
    return held_bytes(a.gate_c) + held_bytes(a.up_c) + held_bytes(a.down_c) +
           held_bytes(a.a, a.u, a.m, a.rstd, a.mn, a.dm, a.da, a.du);
}
}  // namespace

template <class T>
struct Model<T>::Workspace {
    // What one layer's forward leaves for its backward. A slot holds the acts of whichever mixer
    // kinds have run in it: with recomputation every layer shares slot 0.
    struct LayerActs {
        std::vector<T> n1, rstd1, x_mid, n2, rstd2;  // [R,D] / [R]
        std::unique_ptr<MambaActs<T>> mamba;
        std::unique_ptr<MlaActs<T>> mla;
        FfnActs<T> ffn;
        MambaActs<T>& mamba_acts() {
            if (!mamba) mamba = std::make_unique<MambaActs<T>>();
            return *mamba;
        }
        MlaActs<T>& mla_acts() {
            if (!mla) mla = std::make_unique<MlaActs<T>>();
            return *mla;
        }
        size_t bytes() const {
            return held_bytes(n1, rstd1, x_mid, n2, rstd2) + (mamba ? held_bytes(*mamba) : 0) +
                   (mla ? held_bytes(*mla) : 0) + held_bytes(ffn);
        }
    };
    SeqLayout seq;
    std::vector<std::vector<T>> x_in;  // [L][R,D] each layer's input (kept by Keep::All/Inputs)
    std::vector<LayerActs> acts;       // [L] with Keep::All; otherwise only acts[0] is used
    float drop_p = 0;                  // dropout of the last forward (0 unless training)
    uint64_t drop_seed = 0;
    std::vector<T> x, xf, rstd_f;    // [R,D] residual stream, final-normed, [R]
    std::vector<T> dx, dn, dxf;      // [R,D] backward scratch
    std::vector<T> mix_out;          // [R,D]
    std::vector<T> dbranch;          // [R,D] gradient of a residual branch through dropout
    std::vector<T> logits_chunk;     // [kHeadChunk, V]
    std::vector<int32_t> ce_target;  // [kHeadChunk] target of each row, -1 if not counted
};

template <class T>
Model<T>::Model(const ModelConfig& config)
    : cfg(config),
      layout(make_param_layout(config)),
      params(layout.total, T(0)),
      ws_(std::make_unique<Workspace>()) {
    cfg.validate();
    ws_->x_in.resize(cfg.n_layers);
    ws_->acts.resize(1);
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
    return BranchDropout(seed, layer, branch, p).keeps(index);
}

template <class T>
size_t Model<T>::activation_bytes() const {
    const Workspace& w = *ws_;
    size_t n = held_bytes(w.seq.doc_start, w.seq.pos, w.x, w.xf, w.rstd_f, w.dx, w.dn, w.dxf,
                          w.mix_out, w.dbranch, w.logits_chunk);
    for (const auto& v : w.x_in) n += held_bytes(v);
    for (const auto& a : w.acts) n += a.bytes();
    return n;
}

// out[i] = base[i] + branch[i], the branch through the layer's dropout mask when p > 0.
template <class T>
static void add_branch(T* out, const T* base, const T* branch, size_t n, float p, uint64_t seed,
                       int layer, int which) {
    if (p == 0) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) out[i] = base[i] + branch[i];
        return;
    }
    const BranchDropout m(seed, layer, which, p);
    const T scale = T(1.0 / (1.0 - double(p)));
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = m.keeps(i) ? base[i] + branch[i] * scale : base[i];
}

// Backward of the dropout in add_branch: dbranch = mask * scale * dout.
template <class T>
static void dropout_backward(T* dbranch, const T* dout, size_t n, float p, uint64_t seed, int layer,
                             int which) {
    const BranchDropout m(seed, layer, which, p);
    const T scale = T(1.0 / (1.0 - double(p)));
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dbranch[i] = m.keeps(i) ? dout[i] * scale : T(0);
}

template <class T>
void Model<T>::layer_forward(int l, int slot, const T* x, T* x_out) {
    Workspace& w = *ws_;
    auto& a = w.acts[slot];
    const int R = w.seq.B * w.seq.T, D = cfg.d_model;
    const size_t RD = size_t(R) * D;
    const T eps = T(cfg.norm_eps);
    const FfnAct act = cfg.ffn.act == "relu2" ? FfnAct::ReLU2 : FfnAct::SwiGLU;
    const std::string p = "layers." + std::to_string(l) + ".";
    a.n1.resize(RD), a.rstd1.resize(R), a.x_mid.resize(RD), a.n2.resize(RD), a.rstd2.resize(R);
    rmsnorm_forward(a.n1.data(), a.rstd1.data(), x, param(p + "mixer_norm.weight"), R, D, eps);
    if (cfg.mixer_kind(l) == 'M') {
        MambaWeights<T> mw =
            mamba_at<MambaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
        mamba_forward(w.mix_out.data(), a.n1.data(), mw, cfg.mamba, w.seq, quantize, eps,
                      a.mamba_acts());
    } else {
        MlaWeights<T> aw = mla_at<MlaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
        mla_forward(w.mix_out.data(), a.n1.data(), aw, cfg.mla, w.seq, quantize, eps, a.mla_acts());
    }
    add_branch(a.x_mid.data(), x, w.mix_out.data(), RD, w.drop_p, w.drop_seed, l, 0);
    rmsnorm_forward(a.n2.data(), a.rstd2.data(), a.x_mid.data(), param(p + "ffn_norm.weight"), R, D,
                    eps);
    FfnWeights<T> fw = ffn_at<FfnWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
    ffn_forward(w.mix_out.data(), a.n2.data(), fw, R, D, cfg.ffn.hidden, act, quantize, eps, a.ffn);
    if (x_out) add_branch(x_out, a.x_mid.data(), w.mix_out.data(), RD, w.drop_p, w.drop_seed, l, 1);
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
    // Switching to recomputation gives the other layers' activations back; a forward-only call
    // leaves them allocated for the next training step.
    if (keep == Keep::All) w.acts.resize(cfg.n_layers);
    if (keep == Keep::Inputs) w.acts.resize(1);
    const size_t RD = size_t(R) * D;
    w.x.resize(RD), w.mix_out.resize(RD), w.xf.resize(RD), w.rstd_f.resize(R);
    embedding_forward(w.x.data(), tokens.data(), param("embed.weight"), R, D);
    for (int l = 0; l < cfg.n_layers; l++) {
        if (keep == Keep::None) {
            layer_forward(l, 0, w.x.data(), w.x.data());
            continue;
        }
        w.x_in[l].assign(w.x.begin(), w.x.end());
        layer_forward(l, keep == Keep::All ? l : 0, w.x_in[l].data(), w.x.data());
    }
    rmsnorm_forward(w.xf.data(), w.rstd_f.data(), w.x.data(), param("final_norm.weight"), R, D,
                    T(cfg.norm_eps));
}

template <class T>
std::vector<T> Model<T>::logits(std::span<const int32_t> tokens, int B, int Tn) {
    ws_->drop_p = 0;
    forward_hidden(tokens, B, Tn, Keep::None);
    const int R = B * Tn, D = cfg.d_model, V = cfg.vocab_size;
    std::vector<T> out(size_t(R) * V);
    linear_forward(out.data(), ws_->xf.data(), head(), R, D, V);
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
        w.dxf.assign(RD, T(0));
    }
    // Label smoothing (training only), as torch's cross_entropy(label_smoothing = ls): per row
    // (1-ls) * CE(target) + ls * mean_v(-log p_v) = lse - (1-ls) z_target - ls * mean_v(z_v).
    const double ls = backward ? double(o.label_smoothing) : 0.0;
    const T* Wh = head();
    T* dWh = backward ? grad(cfg.tie_embeddings ? "embed.weight" : "lm_head.weight") : nullptr;
    w.logits_chunk.resize(size_t(kHeadChunk) * V);
    w.ce_target.resize(kHeadChunk);
    double total = 0;
    // Fused head + cross-entropy, kHeadChunk rows at a time: logits never exist for the whole
    // batch.
    for (int r0 = 0; r0 < R; r0 += kHeadChunk) {
        const int rc = std::min(kHeadChunk, R - r0);
        T* lg = w.logits_chunk.data();
        linear_forward(lg, w.xf.data() + size_t(r0) * D, Wh, rc, D, V);
        // Row r's target, weight and log-prob live at r + 1.
        for (int i = 0; i < rc; i++)
            w.ce_target[size_t(i)] = counted(r0 + i) ? tokens[r0 + i + 1] : -1;
        CrossEntropyOptions ce;
        ce.label_smoothing = ls;
        ce.grad_count = o.grad_of_sum ? 1.0 : double(n);
        ce.backward = backward;
        if (!weights.empty()) ce.weights = weights.data() + r0 + 1;
        if (!logprobs.empty()) ce.logprobs = logprobs.data() + r0 + 1;
        const double chunk_loss = cross_entropy_rows(lg, w.ce_target.data(), rc, V, ce);
        total += chunk_loss;
        if (backward && n > 0)
            linear_backward(w.dxf.data() + size_t(r0) * D, dWh, lg, w.xf.data() + size_t(r0) * D,
                            Wh, rc, D, V);
    }
    res.loss = n > 0 ? (weights.empty() ? total / double(n) : total) : 0.0;
    if (!backward || n == 0) return res;

    const T eps = T(cfg.norm_eps);
    const FfnAct act = cfg.ffn.act == "relu2" ? FfnAct::ReLU2 : FfnAct::SwiGLU;
    const bool dropout = w.drop_p > 0;
    w.dx.assign(RD, T(0));
    w.dn.resize(RD);
    if (dropout) w.dbranch.resize(RD);
    rmsnorm_backward(w.dx.data(), grad("final_norm.weight"), w.dxf.data(), w.x.data(),
                     param("final_norm.weight"), w.rstd_f.data(), R, D);
    for (int l = cfg.n_layers - 1; l >= 0; l--) {
        const std::string p = "layers." + std::to_string(l) + ".";
        // With recomputation the forward left the last layer's activations in slot 0; every
        // other layer is recomputed from its input, with the same arithmetic and dropout masks.
        if (keep == Keep::Inputs && l != cfg.n_layers - 1)
            layer_forward(l, 0, w.x_in[l].data(), nullptr);
        auto& a = w.acts[keep == Keep::All ? l : 0];
        // x_out = x_mid + drop(FFN(n2)), n2 = RMSNorm(x_mid)
        const T* dbranch = w.dx.data();
        if (dropout) {
            dropout_backward(w.dbranch.data(), w.dx.data(), RD, w.drop_p, w.drop_seed, l, 1);
            dbranch = w.dbranch.data();
        }
        std::fill(w.dn.begin(), w.dn.end(), T(0));
        FfnWeights<T> fw = ffn_at<FfnWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
        FfnGrads<T> fg = ffn_at<FfnGrads<T>>(LayerTensors<T*>{layout, grads.data(), p});
        ffn_backward(w.dn.data(), fg, dbranch, a.n2.data(), fw, R, D, cfg.ffn.hidden, act, a.ffn);
        rmsnorm_backward(w.dx.data(), grad(p + "ffn_norm.weight"), w.dn.data(), a.x_mid.data(),
                         param(p + "ffn_norm.weight"), a.rstd2.data(), R, D);
        // x_mid = x_in + drop(Mixer(n1)), n1 = RMSNorm(x_in)
        if (dropout) {
            dropout_backward(w.dbranch.data(), w.dx.data(), RD, w.drop_p, w.drop_seed, l, 0);
            dbranch = w.dbranch.data();
        }
        std::fill(w.dn.begin(), w.dn.end(), T(0));
        if (cfg.mixer_kind(l) == 'M') {
            MambaWeights<T> mw =
                mamba_at<MambaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
            MambaGrads<T> mg = mamba_at<MambaGrads<T>>(LayerTensors<T*>{layout, grads.data(), p});
            mamba_backward(w.dn.data(), mg, dbranch, a.n1.data(), mw, cfg.mamba, w.seq, quantize,
                           eps, *a.mamba);
        } else {
            MlaWeights<T> aw =
                mla_at<MlaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
            MlaGrads<T> ag = mla_at<MlaGrads<T>>(LayerTensors<T*>{layout, grads.data(), p});
            mla_backward(w.dn.data(), ag, dbranch, a.n1.data(), aw, cfg.mla, w.seq, quantize, eps,
                         *a.mla);
        }
        rmsnorm_backward(w.dx.data(), grad(p + "mixer_norm.weight"), w.dn.data(), w.x_in[l].data(),
                         param(p + "mixer_norm.weight"), a.rstd1.data(), R, D);
    }
    embedding_backward(grad("embed.weight"), w.dx.data(), tokens.data(), R, D);
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
    s.x.assign(param("embed.weight") + size_t(token) * D,
               param("embed.weight") + size_t(token + 1) * D);
    s.n.resize(D), s.tmp.resize(D), s.rstd.resize(1);
    for (int l = 0; l < cfg.n_layers; l++) {
        const std::string p = "layers." + std::to_string(l) + ".";
        rmsnorm_forward(s.n.data(), s.rstd.data(), s.x.data(), param(p + "mixer_norm.weight"), 1, D,
                        eps);
        if (cfg.mixer_kind(l) == 'M') {
            MambaWeights<T> mw =
                mamba_at<MambaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
            mamba_step(s.tmp.data(), s.n.data(), mw, cfg.mamba, quantize, eps, doc_start,
                       s.mamba[l]);
        } else {
            MlaWeights<T> aw =
                mla_at<MlaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
            mla_step(s.tmp.data(), s.n.data(), aw, cfg.mla, quantize, eps, s.pos, doc_start,
                     s.mla[l]);
        }
        for (int d = 0; d < D; d++) s.x[d] += s.tmp[d];
        rmsnorm_forward(s.n.data(), s.rstd.data(), s.x.data(), param(p + "ffn_norm.weight"), 1, D,
                        eps);
        FfnWeights<T> fw = ffn_at<FfnWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
        ffn_forward(s.tmp.data(), s.n.data(), fw, 1, D, cfg.ffn.hidden, act, quantize, eps, s.ffn);
        for (int d = 0; d < D; d++) s.x[d] += s.tmp[d];
    }
    rmsnorm_forward(s.n.data(), s.rstd.data(), s.x.data(), param("final_norm.weight"), 1, D, eps);
    linear_forward(out_logits, s.n.data(), head(), 1, D, V);
    s.pos++;
}

template class Model<float>;
template class Model<double>;

}  // namespace np
