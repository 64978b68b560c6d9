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
    struct Layer {
        std::vector<T> x_in, n1, rstd1, x_mid, n2, rstd2;  // [R,D] / [R]
        std::unique_ptr<MambaActs<T>> mamba;
        std::unique_ptr<MlaActs<T>> mla;
        FfnActs<T> ffn;
    };
    SeqLayout seq;
    std::vector<Layer> layers;
    std::vector<T> x, xf, rstd_f;  // [R,D] residual stream, final-normed, [R]
    std::vector<T> dx, dn, dxf;    // [R,D] backward scratch
    std::vector<T> mix_out;        // [R,D]
    std::vector<T> logits_chunk;   // [kHeadChunk, V]
};

template <class T>
Model<T>::Model(const ModelConfig& config)
    : cfg(config),
      layout(make_param_layout(config)),
      params(layout.total, T(0)),
      ws_(std::make_unique<Workspace>()) {
    cfg.validate();
    ws_->layers.resize(cfg.n_layers);
    for (int l = 0; l < cfg.n_layers; l++) {
        if (cfg.mixer_kind(l) == 'M')
            ws_->layers[l].mamba = std::make_unique<MambaActs<T>>();
        else
            ws_->layers[l].mla = std::make_unique<MlaActs<T>>();
    }
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
void Model<T>::forward_hidden(std::span<const int32_t> tokens, int B, int Tn) {
    const int R = B * Tn, D = cfg.d_model, V = cfg.vocab_size;
    if (int64_t(tokens.size()) != int64_t(R)) fail("model: expected B*T token ids");
    Workspace& w = *ws_;
    for (int r = 0; r < R; r++)
        if (tokens[r] < 0 || tokens[r] >= V)
            fail("token id " + std::to_string(tokens[r]) + " at position " + std::to_string(r) +
                 " is outside the vocabulary [0, " + std::to_string(V) + ")");
    w.seq = make_seq_layout(tokens.data(), B, Tn);
    const size_t RD = size_t(R) * D;
    w.x.resize(RD), w.mix_out.resize(RD), w.xf.resize(RD), w.rstd_f.resize(R);
    const T* E = param("embed.weight");
    for (int r = 0; r < R; r++)
        std::memcpy(&w.x[size_t(r) * D], E + size_t(tokens[r]) * D, sizeof(T) * D);
    const T eps = T(cfg.norm_eps);
    const FfnAct act = cfg.ffn.act == "relu2" ? FfnAct::ReLU2 : FfnAct::SwiGLU;
    for (int l = 0; l < cfg.n_layers; l++) {
        auto& L = w.layers[l];
        const std::string p = "layers." + std::to_string(l) + ".";
        L.x_in.assign(w.x.begin(), w.x.end());
        L.n1.resize(RD), L.rstd1.resize(R), L.n2.resize(RD), L.rstd2.resize(R);
        rmsnorm_forward(L.n1.data(), L.rstd1.data(), w.x.data(), param(p + "mixer_norm.weight"), R,
                        D, eps);
        if (L.mamba) {
            MambaWeights<T> mw =
                mamba_at<MambaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
            mamba_forward(w.mix_out.data(), L.n1.data(), mw, cfg.mamba, w.seq, quantize, eps,
                          *L.mamba);
        } else {
            MlaWeights<T> aw =
                mla_at<MlaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
            mla_forward(w.mix_out.data(), L.n1.data(), aw, cfg.mla, w.seq, quantize, eps, *L.mla);
        }
        for (size_t i = 0; i < RD; i++) w.x[i] += w.mix_out[i];
        L.x_mid.assign(w.x.begin(), w.x.end());
        rmsnorm_forward(L.n2.data(), L.rstd2.data(), w.x.data(), param(p + "ffn_norm.weight"), R, D,
                        eps);
        FfnWeights<T> fw = ffn_at<FfnWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
        ffn_forward(w.mix_out.data(), L.n2.data(), fw, R, D, cfg.ffn.hidden, act, quantize, eps,
                    L.ffn);
        for (size_t i = 0; i < RD; i++) w.x[i] += w.mix_out[i];
    }
    rmsnorm_forward(w.xf.data(), w.rstd_f.data(), w.x.data(), param("final_norm.weight"), R, D,
                    eps);
}

template <class T>
std::vector<T> Model<T>::logits(std::span<const int32_t> tokens, int B, int Tn) {
    forward_hidden(tokens, B, Tn);
    const int R = B * Tn, D = cfg.d_model, V = cfg.vocab_size;
    std::vector<T> out(size_t(R) * V);
    linear_forward(out.data(), ws_->xf.data(), head(), R, D, V);
    return out;
}

template <class T>
LossResult Model<T>::loss(std::span<const int32_t> tokens, std::span<const uint8_t> mask, int B,
                          int Tn, bool backward) {
    if (!mask.empty() && mask.size() != tokens.size())
        fail("loss: mask must have the same shape as tokens");
    forward_hidden(tokens, B, Tn);
    Workspace& w = *ws_;
    const int R = B * Tn, D = cfg.d_model, V = cfg.vocab_size;
    const size_t RD = size_t(R) * D;
    // A row r = b*T + t is counted when its target r+1 is in the same row and not masked out.
    auto counted = [&](int r) { return (r % Tn) + 1 < Tn && (mask.empty() || mask[r + 1] != 0); };
    int64_t n = 0;
    for (int r = 0; r < R; r++) n += counted(r);
    LossResult res;
    res.tokens = n;
    if (backward) {
        grads.assign(layout.total, T(0));
        w.dxf.assign(RD, T(0));
    }
    const T* Wh = head();
    T* dWh = backward ? grad(cfg.tie_embeddings ? "embed.weight" : "lm_head.weight") : nullptr;
    w.logits_chunk.resize(size_t(kHeadChunk) * V);
    double total = 0;
    // Fused head + cross-entropy, kHeadChunk rows at a time: logits never exist for the whole
    // batch.
    for (int r0 = 0; r0 < R; r0 += kHeadChunk) {
        const int rc = std::min(kHeadChunk, R - r0);
        T* lg = w.logits_chunk.data();
        linear_forward(lg, w.xf.data() + size_t(r0) * D, Wh, rc, D, V);
        double chunk_loss = 0;
#pragma omp parallel for reduction(+ : chunk_loss) schedule(static)
        for (int i = 0; i < rc; i++) {
            T* row = lg + size_t(i) * V;
            const int r = r0 + i;
            if (!counted(r)) {
                std::fill(row, row + V, T(0));  // no gradient from this row
                continue;
            }
            T mx = row[0];
            for (int v = 1; v < V; v++) mx = std::max(mx, row[v]);
            // exp in the model's precision (shifted by the max, so in [0, 1]); sums in double.
            double sum = 0;
            for (int v = 0; v < V; v++) sum += double(exp_fast(row[v] - mx));
            const int target = tokens[r + 1];
            const double lse = double(mx) + std::log(sum);
            chunk_loss += lse - double(row[target]);
            if (backward) {  // d/dlogits of mean CE: (softmax - onehot) / n
                const T inv = T(1.0 / double(n)), shift = T(lse);
                for (int v = 0; v < V; v++) row[v] = exp_fast(row[v] - shift) * inv;
                row[target] -= inv;
            }
        }
        total += chunk_loss;
        if (backward && n > 0)
            linear_backward(w.dxf.data() + size_t(r0) * D, dWh, lg, w.xf.data() + size_t(r0) * D,
                            Wh, rc, D, V);
    }
    res.loss = n > 0 ? total / double(n) : 0.0;
    if (!backward || n == 0) return res;

    const T eps = T(cfg.norm_eps);
    const FfnAct act = cfg.ffn.act == "relu2" ? FfnAct::ReLU2 : FfnAct::SwiGLU;
    w.dx.assign(RD, T(0));
    w.dn.resize(RD);
    rmsnorm_backward(w.dx.data(), grad("final_norm.weight"), w.dxf.data(), w.x.data(),
                     param("final_norm.weight"), w.rstd_f.data(), R, D);
    for (int l = cfg.n_layers - 1; l >= 0; l--) {
        auto& L = w.layers[l];
        const std::string p = "layers." + std::to_string(l) + ".";
        // x_out = x_mid + FFN(n2), n2 = RMSNorm(x_mid)
        std::fill(w.dn.begin(), w.dn.end(), T(0));
        FfnWeights<T> fw = ffn_at<FfnWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
        FfnGrads<T> fg = ffn_at<FfnGrads<T>>(LayerTensors<T*>{layout, grads.data(), p});
        ffn_backward(w.dn.data(), fg, w.dx.data(), L.n2.data(), fw, R, D, cfg.ffn.hidden, act,
                     L.ffn);
        rmsnorm_backward(w.dx.data(), grad(p + "ffn_norm.weight"), w.dn.data(), L.x_mid.data(),
                         param(p + "ffn_norm.weight"), L.rstd2.data(), R, D);
        // x_mid = x_in + Mixer(n1), n1 = RMSNorm(x_in)
        std::fill(w.dn.begin(), w.dn.end(), T(0));
        if (L.mamba) {
            MambaWeights<T> mw =
                mamba_at<MambaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
            MambaGrads<T> mg = mamba_at<MambaGrads<T>>(LayerTensors<T*>{layout, grads.data(), p});
            mamba_backward(w.dn.data(), mg, w.dx.data(), L.n1.data(), mw, cfg.mamba, w.seq,
                           quantize, eps, *L.mamba);
        } else {
            MlaWeights<T> aw =
                mla_at<MlaWeights<T>>(LayerTensors<const T*>{layout, params.data(), p});
            MlaGrads<T> ag = mla_at<MlaGrads<T>>(LayerTensors<T*>{layout, grads.data(), p});
            mla_backward(w.dn.data(), ag, w.dx.data(), L.n1.data(), aw, cfg.mla, w.seq, quantize,
                         eps, *L.mla);
        }
        rmsnorm_backward(w.dx.data(), grad(p + "mixer_norm.weight"), w.dn.data(), L.x_in.data(),
                         param(p + "mixer_norm.weight"), L.rstd1.data(), R, D);
    }
    T* dE = grad("embed.weight");
    for (int r = 0; r < R; r++) {
        T* row = dE + size_t(tokens[r]) * D;
        const T* g = w.dx.data() + size_t(r) * D;
        for (int d = 0; d < D; d++) row[d] += g[d];
    }
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
