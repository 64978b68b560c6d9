// Byte-level BPE tokenizer, compatible with Hugging Face `tokenizer.json` (model BPE, ByteLevel
// pre-tokenizer optionally behind Digits, ByteLevel decoder, added tokens) and with GPT-2
// `vocab.json` + `merges.txt`. Encoding gives exactly the ids of the HF implementation; decoding
// inverts it for every byte string, invalid UTF-8 included.
//
// Special tokens: encode() never produces them (their text is encoded as ordinary bytes), as if the
// special added tokens did not exist; encode_with_specials() recognises their literal text, which
// is what HF's encode does and what chat templates need. Non-special added tokens are matched in
// both, as HF does: they cut the input before pre-tokenization (leftmost-longest match).
#pragma once
#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/checked.h"
#include "tokenizer/pretokenize.h"

namespace np {

struct AddedToken {
    int32_t id = 0;
    std::string content;
    bool special = false;
    bool single_word = false;  // only match when not inside a word (\w on both sides)
    bool lstrip = false;       // the match swallows whitespace on its left
    bool rstrip = false;       // ... and on its right
    bool normalized = false;   // HF matches these after normalization (we support no normalizer)
};

class Tokenizer {
public:
    // NanoPrime's fixed special tokens (DESIGN §3), ids 0..5 in tokenizers we train.
    static constexpr int32_t kEndOfText = 0, kPad = 1, kImStart = 2, kImEnd = 3, kThink = 4,
                             kThinkEnd = 5;
    static constexpr std::array<std::string_view, 6> kSpecialTokens = {
        "<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"};

    Tokenizer();  // empty: 256 byte tokens would be missing, so only useful as a target of `=`

    // `path`: a tokenizer.json, or a directory holding tokenizer.json or vocab.json + merges.txt.
    static Tokenizer load(const std::string& path);
    // `origin` names the source in error messages. Every token id must be below max_vocab (a
    // model's vocab_size, or the sane limit kMaxVocabSize of core/checked.h): the id tables are
    // sized by the largest id, and only after the whole file has been checked.
    static Tokenizer from_json(std::string_view json_text, const std::string& origin,
                               int64_t max_vocab = kMaxVocabSize);
    // The same from parsed JSON (strings in it need not be valid UTF-8).
    static Tokenizer from_json_value(const nlohmann::json& j, const std::string& origin,
                                     int64_t max_vocab = kMaxVocabSize);
    static Tokenizer load_gpt2(const std::string& vocab_json_path, const std::string& merges_path);
    // pieces[id]: HF token string (byte-level alphabet; for added tokens their content).
    // merges: left/right piece strings in rank order.
    static Tokenizer from_parts(std::vector<std::string> pieces,
                                const std::vector<std::pair<std::string, std::string>>& merges,
                                std::vector<AddedToken> added, PreTokenizerConfig pre);

    std::string to_json() const;  // HF tokenizer.json text
    void save(const std::string& path) const;
    void save_gpt2(const std::string& vocab_json_path, const std::string& merges_path) const;

    std::vector<int32_t> encode(std::string_view text) const;
    std::vector<int32_t> encode_with_specials(std::string_view text) const;
    // Appends to `out`. Thread-safe (the word cache is per thread).
    void encode_into(std::string_view text, bool with_specials, std::vector<int32_t>& out) const;
    std::string decode(std::span<const int32_t> ids) const;

    int32_t vocab_size() const { return static_cast<int32_t>(pieces_.size()); }
    const std::string& id_to_piece(int32_t id) const;  // HF token string, e.g. "Ġworld"
    const std::string& id_to_bytes(int32_t id) const;  // the bytes it decodes to
    std::optional<int32_t> piece_to_id(std::string_view piece) const;
    bool is_special(int32_t id) const;
    std::vector<int32_t> special_ids() const;
    std::optional<int32_t> special_id(std::string_view content) const;
    const std::vector<AddedToken>& added_tokens() const { return added_; }
    const PreTokenizerConfig& pre_tokenizer() const { return pre_; }
    size_t num_merges() const { return merge_list_.size(); }

    // Calls fn(word) for every pre-tokenized word of `text`, with added tokens cut out (special
    // ones only when `with_specials`). What BPE training counts.
    template <class F>
    void for_each_word(std::string_view text, bool with_specials, F&& fn) const;

    // GPT-2's reversible map between bytes and printable characters (UTF-8 encoded).
    static const std::string& byte_to_char(uint8_t b);

private:
    struct TrieNode {
        std::vector<std::pair<uint8_t, int32_t>> next;  // sorted by byte
        int32_t token = -1;                             // index into added_
    };
    struct Trie {
        std::vector<TrieNode> nodes;
        std::array<bool, 256> first{};
        bool empty() const { return nodes.size() <= 1; }
    };
    struct Segment {
        size_t begin, end;
        int32_t id;  // -1: text to pre-tokenize
    };
    struct MergeInfo {
        int32_t rank, id;
    };

    void build();  // derived tables from pieces_, merge_list_, added_
    void split_added(std::string_view text, const Trie& trie, size_t base,
                     std::vector<Segment>& out) const;
    void segments(std::string_view text, bool with_specials, std::vector<Segment>& out) const;
    void bpe_word(std::string_view word, std::vector<int32_t>& out) const;

    std::vector<std::string> pieces_;  // id -> HF token string ("" for unused ids)
    std::vector<std::string> bytes_;   // id -> decoded bytes
    std::vector<uint8_t> special_;     // id -> 1 if special added token
    std::vector<uint8_t> in_model_;    // id -> 1 if in the BPE model vocabulary
    std::unordered_map<std::string, int32_t> piece_to_id_;
    std::vector<std::pair<int32_t, int32_t>> merge_list_;  // rank -> (left id, right id)
    std::unordered_map<uint64_t, MergeInfo> merges_;       // (left << 32 | right) -> rank, id
    std::array<int32_t, 256> byte_ids_{};
    std::vector<AddedToken> added_;
    Trie raw_plain_, norm_plain_, raw_all_, norm_all_;  // added-token matchers
    PreTokenizerConfig pre_;
    bool ignore_merges_ = false;
    std::string post_processor_json_ = "null";
    uint64_t instance_ = 0;  // keys the per-thread word cache
};

template <class F>
void Tokenizer::for_each_word(std::string_view text, bool with_specials, F&& fn) const {
    std::vector<Segment> segs;
    segments(text, with_specials, segs);
    std::string scratch;
    std::vector<std::string_view> words;
    for (const auto& s : segs) {
        if (s.id >= 0) continue;
        words.clear();
        pre_tokenize(pre_, text.substr(s.begin, s.end - s.begin), scratch, words);
        for (auto w : words) fn(w);
    }
}

}  // namespace np
