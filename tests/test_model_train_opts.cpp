// Training-time options of Model (DESIGN §5): label smoothing, dropout on the residual branches,
// activation recomputation. Each is checked against an independent computation or against the
// plain training step it must not change.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "gradcheck.h"
#include "model/model.h"
#include "tiny_model.h"

using namespace np;
using namespace np::test;

namespace {

// Bit-exact comparisons need a fixed summation order. rmsnorm_backward adds the per-thread partial
// weight gradients in thread arrival order, which gives the same bits for any order only while
// there are at most two partial sums (0 + a + b == 0 + b + a).
struct AtMostTwoThreads {
    int saved = omp_get_max_threads();
    AtMostTwoThreads() { omp_set_num_threads(std::min(saved, 2)); }
    ~AtMostTwoThreads() { omp_set_num_threads(saved); }
};

// Larger weights than the init so every path carries signal a finite difference can see (as in
// Model.GradientMatchesFiniteDifferences).
void enlarge_weights(Model<double>& m) {
    std::mt19937 rng(5);
    std::normal_distribution<double> nd(0, 0.3);
    for (const ParamSpec& s : m.layout.specs)
        if (s.matrix && s.name.find("conv1d") == std::string::npos)
            for (int64_t i = 0; i < s.numel; i++) m.params[s.offset + i] = nd(rng);
}

// The training loss (loss(..., backward = true), so with the model's train_opts) against central
// differences of that same loss, on a sample of entries of every parameter tensor.
void expect_training_gradient_matches_fd(Model<double>& m, const std::vector<int32_t>& tokens,
                                         const std::vector<uint8_t>& mask, int B, int T) {
    m.zero_grad();
    m.loss(tokens, mask, B, T, true);
    const std::vector<double> analytic = m.grads;
    std::mt19937 pick(9);
    for (const ParamSpec& s : m.layout.specs) {
        std::vector<double> a, n;
        for (int k = 0; k < std::min<int64_t>(s.numel, 8); k++) {
            const size_t i = s.offset + size_t(pick() % s.numel);
            const double keep = m.params[i], eps = 1e-5;
            m.params[i] = keep + eps;
            const double lp = m.loss(tokens, mask, B, T, true).loss;
            m.params[i] = keep - eps;
            const double lm = m.loss(tokens, mask, B, T, true).loss;
            m.params[i] = keep;
            a.push_back(analytic[i]);
            n.push_back((lp - lm) / (2 * eps));
        }
        EXPECT_LT(max_rel_err(a, n), 1e-5) << s.name;
    }
}

template <class T>
bool bits_equal(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

struct Step {
    double loss;
    std::vector<float> grads;
    size_t bytes;
};
Step train_step(Model<float>& m, const std::vector<int32_t>& tokens,
                const std::vector<uint8_t>& mask, int B, int T) {
    Step s;
    m.zero_grad();
    s.loss = m.loss(tokens, mask, B, T, true).loss;
    s.grads = m.grads;
    s.bytes = m.activation_bytes();
    return s;
}

}  // namespace

// ---- label smoothing ---------------------------------------------------------------------------

TEST(ModelTrainOpts, LabelSmoothingLossMatchesLogits) {
    Model<double> m(tiny_config("MA", "swiglu", true));
    m.init_random(6);
    const int B = 2, T = 7, V = m.cfg.vocab_size;
    const float ls_opt = 0.1f;
    const double ls = ls_opt;  // the option's float value, exactly
    auto tokens = tiny_tokens(B, T, V, 2);
    std::vector<uint8_t> mask(tokens.size(), 1);
    mask[2] = mask[9] = 0;
    auto lg = m.logits(tokens, B, T);
    double smooth = 0, plain = 0;
    int n = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t + 1 < T; t++) {
            const int r = b * T + t;
            if (!mask[r + 1]) continue;
            double mx = -1e30, s = 0;
            for (int v = 0; v < V; v++) mx = std::max(mx, lg[r * V + v]);
            for (int v = 0; v < V; v++) s += std::exp(lg[r * V + v] - mx);
            const double lse = mx + std::log(s);
            double mean_nll = 0;  // mean over the vocabulary of -log p_v
            for (int v = 0; v < V; v++) mean_nll += (lse - lg[r * V + v]) / V;
            const double ce = lse - lg[r * V + tokens[r + 1]];
            smooth += (1 - ls) * ce + ls * mean_nll;
            plain += ce;
            n++;
        }
    m.train_opts.label_smoothing = ls_opt;
    LossResult train = m.loss(tokens, mask, B, T, true);
    EXPECT_EQ(train.tokens, n);
    EXPECT_NEAR(train.loss, smooth / n, 1e-12);
    // Evaluation is never smoothed.
    EXPECT_NEAR(m.loss(tokens, mask, B, T, false).loss, plain / n, 1e-12);
    EXPECT_GT(std::fabs(smooth - plain) / n, 1e-6);  // and smoothing does change the loss
}

