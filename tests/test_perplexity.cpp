// Perplexity in sliding windows: every token scored exactly once whatever the window and stride,
// a uniform model's perplexity is the vocabulary size, and the scores equal the training
// forward's cross-entropy on the same windows (an independent computation).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "eval/perplexity.h"
#include "infer/reference_decoder.h"
#include "model/model.h"
#include "tiny_model.h"

namespace {

using np::eval::PerplexityOptions;

// Logits all zero: every token has probability 1/V.
struct Uniform final : np::infer::Decoder {
    np::ModelConfig cfg;
    int64_t fed = 0, max_fed = 0;
    explicit Uniform(int V) { cfg.vocab_size = V; }
    const np::ModelConfig& config() const override { return cfg; }
    std::string name() const override { return "uniform"; }
    void reset() override { fed = 0; }
    int64_t n_past() const override { return fed; }
    void prefill(std::span<const int32_t> t, std::span<float> logits) override {
        fed += int64_t(t.size());
        max_fed = std::max(max_fed, fed);
        std::fill(logits.begin(), logits.end(), 0.0f);
    }
};

TEST(Perplexity, EveryTokenOnceAndUniformIsV) {
    Uniform dec(37);
    for (int n : {2, 3, 10, 57, 100})
        for (int ctx : {3, 4, 9, 16, 200})
            for (int stride : {1, 2, 5, ctx - 2}) {
                if (stride < 1 || stride > ctx - 2) continue;
                const std::vector<int32_t> text(size_t(n), 5);
                dec.max_fed = 0;
                const auto r = np::eval::perplexity(dec, text, {ctx, stride});
                EXPECT_EQ(r.tokens, n - 1) << n << " " << ctx << " " << stride;
                EXPECT_NEAR(r.ppl(), 37.0, 1e-9);
                EXPECT_LE(dec.max_fed, ctx) << "a window exceeded ctx";
                const int span = ctx - 1;
                const int64_t want = n <= span ? 1 : 1 + (n - span + stride - 1) / stride;
                EXPECT_EQ(r.windows, want) << n << " " << ctx << " " << stride;
            }
}

TEST(Perplexity, MatchesTheTrainingForwardOnTheSameWindows) {
    const np::ModelConfig cfg = np::test::tiny_config("MA", "swiglu", true);
    np::Model<float> model(cfg);
    model.init_random(11);
    const int n = 40, ctx = 12, stride = 5;
    std::vector<int32_t> text = np::test::tiny_tokens(1, n, cfg.vocab_size, 3);
    for (auto& t : text) t = std::max(t, 1);  // documents start only where a window does
    np::Model<float> copy(cfg);
    copy.params = model.params;
    np::infer::ReferenceDecoder dec(std::move(copy));
    const auto r = np::eval::perplexity(dec, text, {ctx, stride});
    // The same windows through Model::loss: row = <|endoftext|> + text[begin, end), targets the
    // tokens no earlier window scored.
    double nll = 0;
    int64_t count = 0;
    int64_t scored_end = 1;
    for (int begin = 0; scored_end < n; begin += stride) {
        const int end = std::min(n, begin + ctx - 1);
        std::vector<int32_t> row{0};
        row.insert(row.end(), text.begin() + begin, text.begin() + end);
        std::vector<uint8_t> mask(row.size(), 0);
        for (int t = int(std::max<int64_t>(scored_end, begin + 1)); t < end; ++t)
            mask[size_t(t - begin + 1)] = 1;
        const auto lr = model.loss(row, mask, 1, int(row.size()), false);
        nll += lr.loss * double(lr.tokens);
        count += lr.tokens;
        scored_end = end;
    }
    EXPECT_EQ(r.tokens, count);
    EXPECT_NEAR(r.nll_sum / double(r.tokens), nll / double(count), 1e-5);
    EXPECT_GT(r.ppl_stderr(), 0.0);
}

TEST(Perplexity, RejectsBadOptions) {
    Uniform dec(10);
    const std::vector<int32_t> text(20, 1);
    EXPECT_THROW(np::eval::perplexity(dec, text, {2, 1}), np::Error);
    EXPECT_THROW(np::eval::perplexity(dec, text, {8, 0}), np::Error);
    EXPECT_THROW(np::eval::perplexity(dec, text, {8, 7}), np::Error);
    EXPECT_NO_THROW(np::eval::perplexity(dec, text, {8, 6}));
    EXPECT_THROW(np::eval::perplexity(dec, std::vector<int32_t>{1}, {8, 4}), np::Error);
    EXPECT_THROW(np::eval::perplexity(dec, std::vector<int32_t>{1, 10}, {8, 4}), np::Error);
}

}  // namespace
