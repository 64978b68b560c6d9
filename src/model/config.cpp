#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "core/checked.h"
#include "core/error.h"
#include "core/file_io.h"

namespace np {

namespace {

using json = nlohmann::json;

// Strict object reader: every key must be known and present, with the expected JSON type.
struct StrictObject {
    const json& j;
    std::string where;

    // Unknown keys are reported before missing ones: a misspelt key is the likelier mistake.
    StrictObject(const json& obj, std::string w, std::initializer_list<const char*> known)
        : j(obj), where(std::move(w)) {
        if (!j.is_object()) fail(where + ": expected a JSON object");
        std::set<std::string> k(known.begin(), known.end());
        for (auto it = j.begin(); it != j.end(); ++it)
            if (!k.count(it.key())) fail(where + ": unknown field \"" + it.key() + "\"");
    }
    const json& field(const std::string& key) {
        if (!j.contains(key)) fail(where + ": missing field \"" + key + "\"");
        return j.at(key);
    }
    int get_int(const std::string& key) {
        const json& v = field(key);
        if (!v.is_number_integer()) fail(where + ": field \"" + key + "\" must be an integer");
        long long x = v.get<long long>();
        if (x <= 0 || x > kMaxDim)
            fail(where + ": field \"" + key + "\" must be a positive integer up to " +
                 std::to_string(kMaxDim) + ", got " + v.dump());
        return int(x);
    }
    double get_number(const std::string& key) {
        const json& v = field(key);
        if (!v.is_number()) fail(where + ": field \"" + key + "\" must be a number");
        return v.get<double>();
    }
    bool get_bool(const std::string& key) {
        const json& v = field(key);
        if (!v.is_boolean()) fail(where + ": field \"" + key + "\" must be true or false");
        return v.get<bool>();
    }
    std::string get_string(const std::string& key) {
        const json& v = field(key);
        if (!v.is_string()) fail(where + ": field \"" + key + "\" must be a string");
        return v.get<std::string>();
    }
};

void require(bool ok, const std::string& msg) {
    if (!ok) fail(msg);
}

// Every size of the model in 64-bit arithmetic with overflow checks: a config is data, and its
// dimensions (each up to kMaxDim) multiply into sizes that wrap int and can wrap int64 too.
struct Sizes {
    int64_t d_inner = 0, mamba_heads = 0, conv_dim = 0, in_proj = 0;
    int64_t q_dim = 0, kv_down = 0, kv_up = 0, o_dim = 0;
    std::optional<int64_t> params;  // nullopt: more than int64 holds
};

Sizes sizes_of(const ModelConfig& c) {
    Sizes s;
    const MambaDims& m = c.mamba;
    const MlaDims& a = c.mla;
    // Only called once every field is in [1, kMaxDim] (validate() checks that first), so these
    // sums and products of two fit int64.
    s.d_inner = int64_t(m.expand) * c.d_model;
    s.mamba_heads = s.d_inner / m.head_dim;
    s.conv_dim = s.d_inner + 2 * int64_t(m.n_groups) * m.d_state;
    s.in_proj = s.d_inner + s.conv_dim + s.mamba_heads;
    s.q_dim = int64_t(a.n_heads) * (int64_t(a.qk_nope_dim) + a.qk_rope_dim);
    s.kv_down = int64_t(a.kv_rank) + a.qk_rope_dim;
    s.kv_up = int64_t(a.n_heads) * (int64_t(a.qk_nope_dim) + a.v_dim);
    s.o_dim = int64_t(a.n_heads) * a.v_dim;

    // The parameter count, tensor by tensor as make_param_layout lays them out.
    const int64_t D = c.d_model, V = c.vocab_size, F = c.ffn.hidden;
    std::optional<int64_t> total = 0;
    auto add = [&](int64_t x, int64_t y = 1, int64_t z = 1) {
        if (!total) return;
        const auto xy = mul_checked(x, y);
        const auto xyz = xy ? mul_checked(*xy, z) : std::nullopt;
        total = xyz ? add_checked(*total, *xyz) : std::nullopt;
    };
    // Layer i is a Mamba layer when layer_pattern[i % length] is 'M'.
    const int64_t L = std::max(c.n_layers, 0), P = int64_t(c.layer_pattern.size());
    int64_t n_mamba = 0;
    for (int64_t i = 0; i < P; i++)
        if (c.layer_pattern[size_t(i)] == 'M') n_mamba += L / P + (i < L % P ? 1 : 0);
    const int64_t n_mla = c.n_layers - n_mamba;
    add(V, D);                                        // embed.weight
    add(c.n_layers, 2 * D);                           // mixer_norm, ffn_norm
    add(c.n_layers, 3 * F, D);                        // ffn gate, up, down
    add(c.n_layers, F);                               // ffn down_norm
    add(n_mamba, s.in_proj, D);                       // in_proj
    add(n_mamba, s.conv_dim, int64_t(m.d_conv) + 1);  // conv1d weight and bias
    add(n_mamba, 3 * s.mamba_heads);                  // dt_bias, A_log, D
    add(n_mamba, s.d_inner, D + 1);                   // norm, out_proj
    add(n_mla, s.q_dim + s.kv_down, D);               // q_proj, kv_down
    add(n_mla, s.kv_up + 1, a.kv_rank);               // kv_up, kv_norm
    add(n_mla, s.o_dim, D + 1);                       // o_proj, o_norm
    add(D);                                           // final_norm
    if (!c.tie_embeddings) add(V, D);                 // lm_head
    s.params = total;
    return s;
}

}  // namespace

void ModelConfig::validate() const {
    const std::string w = "config";
    require(architecture == "nanoprime",
            w + ": architecture must be \"nanoprime\", got \"" + architecture + "\"");
    // Sizes first: the int accessors (d_inner(), q_dim(), ...) that the checks below and all
    // users of a config call are only safe once every size they combine is known to fit.
    auto in_range = [&](const std::string& name, int64_t v, int64_t lo, int64_t hi) {
        require(v >= lo && v <= hi, w + ": " + name + " = " + std::to_string(v) + " must be in [" +
                                        std::to_string(lo) + ", " + std::to_string(hi) + "]");
    };
    in_range("vocab_size", vocab_size, 6, kMaxVocabSize);  // 6: the special tokens
    in_range("d_model", d_model, 1, kMaxDim);
    in_range("n_layers", n_layers, 1, kMaxLayers);
    in_range("max_seq_len", max_seq_len, 1, kMaxDim);
    in_range("ffn.hidden", ffn.hidden, 1, kMaxDim);
    in_range("mamba.expand", mamba.expand, 1, kMaxDim);
    in_range("mamba.head_dim", mamba.head_dim, 1, kMaxDim);
    in_range("mamba.d_state", mamba.d_state, 1, kMaxDim);
    in_range("mamba.n_groups", mamba.n_groups, 1, kMaxDim);
    in_range("mamba.d_conv", mamba.d_conv, 1, kMaxDim);
    in_range("mla.n_heads", mla.n_heads, 1, kMaxDim);
    in_range("mla.qk_nope_dim", mla.qk_nope_dim, 1, kMaxDim);
    in_range("mla.qk_rope_dim", mla.qk_rope_dim, 1, kMaxDim);
    in_range("mla.v_dim", mla.v_dim, 1, kMaxDim);
    in_range("mla.kv_rank", mla.kv_rank, 1, kMaxDim);
    require(mamba.d_model == d_model && mla.d_model == d_model,
            w + ": internal: mixer d_model mismatch");
    require(!layer_pattern.empty(), w + ": layer_pattern must not be empty");
    for (char c : layer_pattern)
        require(c == 'M' || c == 'A',
                w + ": layer_pattern may only hold 'M' (Mamba-2) and 'A' (MLA), got '" +
                    std::string(1, c) + "'");
    const Sizes s = sizes_of(*this);
    in_range("mamba: d_inner = expand*d_model", s.d_inner, 1, kMaxDim);
    require(s.d_inner % mamba.head_dim == 0,
            w + ": mamba: d_inner = expand*d_model = " + std::to_string(s.d_inner) +
                " must be divisible by mamba.head_dim = " + std::to_string(mamba.head_dim));
    require(s.mamba_heads % mamba.n_groups == 0,
            w + ": mamba: number of heads " + std::to_string(s.mamba_heads) +
                " must be divisible by mamba.n_groups = " + std::to_string(mamba.n_groups));
    in_range("mamba: conv width d_inner + 2*n_groups*d_state", s.conv_dim, 1, kMaxDim);
    in_range("mamba: in_proj rows", s.in_proj, 1, kMaxDim);
    in_range("mla: q_dim = n_heads*(qk_nope_dim + qk_rope_dim)", s.q_dim, 1, kMaxDim);
    in_range("mla: kv_rank + qk_rope_dim", s.kv_down, 1, kMaxDim);
    in_range("mla: n_heads*(qk_nope_dim + v_dim)", s.kv_up, 1, kMaxDim);
    in_range("mla: n_heads*v_dim", s.o_dim, 1, kMaxDim);
    require(s.params && *s.params <= kMaxParams,
            w + ": the model has " +
                (s.params ? std::to_string(*s.params) : std::string("more than 2^63")) +
                " parameters, more than the limit " + std::to_string(kMaxParams));
    require(norm_eps > 0 && std::isfinite(norm_eps), w + ": norm_eps must be positive and finite");
    require(ffn.act == "swiglu" || ffn.act == "relu2",
            w + ": ffn.act must be \"swiglu\" or \"relu2\", got \"" + ffn.act + "\"");
    require(mla.qk_rope_dim % 2 == 0, w + ": mla.qk_rope_dim must be even (RoPE rotates pairs)");
    require(mla.rope_theta > 0 && std::isfinite(mla.rope_theta),
            w + ": mla.rope_theta must be positive and finite");
}

int64_t ModelConfig::n_params() const {
    validate();  // sizes_of() needs the field ranges; the count is then at most kMaxParams
    return *sizes_of(*this).params;
}

nlohmann::json ModelConfig::to_json() const {
    json j;
    j["architecture"] = architecture;
    j["vocab_size"] = vocab_size;
    j["d_model"] = d_model;
    j["n_layers"] = n_layers;
    j["layer_pattern"] = layer_pattern;
    j["tie_embeddings"] = tie_embeddings;
    j["norm_eps"] = norm_eps;
    j["max_seq_len"] = max_seq_len;
    j["ffn"] = {{"act", ffn.act}, {"hidden", ffn.hidden}};
    j["mamba"] = {{"expand", mamba.expand},
                  {"head_dim", mamba.head_dim},
                  {"d_state", mamba.d_state},
                  {"n_groups", mamba.n_groups},
                  {"d_conv", mamba.d_conv}};
    j["mla"] = {{"n_heads", mla.n_heads},         {"qk_nope_dim", mla.qk_nope_dim},
                {"qk_rope_dim", mla.qk_rope_dim}, {"v_dim", mla.v_dim},
                {"kv_rank", mla.kv_rank},         {"rope_theta", mla.rope_theta}};
    return j;
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j, const std::string& where) {
    ModelConfig c;
    StrictObject o(j, where,
                   {"architecture", "vocab_size", "d_model", "n_layers", "layer_pattern",
                    "tie_embeddings", "norm_eps", "max_seq_len", "ffn", "mamba", "mla"});
    c.architecture = o.get_string("architecture");
    c.vocab_size = o.get_int("vocab_size");
    c.d_model = o.get_int("d_model");
    c.n_layers = o.get_int("n_layers");
    c.layer_pattern = o.get_string("layer_pattern");
    c.tie_embeddings = o.get_bool("tie_embeddings");
    c.norm_eps = o.get_number("norm_eps");
    c.max_seq_len = o.get_int("max_seq_len");
    {
        StrictObject f(o.field("ffn"), where + ": ffn", {"act", "hidden"});
        c.ffn.act = f.get_string("act");
        c.ffn.hidden = f.get_int("hidden");
    }
    {
        StrictObject m(o.field("mamba"), where + ": mamba",
                       {"expand", "head_dim", "d_state", "n_groups", "d_conv"});
        c.mamba.expand = m.get_int("expand");
        c.mamba.head_dim = m.get_int("head_dim");
        c.mamba.d_state = m.get_int("d_state");
        c.mamba.n_groups = m.get_int("n_groups");
        c.mamba.d_conv = m.get_int("d_conv");
    }
    {
        StrictObject a(o.field("mla"), where + ": mla",
                       {"n_heads", "qk_nope_dim", "qk_rope_dim", "v_dim", "kv_rank", "rope_theta"});
        c.mla.n_heads = a.get_int("n_heads");
        c.mla.qk_nope_dim = a.get_int("qk_nope_dim");
        c.mla.qk_rope_dim = a.get_int("qk_rope_dim");
        c.mla.v_dim = a.get_int("v_dim");
        c.mla.kv_rank = a.get_int("kv_rank");
        c.mla.rope_theta = a.get_number("rope_theta");
    }
    c.mamba.d_model = c.mla.d_model = c.d_model;
    try {
        c.validate();
    } catch (const Error& e) {
        fail(where + ": " + e.what());
    }
    return c;
}

ModelConfig ModelConfig::load(const std::string& path) {
    std::string text = read_file(path);
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        fail(path + ": invalid JSON: " + e.what());
    }
    return from_json(j, path);
}

