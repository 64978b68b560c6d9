// `nanoprime eval` (issue 4 item 5): prompts in the three thinking modes (DESIGN §3), greedy or
// sampled generation on any decoder with a thinking budget (infer::generate), majority voting, and
// the accuracy report per task and difficulty.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "infer/decoder.h"
#include "infer/generate.h"
#include "tokenizer/tokenizer.h"

namespace np::eval {

// The thinking modes and ChatML prompts live with generation; eval re-exports them.
using infer::build_prompt;
using infer::parse_think_mode;
using infer::think_mode_name;
using infer::think_prefill;
using infer::ThinkMode;

// Throws np::Error unless the tokenizer has every NanoPrime special role (<|endoftext|> at id 0)
// and fits the model.
void check_tokenizer(const Tokenizer& tok, int32_t model_vocab, const std::string& origin);

struct RecordResult {
    std::string task;          // "" when the record has none
    int difficulty = -1;       // -1 when the record has none
    std::string family, lang;  // "" when the record has none
    bool correct = false;
    int thinking_tokens = 0;  // of the chosen sample
    bool thought = false;  // its think block holds more than whitespace (the empty block does not)
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
    infer::GenerateOptions gen;  // greedy unless gen.sampling says otherwise
    int votes = 1;
    float vote_temperature = 0.7f;
};

// Evaluates one record ({"question", "answer", ...}), each sample from a reset decoder; votes > 1
// samples with vote_temperature and seeds derived from (gen.sampling.seed, record_index, sample).
RecordResult evaluate_record(infer::Decoder& dec, const Tokenizer& tok,
                             const nlohmann::json& record, size_t record_index,
                             const EvalOptions& opt);

// {"mode","n","correct","accuracy","thought","mean_thinking_tokens","votes","think_budget",
//  "max_tokens","by_task":{task:{"n","correct","accuracy","thought","mean_thinking_tokens"}},
//  "by_family":{"task/family":{...}},"by_lang":{...},"by_difficulty":{"d":{...}}} — "thought" is
// the share of records with at least one thinking token; a slice only holds records that name
// its field.
nlohmann::json summarize(const std::vector<RecordResult>& results, const EvalOptions& opt);
nlohmann::json record_to_json(const RecordResult& r, size_t index);

// The JSON objects of a JSONL file, at most `limit` (all when < 0); blank lines skipped. Throws
// np::Error naming the file and line of invalid JSON, or the file when it cannot be opened.
std::vector<nlohmann::json> read_records(const std::string& path, long limit = -1);

}  // namespace np::eval
