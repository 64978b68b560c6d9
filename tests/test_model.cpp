#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "cpu_backend.h"
#include "gradcheck.h"
#include "model/checkpoint.h"
#include "model/ffn.h"
#include "model/model.h"
#include "model/params.h"
#include "tiny_model.h"

using namespace np;
using namespace np::test;

TEST(Ffn, BackwardMatchesFiniteDifferences) {
    for (FfnAct act : {FfnAct::SwiGLU, FfnAct::ReLU2}) {
        std::mt19937 rng(7);
        const int R = 4, D = 6, F = 10;
        auto h = random_vec(R * D, rng), gate = random_vec(F * D, rng), up = random_vec(F * D, rng),
             dn = random_vec(F, rng), down = random_vec(D * F, rng), probe = random_vec(R * D, rng);
        FfnActs<double> acts;
        auto loss = [&] {
            std::vector<double> out(R * D);
            FfnWeights<double> w{gate.data(), up.data(), dn.data(), down.data()};
            ffn_forward(test::cpu<double>(), out.data(), h.data(), w, R, D, F, act, false, 1e-6,
                        acts);
            return dot(out, probe);
        };
        loss();
        std::vector<double> dh(R * D, 0), dg(F * D, 0), du(F * D, 0), ddn(F, 0), dd(D * F, 0);
        FfnGrads<double> g{dg.data(), du.data(), ddn.data(), dd.data()};
        FfnWeights<double> w{gate.data(), up.data(), dn.data(), down.data()};
        ffn_backward(test::cpu<double>(), dh.data(), g, probe.data(), h.data(), w, R, D, F, act,
                     acts);
        EXPECT_LT(max_rel_err(dh, numeric_grad(h, loss)), 1e-6);
        EXPECT_LT(max_rel_err(dg, numeric_grad(gate, loss)), 1e-6);
        EXPECT_LT(max_rel_err(du, numeric_grad(up, loss)), 1e-6);
        EXPECT_LT(max_rel_err(ddn, numeric_grad(dn, loss)), 1e-6);
        EXPECT_LT(max_rel_err(dd, numeric_grad(down, loss)), 1e-6);
    }
}

// Whole model, double precision, quantisers off: every parameter tensor's gradient (a sample of
// entries per tensor) against central differences; two documents per row, a loss mask.
TEST(Model, GradientMatchesFiniteDifferences) {
    struct Case {
        const char* pattern;
        const char* act;
        bool tied;
    };
    for (Case c :
         {Case{"MA", "swiglu", true}, Case{"AM", "relu2", false}, Case{"MMA", "relu2", true}}) {
        SCOPED_TRACE(std::string(c.pattern) + " " + c.act + (c.tied ? " tied" : " untied"));
        Model<double> m(tiny_config(c.pattern, c.act, c.tied));
        m.quantize = false;
        m.init_random(11);
        // Larger weights than the init so every path carries signal the difference can see.
        std::mt19937 rng(5);
        std::normal_distribution<double> nd(0, 0.3);
        for (const ParamSpec& s : m.layout.specs)
            if (s.matrix && s.name.find("conv1d") == std::string::npos)
                for (int64_t i = 0; i < s.numel; i++) m.params[s.offset + i] = nd(rng);
        const int B = 2, T = 10;
        auto tokens = tiny_tokens(B, T, m.cfg.vocab_size, 3);
        std::vector<uint8_t> mask(tokens.size(), 1);
        mask[3] = 0;
        m.loss(tokens, mask, B, T, true);
        std::vector<double> analytic = m.grads;
        std::mt19937 pick(9);
        for (const ParamSpec& s : m.layout.specs) {
            std::vector<double> a, n;
            for (int k = 0; k < std::min<int64_t>(s.numel, 12); k++) {
                size_t i = s.offset + size_t(pick() % s.numel);
                double keep = m.params[i], eps = 1e-5;
                m.params[i] = keep + eps;
                double lp = m.loss(tokens, mask, B, T, false).loss;
                m.params[i] = keep - eps;
                double lm = m.loss(tokens, mask, B, T, false).loss;
                m.params[i] = keep;
                a.push_back(analytic[i]);
                n.push_back((lp - lm) / (2 * eps));
            }
            EXPECT_LT(max_rel_err(a, n), 1e-5) << s.name;
        }
    }
}