void ModelConfig::save(const std::string& path) const {
    write_file_atomic(path, to_json().dump(2) + "\n");
}

ModelConfig ModelConfig::from_preset_or_file(const std::string& preset, const std::string& file,
                                             const std::string& command) {
    if (preset.empty() == file.empty())
        fail(command + ": give exactly one of --preset NAME or --config FILE");
    return preset.empty() ? load(file) : ModelConfig::preset(preset);
}

std::vector<std::string> ModelConfig::preset_names() {
    return {"nano", "small", "elleci-1.5b"};
}

ModelConfig ModelConfig::preset(const std::string& name) {
    ModelConfig c;
    if (name == "nano") {
        c.vocab_size = 4096, c.d_model = 256, c.n_layers = 8, c.max_seq_len = 512;
        c.mamba = {0, 2, 64, 32, 1, 4};
        c.mla = {0, 4, 48, 16, 64, 64, 1e4};
        c.ffn.hidden = 768;
    } else if (name == "small") {
        c.vocab_size = 32128, c.d_model = 768, c.n_layers = 12, c.max_seq_len = 2048;
        c.mamba = {0, 2, 64, 64, 1, 4};
        c.mla = {0, 12, 64, 32, 64, 128, 1e5};
        c.ffn.hidden = 2048;
    } else if (name == "elleci-1.5b") {
        c.vocab_size = 32128, c.d_model = 2048, c.n_layers = 24, c.max_seq_len = 4096;
        c.tie_embeddings = false;
        c.mamba = {0, 2, 64, 128, 1, 4};
        c.mla = {0, 16, 128, 64, 128, 256, 1e5};
        c.ffn.hidden = 5632;
    } else {
        std::string names;
        for (auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
        fail("unknown preset \"" + name + "\" (expected one of: " + names + ")");
    }
    c.mamba.d_model = c.mla.d_model = c.d_model;
    c.validate();
    return c;
}

}  // namespace np
