#include "tokenizer/bpe_train.h"

#include <omp.h>

#include <algorithm>
#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/file_io.h"

namespace np {
namespace {

constexpr int32_t kFirstByteId = 6;

// Cut points for parallel counting: just after a '\n' that sits between two printable ASCII
// characters. Around such a newline every GPT-2 regex match ends or starts at the same place
// whether or not the text is cut there, so counts equal those of the uncut text.
std::vector<size_t> chunk_bounds(std::string_view text, size_t target) {
    std::vector<size_t> bounds{0};
    size_t pos = target;
    auto printable = [](char c) { return c > ' ' && c < 0x7F; };
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        while (nl != std::string_view::npos && nl + 1 < text.size() &&
               !(nl > 0 && printable(text[nl - 1]) && printable(text[nl + 1])))
            nl = text.find('\n', nl + 1);
        if (nl == std::string_view::npos || nl + 1 >= text.size()) break;
        bounds.push_back(nl + 1);
        pos = nl + 1 + target;
    }
    bounds.push_back(text.size());
    return bounds;
}

uint64_t pair_key(int32_t a, int32_t b) {
    return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
}

}  // namespace

Tokenizer nanoprime_base_tokenizer() {
    std::vector<std::string> pieces;
    std::vector<AddedToken> added;
    for (size_t i = 0; i < Tokenizer::kSpecialTokens.size(); ++i) {
        pieces.emplace_back(Tokenizer::kSpecialTokens[i]);
        AddedToken a;
        a.id = static_cast<int32_t>(i);
        a.content = std::string(Tokenizer::kSpecialTokens[i]);
        a.special = true;
        added.push_back(std::move(a));
    }
    for (int b = 0; b < 256; ++b)
        pieces.push_back(Tokenizer::byte_to_char(static_cast<uint8_t>(b)));
    PreTokenizerConfig pre;
    pre.split_digits = true;
    pre.individual_digits = true;
    return Tokenizer::from_parts(std::move(pieces), {}, std::move(added), pre);
}

std::vector<std::pair<std::string, uint64_t>> count_words(std::span<const std::string> texts,
                                                          int threads) {
    const Tokenizer base = nanoprime_base_tokenizer();
    struct Chunk {
        std::string_view text;
    };
    std::vector<Chunk> chunks;
    for (const auto& t : texts) {
        const auto b = chunk_bounds(t, size_t(1) << 20);
        for (size_t i = 0; i + 1 < b.size(); ++i)
            chunks.push_back({std::string_view(t).substr(b[i], b[i + 1] - b[i])});
    }
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    using Map = std::unordered_map<std::string, uint64_t, Hash, std::equal_to<>>;
    const int nt = threads > 0 ? threads : omp_get_max_threads();
    std::vector<Map> local(static_cast<size_t>(nt));
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (size_t c = 0; c < chunks.size(); ++c) {
        Map& m = local[static_cast<size_t>(omp_get_thread_num())];
        base.for_each_word(chunks[c].text, true, [&](std::string_view w) {
            auto it = m.find(w);
            if (it != m.end())
                ++it->second;
            else
                m.emplace(std::string(w), 1);
        });
    }
    Map& all = local[0];
    for (size_t i = 1; i < local.size(); ++i) {
        for (auto& [w, n] : local[i]) all[w] += n;
        Map().swap(local[i]);
    }
    std::vector<std::pair<std::string, uint64_t>> out(all.begin(), all.end());
    std::sort(out.begin(), out.end());
    return out;
}

