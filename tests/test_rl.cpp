// RL with verifiable rewards: the weighted cross-entropy the objectives are trained through
// (value, log-probs and gradient against finite differences), GRPO's advantages and per-token
// weights on hand-computed groups and against the derivative of the objective, DPO's pair
// weights likewise, and a reward that format alone cannot earn.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "model/model.h"
#include "rl/objective.h"
#include "tiny_model.h"

using namespace np;
using namespace np::rl;
using np::test::tiny_config;
using np::test::tiny_tokens;

TEST(WeightedLoss, IsTheWeightedSumOfCrossEntropiesWithItsGradient) {
    Model<double> m(tiny_config("MA", "swiglu", true));
    m.quantize = false;
    m.init_random(4);
    std::mt19937 rng(2);
    std::normal_distribution<double> nd(0, 0.3);
    for (const ParamSpec& s : m.layout.specs)
        if (s.matrix && s.name.find("conv1d") == std::string::npos)
            for (int64_t i = 0; i < s.numel; i++) m.params[s.offset + i] = nd(rng);
    const int B = 2, T = 9, V = m.cfg.vocab_size;
    const auto tokens = tiny_tokens(B, T, V, 5);
    std::vector<uint8_t> mask(tokens.size(), 1);
    mask[0] = mask[4] = mask[12] = 0;
    std::vector<float> w(tokens.size());
    for (float& x : w) x = float(nd(rng));  // negative weights too, as advantages are

    // Value: Σ w[t+1] * CE(t) over counted positions, from the logits independently.
    const auto lg = m.logits(tokens, B, T);
    double want = 0;
    std::vector<double> want_lp(tokens.size(), 0.0);
    for (int b = 0; b < B; b++)
        for (int t = 0; t + 1 < T; t++) {
            const int r = b * T + t;
            if (!mask[r + 1]) continue;
            double mx = -1e30, s = 0;
            for (int v = 0; v < V; v++) mx = std::max(mx, lg[r * V + v]);
            for (int v = 0; v < V; v++) s += std::exp(lg[r * V + v] - mx);
            const double ce = mx + std::log(s) - lg[r * V + tokens[r + 1]];
            want += w[r + 1] * ce;
            want_lp[r + 1] = -ce;
        }
    std::vector<float> lp(tokens.size(), 7.0f);
    m.zero_grad();
    const LossResult res = m.loss(tokens, mask, B, T, true, w, lp);
    EXPECT_NEAR(res.loss, want, 1e-10);
    for (size_t i = 0; i < lp.size(); ++i) {
        const bool counted = mask[i] && i % T != 0;
        EXPECT_NEAR(lp[i], counted ? want_lp[i] : 7.0, 1e-6) << "position " << i;
    }
    // Gradient against central differences of the weighted value.
    const std::vector<double> analytic = m.grads;
    std::mt19937 pick(3);
    double worst = 0;
    for (const ParamSpec& s : m.layout.specs)
        for (int k = 0; k < std::min<int64_t>(s.numel, 6); k++) {
            const size_t i = s.offset + size_t(pick() % s.numel);
            const double keep = m.params[i], eps = 1e-5;
            m.params[i] = keep + eps;
            const double up = m.loss(tokens, mask, B, T, false, w).loss;
            m.params[i] = keep - eps;
            const double down = m.loss(tokens, mask, B, T, false, w).loss;
            m.params[i] = keep;
            const double num = (up - down) / (2 * eps);
            worst = std::max(worst, std::abs(num - analytic[i]) / std::max(1e-3, std::abs(num)));
        }
    EXPECT_LT(worst, 1e-5);
    // Uniform weights 1/n give back the mean loss and its gradient.
    m.zero_grad();
    const LossResult mean = m.loss(tokens, mask, B, T, true);
    const std::vector<double> mean_grads = m.grads;
    std::vector<float> uniform(tokens.size(), float(1.0 / double(mean.tokens)));
    m.zero_grad();
    const LossResult same = m.loss(tokens, mask, B, T, true, uniform);
    EXPECT_NEAR(same.loss, mean.loss, 1e-6);
    for (size_t i = 0; i < mean_grads.size(); ++i) EXPECT_NEAR(m.grads[i], mean_grads[i], 1e-7);
}

