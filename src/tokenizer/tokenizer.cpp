#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <queue>

#include "core/error.h"
#include "core/file_io.h"
#include "tokenizer/unicode.h"

namespace np {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

std::atomic<uint64_t> g_next_instance{1};

void append_utf8(std::string& s, uint32_t cp) {
    if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100.. in byte order.
struct ByteTables {
    std::array<std::string, 256> to_char;
    std::array<int16_t, 512> from_cp;  // code point -> byte, -1 if not in the alphabet
    ByteTables() {
        from_cp.fill(-1);
        uint32_t extra = 0;
        for (uint32_t b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
            const uint32_t cp = printable ? b : 256 + extra++;
            append_utf8(to_char[b], cp);
            from_cp[cp] = static_cast<int16_t>(b);
        }
    }
};
const ByteTables& byte_tables() {
    static const ByteTables t;
    return t;
}

// Bytes of a model piece: every character must be in the byte alphabet; if one is not, HF's
// ByteLevel decoder falls back to the piece's own UTF-8, and so do we.
std::string piece_bytes(const std::string& piece) {
    const auto& t = byte_tables();
    std::string out;
    for (size_t i = 0; i < piece.size();) {
        const auto d = unicode::decode_utf8(piece, i);
        if (d.cp >= t.from_cp.size() || t.from_cp[d.cp] < 0) return piece;
        out.push_back(static_cast<char>(t.from_cp[d.cp]));
        i += d.len;
    }
    return out;
}

bool is_word_char(uint32_t cp) {
    return cp == '_' || unicode::is_letter(cp) || unicode::is_number(cp);
}

// The code point that ends just before position i (kInvalid for a broken sequence).
uint32_t char_before(std::string_view s, size_t i) {
    size_t k = i - 1;
    while (k > 0 && i - k < 4 && (static_cast<uint8_t>(s[k]) & 0xC0) == 0x80) --k;
    const auto d = unicode::decode_utf8(s, k);
    return k + d.len == i ? d.cp : unicode::kInvalid;
}

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Per-thread memo of word -> ids; belongs to one Tokenizer instance at a time.
struct WordCache {
    uint64_t owner = 0;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
    std::vector<std::string_view> words;
    std::string scratch;
};
constexpr size_t kCacheMaxEntries = 1 << 18;

const json& field(const json& obj, const char* key, const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end()) fail(where + ": missing field '" + key + "'");
    return *it;
}

bool flag(const json& obj, const char* key, bool dflt, const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return dflt;
    if (!it->is_boolean()) fail(where + ": field '" + key + "' must be true or false");
    return it->get<bool>();
}

// The "type" of a component object ("" for anything else): json::value() throws on non-objects.
std::string type_of(const json& j) {
    if (!j.is_object()) return "";
    auto it = j.find("type");
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

void parse_byte_level(const json& j, PreTokenizerConfig& cfg, const std::string& where) {
    cfg.add_prefix_space = flag(j, "add_prefix_space", true, where);
    cfg.use_regex = flag(j, "use_regex", true, where);
}

PreTokenizerConfig parse_pre_tokenizer(const json& j, const std::string& where) {
    PreTokenizerConfig cfg;
    const std::string type = type_of(j);
    if (type == "ByteLevel") {
        parse_byte_level(j, cfg, where);
        return cfg;
    }
    if (type == "Sequence") {
        const auto& list = field(j, "pretokenizers", where);
        if (list.is_array() && list.size() == 2 && type_of(list[0]) == "Digits" &&
            type_of(list[1]) == "ByteLevel") {
            cfg.split_digits = true;
            cfg.individual_digits = flag(list[0], "individual_digits", false, where);
            parse_byte_level(list[1], cfg, where);
            return cfg;
        }
    }
    fail(where + ": pre_tokenizer must be ByteLevel or Sequence[Digits, ByteLevel], got " +
         j.dump());
}

ojson byte_level_json(bool add_prefix_space, bool use_regex) {
    ojson j;
    j["type"] = "ByteLevel";
    j["add_prefix_space"] = add_prefix_space;
    j["trim_offsets"] = true;
    j["use_regex"] = use_regex;
    return j;
}

}  // namespace

const std::string& Tokenizer::byte_to_char(uint8_t b) {
    return byte_tables().to_char[b];
}

Tokenizer::Tokenizer() : instance_(g_next_instance++) {}

void Tokenizer::build() {
    instance_ = g_next_instance++;
    const size_t n = pieces_.size();
    bytes_.assign(n, {});
    special_.assign(n, 0);
    in_model_.resize(n, 0);
    piece_to_id_.clear();
    for (size_t id = 0; id < n; ++id) {
        if (!in_model_[id]) continue;
        bytes_[id] = piece_bytes(pieces_[id]);
        if (!piece_to_id_.emplace(pieces_[id], static_cast<int32_t>(id)).second)
            fail("tokenizer: piece '" + pieces_[id] + "' appears twice in the vocabulary");
    }
    for (int b = 0; b < 256; ++b) {
        auto it = piece_to_id_.find(byte_to_char(static_cast<uint8_t>(b)));
        if (it == piece_to_id_.end())
            fail("tokenizer: vocabulary lacks the byte-level token for byte " + std::to_string(b) +
                 " ('" + byte_to_char(static_cast<uint8_t>(b)) + "'): not a byte-level BPE");
        byte_ids_[b] = it->second;
    }
    merges_.clear();
    merges_.reserve(merge_list_.size() * 2);
    for (size_t r = 0; r < merge_list_.size(); ++r) {
        const auto [a, b] = merge_list_[r];
        auto it = piece_to_id_.find(pieces_[a] + pieces_[b]);
        if (it == piece_to_id_.end())
            fail("tokenizer: merge " + std::to_string(r) + " ('" + pieces_[a] + "' '" + pieces_[b] +
                 "') makes a token missing from the vocabulary");
        merges_[(uint64_t(uint32_t(a)) << 32) | uint32_t(b)] = {static_cast<int32_t>(r),
                                                                it->second};
    }
    for (auto* t : {&raw_plain_, &norm_plain_, &raw_all_, &norm_all_}) {
        t->nodes.assign(1, {});
        t->first.fill(false);
    }
    auto insert = [](Trie& t, const std::string& s, int32_t token) {
        int32_t node = 0;
        for (char ch : s) {
            const auto c = static_cast<uint8_t>(ch);
            auto& next = t.nodes[node].next;
            auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(c, INT32_MIN));
            if (it != next.end() && it->first == c) {
                node = it->second;
            } else {
                const auto child = static_cast<int32_t>(t.nodes.size());
                next.insert(it, {c, child});
                t.nodes.emplace_back();
                node = child;
            }
        }
        t.nodes[node].token = token;
        t.first[static_cast<uint8_t>(s[0])] = true;
    };
    for (size_t k = 0; k < added_.size(); ++k) {
        const auto& a = added_[k];
        if (a.content.empty()) fail("tokenizer: added token " + std::to_string(a.id) + " is empty");
        if (a.id < 0 || static_cast<size_t>(a.id) >= n)
            fail("tokenizer: added token id " + std::to_string(a.id) + " out of range");
        if (in_model_[a.id] && pieces_[a.id] != a.content)
            fail("tokenizer: added token '" + a.content + "' has id " + std::to_string(a.id) +
                 ", which the model vocabulary gives to '" + pieces_[a.id] + "'");
        pieces_[a.id] = a.content;
        bytes_[a.id] = a.content;  // decoded literally, so every added token round-trips
        special_[a.id] = a.special;
        const auto idx = static_cast<int32_t>(k);
        insert(a.normalized ? norm_all_ : raw_all_, a.content, idx);
        if (!a.special) insert(a.normalized ? norm_plain_ : raw_plain_, a.content, idx);
    }
}

