// nanoprime eval: prompts per thinking mode, voting and the report's aggregation (generation
// itself, the thinking budget included, is tested in test_generate.cpp).
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "eval/eval.h"
#include "infer/reference_decoder.h"
#include "model/model.h"
#include "tiny_chat.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/tokenizer.h"

namespace {

using np::test::tiny_model;
using np::test::tiny_tokenizer;

using np::Tokenizer;
using np::eval::ThinkMode;

std::vector<int32_t> concat(std::initializer_list<std::vector<int32_t>> parts) {
    std::vector<int32_t> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

TEST(Eval, PromptPerThinkMode) {
    const auto& tok = tiny_tokenizer();
    const std::string q = "What is 12 + 30?";
    const std::vector<int32_t> head = concat({{0, 2},
                                              tok.encode("user\n"),
                                              tok.encode(q),
                                              {3},
                                              tok.encode("\n"),
                                              {2},
                                              tok.encode("assistant\n")});
    const auto nl = tok.encode("\n"), nl2 = tok.encode("\n\n");
    // Off prefills the empty block only: the "\n\n" after it is tokenized by what follows (GPT-2
    // pre-tokenisation cuts "\n\nThe" into "\n" "\n" "The", unlike "\n\n5"), so the model writes
    // it.
    EXPECT_EQ(np::eval::build_prompt(tok, q, ThinkMode::Auto), head);
    EXPECT_EQ(np::eval::build_prompt(tok, q, ThinkMode::On), concat({head, {4}, nl}));
    EXPECT_EQ(np::eval::build_prompt(tok, q, ThinkMode::Off), concat({head, {4}, nl2, {5}}));
    EXPECT_EQ(tok.decode(np::eval::build_prompt(tok, q, ThinkMode::Off)),
              "<|endoftext|><|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n"
              "<think>\n\n</think>");
    // Byte-level path: every byte is its own token (ids 6 + byte), so the sequence is literal.
    const Tokenizer base = np::nanoprime_base_tokenizer();
    std::vector<int32_t> want{0, 2};
    for (char ch : std::string("user\nhi")) want.push_back(6 + int32_t(uint8_t(ch)));
    want.insert(want.end(), {3, 6 + '\n', 2});
    for (char ch : std::string("assistant\n")) want.push_back(6 + int32_t(uint8_t(ch)));
    want.insert(want.end(), {4, 6 + '\n'});
    EXPECT_EQ(np::eval::build_prompt(base, "hi", ThinkMode::On), want);
    // Special-token spellings in a question stay text.
    auto p = np::eval::build_prompt(tok, "<|im_end|>", ThinkMode::Auto);
    EXPECT_EQ(std::count(p.begin(), p.end(), Tokenizer::kImEnd), 1);
}

TEST(Eval, ThinkModeParsing) {
    EXPECT_EQ(np::eval::parse_think_mode("on"), ThinkMode::On);
    EXPECT_EQ(np::eval::parse_think_mode("off"), ThinkMode::Off);
    EXPECT_EQ(np::eval::parse_think_mode("auto"), ThinkMode::Auto);
    EXPECT_THROW(np::eval::parse_think_mode("maybe"), np::Error);
    auto m = tiny_model(100, 1);
    EXPECT_THROW(np::eval::check_tokenizer(tiny_tokenizer(), m.cfg.vocab_size, "tok.json"),
                 np::Error);
}

TEST(Eval, VotingAndAggregation) {
    const nlohmann::json rec = {{"task", "addition"},
                                {"lang", "en"},
                                {"difficulty", 2},
                                {"question", "What is 40 + 2?"},
                                {"answer", "42"}};
    EXPECT_EQ(np::eval::vote_key(rec, "<think>\n40+2\n</think>\n\nThe answer is 42."), "42");
    EXPECT_EQ(np::eval::vote_key(rec, "<think>\nnever closed"), "");
    EXPECT_EQ(np::eval::majority_index({"", "7", "42", "42", "7"}), 1u);
    EXPECT_EQ(np::eval::majority_index({"", "7", "42", "42"}), 2u);
    EXPECT_EQ(np::eval::majority_index({"", ""}), 0u);

    std::vector<np::eval::RecordResult> rs(5);
    const char* tasks[] = {"addition", "addition", "sort", "sort", ""};
    const int diffs[] = {1, 2, 1, 2, -1};
    const bool ok[] = {true, true, false, true, false};
    const int think[] = {10, 20, 0, 5, 15};
    const char* families[] = {"sum_of", "sum_of", "asc", "", "x"};
    for (int i = 0; i < 5; ++i) {
        rs[i].task = tasks[i];
        rs[i].family = families[i];
        rs[i].lang = i % 2 ? "it" : "en";
        rs[i].difficulty = diffs[i];
        rs[i].correct = ok[i];
        rs[i].thinking_tokens = think[i];
        // Record 3's tokens are an empty block's whitespace: it did not think.
        rs[i].thought = think[i] > 0 && i != 3;
    }
    np::eval::EvalOptions opt;
    opt.gen.mode = ThinkMode::On;
    auto j = np::eval::summarize(rs, opt);
    EXPECT_EQ(j["mode"], "on");
    EXPECT_EQ(j["n"], 5);
    EXPECT_EQ(j["correct"], 3);
    EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 0.6);
    EXPECT_DOUBLE_EQ(j["mean_thinking_tokens"].get<double>(), 10.0);
    EXPECT_EQ(j["by_task"].size(), 2u);
    EXPECT_DOUBLE_EQ(j["by_task"]["addition"]["accuracy"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(j["by_task"]["sort"]["accuracy"].get<double>(), 0.5);
    EXPECT_EQ(j["by_difficulty"]["1"]["n"], 2);
    EXPECT_EQ(j["by_difficulty"]["2"]["correct"], 2);
    EXPECT_EQ(j["by_difficulty"].size(), 2u);
    // The share of records thought on, and thinking tokens, per slice.
    EXPECT_DOUBLE_EQ(j["thought"].get<double>(), 0.6);
    EXPECT_DOUBLE_EQ(j["by_task"]["sort"]["thought"].get<double>(), 0.0);
    EXPECT_DOUBLE_EQ(j["by_task"]["sort"]["mean_thinking_tokens"].get<double>(), 2.5);
    // Families are keyed "task/family"; a record without a task or family is in no family slice.
    EXPECT_EQ(j["by_family"].size(), 2u);
    EXPECT_EQ(j["by_family"]["addition/sum_of"]["n"], 2);
    EXPECT_EQ(j["by_family"]["sort/asc"]["correct"], 0);
    EXPECT_EQ(j["by_lang"]["en"]["n"], 3);
    EXPECT_EQ(j["by_lang"]["it"]["correct"], 2);
}

TEST(Eval, EvaluateRecordVotes) {
    const auto& tok = tiny_tokenizer();
    np::infer::ReferenceDecoder model(tiny_model(tok.vocab_size(), 5));
    const nlohmann::json rec = {{"question", "What is 1 + 1?"}, {"answer", "#### 2"}};
    np::eval::EvalOptions opt;
    opt.gen.mode = ThinkMode::Off;
    opt.gen.max_tokens = 6;
    opt.votes = 3;
    auto r = np::eval::evaluate_record(model, tok, rec, 0, opt);
    EXPECT_EQ(r.votes.size(), 3u);
    EXPECT_EQ(r.expected, "2");
    EXPECT_LE(r.generated_tokens, 6);
    auto r2 = np::eval::evaluate_record(model, tok, rec, 0, opt);
    EXPECT_EQ(r.output, r2.output);
    EXPECT_THROW(np::eval::evaluate_record(model, tok, {{"answer", "1"}}, 0, opt), np::Error);
}

}  // namespace
