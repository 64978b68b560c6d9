// `nanoprime eval` (issue 4 item 5): prompts in the three thinking modes (DESIGN §3), greedy or
// sampled generation with the reference decoder and a thinking budget, majority voting, and the
// accuracy report per task and difficulty.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace np::eval {

enum class ThinkMode { On, Off, Auto };

// "on" | "off" | "auto"; anything else throws np::Error naming --think.
ThinkMode parse_think_mode(std::string_view s);
const char* think_mode_name(ThinkMode m);

// Throws np::Error unless the tokenizer has the NanoPrime specials at ids 0..5 and fits the model.
void check_tokenizer(const Tokenizer& tok, int32_t model_vocab, const std::string& origin);

// The tokens fed before generation: <|endoftext|> <|im_start|>user\n{question}<|im_end|>\n
// <|im_start|>assistant\n, then the mode's prefill.
std::vector<int32_t> build_prompt(const Tokenizer& tok, std::string_view question, ThinkMode mode);
// The mode's prefill alone: on "<think>\n", off "<think>\n\n</think>\n\n", auto nothing.
std::vector<int32_t> think_prefill(const Tokenizer& tok, ThinkMode mode);

struct GenerateOptions {
    ThinkMode mode = ThinkMode::Auto;  // whether the prompt ends inside a think block
    int think_budget = -1;             // < 0: no limit on thinking tokens
    int max_tokens = 256;              // generated tokens (forced ones included)
    float temperature = 0;             // 0: greedy argmax (ties to the lowest id)
    uint64_t seed = 0;                 // sampling stream
};

struct Generation {
    std::vector<int32_t> tokens;  // generated (and forced) tokens, <|im_end|> included if reached
    std::string output;           // decoded prefill + tokens: what the scorer judges
    int thinking_tokens = 0;      // tokens generated inside the think block
    bool forced_close = false;    // the budget forced </think>
    bool stopped = false;         // ended with <|im_end|>
};

// Feeds `prompt` to a fresh decode state and generates until <|im_end|> or max_tokens. Inside the
// think block, once think_budget tokens were generated, "</think>\n\n" is forced (and fed).
Generation generate(Model<float>& model, const Tokenizer& tok, std::span<const int32_t> prompt,
                    const GenerateOptions& opt);

struct RecordResult {
    std::string task;     // "" when the record has none
    int difficulty = -1;  // -1 when the record has none
    bool correct = false;
    int thinking_tokens = 0;  // of the chosen sample
    int generated_tokens = 0;
    bool forced_close = false;
    std::string output, expected, extracted, reason;
    std::vector<std::string> votes;  // vote keys of all samples (when votes > 1)
};

// The key samples vote on: the last number (numeric answers), the number list (sort), or the
// lower-cased whitespace-normalised answer text; "" when the output has no answer.
std::string vote_key(const nlohmann::json& record, std::string_view output);

// Index of the winning sample: the most frequent non-empty key (ties: the one seen first); 0 when
// every key is empty.
size_t majority_index(const std::vector<std::string>& keys);

struct EvalOptions {
    GenerateOptions gen;
    int votes = 1;
    float vote_temperature = 0.7f;
};

// Evaluates one record ({"question", "answer", ...}); votes > 1 samples with vote_temperature and
// seeds derived from (gen.seed, record_index, sample).
RecordResult evaluate_record(Model<float>& model, const Tokenizer& tok,
                             const nlohmann::json& record, size_t record_index,
                             const EvalOptions& opt);

// {"mode","n","correct","accuracy","mean_thinking_tokens","votes","think_budget","max_tokens",
//  "by_task":{task:{"n","correct","accuracy"}},"by_difficulty":{"d":{...}}} — by_task and
// by_difficulty only hold records that name a task / difficulty.
nlohmann::json summarize(const std::vector<RecordResult>& results, const EvalOptions& opt);
nlohmann::json record_to_json(const RecordResult& r, size_t index);

}  // namespace np::eval
