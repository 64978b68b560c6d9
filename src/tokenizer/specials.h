// The roles of NanoPrime's special tokens (DESIGN §3) and their ids in one tokenizer. Tokenizers
// that NanoPrime trains hold them at ids 0..5 in this order; a Hugging Face tokenizer keeps its own
// ids: each role is found by its text among the tokenizer's special tokens, and missing ones are
// appended after the last id, as `add_special_tokens` does (Tokenizer::with_nanoprime_specials).
// The model itself fixes one id: a document starts at id 0 (DESIGN §2.6), so end_of_text must be 0.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>

namespace np {

struct SpecialIds {
    int32_t end_of_text = 0, pad = 1, im_start = 2, im_end = 3, think = 4, think_end = 5;

    bool has_chat() const { return im_start >= 0 && im_end >= 0 && think >= 0 && think_end >= 0; }
    bool complete() const { return end_of_text >= 0 && pad >= 0 && has_chat(); }
    bool is_end(int32_t id) const { return id == im_end || id == end_of_text; }
};

// A role's name, the text NanoPrime writes for it, and the other spellings that take the role
// when a tokenizer already has one of them (GPT-NeoX's <|padding|>, Llama's <pad>, BERT's [PAD]).
struct SpecialRole {
    int32_t SpecialIds::*id;
    std::string_view name;
    std::array<std::string_view, 4> spellings;  // the first is NanoPrime's; "" ends the list
};

inline constexpr std::array<SpecialRole, 6> kSpecialRoles = {{
    {&SpecialIds::end_of_text, "end of text", {"<|endoftext|>", "<|end_of_text|>", "", ""}},
    {&SpecialIds::pad, "padding", {"<|pad|>", "<|padding|>", "<pad>", "[PAD]"}},
    {&SpecialIds::im_start, "turn start", {"<|im_start|>", "", "", ""}},
    {&SpecialIds::im_end, "turn end", {"<|im_end|>", "", "", ""}},
    {&SpecialIds::think, "thinking start", {"<think>", "", "", ""}},
    {&SpecialIds::think_end, "thinking end", {"</think>", "", "", ""}},
}};

}  // namespace np