// Mirrors HF AddedVocabulary::find_matches: leftmost-longest, non-overlapping matches; a match
// rejected by single_word is skipped whole.
void Tokenizer::split_added(std::string_view text, const Trie& trie, size_t base,
                            std::vector<Segment>& out) const {
    const size_t n = text.size();
    size_t done = 0, i = 0;
    while (i < n) {
        if (!trie.first[static_cast<uint8_t>(text[i])]) {
            ++i;
            continue;
        }
        int32_t node = 0, token = -1;
        size_t end = 0;
        for (size_t k = i; k < n; ++k) {
            const auto& next = trie.nodes[node].next;
            const auto c = static_cast<uint8_t>(text[k]);
            auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(c, INT32_MIN));
            if (it == next.end() || it->first != c) break;
            node = it->second;
            if (trie.nodes[node].token >= 0) token = trie.nodes[node].token, end = k + 1;
        }
        if (token < 0) {
            ++i;
            continue;
        }
        const AddedToken& a = added_[token];
        size_t start = i, stop = end;
        if (a.single_word) {
            const bool left_ok = start == 0 || !is_word_char(char_before(text, start));
            const bool right_ok = stop == n || !is_word_char(unicode::decode_utf8(text, stop).cp);
            if (!left_ok || !right_ok) {
                i = end;
                continue;
            }
        }
        if (a.lstrip) {
            while (start > done) {
                const uint32_t cp = char_before(text, start);
                if (!unicode::is_space(cp)) break;
                start -= cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            }
        }
        if (a.rstrip) {
            while (stop < n) {
                const auto d = unicode::decode_utf8(text, stop);
                if (!unicode::is_space(d.cp)) break;
                stop += d.len;
            }
        }
        if (start > done) out.push_back({base + done, base + start, -1});
        out.push_back({base + start, base + stop, a.id});
        done = i = stop;
    }
    if (done < n) out.push_back({base + done, base + n, -1});
}

