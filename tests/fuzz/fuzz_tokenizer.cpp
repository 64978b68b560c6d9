// Tokenizer loaders (tokenizer/tokenizer.cpp): HF tokenizer.json, and GPT-2 vocab.json +
// merges.txt. First byte even: the rest is a tokenizer.json; odd: the rest is vocab.json and
// merges.txt separated by a "\n--8<--\n" line. An accepted tokenizer must decode every encoding
// back to its text (unless it adds prefix spaces or strips around added tokens), and write a
// tokenizer.json that loads into the same encoder.
#include <algorithm>
#include <optional>

#include "fuzz_common.h"
#include "tokenizer/tokenizer.h"

namespace {

const std::vector<std::string>& sample_texts() {
    static const std::vector<std::string> texts = [] {
        std::vector<std::string> t = {
            "Hello world! It's 2024: 12345 + 678 = 13023.",
            "<|im_start|>user\nWhat is 7*6?<|im_end|>\n<|im_start|>assistant\n<think>\nx\n</think>"
            "\n\n42<|im_end|>",
            "  leading spaces\ttabs\r\nand\n\nnewlines   ",
            "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 \xff\xfe broken \xc3",
        };
        std::string all_bytes;
        for (int b = 0; b < 256; b++) all_bytes.push_back(char(b));
        t.push_back(all_bytes);
        t.push_back(std::string(300, 'a') + " " + std::string(70, 'b'));  // long-word BPE path
        return t;
    }();
    return texts;
}

void check_round_trips(const np::Tokenizer& tok, std::string_view extra) {
    std::vector<std::string> texts = sample_texts();
    texts.emplace_back(extra.substr(0, 512));
    // Not invertible by design, as in HF: add_prefix_space inserts a space before every word,
    // which decoding keeps; an added token with lstrip/rstrip swallows the whitespace around it.
    bool invertible = !tok.pre_tokenizer().add_prefix_space;
    for (const np::AddedToken& a : tok.added_tokens()) invertible &= !a.lstrip && !a.rstrip;
    for (const std::string& s : texts) {
        const std::vector<int32_t> ids = tok.encode(s);
        const std::vector<int32_t> ids2 = tok.encode_with_specials(s);
        NP_FUZZ_CHECK(!invertible || tok.decode(ids) == s);
        NP_FUZZ_CHECK(!invertible || tok.decode(ids2) == s);
    }
    // The ends of the id range (an unused id throws, and ids may be sparse up to the limit).
    for (int32_t id = 0; id < tok.vocab_size();
         id = id == 255 ? std::max(256, tok.vocab_size() - 256) : id + 1)
        np::fuzz::accepts([&] { tok.id_to_piece(id); });
    // The writer and the reader agree: the written tokenizer.json encodes the same way.
    const np::Tokenizer again = np::Tokenizer::from_json(tok.to_json(), "round trip");
    NP_FUZZ_CHECK(again.vocab_size() == tok.vocab_size());
    for (const std::string& s : texts) {
        NP_FUZZ_CHECK(again.encode(s) == tok.encode(s));
        NP_FUZZ_CHECK(again.encode_with_specials(s) == tok.encode_with_specials(s));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const auto& scratch = np::fuzz::Scratch::get();
    const std::string_view rest = np::fuzz::as_text(data + 1, size - 1);
    std::optional<np::Tokenizer> tok;
    if (data[0] % 2 == 0) {
        const std::string path = scratch.write("tokenizer.json", rest);
        if (!np::fuzz::accepts([&] { tok.emplace(np::Tokenizer::load(path)); })) return 0;
    } else {
        const auto parts = np::fuzz::split_parts(rest, 2);
        const std::string dir = scratch.fresh_dir("gpt2");
        scratch.write("gpt2/vocab.json", parts[0]);
        scratch.write("gpt2/merges.txt", parts[1]);
        if (!np::fuzz::accepts([&] { tok.emplace(np::Tokenizer::load(dir)); })) return 0;
    }
    check_round_trips(*tok, rest);
    return 0;
}
