#include "eval/eval.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

#include "core/error.h"
#include "core/rng.h"
#include "data/gym.h"

namespace np::eval {

void check_tokenizer(const Tokenizer& tok, int32_t model_vocab, const std::string& origin) {
    for (int32_t i = 0; i < int32_t(Tokenizer::kSpecialTokens.size()); ++i)
        if (tok.special_id(Tokenizer::kSpecialTokens[size_t(i)]) != std::optional<int32_t>(i))
            fail(origin + ": expected special token " +
                 std::string(Tokenizer::kSpecialTokens[size_t(i)]) + " at id " + std::to_string(i) +
                 " (a NanoPrime tokenizer)");
    if (tok.vocab_size() > model_vocab)
        fail(origin + ": tokenizer has " + std::to_string(tok.vocab_size()) +
             " tokens but the model's vocab_size is " + std::to_string(model_vocab));
}

namespace {

std::string normalize_text(std::string_view s) {
    std::string out;
    bool space = false;
    for (unsigned char c : s) {
        if (std::isspace(c)) {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += char(std::tolower(c));
    }
    return out;
}

std::string format_number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

}  // namespace

std::string vote_key(const nlohmann::json& record, std::string_view output) {
    std::string answer;
    if (!data::extract_answer(output, answer)) return "";
    auto r = data::gym_score(record, output);
    std::string lang = record.value("lang", "en");
    switch (r.kind) {
        case data::AnswerKind::Number: {
            auto nums = data::parse_numbers(r.extracted, lang);
            return nums.empty() ? "" : format_number(nums.back());
        }
        case data::AnswerKind::NumberList: {
            auto nums = data::parse_numbers(r.extracted, lang, true);
            std::string key;
            for (double v : nums) key += (key.empty() ? "" : ",") + format_number(v);
            return key;
        }
        case data::AnswerKind::Time:
        case data::AnswerKind::Text:
            return normalize_text(r.extracted);
    }
    return "";
}

size_t majority_index(const std::vector<std::string>& keys) {
    std::map<std::string, int> count;
    for (const auto& k : keys)
        if (!k.empty()) count[k]++;
    size_t best = 0;
    int best_count = 0;
    for (size_t i = 0; i < keys.size(); ++i)
        if (!keys[i].empty() && count[keys[i]] > best_count) {
            best_count = count[keys[i]];
            best = i;
        }
    return best;
}

RecordResult evaluate_record(infer::Decoder& dec, const Tokenizer& tok,
                             const nlohmann::json& record, size_t record_index,
                             const EvalOptions& opt) {
    if (!record.is_object() || !record.contains("question") || !record["question"].is_string())
        fail("eval: record " + std::to_string(record_index + 1) +
             " has no string field \"question\"");
    if (opt.votes < 1) fail("--votes: expected >= 1, got " + std::to_string(opt.votes));
    auto prompt = build_prompt(tok, record["question"].get<std::string>(), opt.gen.mode);
    std::vector<infer::Generation> gens;
    std::vector<std::string> keys;
    for (int k = 0; k < opt.votes; ++k) {
        infer::GenerateOptions g = opt.gen;
        if (opt.votes > 1) {
            g.sampling.temperature = opt.vote_temperature;
            g.sampling.seed =
                splitmix64(opt.gen.sampling.seed ^
                           splitmix64(uint64_t(record_index) * 1000003u + uint64_t(k)));
        }
        gens.push_back(infer::generate(dec, tok, prompt, g));
        keys.push_back(vote_key(record, gens.back().text));
    }
    const infer::Generation& win = gens[majority_index(keys)];
    auto s = data::gym_score(record, win.text);
    RecordResult r;
    r.task = record.contains("task") && record["task"].is_string()
                 ? record["task"].get<std::string>()
                 : "";
    r.difficulty = record.contains("difficulty") && record["difficulty"].is_number_integer()
                       ? record["difficulty"].get<int>()
                       : -1;
    r.correct = s.correct;
    r.thinking_tokens = win.thinking_tokens;
    r.generated_tokens = int(win.tokens.size());
    r.forced_close = win.forced_close;
    r.output = win.text;
    r.expected = s.expected;
    r.extracted = s.extracted;
    r.reason = s.reason;
    if (opt.votes > 1) r.votes = keys;
    return r;
}

namespace {

nlohmann::json bucket(int n, int correct) {
    return {{"n", n}, {"correct", correct}, {"accuracy", n > 0 ? double(correct) / n : 0.0}};
}

}  // namespace

nlohmann::json summarize(const std::vector<RecordResult>& results, const EvalOptions& opt) {
    std::map<std::string, std::pair<int, int>> by_task;
    std::map<int, std::pair<int, int>> by_diff;
    int correct = 0;
    double think = 0;
    for (const auto& r : results) {
        correct += r.correct;
        think += r.thinking_tokens;
        if (!r.task.empty()) {
            by_task[r.task].first++;
            by_task[r.task].second += r.correct;
        }
        if (r.difficulty >= 0) {
            by_diff[r.difficulty].first++;
            by_diff[r.difficulty].second += r.correct;
        }
    }
    const int n = int(results.size());
    nlohmann::json j = {{"mode", think_mode_name(opt.gen.mode)},
                        {"n", n},
                        {"correct", correct},
                        {"accuracy", n > 0 ? double(correct) / n : 0.0},
                        {"mean_thinking_tokens", n > 0 ? think / n : 0.0},
                        {"votes", opt.votes},
                        {"think_budget", opt.gen.think_budget},
                        {"max_tokens", opt.gen.max_tokens}};
    j["by_task"] = nlohmann::json::object();
    for (const auto& [t, c] : by_task) j["by_task"][t] = bucket(c.first, c.second);
    j["by_difficulty"] = nlohmann::json::object();
    for (const auto& [d, c] : by_diff)
        j["by_difficulty"][std::to_string(d)] = bucket(c.first, c.second);
    return j;
}

nlohmann::json record_to_json(const RecordResult& r, size_t index) {
    nlohmann::json j = {{"index", index},
                        {"correct", r.correct},
                        {"thinking_tokens", r.thinking_tokens},
                        {"generated_tokens", r.generated_tokens},
                        {"forced_close", r.forced_close},
                        {"expected", r.expected},
                        {"extracted", r.extracted},
                        {"reason", r.reason},
                        {"output", r.output}};
    if (!r.task.empty()) j["task"] = r.task;
    if (r.difficulty >= 0) j["difficulty"] = r.difficulty;
    if (!r.votes.empty()) j["votes"] = r.votes;
    return j;
}

}  // namespace np::eval
