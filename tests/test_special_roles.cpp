// NanoPrime's special-token roles on any tokenizer: found by their text, the missing ones appended
// after the last id with every existing id kept (Hugging Face's add_special_tokens), and the
// tokenizer refused when id 0 is not <|endoftext|>. Checked on the seed's own 32k tokenizer, which
// has <|endoftext|> <|padding|> <|im_start|> <|im_end|> but no think tokens.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "infer/generate.h"
#include "tiny_chat.h"
#include "tokenizer/role_specials.h"

namespace {

using np::SpecialIds;
using np::Tokenizer;

const std::string kSeed = std::string(NP_SHARED_DIR) + "/data/seed-tokenizer";

void expect_ids(const SpecialIds& s, std::array<int32_t, 6> want) {
    EXPECT_EQ(
        (std::array<int32_t, 6>{s.end_of_text, s.pad, s.im_start, s.im_end, s.think, s.think_end}),
        want);
}

TEST(SpecialRoles, NanoPrimeTokenizerIsComplete) {
    const Tokenizer& tok = np::test::tiny_tokenizer();
    expect_ids(np::special_ids_of(tok), {0, 1, 2, 3, 4, 5});
    const Tokenizer same = np::with_nanoprime_specials(tok);
    EXPECT_EQ(same.vocab_size(), tok.vocab_size());
    EXPECT_NO_THROW(np::require_nanoprime_specials(same, "tiny"));
}

TEST(SpecialRoles, SeedTokenizerGainsThinkTokensAndKeepsItsIds) {
    if (!std::filesystem::exists(kSeed)) GTEST_SKIP() << kSeed << " not found";
    const Tokenizer raw = Tokenizer::load(kSeed);
    const SpecialIds before = np::special_ids_of(raw);
    expect_ids(before, {0, 1, 2, 3, -1, -1});  // its pad is spelled <|padding|>
    EXPECT_THROW(np::require_nanoprime_specials(raw, "seed"), np::Error);

    std::string added;
    const Tokenizer tok = np::with_nanoprime_specials(raw, &added);
    EXPECT_EQ(added, "<think> </think>");
    const int32_t n = raw.vocab_size();
    ASSERT_EQ(tok.vocab_size(), n + 2);
    expect_ids(np::special_ids_of(tok), {0, 1, 2, 3, n, n + 1});
    for (int32_t id = 0; id < n; ++id) ASSERT_EQ(tok.id_to_piece(id), raw.id_to_piece(id)) << id;
    const std::string text = "Quanto fa 245 + 318? Ciao, buongiorno! <think> stays text.";
    EXPECT_EQ(tok.encode(text), raw.encode(text));
    EXPECT_NO_THROW(np::require_nanoprime_specials(tok, "seed"));
    // The new tokens are special: recognised when specials are, and chat prompts use them.
    EXPECT_EQ(tok.encode_with_specials("<think>")[0], n);
    const auto prompt = np::infer::build_prompt(tok, "2 + 2?", np::infer::ThinkMode::On);
    EXPECT_EQ(prompt[0], 0);
    EXPECT_EQ(prompt[1], 2);
    EXPECT_NE(std::find(prompt.begin(), prompt.end(), n), prompt.end());
    // Adding again changes nothing (the file the shards carry gives the same ids).
    EXPECT_EQ(np::with_nanoprime_specials(tok).vocab_size(), tok.vocab_size());
}

TEST(SpecialRoles, IdZeroMustStartDocuments) {
    auto j = nlohmann::json::parse(np::test::tiny_tokenizer().to_json());
    for (auto& a : j["added_tokens"])
        if (a["content"] == "<|endoftext|>") a["content"] = "<|begin|>";
    auto& vocab = j["model"]["vocab"];
    vocab["<|begin|>"] = vocab["<|endoftext|>"];
    vocab.erase("<|endoftext|>");
    const Tokenizer tok = np::with_nanoprime_specials(Tokenizer::from_json(j.dump(), "renamed"));
    EXPECT_EQ(np::special_ids_of(tok).end_of_text, tok.vocab_size() - 1);
    try {
        np::require_nanoprime_specials(tok, "renamed");
        FAIL() << "accepted";
    } catch (const np::Error& e) {
        EXPECT_NE(std::string(e.what()).find("id 0"), std::string::npos) << e.what();
    }
}

}  // namespace
