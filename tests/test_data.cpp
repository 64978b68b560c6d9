// Token shards, chat rendering and masks, data preparation, mixtures and the sampler.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/file_io.h"
#include "data/chat.h"
#include "data/encoder.h"
#include "data/mixture.h"
#include "data/prepare.h"
#include "data/shard.h"

namespace fs = std::filesystem;
using namespace np::data;
using nlohmann::json;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() /
               ("np_test_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
    static int& counter() {
        static int c = 0;
        return c;
    }
};

void write_text(const std::string& path, const std::string& s) {
    np::write_file_atomic(path, s);
}

template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const np::Error& e) {
        return e.what();
    }
    return "";
}

// Decodes byte-encoder ids back to text, spelling specials out, and collects the text of each
// maximal run of target (mask 1) tokens.
struct Decoded {
    std::string text;
    std::vector<std::string> targets;
};
Decoded decode(const TokenizedDoc& d) {
    static const char* names[] = {"<|endoftext|>", "<|pad|>", "<|im_start|>",
                                  "<|im_end|>",    "<think>", "</think>"};
    Decoded out;
    bool in_run = false;
    for (size_t i = 0; i < d.ids.size(); ++i) {
        std::string piece =
            d.ids[i] < kNumSpecial ? names[d.ids[i]] : std::string(1, char(d.ids[i] - kNumSpecial));
        out.text += piece;
        if (d.mask[i]) {
            if (!in_run) out.targets.emplace_back();
            out.targets.back() += piece;
        }
        in_run = d.mask[i];
    }
    return out;
}

TokenizedDoc tok(const std::string& jsonl_line) {
    return tokenize_document(record_to_document(json::parse(jsonl_line)), ByteEncoder{});
}

}  // namespace

TEST(DataShard, RoundTripWidthsAndMasks) {
    TempDir dir;
    for (uint32_t vocab : {300u, 70000u}) {
        for (size_t n : {size_t(0), size_t(1), size_t(13), size_t(1000)}) {
            for (bool with_mask : {false, true}) {
                std::vector<int32_t> ids(n);
                std::vector<uint8_t> mask;
                for (size_t i = 0; i < n; ++i) ids[i] = int32_t((i * 7919 + 13) % vocab);
                if (with_mask)
                    for (size_t i = 0; i < n; ++i) mask.push_back(uint8_t((i * 31 % 5) < 2));
                std::string p = dir / "s.npts";
                write_shard(p, ids, mask, vocab);
                ShardReader r(p);
                EXPECT_EQ(r.size(), n);
                EXPECT_EQ(r.width(), vocab <= 65536 ? 2u : 4u);
                EXPECT_EQ(r.vocab_size(), vocab);
                EXPECT_EQ(r.has_mask(), with_mask && n > 0);
                EXPECT_EQ(fs::file_size(p),
                          kShardHeaderBytes + n * r.width() + (r.has_mask() ? (n + 7) / 8 : 0));
                std::vector<int32_t> back(n);
                std::vector<uint8_t> mback(n);
                if (n) r.read(0, back, mback);
                EXPECT_EQ(back, ids);
                for (size_t i = 0; i < n; ++i) EXPECT_EQ(mback[i], with_mask ? mask[i] : 1);
            }
        }
    }
}