void Tokenizer::segments(std::string_view text, bool with_specials,
                         std::vector<Segment>& out) const {
    const Trie& raw = with_specials ? raw_all_ : raw_plain_;
    const Trie& norm = with_specials ? norm_all_ : norm_plain_;
    if (raw.empty() && norm.empty()) {
        if (!text.empty()) out.push_back({0, text.size(), -1});
        return;
    }
    if (norm.empty()) {
        split_added(text, raw, 0, out);
        return;
    }
    std::vector<Segment> first;
    if (raw.empty())
        first.push_back({0, text.size(), -1});
    else
        split_added(text, raw, 0, first);
    for (const auto& s : first) {
        if (s.id >= 0)
            out.push_back(s);
        else
            split_added(text.substr(s.begin, s.end - s.begin), norm, s.begin, out);
    }
}

// HF's BPE::merge_word: repeatedly apply the lowest-ranked merge among adjacent symbols, the
// leftmost one on ties, one occurrence at a time.
void Tokenizer::bpe_word(std::string_view word, std::vector<int32_t>& out) const {
    const size_t n = word.size();
    if (n == 1) {
        out.push_back(byte_ids_[static_cast<uint8_t>(word[0])]);
        return;
    }
    if (ignore_merges_) {
        std::string piece;
        for (char c : word) piece += byte_to_char(static_cast<uint8_t>(c));
        if (auto it = piece_to_id_.find(piece); it != piece_to_id_.end()) {
            out.push_back(it->second);
            return;
        }
    }
    auto lookup = [&](int32_t a, int32_t b) -> const MergeInfo* {
        auto it = merges_.find((uint64_t(uint32_t(a)) << 32) | uint32_t(b));
        return it == merges_.end() ? nullptr : &it->second;
    };
    thread_local std::vector<int32_t> ids, ranks, merged;
    ids.resize(n);
    for (size_t i = 0; i < n; ++i) ids[i] = byte_ids_[static_cast<uint8_t>(word[i])];
    if (n <= 64) {
        // Short words: a flat scan beats a heap.
        ranks.resize(n - 1);
        merged.resize(n - 1);
        auto set_rank = [&](size_t i) {
            const MergeInfo* m = lookup(ids[i], ids[i + 1]);
            ranks[i] = m ? m->rank : INT_MAX;
            merged[i] = m ? m->id : -1;
        };
        for (size_t i = 0; i + 1 < n; ++i) set_rank(i);
        size_t m = n;
        while (m > 1) {
            size_t best = 0;
            for (size_t i = 1; i + 1 < m; ++i)
                if (ranks[i] < ranks[best]) best = i;
            if (ranks[best] == INT_MAX) break;
            ids[best] = merged[best];
            std::copy(ids.begin() + best + 2, ids.begin() + m, ids.begin() + best + 1);
            std::copy(ranks.begin() + best + 1, ranks.begin() + m - 1, ranks.begin() + best);
            std::copy(merged.begin() + best + 1, merged.begin() + m - 1, merged.begin() + best);
            --m;
            if (best > 0) set_rank(best - 1);
            if (best + 1 < m) set_rank(best);
        }
        out.insert(out.end(), ids.begin(), ids.begin() + m);
        return;
    }
    // Long words: linked symbols and a min-heap of (rank, position), validated when popped.
    thread_local std::vector<int32_t> prev, next;
    prev.resize(n);
    next.resize(n);
    for (size_t i = 0; i < n; ++i) {
        prev[i] = static_cast<int32_t>(i) - 1;
        next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
    }
    using Item = std::pair<int32_t, int32_t>;  // rank, position
    std::priority_queue<Item, std::vector<Item>, std::greater<>> heap;
    auto push = [&](int32_t pos) {
        if (pos < 0 || next[pos] < 0) return;
        if (const MergeInfo* m = lookup(ids[pos], ids[next[pos]])) heap.push({m->rank, pos});
    };
    for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
    while (!heap.empty()) {
        const auto [rank, pos] = heap.top();
        heap.pop();
        if (ids[pos] < 0 || next[pos] < 0) continue;
        const int32_t right = next[pos];
        const MergeInfo* m = lookup(ids[pos], ids[right]);
        if (!m || m->rank != rank) continue;
        ids[pos] = m->id;
        ids[right] = -1;
        next[pos] = next[right];
        if (next[pos] >= 0) prev[next[pos]] = pos;
        push(prev[pos]);
        push(pos);
    }
    for (int32_t i = 0; i >= 0; i = next[i]) out.push_back(ids[i]);
}

