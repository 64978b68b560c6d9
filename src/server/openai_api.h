// The OpenAI-compatible request and response shapes of `nanoprime serve` (no HTTP here): request
// bodies parsed and checked into generation options, with errors that name the field, and the
// JSON of completions, stream chunks, usage and errors.
//
// Thinking: the think block is returned apart from the answer as `reasoning_content` (DeepSeek's,
// llama-server's and vLLM's convention), in streams too. Per request it is set by the extension
// field `think` ("on" | "off" | "auto", or true / false), else by `reasoning_effort` ("none" and
// "minimal": off; "low": on with a 64-token budget; "medium": on, 256; "high": on, no budget),
// else by the server's --think. `think_budget` (extension) caps the thinking tokens.
// `ignore_eos` (extension, as vLLM and llama-server have it) generates to max_tokens or the
// context.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "infer/generate.h"
#include "tokenizer/tokenizer.h"

namespace np::server {

// An error answered as {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError {
    int status = 400;
    std::string message;
    std::string param;  // the request field at fault ("" when none)
    std::string type = "invalid_request_error";
};
nlohmann::json error_json(const ApiError& e);
// The JSON text of a response: bytes that are not UTF-8 (model output, a quoted broken request)
// become U+FFFD instead of failing.
std::string json_text(const nlohmann::json& j);

struct ApiRequest {
    bool chat = true;  // /v1/chat/completions; false: /v1/completions
    std::vector<infer::ChatMessage> messages;
    std::string prompt;  // completions
    std::string model;
    bool stream = false;
    int n = 1;
    std::string max_tokens_field;  // the field that set max_tokens ("": none, the context's rest)
    infer::GenerateOptions options;
    std::vector<int32_t> prompt_tokens;  // filled by tokenize_request
};

// What the server uses where a request is silent.
struct RequestDefaults {
    infer::GenerateOptions options;  // mode, budget, sampling
    bool random_seed = false;        // a request without "seed" draws one
    int max_n = 8;
};

// Parses a request body; throws ApiError (400) naming the field on malformed JSON, a wrong type, a
// value out of range, an unknown role or empty messages.
ApiRequest parse_request(const std::string& body, bool chat, const RequestDefaults& defaults);

// Renders the prompt (ChatML with the thinking prefill for chat; <|endoftext|> + the text for
// completions) and sets max_tokens: the request's, which must fit in the context with the prompt
// (ApiError naming max_tokens / max_completion_tokens), or what the context leaves.
void tokenize_request(ApiRequest& req, const Tokenizer& tok, int64_t ctx);

// "stop" (end of turn, stop string) or "length" (max_tokens, the context).
const char* finish_reason(infer::StopReason r);

// Splits a generation's stream pieces into reasoning and answer deltas, as the non-streamed
// response splits the finished text: the <think> tags dropped, whitespace trimmed around the
// thinking and before the answer.
class ThinkSplitter {
public:
    struct Delta {
        std::string reasoning, content;
    };
    Delta push(std::string_view piece, bool thinking);
    Delta finish();  // what is held back at the end (the trailing whitespace of an open block)

private:
    std::string pending_;  // thinking bytes not yet passed on (a partial tag, or whitespace)
    bool reasoning_started_ = false, content_started_ = false;
};

struct ChoiceResult {
    infer::Generation gen;
    std::string error;
};
// The whole response of a non-streamed request.
nlohmann::json response_json(const ApiRequest& req, const std::string& id, int64_t created,
                             const std::string& model, const std::vector<ChoiceResult>& choices);
// One stream chunk of choice `index`: a delta, or the finish reason when finish != nullptr.
nlohmann::json chunk_json(const ApiRequest& req, const std::string& id, int64_t created,
                          const std::string& model, int index, const ThinkSplitter::Delta* delta,
                          const char* finish, bool first);
// The usage object of all choices together.
nlohmann::json usage_json(const std::vector<ChoiceResult>& choices, int64_t prompt_tokens,
                          int64_t cached_tokens);

}  // namespace np::server