Tokenizer train_bpe(std::vector<std::pair<std::string, uint64_t>> word_counts,
                    const BpeTrainOptions& opt) {
    const int32_t base_size = kFirstByteId + 256;
    if (opt.vocab_size < base_size)
        fail("tokenizer train: --vocab must be at least " + std::to_string(base_size) +
             " (6 specials + 256 bytes), got " + std::to_string(opt.vocab_size));
    std::vector<std::string> pieces;
    for (auto s : Tokenizer::kSpecialTokens) pieces.emplace_back(s);
    for (int b = 0; b < 256; ++b)
        pieces.push_back(Tokenizer::byte_to_char(static_cast<uint8_t>(b)));
    std::unordered_map<std::string, int32_t> piece_ids;
    for (size_t i = 0; i < pieces.size(); ++i)
        piece_ids.emplace(pieces[i], static_cast<int32_t>(i));

    std::vector<std::vector<int32_t>> words(word_counts.size());
    std::vector<int64_t> counts(word_counts.size());
    for (size_t w = 0; w < word_counts.size(); ++w) {
        for (char c : word_counts[w].first)
            words[w].push_back(kFirstByteId + static_cast<uint8_t>(c));
        counts[w] = static_cast<int64_t>(word_counts[w].second);
    }
    word_counts = {};

    std::unordered_map<uint64_t, int64_t> pair_count;
    std::unordered_map<uint64_t, std::vector<uint32_t>> where;  // may hold stale word indices
    for (uint32_t w = 0; w < words.size(); ++w) {
        const auto& s = words[w];
        for (size_t i = 0; i + 1 < s.size(); ++i) {
            const uint64_t k = pair_key(s[i], s[i + 1]);
            pair_count[k] += counts[w];
            auto& v = where[k];
            if (v.empty() || v.back() != w) v.push_back(w);
        }
    }
    // Max-heap on (count, then smallest pair). Entries go stale when a count drops; a popped
    // entry whose count is out of date is pushed back with the current one.
    struct Entry {
        int64_t count;
        uint64_t pair;
        bool operator<(const Entry& o) const {
            return count != o.count ? count < o.count : pair > o.pair;
        }
    };
    std::priority_queue<Entry> heap;
    for (const auto& [k, n] : pair_count) heap.push({n, k});

    const size_t wanted = static_cast<size_t>(opt.vocab_size - base_size);
    std::vector<std::pair<std::string, std::string>> merges;
    std::vector<uint64_t> touched;
    while (merges.size() < wanted && !heap.empty()) {
        const Entry top = heap.top();
        heap.pop();
        auto pc = pair_count.find(top.pair);
        const int64_t now = pc == pair_count.end() ? 0 : pc->second;
        if (now != top.count) {
            if (now > 0) heap.push({now, top.pair});
            continue;
        }
        if (now < static_cast<int64_t>(std::max<uint64_t>(opt.min_frequency, 1))) break;
        const auto a = static_cast<int32_t>(top.pair >> 32);
        const auto b = static_cast<int32_t>(top.pair & 0xFFFFFFFFu);
        std::string merged = pieces[a] + pieces[b];
        int32_t id;
        if (auto it = piece_ids.find(merged); it != piece_ids.end()) {
            id = it->second;  // same string reached by another split: reuse, as HF does
        } else {
            id = static_cast<int32_t>(pieces.size());
            piece_ids.emplace(merged, id);
            pieces.push_back(std::move(merged));
        }
        merges.emplace_back(pieces[a], pieces[b]);

        std::vector<uint32_t> ws = std::move(where[top.pair]);
        where.erase(top.pair);
        std::sort(ws.begin(), ws.end());
        ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
        touched.clear();
        for (uint32_t w : ws) {
            auto& s = words[w];
            const int64_t c = counts[w];
            bool found = false;
            for (size_t i = 0; i + 1 < s.size(); ++i)
                if (s[i] == a && s[i + 1] == b) found = true;
            if (!found) continue;
            for (size_t i = 0; i + 1 < s.size(); ++i) pair_count[pair_key(s[i], s[i + 1])] -= c;
            size_t o = 0;
            for (size_t i = 0; i < s.size(); ++i) {
                if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
                    s[o++] = id;
                    ++i;
                } else {
                    s[o++] = s[i];
                }
            }
            s.resize(o);
            for (size_t i = 0; i + 1 < s.size(); ++i) {
                const uint64_t k = pair_key(s[i], s[i + 1]);
                pair_count[k] += c;
                if (s[i] == id || s[i + 1] == id) {
                    auto& v = where[k];
                    if (v.empty() || v.back() != w) v.push_back(w);
                    touched.push_back(k);
                }
            }
        }
        pair_count.erase(top.pair);
        std::sort(touched.begin(), touched.end());
        touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
        for (uint64_t k : touched)
            if (auto it = pair_count.find(k); it != pair_count.end() && it->second > 0)
                heap.push({it->second, k});
        if (opt.progress && (merges.size() % 32 == 0 || merges.size() == wanted))
            opt.progress(merges.size(), wanted);
    }
    if (opt.progress) opt.progress(merges.size(), wanted);

    Tokenizer base = nanoprime_base_tokenizer();
    return Tokenizer::from_parts(std::move(pieces), merges, base.added_tokens(),
                                 base.pre_tokenizer());
}

Tokenizer train_bpe_texts(std::span<const std::string> texts, const BpeTrainOptions& opt) {
    return train_bpe(count_words(texts, opt.threads), opt);
}

Tokenizer train_bpe_files(const std::vector<std::string>& paths, const BpeTrainOptions& opt) {
    if (paths.empty()) fail("tokenizer train: no --input files given");
    // One file in memory at a time; counts are summed in a sorted map so the order of files
    // does not matter.
    std::map<std::string, uint64_t> total;
    for (const auto& p : paths) {
        std::vector<std::string> one{read_file(p)};
        for (auto& [w, n] : count_words(one, opt.threads)) total[w] += n;
    }
    return train_bpe({total.begin(), total.end()}, opt);
}

}  // namespace np
