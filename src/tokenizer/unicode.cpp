#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <span>

namespace np::unicode {
namespace {

struct CodeRange {
    uint32_t lo, hi;
};
#include "tokenizer/unicode_tables.inc"

bool in_ranges(std::span<const CodeRange> ranges, uint32_t cp) {
    auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                               [](uint32_t c, const CodeRange& r) { return c < r.lo; });
    return it != ranges.begin() && cp <= std::prev(it)->hi;
}

// ASCII is by far the most common input: classify it with one table load.
constexpr std::array<CharClass, 128> make_ascii_table() {
    std::array<CharClass, 128> t{};
    for (int c = 0; c < 128; ++c) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            t[c] = CharClass::Letter;
        else if (c >= '0' && c <= '9')
            t[c] = CharClass::Number;
        else if (c == ' ' || (c >= 0x09 && c <= 0x0D))
            t[c] = CharClass::Space;
        else
            t[c] = CharClass::Other;
    }
    return t;
}
constexpr auto kAscii = make_ascii_table();

}  // namespace

Decoded decode_utf8_multibyte(std::string_view s, size_t i) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    uint32_t len, cp, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return {kInvalid, 1};
    }
    if (i + len > s.size()) return {kInvalid, 1};
    for (uint32_t k = 1; k < len; ++k) {
        const auto b = static_cast<uint8_t>(s[i + k]);
        if ((b & 0xC0) != 0x80) return {kInvalid, 1};
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {kInvalid, 1};
    return {cp, len};
}

bool is_letter(uint32_t cp) {
    if (cp < 0x80) return kAscii[cp] == CharClass::Letter;
    return cp != kInvalid && in_ranges(kLetterRanges, cp);
}
bool is_number(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return cp != kInvalid && in_ranges(kNumberRanges, cp);
}

bool is_space(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

CharClass classify(uint32_t cp) {
    if (cp < 0x80) return kAscii[cp];
    if (cp == kInvalid) return CharClass::Other;
    if (is_space(cp)) return CharClass::Space;
    if (is_letter(cp)) return CharClass::Letter;
    if (is_number(cp)) return CharClass::Number;
    return CharClass::Other;
}

}  // namespace np::unicode