TEST(DataShard, CorruptShardsGiveClearErrors) {
    TempDir dir;
    std::string p = dir / "a.npts";
    std::vector<int32_t> ids = {0, 5, 9, 200, 17};
    std::vector<uint8_t> mask = {0, 1, 1, 0, 1};
    write_shard(p, ids, mask, 300);
    std::string good = np::read_file(p);
    auto with = [&](std::string bytes) {
        std::string q = dir / "bad.npts";
        write_text(q, bytes);
        return error_of([&] { ShardReader r(q); });
    };
    EXPECT_NE(with(good.substr(0, good.size() - 1)).find("truncated"), std::string::npos);
    EXPECT_NE(with(good + "x").find("needs"), std::string::npos);
    EXPECT_NE(with(good.substr(0, 10)).find("not a token shard"), std::string::npos);
    std::string b = good;
    b[0] = 'X';
    EXPECT_NE(with(b).find("magic"), std::string::npos);
    b = good;
    b[4] = 9;
    EXPECT_NE(with(b).find("version"), std::string::npos);
    b = good;
    b[8] = 3;
    EXPECT_NE(with(b).find("width"), std::string::npos);
    b = good;
    b[12] = 6;
    EXPECT_NE(with(b).find("flag"), std::string::npos);
    b = good;
    b[kShardHeaderBytes + 2] ^= 1;
    EXPECT_NE(with(b).find("checksum"), std::string::npos);
    EXPECT_NE(with(b).find("bad.npts"), std::string::npos);
    {
        std::string q = dir / "bad.npts";
        ShardReader unverified(q, false);  // the same corrupt file opens when verification is off
        EXPECT_EQ(unverified.size(), ids.size());
    }
    EXPECT_NE(error_of([&] { ShardReader r(dir / "missing.npts"); }).find("missing.npts"),
              std::string::npos);
    EXPECT_NE(error_of([&] {
                  write_shard(dir / "c.npts", std::vector<int32_t>{1, 300}, {}, 300);
              }).find("outside"),
              std::string::npos);
    EXPECT_NE(
        error_of([&] {
            write_shard(dir / "c.npts", std::vector<int32_t>{1, 2}, std::vector<uint8_t>{1}, 300);
        }).find("mask"),
        std::string::npos);
    ShardReader r(p);
    std::vector<int32_t> out(3);
    EXPECT_NE(error_of([&] { r.read(3, out, {}); }).find("past the end"), std::string::npos);
}

// A 4-byte id of 2^31 or more reads as a negative id; with no vocabulary recorded in the header
// verification used to let it through, to index an embedding at -16 later.
TEST(DataShard, NegativeIdsFailVerificationWithoutAVocabulary) {
    TempDir dir;
    const std::string p = dir / "a.npts";
    write_shard(p, std::vector<int32_t>{0, 7, 8}, {}, 0, 4);
    std::string b = np::read_file(p);
    const uint32_t neg = 0xfffffff0u;
    std::memcpy(b.data() + kShardHeaderBytes + 4, &neg, 4);
    const uint64_t sum = fnv1a64(b.data() + kShardHeaderBytes, b.size() - kShardHeaderBytes);
    std::memcpy(b.data() + 32, &sum, 8);  // a valid checksum: only the id check can catch it
    write_text(p, b);
    const std::string e = error_of([&] { ShardReader r(p); });
    EXPECT_NE(e.find("a.npts: token 1 has id -16, outside [0, 2^31)"), std::string::npos) << e;
    // Reads whose end wraps around are errors too.
    ShardReader r(p, false);
    int32_t one = 0;
    EXPECT_NE(error_of([&] {
                  r.read(~uint64_t(0), {&one, 1}, {});
              }).find("past the end"),
              std::string::npos);
}

TEST(DataChat, TextDocumentStartsWithEndOfTextAndTrainsEverything) {
    TokenizedDoc d = tok(R"({"text": "Ciao mondo"})");
    Decoded x = decode(d);
    EXPECT_EQ(d.ids[0], kEndOfText);
    EXPECT_EQ(x.text, "<|endoftext|>Ciao mondo");
    ASSERT_EQ(x.targets.size(), 1u);
    EXPECT_EQ(x.targets[0], x.text);
}

TEST(DataChat, MessagesWithSystemThinkingAndDirectTurns) {
    TokenizedDoc d = tok(R"({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\n2 plus 2 is 4.\n</think>\n\n4"},
        {"role": "user", "content": "Grazie"},
        {"role": "assistant", "content": "Prego!"}]})");
    Decoded x = decode(d);
    EXPECT_EQ(x.text,
              "<|endoftext|>"
              "<|im_start|>system\nBe brief.<|im_end|>\n"
              "<|im_start|>user\n2+2?<|im_end|>\n"
              "<|im_start|>assistant\n<think>\n2 plus 2 is 4.\n</think>\n\n4<|im_end|>\n"
              "<|im_start|>user\nGrazie<|im_end|>\n"
              "<|im_start|>assistant\n<think>\n\n</think>\n\nPrego!<|im_end|>\n");
    ASSERT_EQ(x.targets.size(), 2u);
    EXPECT_EQ(x.targets[0], "<think>\n2 plus 2 is 4.\n</think>\n\n4<|im_end|>");
    EXPECT_EQ(x.targets[1], "<think>\n\n</think>\n\nPrego!<|im_end|>");
    EXPECT_EQ(
        render_chat_text(
            record_to_document(
                json::parse(
                    R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]})"))
                .messages),
        "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\n<think>\n\n</"
        "think>\n\nb<|im_end|>\n");
}