TEST(ModelTrainOpts, LabelSmoothingGradientMatchesFiniteDifferences) {
    for (bool tied : {true, false}) {
        SCOPED_TRACE(tied ? "tied" : "untied");
        Model<double> m(tiny_config(tied ? "MA" : "AM", tied ? "swiglu" : "relu2", tied));
        m.quantize = false;
        m.init_random(11);
        enlarge_weights(m);
        m.train_opts.label_smoothing = 0.2f;
        const int B = 2, T = 9;
        auto tokens = tiny_tokens(B, T, m.cfg.vocab_size, 3);
        std::vector<uint8_t> mask(tokens.size(), 1);
        mask[3] = 0;
        expect_training_gradient_matches_fd(m, tokens, mask, B, T);
    }
}

// Options explicitly at zero (with a seed) are the plain training step, bit for bit.
TEST(ModelTrainOpts, ZeroOptionsAreTheBaseline) {
    AtMostTwoThreads threads;
    Model<float> m(tiny_config("MMA", "swiglu", true));
    m.init_random(3);
    const int B = 2, T = 16;
    auto tokens = tiny_tokens(B, T, m.cfg.vocab_size, 4);
    std::vector<uint8_t> mask(tokens.size(), 1);
    mask[5] = 0;
    const Step base = train_step(m, tokens, mask, B, T);
    m.train_opts.dropout = 0;
    m.train_opts.label_smoothing = 0;
    m.train_opts.dropout_seed = 1234;
    const Step zero = train_step(m, tokens, mask, B, T);
    EXPECT_EQ(base.loss, zero.loss);
    EXPECT_TRUE(bits_equal(base.grads, zero.grads));
    // Without label smoothing the training loss is the evaluation loss.
    EXPECT_EQ(base.loss, m.loss(tokens, mask, B, T, false).loss);
}

TEST(ModelTrainOpts, RejectsOutOfRangeOptions) {
    Model<float> m(tiny_config("MA", "swiglu", true));
    m.init_random(1);
    auto tokens = tiny_tokens(1, 8, m.cfg.vocab_size, 1);
    m.train_opts.dropout = 1.0f;
    EXPECT_THROW(m.loss(tokens, {}, 1, 8, true), Error);
    m.train_opts.dropout = -0.1f;
    EXPECT_THROW(m.loss(tokens, {}, 1, 8, true), Error);
    m.train_opts.dropout = 0;
    m.train_opts.label_smoothing = 1.5f;
    EXPECT_THROW(m.loss(tokens, {}, 1, 8, true), Error);
}

// ---- dropout -----------------------------------------------------------------------------------

// With a fixed seed the masks are a fixed function of the parameters' positions, so the training
// loss is differentiable and its gradient must match finite differences.
TEST(ModelTrainOpts, DropoutGradientMatchesFiniteDifferences) {
    for (bool tied : {true, false}) {
        SCOPED_TRACE(tied ? "MA tied" : "AM untied");
        Model<double> m(tiny_config(tied ? "MA" : "AM", tied ? "swiglu" : "relu2", tied));
        m.quantize = false;
        m.init_random(11);
        enlarge_weights(m);
        m.train_opts.dropout = 0.3f;
        m.train_opts.dropout_seed = 77;
        m.train_opts.label_smoothing = tied ? 0.0f : 0.1f;
        const int B = 2, T = 9;
        auto tokens = tiny_tokens(B, T, m.cfg.vocab_size, 3);
        std::vector<uint8_t> mask(tokens.size(), 1);
        mask[3] = 0;
        expect_training_gradient_matches_fd(m, tokens, mask, B, T);
    }
}

TEST(ModelTrainOpts, DropoutMasksFollowTheSeed) {
    AtMostTwoThreads threads;
    Model<float> m(tiny_config("MMA", "swiglu", true));
    m.init_random(3);
    // Larger branch outputs than the init, so a different mask visibly changes the loss.
    for (const ParamSpec& s : m.layout.specs)
        if (s.name.find("out_proj") != std::string::npos ||
            s.name.find("o_proj") != std::string::npos ||
            s.name.find("down.weight") != std::string::npos)
            for (int64_t i = 0; i < s.numel; i++) m.params[s.offset + i] *= 20;
    const int B = 2, T = 16;
    auto tokens = tiny_tokens(B, T, m.cfg.vocab_size, 4);
    const std::vector<uint8_t> mask;
    const double eval_before = m.loss(tokens, mask, B, T, false).loss;
    const Step plain = train_step(m, tokens, mask, B, T);
    m.train_opts.dropout = 0.5f;
    m.train_opts.dropout_seed = 1;
    const Step a = train_step(m, tokens, mask, B, T);
    const Step again = train_step(m, tokens, mask, B, T);
    EXPECT_EQ(a.loss, again.loss);
    EXPECT_TRUE(bits_equal(a.grads, again.grads));
    EXPECT_NE(a.loss, plain.loss);
    m.train_opts.dropout_seed = 2;
    const Step b = train_step(m, tokens, mask, B, T);
    EXPECT_NE(a.loss, b.loss);
    EXPECT_FALSE(bits_equal(a.grads, b.grads));
    // Evaluation and logits ignore dropout.
    EXPECT_EQ(m.loss(tokens, mask, B, T, false).loss, eval_before);
    Model<float> ref(m.cfg);
    ref.params = m.params;
    EXPECT_TRUE(bits_equal(m.logits(tokens, B, T), ref.logits(tokens, B, T)));
}