void Tokenizer::encode_into(std::string_view text, bool with_specials,
                            std::vector<int32_t>& out) const {
    thread_local WordCache cache;
    if (cache.owner != instance_) {
        cache.map.clear();
        cache.owner = instance_;
    }
    std::vector<Segment> segs;
    segments(text, with_specials, segs);
    for (const auto& s : segs) {
        if (s.id >= 0) {
            out.push_back(s.id);
            continue;
        }
        cache.words.clear();
        pre_tokenize(pre_, text.substr(s.begin, s.end - s.begin), cache.scratch, cache.words);
        for (auto w : cache.words) {
            if (auto it = cache.map.find(w); it != cache.map.end()) {
                out.insert(out.end(), it->second.begin(), it->second.end());
                continue;
            }
            const size_t at = out.size();
            bpe_word(w, out);
            if (cache.map.size() >= kCacheMaxEntries) cache.map.clear();
            cache.map.emplace(std::string(w), std::vector<int32_t>(out.begin() + at, out.end()));
        }
    }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    encode_into(text, false, out);
    return out;
}

std::vector<int32_t> Tokenizer::encode_with_specials(std::string_view text) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    encode_into(text, true, out);
    return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
    std::string out;
    for (int32_t id : ids) out += id_to_bytes(id);
    return out;
}

const std::string& Tokenizer::id_to_piece(int32_t id) const {
    if (id < 0 || id >= vocab_size() || pieces_[id].empty())
        fail("tokenizer: token id " + std::to_string(id) + " is not in the vocabulary (size " +
             std::to_string(vocab_size()) + ")");
    return pieces_[id];
}

const std::string& Tokenizer::id_to_bytes(int32_t id) const {
    id_to_piece(id);  // range check
    return bytes_[id];
}

std::optional<int32_t> Tokenizer::piece_to_id(std::string_view piece) const {
    for (const auto& a : added_)
        if (a.content == piece) return a.id;
    auto it = piece_to_id_.find(std::string(piece));
    if (it == piece_to_id_.end()) return std::nullopt;
    return it->second;
}

bool Tokenizer::is_special(int32_t id) const {
    return id >= 0 && id < vocab_size() && special_[id];
}