// Backward adds into the parameter gradients (no op may overwrite them): two backwards give the
// sum of their gradients, and grad_of_sum scales the mean's gradient by the target count.
TEST(Model, BackwardAccumulatesIntoGrads) {
    for (const char* pattern : {"MA", "AM"}) {
        SCOPED_TRACE(pattern);
        Model<double> m(tiny_config(pattern, "swiglu", pattern[0] == 'M'));
        m.init_random(4);
        const int B = 2, T = 9;
        const auto a = tiny_tokens(B, T, m.cfg.vocab_size, 5);
        const auto b = tiny_tokens(B, T, m.cfg.vocab_size, 6);
        m.zero_grad();
        const int64_t na = m.loss(a, {}, B, T, true).tokens;
        const std::vector<double> ga = m.grads;
        m.zero_grad();
        m.loss(b, {}, B, T, true);
        const std::vector<double> gb = m.grads;
        m.zero_grad();
        m.loss(a, {}, B, T, true);
        m.loss(b, {}, B, T, true);
        double worst = 0, scale = 0;
        for (size_t i = 0; i < ga.size(); i++) {
            worst = std::max(worst, std::abs(m.grads[i] - (ga[i] + gb[i])));
            scale = std::max(scale, std::abs(ga[i] + gb[i]));
        }
        EXPECT_GT(scale, 1e-3);
        EXPECT_LT(worst, 1e-12 * scale);
        m.zero_grad();
        m.train_opts.grad_of_sum = true;
        m.loss(a, {}, B, T, true);
        worst = 0;
        for (size_t i = 0; i < ga.size(); i++)
            worst = std::max(worst, std::abs(m.grads[i] - double(na) * ga[i]));
        EXPECT_LT(worst, 1e-12 * scale * double(na));
    }
}

TEST(Model, DecodeMatchesFullForward) {
    for (bool quant : {false, true}) {
        Model<float> m(tiny_config("MMAMA", "swiglu", true));
        m.quantize = quant;
        m.init_random(2);
        const int T = 20;
        auto tokens = tiny_tokens(1, T, m.cfg.vocab_size, 8);
        std::vector<float> full = m.logits(tokens, 1, T);
        auto st = m.new_decode_state();
        std::vector<float> step(m.cfg.vocab_size);
        double worst = 0;
        for (int t = 0; t < T; t++) {
            m.decode_step(*st, tokens[t], step.data());
            for (int v = 0; v < m.cfg.vocab_size; v++)
                worst = std::max(
                    worst, double(std::fabs(step[v] - full[size_t(t) * m.cfg.vocab_size + v])));
        }
        EXPECT_LT(worst, 1e-4) << "quantize=" << quant;
    }
}

TEST(Model, DocumentsDoNotSeeEachOther) {
    Model<float> m(tiny_config("MAMA", "swiglu", false));
    m.init_random(4);
    const int T = 12, V = m.cfg.vocab_size;
    auto a = tiny_tokens(1, T, V, 1);
    auto b = a;
    // The second document starts at the 0 in the middle; change only the first document.
    int boundary = 0;
    for (int t = 1; t < T; t++)
        if (a[t] == 0) boundary = t;
    ASSERT_GT(boundary, 1);
    for (int t = 0; t < boundary; t++) b[t] = 1 + (a[t] % (V - 1));
    auto la = m.logits(a, 1, T), lb = m.logits(b, 1, T);
    for (int t = boundary; t < T; t++)
        for (int v = 0; v < V; v++) EXPECT_FLOAT_EQ(la[t * V + v], lb[t * V + v]) << "t=" << t;
    // And a whole row equals the same document run on its own.
    std::vector<int32_t> second(a.begin() + boundary, a.end());
    auto ls = m.logits(second, 1, int(second.size()));
    for (size_t t = 0; t < second.size(); t++)
        for (int v = 0; v < V; v++) EXPECT_NEAR(la[(boundary + t) * V + v], ls[t * V + v], 1e-5);
}

