#include "model/params.h"

#include <cmath>

#include "core/error.h"

namespace np {

const ParamSpec* ParamLayout::try_find(const std::string& name) const {
    for (const auto& s : specs)
        if (s.name == name) return &s;
    return nullptr;
}

const ParamSpec& ParamLayout::find(const std::string& name) const {
    const ParamSpec* s = try_find(name);
    if (!s) fail("no parameter named \"" + name + "\" in this model");
    return *s;
}

ParamLayout make_param_layout(const ModelConfig& c) {
    ParamLayout L;
    auto add = [&](const std::string& name, std::vector<int64_t> shape, bool ternary, int layer) {
        ParamSpec s;
        s.name = name;
        s.shape = std::move(shape);
        s.numel = 1;
        for (auto d : s.shape) s.numel *= d;
        s.offset = L.total;
        s.ternary = ternary;
        s.matrix = s.shape.size() == 2 && s.shape[1] > 1;  // conv1d [C,K] counts as a matrix too
        s.layer = layer;
        L.total += size_t(s.numel);
        L.specs.push_back(std::move(s));
    };
    const int64_t D = c.d_model, V = c.vocab_size, F = c.ffn.hidden;
    add("embed.weight", {V, D}, false, -1);
    for (int i = 0; i < c.n_layers; i++) {
        const std::string p = "layers." + std::to_string(i) + ".";
        add(p + "mixer_norm.weight", {D}, false, i);
        if (c.mixer_kind(i) == 'M') {
            const MambaDims& m = c.mamba;
            const int64_t H = m.n_heads(), C = m.conv_dim();
            add(p + "mamba.in_proj.weight", {m.in_proj_dim(), D}, true, i);
            add(p + "mamba.conv1d.weight", {C, m.d_conv}, false, i);
            add(p + "mamba.conv1d.bias", {C}, false, i);
            add(p + "mamba.dt_bias", {H}, false, i);
            add(p + "mamba.A_log", {H}, false, i);
            add(p + "mamba.D", {H}, false, i);
            add(p + "mamba.norm.weight", {m.d_inner()}, false, i);
            add(p + "mamba.out_proj.weight", {D, m.d_inner()}, true, i);
        } else {
            const MlaDims& a = c.mla;
            add(p + "mla.q_proj.weight", {a.q_dim(), D}, true, i);
            add(p + "mla.kv_down.weight", {a.kv_down_dim(), D}, true, i);
            add(p + "mla.kv_norm.weight", {a.kv_rank}, false, i);
            add(p + "mla.kv_up.weight", {a.kv_up_dim(), a.kv_rank}, true, i);
            add(p + "mla.o_norm.weight", {a.o_dim()}, false, i);
            add(p + "mla.o_proj.weight", {D, a.o_dim()}, true, i);
        }
        add(p + "ffn_norm.weight", {D}, false, i);
        add(p + "ffn.gate.weight", {F, D}, true, i);
        add(p + "ffn.up.weight", {F, D}, true, i);
        add(p + "ffn.down_norm.weight", {F}, false, i);
        add(p + "ffn.down.weight", {D, F}, true, i);
    }
    add("final_norm.weight", {D}, false, -1);
    if (!c.tie_embeddings) add("lm_head.weight", {V, D}, false, -1);
    return L;
}

ParamCounts count_params(const ModelConfig& c) {
    ParamCounts n;
    for (const auto& s : make_param_layout(c).specs) {
        n.total += s.numel;
        (s.ternary ? n.ternary : n.full_precision) += s.numel;
        if (s.name == "embed.weight")
            n.embedding += s.numel;
        else if (s.name == "lm_head.weight")
            n.head += s.numel;
        else if (s.name.find(".mamba.") != std::string::npos)
            n.mamba += s.numel;
        else if (s.name.find(".mla.") != std::string::npos)
            n.mla += s.numel;
        else if (s.name.find(".ffn.") != std::string::npos)
            n.ffn += s.numel;
        else
            n.norms += s.numel;  // mixer_norm, ffn_norm, final_norm
    }
    return n;
}

const ParamSpec* find_non_finite(const ParamLayout& layout, std::span<const float> params) {
    for (const ParamSpec& s : layout.specs) {
        bool bad = false;
        for (float x : params.subspan(s.offset, size_t(s.numel))) bad |= !std::isfinite(x);
        if (bad) return &s;
    }
    return nullptr;
}

}  // namespace np
