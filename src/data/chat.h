// Chat rendering (ChatML with thinking, DESIGN §3) and the input record formats of `data prepare`.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "data/encoder.h"

namespace np::data {

struct Message {
    std::string role;     // "system", "user" or "assistant"
    std::string content;  // assistant content may hold "<think>...</think>answer"
};

// One training document: plain text (every token is a target) or a conversation (only the
// assistant's tokens are targets).
struct Document {
    bool is_chat = false;
    std::string text;
    std::vector<Message> messages;
};

struct TokenizedDoc {
    std::vector<int32_t> ids;
    std::vector<uint8_t> mask;  // 1 = target
};

// Splits assistant content into reasoning and answer: "<think>R</think>A" -> (trim(R), A without
// leading whitespace); content without a think block is a direct answer with empty reasoning.
// Throws np::Error on an unterminated or doubled think block.
void split_thinking(std::string_view content, std::string& reasoning, std::string& answer);

// The rendered ChatML text, with special tokens spelled out (for display, templates and tests).
std::string render_chat_text(const std::vector<Message>& messages);

// Tokenizes a document. The result starts with <|endoftext|> (id 0), which acts as BOS (§2.6).
// Text: mask all 1. Chat: mask 1 exactly on each assistant turn from <think> through its closing
// <|im_end|>; the prompt part "<|im_start|>assistant\n" and all other turns are 0. Plain text is
// encoded in the maximal runs between special tokens, as an encoder of the rendered text would.
TokenizedDoc tokenize_document(const Document& doc, const TextEncoder& enc);

// Maps one JSON record to a document. Accepted shapes:
//   {"text"} | {"messages":[{"role","content"}...]} | {"instruction","input"?,"output"}
//   | {"question","thinking","answer"} | {"question","answer"} (GSM8K: "reasoning\n#### N";
//   <<...>> calculator annotations are dropped). An optional top-level "system" string becomes a
//   system turn for the instruction/question shapes. Throws np::Error saying what is wrong.
Document record_to_document(const nlohmann::json& record);

// GSM8K answer field -> (reasoning without <<...>>, final answer); final is empty without "####".
void split_gsm8k(std::string_view answer, std::string& reasoning, std::string& final_answer);

// Number of whitespace-separated words (for the tokens-per-word statistic).
uint64_t count_words(std::string_view s);

}  // namespace np::data
