// The sampler: greedy, top-k, top-p, min-p, temperature (frequencies against softmax(l/T)),
// repetition penalty, seeding and option validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <string>

#include "core/error.h"
#include "core/rng.h"
#include "infer/sampler.h"

namespace {

using np::infer::Sampler;
using np::infer::SamplerOptions;

std::vector<float> log_probs(std::initializer_list<double> p) {
    std::vector<float> l;
    for (double x : p) l.push_back(float(std::log(x)));
    return l;
}

std::vector<int> counts(Sampler& s, const std::vector<float>& logits, int n) {
    std::vector<int> c(logits.size());
    for (int i = 0; i < n; ++i) c[size_t(s.sample(logits))]++;
    return c;
}

TEST(Sampler, GreedyIsArgmaxTiesToLowestId) {
    Sampler s;
    EXPECT_EQ(s.sample(std::vector<float>{1, 3, 3, 2}), 1);
    EXPECT_EQ(s.sample(std::vector<float>{-5, -1, -2}), 1);
    EXPECT_EQ(s.sample(std::vector<float>{7}), 0);
    // The filters cannot remove the argmax, so greedy ignores them.
    SamplerOptions o;
    o.top_k = 1;
    o.top_p = 0.1f;
    o.min_p = 0.9f;
    Sampler f(o);
    EXPECT_EQ(f.sample(std::vector<float>{0, 4, 4, 1}), 1);
}

TEST(Sampler, TopKNeverLeavesTheTopK) {
    np::Rng rng(5);
    std::vector<float> logits(50);
    for (auto& l : logits) l = float(rng.normal());
    std::vector<int32_t> order(50);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
    const std::set<int32_t> top(order.begin(), order.begin() + 5);
    std::set<int32_t> seen;
    for (uint64_t seed = 0; seed < 200; ++seed) {
        SamplerOptions o;
        o.temperature = 3.0f;
        o.top_k = 5;
        o.seed = seed;
        Sampler s(o);
        for (int i = 0; i < 20; ++i) {
            int32_t t = s.sample(logits);
            ASSERT_TRUE(top.count(t)) << "seed " << seed << " token " << t;
            seen.insert(t);
        }
    }
    EXPECT_EQ(seen, top);  // and every one of them is reachable
}

TEST(Sampler, TopPKeepsTheSmallestSetWithTheMass) {
    const auto logits = log_probs({0.1, 0.5, 0.15, 0.25});
    for (auto [p, want] : std::vector<std::pair<float, std::set<int>>>{
             {0.3f, {1}}, {0.7f, {1, 3}}, {0.76f, {1, 3, 2}}, {0.95f, {0, 1, 2, 3}}}) {
        SamplerOptions o;
        o.temperature = 1;
        o.top_p = p;
        o.seed = 3;
        Sampler s(o);
        auto c = counts(s, logits, 4000);
        for (int i = 0; i < 4; ++i) EXPECT_EQ(c[size_t(i)] > 0, want.count(i) > 0) << p << " " << i;
        if (p == 0.7f) {  // renormalised: 0.5 / 0.75 and 0.25 / 0.75
            EXPECT_NEAR(c[1] / 4000.0, 2.0 / 3.0, 0.03);
        }
    }
}

TEST(Sampler, MinPThreshold) {
    const auto logits = log_probs({0.1, 0.5, 0.15, 0.25});
    for (auto [m, want] : std::vector<std::pair<float, std::set<int>>>{
             {0.35f, {1, 3}}, {0.25f, {1, 2, 3}}, {0.19f, {0, 1, 2, 3}}, {0.9f, {1}}}) {
        SamplerOptions o;
        o.temperature = 1;
        o.min_p = m;
        o.seed = 9;
        Sampler s(o);
        auto c = counts(s, logits, 4000);
        for (int i = 0; i < 4; ++i) EXPECT_EQ(c[size_t(i)] > 0, want.count(i) > 0) << m << " " << i;
    }
}

TEST(Sampler, SeedReproducesAndDiffers) {
    std::vector<float> logits(100, 0.0f);
    auto run = [&](uint64_t seed) {
        SamplerOptions o;
        o.temperature = 1;
        o.seed = seed;
        Sampler s(o);
        std::vector<int32_t> out;
        for (int i = 0; i < 50; ++i) out.push_back(s.sample(logits));
        return out;
    };
    EXPECT_EQ(run(42), run(42));
    EXPECT_NE(run(42), run(43));
    SamplerOptions o;
    o.temperature = 1;
    o.seed = 42;
    Sampler s(o);
    for (int i = 0; i < 7; ++i) s.sample(logits);
    s.reset();
    std::vector<int32_t> again;
    for (int i = 0; i < 50; ++i) again.push_back(s.sample(logits));
    EXPECT_EQ(again, run(42));
}

TEST(Sampler, FrequenciesMatchSoftmaxOverTemperature) {
    const std::vector<float> logits{0.5f, 1.0f, -0.3f, 2.0f, 0.0f};
    for (float T : {0.7f, 1.5f}) {
        SamplerOptions o;
        o.temperature = T;
        o.seed = 1234;
        Sampler s(o);
        const int n = 20000;
        auto c = counts(s, logits, n);
        double z = 0;
        for (float l : logits) z += std::exp(l / T);
        double chi2 = 0;
        for (size_t i = 0; i < logits.size(); ++i) {
            const double e = n * std::exp(logits[i] / T) / z;
            chi2 += (c[i] - e) * (c[i] - e) / e;
        }
        EXPECT_LT(chi2, 20.0) << "T " << T;  // 4 degrees of freedom: P(chi2 > 20) ~ 5e-4
    }
}

TEST(Sampler, RepetitionPenalty) {
    SamplerOptions o;
    o.repetition_penalty = 1.5f;
    {
        Sampler s(o);
        EXPECT_EQ(s.sample(std::vector<float>{2.0f, 1.9f}), 0);
        s.accept(0);  // 2.0 / 1.5 < 1.9
        EXPECT_EQ(s.sample(std::vector<float>{2.0f, 1.9f}), 1);
    }
    {
        Sampler s(o);  // negative logits are multiplied: -1.0 * 1.5 < -1.2
        s.accept(0);
        EXPECT_EQ(s.sample(std::vector<float>{-1.0f, -1.2f}), 1);
    }
    {
        Sampler s(o);  // once per distinct token: 2.0 / 1.5 > 1.0 (not 2.0 / 2.25)
        s.accept(0);
        s.accept(0);
        EXPECT_EQ(s.sample(std::vector<float>{2.0f, 1.0f}), 0);
    }
    {
        o.repeat_last_n = 2;  // token 0 leaves the window
        Sampler s(o);
        s.accept(0);
        s.accept(5);
        EXPECT_EQ(s.sample(std::vector<float>{2.0f, 1.9f}), 1);
        s.accept(6);
        EXPECT_EQ(s.sample(std::vector<float>{2.0f, 1.9f}), 0);
    }
}

TEST(Sampler, ValidationNamesTheFlag) {
    auto msg = [](SamplerOptions o) {
        try {
            Sampler s(o);
        } catch (const np::Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    SamplerOptions o;
    o.top_p = 0;
    EXPECT_NE(msg(o).find("--top-p"), std::string::npos);
    o = {};
    o.top_p = 1.5f;
    EXPECT_NE(msg(o).find("--top-p"), std::string::npos);
    o = {};
    o.temperature = -1;
    EXPECT_NE(msg(o).find("--temperature"), std::string::npos);
    o = {};
    o.top_k = -2;
    EXPECT_NE(msg(o).find("--top-k"), std::string::npos);
    o = {};
    o.min_p = 1;
    EXPECT_NE(msg(o).find("--min-p"), std::string::npos);
    o = {};
    o.repetition_penalty = 0;
    EXPECT_NE(msg(o).find("--repeat-penalty"), std::string::npos);
    o = {};
    o.repeat_last_n = -1;
    EXPECT_NE(msg(o).find("--repeat-last-n"), std::string::npos);
    EXPECT_EQ(msg({}), "");
}

}  // namespace

namespace np::infer {
namespace {

// OpenAI's penalties on the recent tokens: frequency scales with the count, presence applies once.
TEST(SamplerPenalties, PresenceAndFrequencyFollowOpenAI) {
    const std::vector<float> logits = {1.0f, 0.9f, 0.0f};
    auto pick = [&](float presence, float frequency) {
        SamplerOptions o;
        o.presence_penalty = presence, o.frequency_penalty = frequency;
        Sampler s(o);
        s.accept(0), s.accept(0), s.accept(2);
        return s.sample(logits);
    };
    EXPECT_EQ(pick(0, 0), 0);
    EXPECT_EQ(pick(0.05f, 0), 0);  // 1.0 - 0.05 > 0.9
    EXPECT_EQ(pick(0.2f, 0), 1);   // 1.0 - 0.2 < 0.9
    EXPECT_EQ(pick(0, 0.04f), 0);  // 1.0 - 2 * 0.04 > 0.9
    EXPECT_EQ(pick(0, 0.06f), 1);  // 1.0 - 2 * 0.06 < 0.9: counted twice
    EXPECT_EQ(pick(-0.5f, 0), 0);  // negative values reward repeats
    SamplerOptions bad;
    bad.presence_penalty = 2.5f;
    EXPECT_THROW(validate(bad), Error);
}

}  // namespace
}  // namespace np::infer