TEST(Model, LossIsMaskedMeanCrossEntropy) {
    Model<double> m(tiny_config("MA", "swiglu", true));
    m.init_random(6);
    const int B = 2, T = 7, V = m.cfg.vocab_size;
    auto tokens = tiny_tokens(B, T, V, 2);
    std::vector<uint8_t> mask(tokens.size(), 1);
    mask[2] = mask[9] = 0;
    auto lg = m.logits(tokens, B, T);
    double sum = 0;
    int n = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t + 1 < T; t++) {
            int r = b * T + t;
            if (!mask[r + 1]) continue;
            double mx = -1e30, s = 0;
            for (int v = 0; v < V; v++) mx = std::max(mx, lg[r * V + v]);
            for (int v = 0; v < V; v++) s += std::exp(lg[r * V + v] - mx);
            sum += mx + std::log(s) - lg[r * V + tokens[r + 1]];
            n++;
        }
    LossResult res = m.loss(tokens, mask, B, T, false);
    EXPECT_EQ(res.tokens, n);
    EXPECT_NEAR(res.loss, sum / n, 1e-12);
    EXPECT_NEAR(res.loss, std::log(double(V)), 0.5);  // random init: close to uniform
}

TEST(Model, RejectsTokensOutsideVocabulary) {
    Model<float> m(tiny_config("MA", "swiglu", true));
    std::vector<int32_t> t = {1, 2, 99};
    EXPECT_THROW(m.loss(t, {}, 1, 3, false), Error);
}

TEST(Checkpoint, SaveLoadIsBitExact) {
    namespace fs = std::filesystem;
    Model<float> m(tiny_config("MMA", "relu2", false));
    m.init_random(77);
    fs::path dir = fs::temp_directory_path() / "np_test_ckpt";
    fs::remove_all(dir);
    save_checkpoint(dir.string(), m);
    Model<float> r = load_checkpoint(dir.string());
    ASSERT_EQ(r.params.size(), m.params.size());
    EXPECT_EQ(0, std::memcmp(r.params.data(), m.params.data(), m.params.size() * sizeof(float)));
    EXPECT_EQ(r.cfg.to_json(), m.cfg.to_json());
    save_checkpoint(dir.string(), r);  // replacing an existing checkpoint works
    EXPECT_TRUE(fs::exists(dir / "model.safetensors"));
    for (auto& e : fs::directory_iterator(dir.parent_path()))
        EXPECT_EQ(e.path().filename().string().find("np_test_ckpt.tmp"), std::string::npos)
            << "left a temp dir";
    fs::remove_all(dir);
}

TEST(Config, PresetsMatchDesign) {
    ModelConfig n = ModelConfig::preset("nano");
    EXPECT_EQ(n.d_model, 256);
    EXPECT_EQ(n.mamba.n_heads(), 8);
    EXPECT_EQ(n.mamba.in_proj_dim(), 512 + 512 + 64 + 8);
    ModelConfig e = ModelConfig::preset("elleci-1.5b");
    EXPECT_FALSE(e.tie_embeddings);
    ParamCounts pc = count_params(e);
    EXPECT_GT(pc.total, 1.3e9);
    EXPECT_LT(pc.total, 1.7e9);
    EXPECT_THROW(ModelConfig::preset("huge"), Error);
    for (auto& name : ModelConfig::preset_names()) {
        ModelConfig c = ModelConfig::preset(name);
        EXPECT_EQ(ModelConfig::from_json(c.to_json()).to_json(), c.to_json());
    }
}

