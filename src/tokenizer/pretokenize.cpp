#include "tokenizer/pretokenize.h"

#include "tokenizer/unicode.h"

namespace np {

using unicode::CharClass;
using unicode::classify;
using unicode::decode_utf8;

void split_gpt2(std::string_view s, std::vector<std::string_view>& out) {
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const size_t start = i;
        if (s[i] == '\'' && i + 1 < n) {
            const char c1 = s[i + 1];
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
                out.push_back(s.substr(i, 2));
                i += 2;
                continue;
            }
            if (i + 2 < n) {
                const char c2 = s[i + 2];
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') ||
                    (c1 == 'l' && c2 == 'l')) {
                    out.push_back(s.substr(i, 3));
                    i += 3;
                    continue;
                }
            }
        }
        const auto d0 = decode_utf8(s, i);
        CharClass run = classify(d0.cp);
        size_t j = i;
        // " ?X+": a single ASCII space joins the run of letters/numbers/others that follows it.
        if (s[i] == ' ' && i + 1 < n) {
            const CharClass next = classify(decode_utf8(s, i + 1).cp);
            if (next != CharClass::Space) {
                run = next;
                j = i + 1;
            }
        }
        if (run != CharClass::Space) {
            while (j < n) {
                const auto d = decode_utf8(s, j);
                if (classify(d.cp) != run) break;
                j += d.len;
            }
            out.push_back(s.substr(start, j - start));
            i = j;
            continue;
        }
        // Whitespace: \s+(?!\S) takes the run but leaves its last character to the word that
        // follows; at the end of the text it takes everything. A single space before a
        // non-space falls through to \s+ and stands alone.
        size_t k = i, last = i, count = 0;
        while (k < n) {
            const auto d = decode_utf8(s, k);
            if (!unicode::is_space(d.cp)) break;
            last = k;
            k += d.len;
            ++count;
        }
        if (k == n) {
            out.push_back(s.substr(start, n - start));
            i = n;
        } else if (count >= 2) {
            out.push_back(s.substr(start, last - start));
            i = last;
        } else {
            out.push_back(s.substr(start, k - start));
            i = k;
        }
    }
}

namespace {

void byte_level_piece(const PreTokenizerConfig& cfg, std::string_view piece, std::string& scratch,
                      std::vector<std::string_view>& words) {
    if (piece.empty()) return;
    if (cfg.add_prefix_space && piece[0] != ' ') {
        // scratch was reserved by the caller, so appending never moves earlier views.
        const size_t at = scratch.size();
        scratch.push_back(' ');
        scratch.append(piece);
        piece = std::string_view(scratch).substr(at, piece.size() + 1);
    }
    if (cfg.use_regex)
        split_gpt2(piece, words);
    else
        words.push_back(piece);
}

}  // namespace

void pre_tokenize(const PreTokenizerConfig& cfg, std::string_view segment, std::string& scratch,
                  std::vector<std::string_view>& words) {
    scratch.clear();
    if (cfg.add_prefix_space) scratch.reserve(2 * segment.size() + 1);
    if (!cfg.split_digits) {
        byte_level_piece(cfg, segment, scratch, words);
        return;
    }
    size_t piece_start = 0, i = 0;
    while (i < segment.size()) {
        const auto b = static_cast<uint8_t>(segment[i]);
        if (b < 0x80 && (b < '0' || b > '9')) {
            ++i;
            continue;
        }
        const auto d = decode_utf8(segment, i);
        if (!unicode::is_number(d.cp)) {
            i += d.len;
            continue;
        }
        byte_level_piece(cfg, segment.substr(piece_start, i - piece_start), scratch, words);
        size_t j = i + d.len;
        if (!cfg.individual_digits) {
            while (j < segment.size()) {
                const auto e = decode_utf8(segment, j);
                if (!unicode::is_number(e.cp)) break;
                j += e.len;
            }
        }
        byte_level_piece(cfg, segment.substr(i, j - i), scratch, words);
        piece_start = i = j;
    }
    byte_level_piece(cfg, segment.substr(piece_start), scratch, words);
}

}  // namespace np
