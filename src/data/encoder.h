// The narrow view of a tokenizer that the data pipeline needs. Keeping it abstract lets the tests
// check exact mask positions with a byte-level encoder, and lets the real BPE tokenizer plug in via
// a thin adapter in the CLI.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/specials.h"

namespace np::data {

// NanoPrime's own special-token ids (DESIGN §3): the byte-level encoder's, and those of every
// tokenizer NanoPrime trains. Other tokenizers report theirs through TextEncoder::specials().
inline constexpr int32_t kEndOfText = 0;
inline constexpr int32_t kPad = 1;
inline constexpr int32_t kImStart = 2;
inline constexpr int32_t kImEnd = 3;
inline constexpr int32_t kThink = 4;
inline constexpr int32_t kThinkEnd = 5;
inline constexpr int32_t kNumSpecial = 6;

struct TextEncoder {
    virtual ~TextEncoder() = default;
    // Plain text to ids; never yields a special id. Must be safe to call from several threads.
    virtual std::vector<int32_t> encode(std::string_view text) const = 0;
    virtual int32_t vocab_size() const = 0;
    // The ids of the special tokens' roles (-1: absent); NanoPrime's 0..5 unless overridden.
    virtual SpecialIds specials() const { return {}; }
    // Whether chat rendering can run: <|im_start|>, <|im_end|>, <think>, </think> all present.
    bool has_chat_specials() const { return specials().has_chat(); }
};

// Byte-level encoder: byte b -> id kNumSpecial + b. One token per byte makes token positions equal
// byte positions, which the tests use to check masks against the rendered text.
struct ByteEncoder final : TextEncoder {
    std::vector<int32_t> encode(std::string_view text) const override {
        std::vector<int32_t> ids(text.size());
        for (size_t i = 0; i < text.size(); ++i) ids[i] = kNumSpecial + int32_t(uint8_t(text[i]));
        return ids;
    }
    int32_t vocab_size() const override { return kNumSpecial + 256; }
};

}  // namespace np::data
