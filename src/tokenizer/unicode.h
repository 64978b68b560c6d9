// Unicode character classes and UTF-8 decoding for the byte-level pre-tokenizer. The classes mirror
// what the GPT-2 regex (as run by Oniguruma in Hugging Face tokenizers) sees: \p{L}, \p{N}, \s.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace np::unicode {

enum class CharClass : uint8_t { Letter, Number, Space, Other };

// One decoded character. Bytes that are not part of a valid UTF-8 sequence (stray continuation
// bytes, overlong forms, surrogates, truncated sequences) decode one at a time as kInvalid, which
// classifies as Other, so arbitrary byte strings still pre-tokenize and round-trip.
inline constexpr uint32_t kInvalid = 0xFFFFFFFFu;
struct Decoded {
    uint32_t cp;
    uint32_t len;
};

Decoded decode_utf8_multibyte(std::string_view s, size_t i);
// s[i] must exist.
inline Decoded decode_utf8(std::string_view s, size_t i) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    return b0 < 0x80 ? Decoded{b0, 1} : decode_utf8_multibyte(s, i);
}

bool is_letter(uint32_t cp);  // general category L*
bool is_number(uint32_t cp);  // general category N* (also Rust's char::is_numeric)
bool is_space(uint32_t cp);   // White_Space property (Oniguruma \s, Rust char::is_whitespace)
CharClass classify(uint32_t cp);

}  // namespace np::unicode