TEST(RlObjective, GroupAdvantagesByHand) {
    const std::vector<double> r = {1, 0, 0, 1, 0.5, 0.5, 0.5, 0.5, 1, 0, 0, 0};
    const auto a = group_advantages(r, 4);
    // Group 1: mean 0.5, std 0.5. Group 2: no signal. Group 3: mean 0.25, std sqrt(3)/4.
    EXPECT_NEAR(a[0], 1, 1e-5);
    EXPECT_NEAR(a[1], -1, 1e-5);
    for (int i = 4; i < 8; ++i) EXPECT_EQ(a[size_t(i)], 0);
    EXPECT_NEAR(a[8], 0.75 / (std::sqrt(3.0) / 4), 1e-5);
    EXPECT_NEAR(a[9], -0.25 / (std::sqrt(3.0) / 4), 1e-5);
    const auto dr = group_advantages(r, 4, false);
    EXPECT_DOUBLE_EQ(dr[0], 0.5);
    EXPECT_DOUBLE_EQ(dr[11], -0.25);
    EXPECT_THROW(group_advantages(r, 5), np::Error);
}

TEST(RlObjective, GrpoTokenByHand) {
    // On-policy (ratio 1), no KL: J = A, weight = A / n.
    GrpoToken t = grpo_token(-1.2, -1.2, -1.2, 2.0, 0.2, 0.04, 0.5);
    EXPECT_NEAR(t.objective, 2.0, 1e-12);
    EXPECT_NEAR(t.weight, 1.0, 1e-12);
    EXPECT_NEAR(t.kl, 0.0, 1e-12);
    EXPECT_FALSE(t.clipped);
    // Ratio 1.5 with A > 0: clipped at 1.2, only the KL term has a gradient.
    t = grpo_token(std::log(1.5) - 1, -1, -1, 1.0, 0.2, 0.1, 1.0);
    EXPECT_TRUE(t.clipped);
    const double x = -std::log(1.5);  // ref - lp
    EXPECT_NEAR(t.kl, std::exp(x) - x - 1, 1e-12);
    EXPECT_NEAR(t.objective, 1.2 - 0.1 * t.kl, 1e-12);
    EXPECT_NEAR(t.weight, -0.1 * (1 - std::exp(x)), 1e-12);
    // Ratio 1.5 with A < 0: the unclipped branch is the minimum and keeps its gradient.
    t = grpo_token(std::log(1.5) - 1, -1, -1, -1.0, 0.2, 0.0, 1.0);
    EXPECT_FALSE(t.clipped);
    EXPECT_NEAR(t.weight, -1.5, 1e-12);
}

// The weight is inv_n * dJ/dlp: check it against central differences of J everywhere, clipped
// or not, with either sign of the advantage.
TEST(RlObjective, GrpoWeightIsTheObjectiveDerivative) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<double> u(-1, 1);
    int clipped = 0;
    for (int i = 0; i < 200; ++i) {
        const double old_lp = -1 + 0.5 * u(rng), ref = -1 + 0.5 * u(rng);
        const double lp = old_lp + 0.4 * u(rng), A = 2 * u(rng), inv_n = 0.25;
        const GrpoToken t = grpo_token(lp, old_lp, ref, A, 0.2, 0.05, inv_n);
        const double h = 1e-6;
        const double num = (grpo_token(lp + h, old_lp, ref, A, 0.2, 0.05, inv_n).objective -
                            grpo_token(lp - h, old_lp, ref, A, 0.2, 0.05, inv_n).objective) /
                           (2 * h);
        const double ratio = std::exp(lp - old_lp);  // J has a kink where the clip starts
        const bool at_kink = std::abs(ratio - 1.2) < 1e-4 || std::abs(ratio - 0.8) < 1e-4;
        EXPECT_NEAR(t.weight, at_kink ? t.weight : inv_n * num, 1e-6)
            << "lp " << lp << " old " << old_lp << " A " << A;
        clipped += t.clipped;
    }
    EXPECT_GT(clipped, 20);
    EXPECT_LT(clipped, 180);
}