std::vector<int32_t> Tokenizer::special_ids() const {
    std::vector<int32_t> ids;
    for (const auto& a : added_)
        if (a.special) ids.push_back(a.id);
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::optional<int32_t> Tokenizer::special_id(std::string_view content) const {
    for (const auto& a : added_)
        if (a.special && a.content == content) return a.id;
    return std::nullopt;
}

Tokenizer Tokenizer::from_parts(std::vector<std::string> pieces,
                                const std::vector<std::pair<std::string, std::string>>& merges,
                                std::vector<AddedToken> added, PreTokenizerConfig pre) {
    Tokenizer t;
    t.pieces_ = std::move(pieces);
    t.in_model_.assign(t.pieces_.size(), 0);
    std::unordered_map<std::string, int32_t> ids;
    for (size_t i = 0; i < t.pieces_.size(); ++i) {
        if (t.pieces_[i].empty()) continue;
        t.in_model_[i] = 1;
        ids.emplace(t.pieces_[i], static_cast<int32_t>(i));
    }
    for (const auto& [a, b] : merges) {
        auto ia = ids.find(a), ib = ids.find(b);
        if (ia == ids.end() || ib == ids.end())
            fail("tokenizer: merge '" + a + "' '" + b + "' uses a token not in the vocabulary");
        t.merge_list_.emplace_back(ia->second, ib->second);
    }
    t.added_ = std::move(added);
    t.pre_ = pre;
    t.build();
    return t;
}

Tokenizer Tokenizer::from_json(std::string_view json_text, const std::string& origin,
                               int64_t max_vocab) {
    json j;
    try {
        j = json::parse(json_text);
    } catch (const json::exception& e) {
        fail(origin + ": not valid JSON: " + e.what());
    }
    return from_json_value(j, origin, max_vocab);
}

Tokenizer Tokenizer::from_json_value(const json& j, const std::string& origin, int64_t max_vocab) {
    if (!j.is_object()) fail(origin + ": expected a JSON object (HF tokenizer.json)");
    const auto& model = field(j, "model", origin);
    const std::string mwhere = origin + ": model";
    if (!model.is_object()) fail(mwhere + " must be an object");
    if (model.contains("type") && model["type"] != "BPE")
        fail(mwhere + ".type must be \"BPE\", got " + model["type"].dump());
    if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"] != 0.0)
        fail(mwhere + ".dropout is not supported (must be null)");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (model.contains(key) && !model[key].is_null() && model[key] != "")
            fail(mwhere + "." + key + " is not supported (must be null)");
    if (auto it = j.find("normalizer"); it != j.end() && !it->is_null())
        fail(origin + ": normalizer " + it->dump() + " is not supported (must be null)");
    if (auto it = j.find("decoder"); it != j.end() && !it->is_null() && type_of(*it) != "ByteLevel")
        fail(origin + ": decoder must be ByteLevel, got " + it->dump());
    std::string post = "null";
    if (auto it = j.find("post_processor"); it != j.end() && !it->is_null()) {
        if (type_of(*it) != "ByteLevel")
            fail(origin + ": post_processor must be null or ByteLevel (others add tokens), got " +
                 it->dump());
        post = it->dump();
    }

    // Ids are checked as JSON numbers (1e10 or 2^40 must not be cast to int32) and against
    // max_vocab; the tables sized by the largest id are allocated only after every field passed.
    max_vocab = std::min(max_vocab, kMaxVocabSize);
    auto token_id = [&](const json& v, const std::string& what) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= max_vocab)
            fail(what + " must be an integer id in [0, " + std::to_string(max_vocab) + "), got " +
                 v.dump());
        return static_cast<int32_t>(v.get<int64_t>());
    };
    const auto& vocab = field(model, "vocab", mwhere);
    if (!vocab.is_object()) fail(mwhere + ".vocab must be an object {piece: id}");
    std::vector<std::pair<std::string, int32_t>> entries;
    entries.reserve(vocab.size());
    int32_t max_id = -1;
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        const int32_t id = token_id(it.value(), mwhere + ".vocab['" + it.key() + "']");
        if (it.key().empty()) fail(mwhere + ".vocab: empty piece");
        entries.emplace_back(it.key(), id);
        max_id = std::max(max_id, id);
    }
    std::vector<AddedToken> added;
    if (auto it = j.find("added_tokens"); it != j.end() && !it->is_null()) {
        if (!it->is_array()) fail(origin + ": added_tokens must be an array");
        for (size_t k = 0; k < it->size(); ++k) {
            const json& a = (*it)[k];
            const std::string w = origin + ": added_tokens[" + std::to_string(k) + "]";
            if (!a.is_object()) fail(w + " must be an object");
            AddedToken tok;
            tok.id = token_id(field(a, "id", w), w + ".id");
            const json& content = field(a, "content", w);
            if (!content.is_string()) fail(w + ".content must be a string");
            tok.content = content.get<std::string>();
            tok.special = flag(a, "special", false, w);
            tok.single_word = flag(a, "single_word", false, w);
            tok.lstrip = flag(a, "lstrip", false, w);
            tok.rstrip = flag(a, "rstrip", false, w);
            tok.normalized = flag(a, "normalized", !tok.special, w);
            max_id = std::max(max_id, tok.id);
            added.push_back(std::move(tok));
        }
    }
    std::unordered_map<std::string_view, int32_t> ids;
    for (const auto& [piece, id] : entries) ids.emplace(piece, id);
    const auto& merges = field(model, "merges", mwhere);
    if (!merges.is_array()) fail(mwhere + ".merges must be an array");
    std::vector<std::pair<int32_t, int32_t>> merge_list;
    merge_list.reserve(merges.size());
    for (size_t r = 0; r < merges.size(); ++r) {
        std::string a, b;
        const auto& m = merges[r];
        if (m.is_string()) {
            const auto s = m.get<std::string>();
            const auto sp = s.find(' ');
            if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
                fail(mwhere + ".merges[" + std::to_string(r) + "] must be \"left right\"");
            a = s.substr(0, sp), b = s.substr(sp + 1);
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            a = m[0].get<std::string>(), b = m[1].get<std::string>();
        } else {
            fail(mwhere + ".merges[" + std::to_string(r) + "] must be \"a b\" or [\"a\", \"b\"]");
        }
        auto ia = ids.find(a), ib = ids.find(b);
        if (ia == ids.end() || ib == ids.end())
            fail(mwhere + ".merges[" + std::to_string(r) + "]: '" + a + "' or '" + b +
                 "' is not in the vocabulary");
        merge_list.emplace_back(ia->second, ib->second);
    }
    const bool ignore_merges = flag(model, "ignore_merges", false, mwhere);
    auto pt = j.find("pre_tokenizer");
    if (pt == j.end() || pt->is_null())
        fail(origin + ": pre_tokenizer is missing; a byte-level BPE needs ByteLevel");
    const PreTokenizerConfig pre = parse_pre_tokenizer(*pt, origin + ": pre_tokenizer");

    Tokenizer t;
    t.pieces_.assign(static_cast<size_t>(max_id) + 1, {});
    t.in_model_.assign(t.pieces_.size(), 0);
    for (auto& [piece, id] : entries) {
        if (t.in_model_[id]) fail(mwhere + ".vocab: id " + std::to_string(id) + " used twice");
        t.pieces_[id] = std::move(piece);
        t.in_model_[id] = 1;
    }
    t.merge_list_ = std::move(merge_list);
    t.ignore_merges_ = ignore_merges;
    t.pre_ = pre;
    t.post_processor_json_ = post;
    t.added_ = std::move(added);
    t.build();
    return t;
}