static std::string config_error(nlohmann::json j) {
    try {
        ModelConfig::from_json(j, "cfg.json");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(Config, ClearErrors) {
    nlohmann::json good = ModelConfig::preset("nano").to_json();
    auto j = good;
    j["d_modle"] = 3;
    EXPECT_NE(config_error(j).find("unknown field \"d_modle\""), std::string::npos);
    j = good;
    j["d_model"] = "256";
    EXPECT_NE(config_error(j).find("\"d_model\" must be an integer"), std::string::npos);
    j = good;
    j["mamba"]["head_dim"] = 60;
    EXPECT_NE(config_error(j).find("divisible by mamba.head_dim"), std::string::npos);
    j = good;
    j["mla"].erase("kv_rank");
    EXPECT_NE(config_error(j).find("missing field \"kv_rank\""), std::string::npos);
    j = good;
    j["layer_pattern"] = "MXA";
    EXPECT_NE(config_error(j).find("layer_pattern"), std::string::npos);
    EXPECT_NE(config_error(j).find("cfg.json"), std::string::npos);
    EXPECT_EQ(config_error(good), "");
}

// Sizes in a config are file data. Derived sizes used to be computed in int and wrap: d_model 2^30
// made expand*d_model negative, and the config was accepted (a checkpoint initialised from it,
// exit 0); n_heads*(qk_nope_dim + qk_rope_dim) overflowed the same way. Counts had no limit:
// n_layers 2^30 built a parameter table of 2^30 layers.
TEST(Config, SizesAreCheckedAgainstLimits) {
    const nlohmann::json good = ModelConfig::preset("nano").to_json();
    auto error_with = [&](const std::function<void(nlohmann::json&)>& edit) {
        nlohmann::json j = good;
        edit(j);
        return config_error(j);
    };
    std::string m = error_with([](auto& j) { j["d_model"] = 1 << 30; });
    EXPECT_NE(m.find("cfg.json: config: mamba: d_inner = expand*d_model = 2147483648 must be in"),
              std::string::npos)
        << m;
    m = error_with([](auto& j) { j["n_layers"] = 1 << 30; });
    EXPECT_NE(m.find("n_layers = 1073741824 must be in [1, 4096]"), std::string::npos) << m;
    m = error_with([](auto& j) {
        j["mla"]["n_heads"] = 1 << 30;
        j["mla"]["qk_nope_dim"] = 1 << 30;
    });
    EXPECT_NE(m.find("mla: q_dim"), std::string::npos) << m;
    m = error_with([](auto& j) { j["vocab_size"] = 1 << 30; });
    EXPECT_NE(m.find("vocab_size = 1073741824 must be in [6, 2097152]"), std::string::npos) << m;
    m = error_with([](auto& j) { j["d_model"] = 1 << 24; });  // every size fits, the total not
    EXPECT_NE(m.find("parameters, more than the limit"), std::string::npos) << m;
    m = error_with([](auto& j) { j["d_model"] = 2147483648ll; });
    EXPECT_NE(m.find("\"d_model\" must be a positive integer up to 1073741824"), std::string::npos)
        << m;
    m = error_with([](auto& j) { j["norm_eps"] = 1e308 * 10; });
    EXPECT_NE(m.find("norm_eps must be positive and finite"), std::string::npos) << m;

    // Configs made in code are held to the same rules: a zero head_dim is an error, not SIGFPE.
    ModelConfig c = ModelConfig::preset("nano");
    c.mamba.head_dim = 0;
    EXPECT_THROW(c.validate(), Error);
    c = ModelConfig::preset("nano");
    c.mla.n_heads = 1 << 20;
    c.mla.v_dim = 1 << 12;
    EXPECT_THROW(c.validate(), Error);

    // A JSON number too large for a double is an np::Error naming the file.
    namespace fs = std::filesystem;
    const fs::path p = fs::temp_directory_path() / "np_test_cfg_1e999.json";
    std::string text = good.dump();
    text.replace(text.find("\"norm_eps\":") + 11, 0, "1e999,\"x\":");
    write_file_atomic(p.string(), text);
    try {
        ModelConfig::load(p.string());
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
    }
    fs::remove(p);
}

TEST(Config, ParameterCountMatchesTheLayout) {
    std::vector<ModelConfig> configs;
    for (const auto& name : ModelConfig::preset_names())
        configs.push_back(ModelConfig::preset(name));
    for (const char* pattern : {"M", "A", "MA", "AMM", "MMMA"})
        for (bool tied : {true, false}) {
            ModelConfig c = tiny_config(pattern, "swiglu", tied);
            c.n_layers = 7;  // not a multiple of every pattern length
            configs.push_back(c);
        }
    for (const ModelConfig& c : configs) {
        SCOPED_TRACE(c.to_json().dump());
        EXPECT_EQ(c.n_params(), int64_t(make_param_layout(c).total));
    }
}

// A checkpoint's config.json used to be trusted with the allocation of the whole model before
// model.safetensors was looked at: 2^33 parameters beside a 2 KB weights file.
TEST(Checkpoint, ConfigSizeIsCheckedAgainstTheWeightsFile) {
    namespace fs = std::filesystem;
    Model<float> m(tiny_config("MA", "swiglu", true));
    m.init_random(3);
    const fs::path dir = fs::temp_directory_path() / "np_test_ckpt_huge_cfg";
    fs::remove_all(dir);
    save_checkpoint(dir.string(), m);
    nlohmann::json cfg = m.cfg.to_json();
    cfg["vocab_size"] = 1 << 21;
    cfg["d_model"] = 1 << 12;  // 2^33 parameters in the embedding alone
    write_file_atomic((dir / "config.json").string(), cfg.dump());
    try {
        load_checkpoint(dir.string());
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("model.safetensors: "), std::string::npos) << msg;
        EXPECT_NE(msg.find("bytes cannot hold the"), std::string::npos) << msg;
    }
    fs::remove_all(dir);
}