TEST(DataChat, ThinkingPrefilledStyleWithoutOpeningTag) {
    Decoded x = decode(tok(
        R"({"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"r</think>a"}]})"));
    ASSERT_EQ(x.targets.size(), 1u);
    EXPECT_EQ(x.targets[0], "<think>\nr\n</think>\n\na<|im_end|>");
}

TEST(DataChat, InstructionFormats) {
    Decoded x = decode(tok(R"({"instruction": "Translate", "input": "cat", "output": "gatto"})"));
    EXPECT_EQ(x.text,
              "<|endoftext|><|im_start|>user\nTranslate\n\ncat<|im_end|>\n"
              "<|im_start|>assistant\n<think>\n\n</think>\n\ngatto<|im_end|>\n");
    ASSERT_EQ(x.targets.size(), 1u);
    EXPECT_EQ(x.targets[0], "<think>\n\n</think>\n\ngatto<|im_end|>");
    x = decode(tok(R"({"instruction": "Say hi", "input": "", "output": "hi", "system": "S"})"));
    EXPECT_EQ(x.text,
              "<|endoftext|><|im_start|>system\nS<|im_end|>\n<|im_start|>user\nSay hi<|im_end|>\n"
              "<|im_start|>assistant\n<think>\n\n</think>\n\nhi<|im_end|>\n");
}