Tokenizer Tokenizer::load(const std::string& path) {
    namespace fs = std::filesystem;
    if (fs::is_directory(path)) {
        const auto dir = fs::path(path);
        if (fs::exists(dir / "tokenizer.json")) return load((dir / "tokenizer.json").string());
        if (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt"))
            return load_gpt2((dir / "vocab.json").string(), (dir / "merges.txt").string());
        fail(path + ": directory has neither tokenizer.json nor vocab.json + merges.txt");
    }
    return from_json(read_file(path), path);
}

Tokenizer Tokenizer::load_gpt2(const std::string& vocab_json_path, const std::string& merges_path) {
    json vocab;
    try {
        vocab = json::parse(read_file(vocab_json_path));
    } catch (const json::exception& e) {
        fail(vocab_json_path + ": not valid JSON: " + e.what());
    }
    if (!vocab.is_object()) fail(vocab_json_path + ": expected an object {piece: id}");
    json merges = json::array();
    const std::string text = read_file(merges_path);
    size_t line_no = 0;
    for (size_t pos = 0; pos < text.size();) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        std::string line = text.substr(pos, eol - pos);
        pos = eol + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
        if (std::count(line.begin(), line.end(), ' ') != 1)
            fail(merges_path + ":" + std::to_string(line_no) + ": expected \"left right\"");
        merges.push_back(line);
    }
    json j;
    j["model"] = {{"type", "BPE"}, {"vocab", std::move(vocab)}, {"merges", std::move(merges)}};
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
    j["decoder"] = {{"type", "ByteLevel"}};
    // Not through JSON text: merges.txt lines need not be UTF-8, which json::dump would throw on.
    return from_json_value(j, vocab_json_path);
}