TEST(ModelTrainOpts, DropoutDropsAboutPAndMasksAreIndependent) {
    const int n = 200000;
    for (float p : {0.1f, 0.5f}) {
        int dropped = 0, differs_branch = 0, differs_layer = 0, differs_seed = 0;
        for (int i = 0; i < n; i++) {
            const bool k = Model<float>::dropout_keeps(42, 3, 0, uint64_t(i), p);
            dropped += !k;
            differs_branch += k != Model<float>::dropout_keeps(42, 3, 1, uint64_t(i), p);
            differs_layer += k != Model<float>::dropout_keeps(42, 4, 0, uint64_t(i), p);
            differs_seed += k != Model<float>::dropout_keeps(43, 3, 0, uint64_t(i), p);
        }
        // Binomial standard deviation at n = 2e5 is below 0.0012; 0.006 is five of them.
        EXPECT_NEAR(double(dropped) / n, p, 0.006) << "p=" << p;
        const double indep = 2 * p * (1 - p);  // P(masks differ) for independent masks
        EXPECT_NEAR(double(differs_branch) / n, indep, 0.006);
        EXPECT_NEAR(double(differs_layer) / n, indep, 0.006);
        EXPECT_NEAR(double(differs_seed) / n, indep, 0.006);
        // Same key, same answer: the model and any replay see one mask.
        EXPECT_EQ(Model<float>::dropout_keeps(42, 3, 0, 12345, p),
                  Model<double>::dropout_keeps(42, 3, 0, 12345, p));
    }
    for (int i = 0; i < 1000; i++) EXPECT_TRUE(Model<float>::dropout_keeps(9, 0, 0, i, 0.0f));
}

// ---- recomputation -----------------------------------------------------------------------------

// Loss and every gradient bit-identical with and without recomputation, switching both ways on one
// model, with Mamba and MLA layers, documents inside rows, rows longer than a Mamba scan chunk
// (64), a loss mask, and with dropout and label smoothing on (the recomputed forward must replay
// the same masks).
TEST(ModelTrainOpts, RecomputeIsBitIdentical) {
    AtMostTwoThreads threads;
    ModelConfig c = tiny_config("MMMA", "swiglu", true);
    c.n_layers = 6;  // M M M A M M
    c.validate();
    Model<float> m(c);
    m.init_random(21);
    const int B = 2, T = 150;
    auto tokens = tiny_tokens(B, T, c.vocab_size, 5);
    std::vector<uint8_t> mask(tokens.size(), 1);
    mask[4] = mask[170] = mask[171] = 0;
    for (bool opts : {false, true}) {
        SCOPED_TRACE(opts ? "dropout + label smoothing" : "plain");
        m.train_opts.dropout = opts ? 0.25f : 0.0f;
        m.train_opts.label_smoothing = opts ? 0.1f : 0.0f;
        m.train_opts.dropout_seed = 99;
        m.train_opts.recompute = false;
        const Step full = train_step(m, tokens, mask, B, T);
        m.train_opts.recompute = true;
        const Step rec = train_step(m, tokens, mask, B, T);
        m.train_opts.recompute = false;
        const Step full_again = train_step(m, tokens, mask, B, T);
        EXPECT_EQ(full.loss, rec.loss);
        EXPECT_TRUE(bits_equal(full.grads, rec.grads));
        EXPECT_TRUE(bits_equal(full.grads, full_again.grads));
        EXPECT_LT(rec.bytes, full.bytes);
    }
}

// The nano preset at B = 4, T = 256 (one training step each way, a few seconds): bit-identical
// gradients and the activation memory saved, printed for the record.
TEST(ModelTrainOpts, RecomputeSavesActivationMemoryNano) {
    AtMostTwoThreads threads;
    Model<float> m(ModelConfig::preset("nano"));
    m.init_random(1);
    const int B = 4, T = 256;
    auto tokens = tiny_tokens(B, T, m.cfg.vocab_size, 6);
    std::vector<uint8_t> mask(tokens.size(), 1);
    for (int i = 0; i < 40; i++) mask[i] = 0;
    const Step full = train_step(m, tokens, mask, B, T);
    m.train_opts.recompute = true;
    const Step rec = train_step(m, tokens, mask, B, T);
    EXPECT_EQ(full.loss, rec.loss);
    EXPECT_TRUE(bits_equal(full.grads, rec.grads));
    EXPECT_LT(rec.bytes * 2, full.bytes);
    std::printf("nano B=4 T=256 activation bytes: %.1f MiB without recompute, %.1f MiB with\n",
                full.bytes / 1048576.0, rec.bytes / 1048576.0);
}