TEST(DataChat, QuestionThinkingAnswerAndGsm8k) {
    Decoded x = decode(
        tok(R"({"task":"addition","question": "1+2?", "thinking": "1 + 2 = 3.", "answer": "3"})"));
    EXPECT_EQ(x.text,
              "<|endoftext|><|im_start|>user\n1+2?<|im_end|>\n"
              "<|im_start|>assistant\n<think>\n1 + 2 = 3.\n</think>\n\n3<|im_end|>\n");
    ASSERT_EQ(x.targets.size(), 1u);
    EXPECT_EQ(x.targets[0], "<think>\n1 + 2 = 3.\n</think>\n\n3<|im_end|>");

    x = decode(tok(
        R"({"question": "Clips?", "answer": "She sold 48/2 = <<48/2=24>>24 in May.\nIn all 48+24 = <<48+24=72>>72.\n#### 72"})"));
    ASSERT_EQ(x.targets.size(), 1u);
    EXPECT_EQ(x.targets[0],
              "<think>\nShe sold 48/2 = 24 in May.\nIn all 48+24 = 72.\n</think>\n\n72<|im_end|>");
    x = decode(tok(R"({"question": "Capital of Italy?", "answer": "Rome"})"));
    EXPECT_EQ(x.targets[0], "<think>\n\n</think>\n\nRome<|im_end|>");
}

TEST(DataChat, MaskBoundariesFallOnSpecialTokens) {
    // The prompt "<|im_start|>assistant\n" is not a target; the target run starts at <think>.
    TokenizedDoc d = tok(R"({"question": "q", "thinking": "t", "answer": "a"})");
    auto think = std::find(d.ids.begin(), d.ids.end(), kThink) - d.ids.begin();
    auto end = std::find(d.ids.begin() + think, d.ids.end(), kImEnd) - d.ids.begin();
    for (size_t i = 0; i < d.ids.size(); ++i)
        EXPECT_EQ(d.mask[i], i >= size_t(think) && i <= size_t(end) ? 1 : 0) << i;
    EXPECT_EQ(d.ids.back(), kNumSpecial + '\n');
}

TEST(DataChat, MalformedRecordsAreRejected) {
    auto bad = [](const char* s) { return error_of([&] { record_to_document(json::parse(s)); }); };
    EXPECT_NE(bad(R"({"messages": [{"role": "robot", "content": "x"}]})").find("robot"),
              std::string::npos);
    EXPECT_NE(bad(R"({"messages": [{"role": "user"}]})").find("content"), std::string::npos);
    EXPECT_NE(bad(R"({"messages": [{"role": "user", "content": "x"}]})").find("assistant"),
              std::string::npos);
    EXPECT_NE(
        bad(R"({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "<think>x"}]})")
            .find("without </think>"),
        std::string::npos);
    EXPECT_NE(bad(R"({"instruction": "x"})").find("output"), std::string::npos);
    // Records accepted here used to fail only when tokenized: every accepted record renders.
    EXPECT_NE(bad(R"({"question": "q", "answer": "3+2 <think>5"})")
                  .find("field \"answer\" contains a think tag"),
              std::string::npos);
    EXPECT_NE(bad(R"({"question": "q", "thinking": "t", "answer": "</think>5"})")
                  .find("field \"answer\" contains a think tag"),
              std::string::npos);
    EXPECT_NE(bad(R"({"instruction": "i", "output": "a</think>b<think>c</think>"})")
                  .find("field \"output\": assistant content has"),
              std::string::npos);
    EXPECT_NE(bad(R"({"text": 5})").find("not a string"), std::string::npos);
    EXPECT_NE(bad(R"({"foo": 1})").find("unknown record shape"), std::string::npos);
    EXPECT_NE(bad(R"([1, 2])").find("not a JSON object"), std::string::npos);
}

TEST(DataPrepare, EndToEndWithMalformedLines) {
    TempDir dir;
    write_text(dir / "a.txt", "First paragraph\nstill first.\n\n\nSecond one.\n\nThird.\n");
    write_text(dir / "b.jsonl",
               "{\"text\": \"json text\"}\n"
               "{\"question\": \"1+1?\", \"answer\": \"1+1=2\\n#### 2\"}\n"
               "this is not json\n"
               "\n"
               "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n"
               "{\"instruction\": \"i\", \"output\": \"o\"}\n");
    PrepareOptions o;
    o.inputs = {dir / "a.txt", dir / "b.jsonl"};
    o.out_dir = dir / "out";
    o.val_fraction = 0.3;
    o.seed = 7;
    o.shard_tokens = 40;
    o.progress = false;
    o.max_warnings = 0;
    PrepareSummary s = prepare_data(o, ByteEncoder{});
    EXPECT_EQ(s.malformed, 2u);
    ASSERT_EQ(s.malformed_examples.size(), 2u);
    EXPECT_NE(s.malformed_examples[0].find("b.jsonl:3"), std::string::npos);
    EXPECT_NE(s.malformed_examples[1].find("b.jsonl:5"), std::string::npos);
    EXPECT_EQ(s.documents[0] + s.documents[1], 6u);
    EXPECT_EQ(s.chat_documents, 2u);

    // Re-tokenize the expected documents independently and compare with the shards' contents.
    std::vector<Document> docs(6);
    docs[0].text = "First paragraph\nstill first.";
    docs[1].text = "Second one.";
    docs[2].text = "Third.";
    docs[3].text = "json text";
    docs[4] = record_to_document(json::parse(R"({"question": "1+1?", "answer": "1+1=2\n#### 2"})"));
    docs[5] = record_to_document(json::parse(R"({"instruction": "i", "output": "o"})"));
    std::multiset<std::vector<int32_t>> want, got;
    for (const auto& d : docs) want.insert(tokenize_document(d, ByteEncoder{}).ids);
    uint64_t tokens = 0;
    for (const char* split : {"train", "val"}) {
        for (const auto& f : list_shards(o.out_dir, split)) {
            ShardReader r(f);
            ASSERT_GT(r.size(), 0u);
            EXPECT_EQ(r.token(0), kEndOfText);
            tokens += r.size();
            std::vector<int32_t> cur;
            for (uint64_t i = 0; i < r.size(); ++i) {
                if (r.token(i) == kEndOfText && !cur.empty()) got.insert(std::exchange(cur, {}));
                cur.push_back(r.token(i));
            }
            got.insert(cur);
        }
    }
    EXPECT_EQ(got, want);
    EXPECT_EQ(tokens, s.tokens[0] + s.tokens[1]);
    EXPECT_GT(s.shards.size(), 2u);  // 40-token shards force several
    json j = json::parse(np::read_file(dir / "out/summary.json"));
    EXPECT_EQ(j["malformed_lines"], 2);
    EXPECT_EQ(j["documents"]["total"], 6);
    EXPECT_GT(j["tokens_per_word"].get<double>(), 1.0);

    // A second, smaller run into the same directory removes the stale shards of the first.
    o.inputs = {dir / "a.txt"};
    o.shard_tokens = 1 << 20;
    o.val_fraction = 0;
    PrepareSummary s2 = prepare_data(o, ByteEncoder{});
    EXPECT_EQ(list_shards(o.out_dir, "train").size(), 1u);
    EXPECT_TRUE(list_shards(o.out_dir, "val").empty());
    EXPECT_EQ(s2.documents[0], 3u);

    // File names need not be UTF-8, and the summary quotes them: summary.json is still written
    // (json::dump used to throw at the very end of the run, after all the work).
    const std::string latin1 = dir / "caf\xe9.jsonl";
    write_text(latin1, "{\"text\": \"ok\"}\n{\"text\": \"fine\"}\nnot json\n");
    o.inputs = {latin1};
    PrepareSummary s3 = prepare_data(o, ByteEncoder{});
    EXPECT_EQ(s3.malformed, 1u);
    const json summary = json::parse(np::read_file(dir / "out/summary.json"));
    EXPECT_EQ(summary["malformed_lines"], 1);
    EXPECT_NE(summary["malformed_examples"][0].get<std::string>().find("caf\xef\xbf\xbd.jsonl:3"),
              std::string::npos);

    // Split is deterministic in the seed.
    o.inputs = {dir / "a.txt", dir / "b.jsonl"};
    o.val_fraction = 0.5;
    PrepareSummary a = prepare_data(o, ByteEncoder{});
    PrepareSummary b = prepare_data(o, ByteEncoder{});
    EXPECT_EQ(a.documents[1], b.documents[1]);
    EXPECT_EQ(a.tokens[1], b.tokens[1]);
}

TEST(DataPrepare, TextDocModesAndBadOptions) {
    TempDir dir;
    write_text(dir / "a.txt", "l1\nl2\n\nl3\n");
    PrepareOptions o;
    o.inputs = {dir / "a.txt"};
    o.out_dir = dir / "out";
    o.val_fraction = 0;
    o.progress = false;
    o.text_docs = "line";
    EXPECT_EQ(prepare_data(o, ByteEncoder{}).documents[0], 3u);
    o.text_docs = "file";
    EXPECT_EQ(prepare_data(o, ByteEncoder{}).documents[0], 1u);
    o.text_docs = "bogus";
    EXPECT_NE(error_of([&] { prepare_data(o, ByteEncoder{}); }).find("--text-docs"),
              std::string::npos);
    o.text_docs = "blank";
    o.inputs = {dir / "nope.txt"};
    EXPECT_NE(error_of([&] { prepare_data(o, ByteEncoder{}); }).find("nope.txt"),
              std::string::npos);
}

// ---- mixtures and sampler ----

namespace {

// Source s holds ids base + position so every drawn token says where it came from.
void make_source(const std::string& dir, int32_t base, size_t n, size_t per_shard, bool masked) {
    fs::create_directories(dir);
    for (size_t start = 0, k = 0; start < n; start += per_shard, ++k) {
        std::vector<int32_t> ids;
        std::vector<uint8_t> mask;
        for (size_t i = start; i < std::min(n, start + per_shard); ++i) {
            ids.push_back(base + int32_t(i));
            mask.push_back(uint8_t(i % 3 != 0));
        }
        char name[32];
        std::snprintf(name, sizeof name, "train_%05zu.npts", k);
        write_shard(dir + "/" + name, ids,
                    masked ? std::span<const uint8_t>(mask) : std::span<const uint8_t>(), 100000);
    }
}

DataConfig three_sources(const TempDir& dir) {
    make_source(dir / "en", 10000, 5000, 1700, false);
    make_source(dir / "it", 20000, 3000, 3000, false);
    make_source(dir / "instr", 30000, 1000, 333, true);
    DataConfig c = DataConfig::seed_default(dir / "en", dir / "it", dir / "instr");
    c.block_tokens = 128;
    c.seed = 42;
    return c;
}

struct Draw {
    std::vector<int32_t> ids;
    std::vector<uint8_t> mask;
    std::vector<int> src;
};
Draw draw(MixtureSampler& s, int rows, int len, double progress) {
    Draw d;
    d.ids.resize(size_t(rows * len));
    d.mask.resize(d.ids.size());
    s.next_batch(rows, len, progress, d.ids, d.mask, &d.src);
    return d;
}

}  // namespace

TEST(DataSampler, DeterministicAndResumable) {
    TempDir dir;
    DataConfig c = three_sources(dir);
    MixtureSampler a(c), b(c);
    const int lens[] = {16, 16, 32, 7, 64, 64, 128, 5};
    std::vector<Draw> first;
    json saved;
    for (int i = 0; i < 8; ++i) {
        if (i == 3) saved = a.state_json();
        Draw x = draw(a, 4, lens[i], i / 8.0);
        Draw y = draw(b, 4, lens[i], i / 8.0);
        EXPECT_EQ(x.ids, y.ids);
        EXPECT_EQ(x.mask, y.mask);
        first.push_back(x);
    }
    MixtureSampler r(c);
    r.load_state(json::parse(saved.dump()));
    for (int i = 3; i < 8; ++i) {
        Draw x = draw(r, 4, lens[i], i / 8.0);
        EXPECT_EQ(x.ids, first[size_t(i)].ids) << "batch " << i;
        EXPECT_EQ(x.mask, first[size_t(i)].mask);
        EXPECT_EQ(x.src, first[size_t(i)].src);
    }
    // Another seed gives another order.
    c.seed = 43;
    MixtureSampler other(c);
    EXPECT_NE(draw(other, 4, 16, 0).ids, first[0].ids);
    // A state saved for other data is refused.
    DataConfig c2 = c;
    c2.sources.pop_back();
    for (auto& p : c2.phases) p.weights.pop_back();
    MixtureSampler small(c2);
    EXPECT_NE(error_of([&] { small.load_state(saved); }).find("different data sources"),
              std::string::npos);
}

TEST(DataSampler, MasksFollowTheShards) {
    TempDir dir;
    DataConfig c = three_sources(dir);
    MixtureSampler s(c);
    Draw d = draw(s, 64, 20, 0.95);
    for (size_t i = 0; i < d.ids.size(); ++i) {
        int32_t id = d.ids[i];
        uint8_t want = id >= 30000 ? uint8_t((id - 30000) % 3 != 0) : 1;
        ASSERT_EQ(d.mask[i], want) << i;
    }
}

TEST(DataSampler, RanksPartitionTheSingleRankStream) {
    TempDir dir;
    DataConfig c = three_sources(dir);
    const int world = 3, rows = 2;
    MixtureSampler single(c);
    std::vector<MixtureSampler> ranks;
    for (int r = 0; r < world; ++r) ranks.emplace_back(c, r, world);
    for (int step = 0; step < 6; ++step) {
        int len = step < 3 ? 24 : 40;  // the curriculum changes the length mid-run
        Draw all = draw(single, rows * world, len, step / 6.0);
        for (int r = 0; r < world; ++r) {
            Draw mine = draw(ranks[size_t(r)], rows, len, step / 6.0);
            for (int i = 0; i < rows; ++i) {
                size_t g = size_t(i * world + r);
                std::vector<int32_t> want(all.ids.begin() + g * len,
                                          all.ids.begin() + (g + 1) * len);
                std::vector<int32_t> got(mine.ids.begin() + i * len,
                                         mine.ids.begin() + (i + 1) * len);
                EXPECT_EQ(got, want) << "step " << step << " rank " << r << " row " << i;
            }
        }
    }
    for (int r = 0; r < world; ++r)
        EXPECT_EQ(ranks[size_t(r)].state().offset, single.state().offset);
}

TEST(DataSampler, OneEpochCoversEveryTokenOnceAcrossRanks) {
    TempDir dir;
    make_source(dir / "only", 0, 1000, 300, false);  // 4 shards; 1000 = 15 blocks of 64 + one of 40
    DataConfig c;
    c.sources = {{"only", dir / "only", "train", true, false}};
    c.phases = {{"all", 1.0, {1.0}}};
    c.block_tokens = 64;
    c.seed = 5;
    const int world = 4;
    std::vector<MixtureSampler> ranks;
    for (int r = 0; r < world; ++r) ranks.emplace_back(c, r, world);
    std::vector<int32_t> seen;
    // 1000 tokens = 10 steps x 4 ranks x 1 row x 10 + 5 steps x 4 ranks x 1 row x 30.
    for (int step = 0; step < 15; ++step) {
        int len = step < 10 ? 10 : 30;
        for (int r = 0; r < world; ++r) {
            Draw d = draw(ranks[size_t(r)], 1, len, 0);
            seen.insert(seen.end(), d.ids.begin(), d.ids.end());
        }
    }
    ASSERT_EQ(seen.size(), 1000u);
    std::vector<int32_t> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(sorted[size_t(i)], i);
    bool shuffled = false;
    for (size_t i = 1; i < seen.size(); ++i) shuffled |= seen[i] != seen[i - 1] + 1;
    EXPECT_TRUE(shuffled);
    EXPECT_EQ(ranks[0].state().epoch[0], 1u);
    EXPECT_EQ(ranks[0].state().offset[0], 0u);
    // The next epoch has a different block order.
    Draw next = draw(ranks[0], 1, 200, 0);
    EXPECT_NE(std::vector<int32_t>(next.ids.begin(), next.ids.begin() + 200),
              std::vector<int32_t>(seen.begin(), seen.begin() + 200));
}

TEST(DataSampler, PhasesAndWeights) {
    TempDir dir;
    DataConfig c = three_sources(dir);
    MixtureSampler s(c);
    EXPECT_EQ(c.phase_at(0.0), 0);
    EXPECT_EQ(c.phase_at(0.899), 0);
    EXPECT_EQ(c.phase_at(0.9), 1);
    EXPECT_EQ(c.phase_at(1.0), 1);
    for (double progress : {0.5, 0.95}) {
        std::vector<int> count(3, 0);
        const int n = 4000;
        for (int i = 0; i < n / 100; ++i) {
            Draw d = draw(s, 100, 4, progress);
            for (int src : d.src) count[size_t(src)]++;
        }
        const auto& w = c.phases[size_t(c.phase_at(progress))].weights;
        for (int k = 0; k < 3; ++k)
            EXPECT_NEAR(count[size_t(k)] / double(n), w[size_t(k)], 0.03) << progress << " " << k;
    }
}

TEST(DataSampler, ConfigJsonOptionalSourcesAndErrors) {
    TempDir dir;
    make_source(dir / "instr", 30000, 500, 500, true);
    write_text(dir / "data.json", R"({"seed": 3, "block_tokens": 100,
        "sources": [{"name": "en", "path": "en", "optional": true},
                    {"name": "instructions", "path": "instr"}],
        "phases": [{"name": "knowledge", "fraction": 0.9, "weights": {"en": 0.9, "instructions": 0.1}},
                   {"name": "alignment", "fraction": 0.1, "weights": {"instructions": 1}}]})");
    DataConfig c = DataConfig::load(dir / "data.json");
    EXPECT_EQ(c.sources[1].path, dir / "instr");
    EXPECT_EQ(DataConfig::from_json(c.to_json()).to_json(), c.to_json());
    MixtureSampler s(c);  // "en" has no shards and is optional: dropped, instructions get 100%
    ASSERT_EQ(s.num_sources(), 1);
    EXPECT_EQ(draw(s, 3, 10, 0).src, std::vector<int>({0, 0, 0}));

    c.sources[0].optional = false;
    EXPECT_NE(error_of([&] { MixtureSampler x(c); }).find("no train_*.npts"), std::string::npos);
    auto bad = [&](const char* text) {
        write_text(dir / "bad.json", text);
        return error_of([&] { DataConfig::load(dir / "bad.json"); });
    };
    EXPECT_NE(
        bad(R"({"sources": [{"name": "a", "path": "x"}], "phases": [{"fraction": 0.5, "weights": {"a": 1}}]})")
            .find("sum to"),
        std::string::npos);
    EXPECT_NE(bad(R"({"sources": [{"name": "a", "path": "x"}], "phases": [{"weights": {"b": 1}}]})")
                  .find("unknown source"),
              std::string::npos);
    EXPECT_NE(bad(R"({"phases": []})").find("sources"), std::string::npos);
    EXPECT_NE(bad("{").find("bad.json"), std::string::npos);
}