TEST(RlObjective, DpoWeightsAreTheLossGradient) {
    const double beta = 0.1, inv = 0.5;
    const DpoPair p = dpo_pair(-10, -12, -9, -8, beta, inv);
    // z = 0.1 * ((−10 + 12) − (−9 + 8)) = 0.3
    EXPECT_NEAR(p.margin, 0.3, 1e-12);
    EXPECT_NEAR(p.loss, inv * std::log1p(std::exp(-0.3)), 1e-12);
    const double h = 1e-6;
    const double d_chosen = (dpo_pair(-10 + h, -12, -9, -8, beta, inv).loss -
                             dpo_pair(-10 - h, -12, -9, -8, beta, inv).loss) /
                            (2 * h);
    const double d_rejected = (dpo_pair(-10, -12, -9 + h, -8, beta, inv).loss -
                               dpo_pair(-10, -12, -9 - h, -8, beta, inv).loss) /
                              (2 * h);
    // A token's CE is -lp: its weight is -dLoss/dlp.
    EXPECT_NEAR(p.chosen_weight, -d_chosen, 1e-8);
    EXPECT_NEAR(p.rejected_weight, -d_rejected, 1e-8);
    EXPECT_GT(p.chosen_weight, 0);  // descent raises the chosen completion's log-prob
    // Large margins do not overflow.
    EXPECT_TRUE(std::isfinite(dpo_pair(0, -1e4, 0, 1e4, 1, 1).loss));
    EXPECT_TRUE(std::isfinite(dpo_pair(0, 1e4, 0, -1e4, 1, 1).loss));
}

TEST(RlReward, FormatAloneNeverPays) {
    const nlohmann::json rec = {
        {"task", "addition"}, {"lang", "en"}, {"question", "What is 2 + 3?"}, {"answer", "5"}};
    RewardOptions o;
    o.max_tokens = 100;
    EXPECT_DOUBLE_EQ(reward(rec, "<think>\n2+3+0=05\n</think>\n\n5", 4, o).value, 1.0);
    // Well formed but wrong: nothing.
    const Reward wrong = reward(rec, "<think>\n2+3+0=06\n</think>\n\n6", 4, o);
    EXPECT_TRUE(wrong.well_formed);
    EXPECT_FALSE(wrong.correct);
    EXPECT_DOUBLE_EQ(wrong.value, 0.0);
    // The empty think block with a wrong answer is well formed and still earns nothing.
    EXPECT_DOUBLE_EQ(reward(rec, "<think>\n\n</think>\n\n7", 0, o).value, 0.0);
    // A right number outside a well-formed completion is not rewarded: penalised.
    EXPECT_DOUBLE_EQ(reward(rec, "<think>\n2+3 5", 3, o).value, -0.5);
    EXPECT_DOUBLE_EQ(reward(rec, "<think>\n</think>\n\n", 0, o).value, -0.5);  // no answer
    EXPECT_DOUBLE_EQ(reward(rec, "<think>\n</think></think>\n\n5", 0, o).value, -0.5);
    // Length cost: per thinking token, relative to max_tokens.
    o.length_cost = 0.5;
    EXPECT_DOUBLE_EQ(reward(rec, "<think>\n2+3+0=05\n</think>\n\n5", 40, o).value, 1.0 - 0.2);
}

TEST(RlReward, TraceCreditCountsLeadingReferenceLines) {
    const nlohmann::json rec = {{"task", "addition"},
                                {"lang", "en"},
                                {"question", "What is 17 + 25?"},
                                {"thinking", "17+25\n7+5+0=12\n1+2+1=04"},
                                {"answer", "42"}};
    RewardOptions o;
    o.trace_reward = 0.3;
    // Two of three lines, then a wrong one: 2/3 of the credit, and a wrong answer.
    Reward r = reward(rec, "<think>\n17+25\n7+5+0=12\n1+2+1=05\n</think>\n\n52", 10, o);
    EXPECT_NEAR(r.trace_share, 2.0 / 3.0, 1e-12);
    EXPECT_NEAR(r.value, 0.3 * 2.0 / 3.0, 1e-12);
    // A wrong first line earns nothing even when later lines match.
    r = reward(rec, "<think>\n17+26\n7+5+0=12\n1+2+1=04\n</think>\n\n42", 10, o);
    EXPECT_EQ(r.trace_share, 0);
    // The whole trace and the answer: both.
    r = reward(rec, "<think>\n17+25\n7+5+0=12\n1+2+1=04\n</think>\n\n42", 10, o);
    EXPECT_NEAR(r.value, 1.3, 1e-12);
    // A block cut by max_tokens still earns its lines, and the format penalty.
    r = reward(rec, "<think>\n17+25\n7+5", 5, o);
    EXPECT_NEAR(r.value, 0.3 / 3 - 0.5, 1e-12);
    // Off by default.
    EXPECT_EQ(reward(rec, "<think>\n17+25\n</think>\n\n3", 3, RewardOptions{}).value, 0.0);
}