std::string Tokenizer::to_json() const {
    ojson j;
    j["version"] = "1.0";
    j["truncation"] = nullptr;
    j["padding"] = nullptr;
    j["added_tokens"] = ojson::array();
    for (const auto& a : added_) {
        ojson o;
        o["id"] = a.id;
        o["content"] = a.content;
        o["single_word"] = a.single_word;
        o["lstrip"] = a.lstrip;
        o["rstrip"] = a.rstrip;
        o["normalized"] = a.normalized;
        o["special"] = a.special;
        j["added_tokens"].push_back(std::move(o));
    }
    j["normalizer"] = nullptr;
    const ojson byte_level = byte_level_json(pre_.add_prefix_space, pre_.use_regex);
    if (pre_.split_digits) {
        ojson digits;
        digits["type"] = "Digits";
        digits["individual_digits"] = pre_.individual_digits;
        ojson seq;
        seq["type"] = "Sequence";
        seq["pretokenizers"] = ojson::array({digits, byte_level});
        j["pre_tokenizer"] = seq;
    } else {
        j["pre_tokenizer"] = byte_level;
    }
    j["post_processor"] = ojson::parse(post_processor_json_);
    j["decoder"] = byte_level_json(true, true);
    // The model is written by hand: an ordered_json object with 10^5 keys inserts in O(n^2).
    std::string out = j.dump(2);
    out.resize(out.size() - 2);  // drop "\n}"
    out +=
        ",\n  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n"
        "    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n"
        "    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n"
        "    \"byte_fallback\": false,\n    \"ignore_merges\": ";
    out += ignore_merges_ ? "true" : "false";
    out += ",\n    \"vocab\": {";
    bool first = true;
    for (size_t id = 0; id < pieces_.size(); ++id) {
        if (!in_model_[id]) continue;
        out += first ? "\n      " : ",\n      ";
        first = false;
        out += json(pieces_[id]).dump() + ": " + std::to_string(id);
    }
    out += "\n    },\n    \"merges\": [";
    for (size_t r = 0; r < merge_list_.size(); ++r) {
        out += r ? ",\n      [" : "\n      [";
        out += json(pieces_[merge_list_[r].first]).dump() + ", " +
               json(pieces_[merge_list_[r].second]).dump() + "]";
    }
    out += "\n    ]\n  }\n}\n";
    return out;
}

void Tokenizer::save(const std::string& path) const {
    write_file_atomic(path, to_json());
}

void Tokenizer::save_gpt2(const std::string& vocab_json_path,
                          const std::string& merges_path) const {
    std::string vocab = "{";
    for (size_t id = 0; id < pieces_.size(); ++id) {
        if (!in_model_[id]) continue;
        if (vocab.size() > 1) vocab += ", ";
        vocab += json(pieces_[id]).dump() + ": " + std::to_string(id);
    }
    write_file_atomic(vocab_json_path, vocab + "}\n");
    std::string merges = "#version: 0.2\n";
    for (const auto& [a, b] : merge_list_) merges += pieces_[a] + " " + pieces_[b] + "\n";
    write_file_atomic(merges_path, merges);
}

}  // namespace np
