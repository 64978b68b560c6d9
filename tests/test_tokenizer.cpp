// Byte-level BPE: HF-compatible loading, exact round trips, special-token handling, training.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/file_io.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

namespace {

using np::Tokenizer;
namespace fs = std::filesystem;

// Deterministic English/Italian-like text with numbers, punctuation and odd whitespace.
std::string make_text(size_t bytes, uint32_t seed) {
    static const char* words[] = {
        "the",    "of",     "and",       "to",     "in",     "is",     "that",   "for",    "water",
        "number", "people", "could",     "school", "il",     "la",     "di",     "che",    "non",
        "è",      "città",  "perché",    "più",    "lavoro", "mondo",  "grazie", "casa",   "acqua",
        "it's",   "l'uomo", "dell'anno", "we'll",  "naïve",  "Straße", "😀",      "Привет", "你好"};
    std::mt19937 rng(seed);
    std::string s;
    while (s.size() < bytes) {
        const uint32_t r = rng() % 100;
        if (r < 8)
            s += std::to_string(rng() % 100000);
        else if (r < 12)
            s += "\n";
        else if (r < 14)
            s += "  \t";
        else
            s += words[rng() % std::size(words)];
        s += (rng() % 10 == 0) ? ". " : " ";
    }
    return s;
}

const Tokenizer& trained() {
    static const Tokenizer t = [] {
        const std::vector<std::string> texts{make_text(200000, 1), make_text(50000, 2)};
        np::BpeTrainOptions opt;
        opt.vocab_size = 700;
        opt.threads = 2;
        return np::train_bpe_texts(texts, opt);
    }();
    return t;
}

std::string seed_path() {
    return std::string(NP_SHARED_DIR) + "/data/seed-tokenizer/tokenizer.json";
}

std::string random_bytes(std::mt19937& rng, size_t n) {
    static const std::vector<std::string> frags = {
        "é",          "😀",  "\xE2\x82", "\x80",         "\xF0\x9F", " ",      "\n",    "'s",
        "<|im_end|>", "12", "\xC0\xAF", "\xED\xA0\x80", "ciao",     "\u00a0", "\u0085"};
    std::string s;
    while (s.size() < n) {
        const uint32_t r = rng() % 3;
        if (r == 0)
            s.push_back(static_cast<char>(rng() & 0xFF));
        else if (r == 1)
            s.push_back(static_cast<char>(' ' + rng() % 95));
        else
            s += frags[rng() % frags.size()];
    }
    return s;
}

std::vector<std::string> gpt2_split(std::string_view s) {
    std::vector<std::string_view> v;
    np::split_gpt2(s, v);
    return {v.begin(), v.end()};
}

TEST(TokenizerPreTokenize, Gpt2RegexCases) {
    using V = std::vector<std::string>;
    EXPECT_EQ(gpt2_split("Hello world"), (V{"Hello", " world"}));
    EXPECT_EQ(gpt2_split("it's we'll 'S"), (V{"it", "'s", " we", "'ll", " '", "S"}));
    EXPECT_EQ(gpt2_split("a  b"), (V{"a", " ", " b"}));
    EXPECT_EQ(gpt2_split("a\n\n b"), (V{"a", "\n\n", " b"}));
    EXPECT_EQ(gpt2_split("a\nb"), (V{"a", "\n", "b"}));
    EXPECT_EQ(gpt2_split("x  "), (V{"x", "  "}));
    EXPECT_EQ(gpt2_split("3.14!!"), (V{"3", ".", "14", "!!"}));
    EXPECT_EQ(gpt2_split(" città 12"), (V{" città", " 12"}));
    EXPECT_EQ(gpt2_split("a\xFF\xFE b"), (V{"a", "\xFF\xFE", " b"}));
    np::PreTokenizerConfig digits;
    digits.split_digits = true;
    std::string scratch;
    std::vector<std::string_view> words;
    np::pre_tokenize(digits, "x 2024!", scratch, words);
    EXPECT_EQ((V{words.begin(), words.end()}), (V{"x", " ", "2", "0", "2", "4", "!"}));
}

TEST(TokenizerTrain, LayoutAndDigits) {
    const Tokenizer& t = trained();
    EXPECT_GT(t.vocab_size(), 400);  // the small test text runs out of pairs seen twice
    EXPECT_LE(t.vocab_size(), 700);
    for (size_t i = 0; i < Tokenizer::kSpecialTokens.size(); ++i) {
        EXPECT_EQ(t.id_to_piece(static_cast<int32_t>(i)), Tokenizer::kSpecialTokens[i]);
        EXPECT_TRUE(t.is_special(static_cast<int32_t>(i)));
    }
    EXPECT_EQ(t.special_ids(), (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
    for (int b = 0; b < 256; ++b) EXPECT_EQ(t.id_to_bytes(6 + b), std::string(1, char(b)));
    for (const char* s : {"12345", "x 2024, 99.5", "٣٤ ²"}) {
        for (int32_t id : t.encode(s)) {
            const std::string bytes = t.id_to_bytes(id);
            const bool has_digit = bytes.find_first_of("0123456789") != std::string::npos;
            if (has_digit) {
                EXPECT_EQ(bytes.size(), 1u) << s << ": token '" << bytes << "'";
            }
        }
    }
    EXPECT_EQ(t.encode("12345").size(), 5u);
    // Arabic-Indic digits are Unicode N too: the tokens of "٣٤" split between the two digits.
    std::string prefix;
    bool cut = false;
    for (int32_t id : t.encode("٣٤")) cut |= (prefix += t.id_to_bytes(id)) == "٣";
    EXPECT_TRUE(cut);
}

TEST(TokenizerTrain, DeterministicAcrossThreads) {
    const std::vector<std::string> texts{make_text(60000, 7)};
    np::BpeTrainOptions opt;
    opt.vocab_size = 400;
    opt.threads = 1;
    const std::string a = np::train_bpe_texts(texts, opt).to_json();
    opt.threads = 2;
    const std::string b = np::train_bpe_texts(texts, opt).to_json();
    EXPECT_EQ(a, b);
}

TEST(TokenizerTrain, ChunkedCountingEqualsWholeText) {
    // > 2 MiB, so counting cuts it into chunks that run on different threads.
    const std::vector<std::string> texts{make_text(2300000, 11)};
    const auto counted = np::count_words(texts, 2);
    std::map<std::string, uint64_t> ref;
    np::nanoprime_base_tokenizer().for_each_word(
        texts[0], true, [&](std::string_view w) { ++ref[std::string(w)]; });
    EXPECT_EQ(counted, (std::vector<std::pair<std::string, uint64_t>>(ref.begin(), ref.end())));
}

TEST(TokenizerTrain, RejectsTinyVocab) {
    np::BpeTrainOptions opt;
    opt.vocab_size = 100;
    EXPECT_THROW(np::train_bpe_texts(std::vector<std::string>{"abc"}, opt), np::Error);
}

TEST(TokenizerRoundTrip, RandomBytes) {
    std::vector<const Tokenizer*> toks{&trained()};
    std::optional<Tokenizer> seed;
    if (fs::exists(seed_path())) toks.push_back(&seed.emplace(Tokenizer::load(seed_path())));
    std::mt19937 rng(42);
    for (const Tokenizer* t : toks) {
        for (int iter = 0; iter < 400; ++iter) {
            const std::string s = random_bytes(rng, rng() % 300);
            ASSERT_EQ(t->decode(t->encode(s)), s);
            ASSERT_EQ(t->decode(t->encode_with_specials(s)), s);
        }
        // Long words take the heap path of the merge loop.
        const std::string long_word(5000, 'a');
        EXPECT_EQ(t->decode(t->encode(long_word)), long_word);
        EXPECT_EQ(t->decode(t->encode("")), "");
    }
}

TEST(TokenizerSpecials, NeverFromPlainText) {
    const Tokenizer& t = trained();
    const std::string chat =
        "<|im_start|>user\nciao<|im_end|>\n<think>\n\n</think>\n\n<|endoftext|>";
    for (int32_t id : t.encode(chat)) EXPECT_FALSE(t.is_special(id)) << id;
    EXPECT_EQ(t.decode(t.encode(chat)), chat);
    const auto with = t.encode_with_specials(chat);
    EXPECT_EQ(with.front(), Tokenizer::kImStart);
    EXPECT_EQ(with.back(), Tokenizer::kEndOfText);
    EXPECT_EQ(std::count(with.begin(), with.end(), Tokenizer::kThink), 1);
    EXPECT_EQ(std::count(with.begin(), with.end(), Tokenizer::kThinkEnd), 1);
    EXPECT_EQ(t.decode(with), chat);
    EXPECT_EQ(t.encode_with_specials("<|im_end|>"), (std::vector<int32_t>{Tokenizer::kImEnd}));
    EXPECT_EQ(t.special_id("<think>"), Tokenizer::kThink);
    std::mt19937 rng(3);
    for (int i = 0; i < 200; ++i)
        for (int32_t id : t.encode(random_bytes(rng, 100))) ASSERT_FALSE(t.is_special(id));
}

TEST(TokenizerEncode, ThreadSafeAndCacheIndependent) {
    const Tokenizer& t = trained();
    const Tokenizer u = Tokenizer::from_json(t.to_json(), "copy");
    std::vector<std::string> texts;
    for (uint32_t i = 0; i < 8; ++i) texts.push_back(make_text(30000, 100 + i));
    std::vector<std::vector<int32_t>> serial, parallel(texts.size());
    for (const auto& s : texts) serial.push_back(t.encode(s));
#pragma omp parallel for num_threads(2)
    for (size_t i = 0; i < texts.size(); ++i) {
        // Alternating tokenizers in one thread must not mix their word caches.
        (void)u.encode(texts[i]);
        parallel[i] = t.encode(texts[i]);
    }
    EXPECT_EQ(serial, parallel);
}

TEST(TokenizerJson, SaveLoadRoundTrip) {
    const Tokenizer& t = trained();
    const std::string json = t.to_json();
    const Tokenizer u = Tokenizer::from_json(json, "test");
    EXPECT_EQ(u.to_json(), json);
    const std::string text = make_text(20000, 5) + "<|im_end|>ciao";
    EXPECT_EQ(u.encode(text), t.encode(text));
    EXPECT_EQ(u.encode_with_specials(text), t.encode_with_specials(text));
    const fs::path dir = fs::temp_directory_path() / "np_tok_json_test";
    fs::create_directories(dir);
    t.save((dir / "tokenizer.json").string());
    EXPECT_EQ(Tokenizer::load(dir.string()).encode(text), t.encode(text));
    fs::remove_all(dir);
}

TEST(TokenizerJson, SeedMatchesHuggingFaceIds) {
    if (!fs::exists(seed_path())) GTEST_SKIP() << "no seed tokenizer at " << seed_path();
    const Tokenizer t = Tokenizer::load(seed_path());
    EXPECT_EQ(t.vocab_size(), 32043);
    using V = std::vector<int32_t>;
    // Reference ids from Hugging Face tokenizers 0.23 (Rust) on the same tokenizer.json.
    EXPECT_EQ(t.encode("Hello world 12345 ciao"), (V{22734, 1200, 1749, 22, 4759, 224, 32000}));
    EXPECT_EQ(t.encode("ciaone  \n\n  x"), (V{32000, 499, 13838, 1880, 4035}));
    EXPECT_EQ(t.encode("l'uomo it's"), (V{79, 10, 3701, 472, 502}));
    EXPECT_EQ(t.encode_with_specials("<|im_end|>x"), (V{3, 91}));
    EXPECT_FALSE(t.is_special(32000));  // added Italian words are not special
    EXPECT_TRUE(t.is_special(1));
    EXPECT_EQ(t.id_to_piece(1200), "Ġworld");
    // Re-saved, it still gives the same ids.
    const Tokenizer u = Tokenizer::from_json(t.to_json(), "resaved");
    const std::string text = make_text(30000, 9);
    EXPECT_EQ(u.encode(text), t.encode(text));
}

TEST(TokenizerGpt2, VocabMergesFiles) {
    const fs::path dir = fs::temp_directory_path() / "np_tok_gpt2_test";
    fs::create_directories(dir);
    // Hand-written: the 256 byte tokens, then "th", "the", "Ġthe".
    std::string vocab = "{";
    for (int b = 0; b < 256; ++b) {
        std::string piece = Tokenizer::byte_to_char(static_cast<uint8_t>(b));
        if (piece == "\"" || piece == "\\") piece = "\\" + piece;
        vocab += "\"" + piece + "\": " + std::to_string(b) + ", ";
    }
    vocab += "\"th\": 256, \"the\": 257, \"Ġthe\": 258}";
    np::write_file_atomic((dir / "vocab.json").string(), vocab);
    np::write_file_atomic((dir / "merges.txt").string(),
                          std::string("#version: 0.2\nt h\nth e\nĠ the\n"));
    const Tokenizer t = Tokenizer::load(dir.string());
    EXPECT_EQ(t.encode("the the"), (std::vector<int32_t>{257, 258}));
    EXPECT_EQ(t.encode("thx"), (std::vector<int32_t>{256, 'x'}));
    EXPECT_EQ(t.num_merges(), 3u);
    // Our trained tokenizer exported as vocab/merges gives the same ids for plain text.
    trained().save_gpt2((dir / "vocab.json").string(), (dir / "merges.txt").string());
    const Tokenizer u =
        Tokenizer::load_gpt2((dir / "vocab.json").string(), (dir / "merges.txt").string());
    const std::string text = make_text(20000, 13);
    EXPECT_NE(u.pre_tokenizer().split_digits, true);  // GPT-2 files carry no pre-tokenizer
    std::string no_digits;
    for (char c : text)
        if (c < '0' || c > '9') no_digits += c;
    EXPECT_EQ(u.encode(no_digits), trained().encode(no_digits));
    fs::remove_all(dir);
}

TEST(TokenizerJson, ErrorsNameTheProblem) {
    auto message = [](const std::string& json) {
        try {
            Tokenizer::from_json(json, "bad.json");
        } catch (const np::Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(message("{").find("bad.json: not valid JSON"), std::string::npos);
    EXPECT_NE(message("{\"model\": {\"type\": \"WordPiece\"}}").find("model.type"),
              std::string::npos);
    const std::string no_bytes =
        R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
            "pre_tokenizer": {"type": "ByteLevel"}})";
    EXPECT_NE(message(no_bytes).find("lacks the byte-level token"), std::string::npos);
    EXPECT_THROW(trained().decode(std::vector<int32_t>{100000}), np::Error);
}

// Ids are file data: each one is checked (as a JSON number, and against the vocabulary limit)
// before the id tables are sized by the largest. These used to allocate 10^8 or 4*10^8 entries
// (GBs) before reporting anything, overflow max_id + 1, or cast 1e10 / 2^40 to int32.
TEST(TokenizerJson, HostileIdsAreRejectedBeforeAllocation) {
    auto message = [](const std::string& json, int64_t max_vocab = np::kMaxVocabSize) {
        try {
            Tokenizer::from_json(json, "bad.json", max_vocab);
        } catch (const np::Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    auto with = [](const std::function<void(nlohmann::json&)>& edit) {
        nlohmann::json j = nlohmann::json::parse(trained().to_json());
        edit(j);
        return j.dump();
    };
    const std::string range = "must be an integer id in [0, " + std::to_string(np::kMaxVocabSize);
    std::string m = message(with([](auto& j) { j["model"]["vocab"]["!"] = 100000000; }));
    EXPECT_NE(m.find("bad.json: model.vocab['!'] " + range), std::string::npos) << m;
    m = message(with([](auto& j) { j["model"]["vocab"]["!"] = 2147483647; }));
    EXPECT_NE(m.find(range), std::string::npos) << m;
    // An added token with id 4*10^8 and nothing else: the missing model is reported, with no
    // table of 4*10^8 entries allocated first.
    m = message(R"({"added_tokens": [{"id": 400000000, "content": "x", "special": true}]})");
    EXPECT_EQ(m, "bad.json: missing field 'model'");
    m = message(R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
                    "added_tokens": [{"id": 400000000, "content": "x", "special": true}]})");
    EXPECT_NE(m.find("bad.json: added_tokens[0].id " + range), std::string::npos) << m;
    m = message(R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
                    "added_tokens": [{"id": 4, "content": "x", "special": true}]})");
    EXPECT_NE(m.find("bad.json: pre_tokenizer is missing"), std::string::npos) << m;
    m = message(with([](auto& j) { j["added_tokens"][0]["id"] = 400000000; }));
    EXPECT_NE(m.find("bad.json: added_tokens[0].id " + range), std::string::npos) << m;
    m = message(with([](auto& j) { j["added_tokens"][0]["id"] = 1e10; }));
    EXPECT_NE(m.find("added_tokens[0].id must be an integer id"), std::string::npos) << m;
    m = message(with([](auto& j) { j["added_tokens"][0]["id"] = int64_t(1) << 40; }));
    EXPECT_NE(m.find("added_tokens[0].id must be an integer id"), std::string::npos) << m;
    m = message(with([](auto& j) { j["added_tokens"][0]["id"] = 2.0; }));
    EXPECT_NE(m.find("added_tokens[0].id must be an integer id"), std::string::npos) << m;
    // A model's vocab_size bounds the ids (the GGUF loader passes it).
    const int32_t v = trained().vocab_size();
    EXPECT_EQ(message(trained().to_json(), v), "no error");
    m = message(trained().to_json(), v - 1);
    EXPECT_NE(m.find("in [0, " + std::to_string(v - 1) + ")"), std::string::npos) << m;
    // Wrong JSON types are np::Errors too, not nlohmann exceptions.
    EXPECT_NE(message(with([](auto& j) { j["decoder"] = 5; })).find("decoder must be ByteLevel"),
              std::string::npos);
    EXPECT_NE(message(with([](auto& j) {
                  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {1, 2}}};
              })).find("pre_tokenizer must be"),
              std::string::npos);
    EXPECT_NE(message(with([](auto& j) {
                  j["added_tokens"][0]["content"] = 7;
              })).find("added_tokens[0].content must be a string"),
              std::string::npos);
    EXPECT_NE(message(with([](auto& j) { j["added_tokens"] = 3; })).find("must be an array"),
              std::string::npos);
}

// merges.txt is not JSON and need not be UTF-8: such a line is an np::Error naming the line's
// tokens, not a JSON serialisation error (the loader used to re-serialise the files as JSON).
TEST(TokenizerGpt2, MergesThatAreNotUtf8) {
    const fs::path dir = fs::temp_directory_path() / "np_tok_gpt2_utf8_test";
    fs::create_directories(dir);
    trained().save_gpt2((dir / "vocab.json").string(), (dir / "merges.txt").string());
    np::write_file_atomic((dir / "merges.txt").string(), std::string("#version: 0.2\n\xff \xfe\n"));
    try {
        Tokenizer::load(dir.string());
        ADD_FAILURE() << "accepted";
    } catch (const np::Error& e) {
        EXPECT_NE(std::string(e.what()).find("not in the vocabulary"), std::string::npos)
            << e.what();
    }
    fs::remove_all(dir);
}

}  // namespace
