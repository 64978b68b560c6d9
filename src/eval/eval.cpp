#include "eval/eval.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "core/error.h"
#include "core/rng.h"
#include "data/gym.h"
#include "tokenizer/role_specials.h"

namespace np::eval {

void check_tokenizer(const Tokenizer& tok, int32_t model_vocab, const std::string& origin) {
    require_nanoprime_specials(tok, origin);
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
        case data::AnswerKind::QuotientRemainder: {
            // "q remainder r" and, when r is 0, a plain "q" are the same answer.
            auto nums = data::parse_numbers(r.extracted, lang, true);
            if (nums.empty()) return "";
            const bool both = nums.size() >= 2;
            return format_number(nums[nums.size() - (both ? 2 : 1)]) + "r" +
                   (both ? format_number(nums.back()) : "0");
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
    auto text_field = [&](const char* key) {
        return record.contains(key) && record[key].is_string() ? record[key].get<std::string>()
                                                               : std::string();
    };
    r.task = text_field("task");
    r.difficulty = record.contains("difficulty") && record["difficulty"].is_number_integer()
                       ? record["difficulty"].get<int>()
                       : -1;
    r.family = text_field("family");
    r.lang = text_field("lang");
    r.correct = s.correct;
    r.thinking_tokens = win.thinking_tokens;
    r.thought = !win.thinking.empty();
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

// One slice of the results: how many, how many right, and how often and how long the model
// thought (what --think auto is judged on).
struct Bucket {
    int n = 0, correct = 0, thought = 0;
    double thinking_tokens = 0;
    void add(const RecordResult& r) {
        ++n;
        correct += r.correct;
        thought += r.thought;
        thinking_tokens += r.thinking_tokens;
    }
    nlohmann::json to_json() const {
        return {{"n", n},
                {"correct", correct},
                {"accuracy", n > 0 ? double(correct) / n : 0.0},
                {"thought", n > 0 ? double(thought) / n : 0.0},
                {"mean_thinking_tokens", n > 0 ? thinking_tokens / n : 0.0}};
    }
};

}  // namespace

nlohmann::json summarize(const std::vector<RecordResult>& results, const EvalOptions& opt) {
    Bucket all;
    std::map<std::string, Bucket> by_task, by_family, by_lang;
    std::map<int, Bucket> by_diff;
    for (const auto& r : results) {
        all.add(r);
        if (!r.task.empty()) by_task[r.task].add(r);
        if (!r.task.empty() && !r.family.empty()) by_family[r.task + "/" + r.family].add(r);
        if (!r.lang.empty()) by_lang[r.lang].add(r);
        if (r.difficulty >= 0) by_diff[r.difficulty].add(r);
    }
    nlohmann::json j = all.to_json();
    j["mode"] = think_mode_name(opt.gen.mode);
    j["votes"] = opt.votes;
    j["think_budget"] = opt.gen.think_budget;
    j["think_min"] = opt.gen.think_min;
    j["max_tokens"] = opt.gen.max_tokens;
    auto put = [&](const char* key, const auto& buckets) {
        j[key] = nlohmann::json::object();
        for (const auto& [k, b] : buckets) {
            if constexpr (std::is_same_v<std::decay_t<decltype(k)>, int>)
                j[key][std::to_string(k)] = b.to_json();
            else
                j[key][k] = b.to_json();
        }
    };
    put("by_task", by_task);
    put("by_family", by_family);
    put("by_lang", by_lang);
    put("by_difficulty", by_diff);
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
    if (!r.family.empty()) j["family"] = r.family;
    if (!r.lang.empty()) j["lang"] = r.lang;
    if (!r.votes.empty()) j["votes"] = r.votes;
    return j;
}

std::vector<nlohmann::json> read_records(const std::string& path, long limit) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open " + path);
    std::vector<nlohmann::json> recs;
    std::string line;
    size_t lineno = 0;
    while (std::getline(in, line) && (limit < 0 || long(recs.size()) < limit)) {
        ++lineno;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
            recs.push_back(nlohmann::json::parse(line));
        } catch (const nlohmann::json::exception& e) {
            fail(path + ":" + std::to_string(lineno) + ": invalid JSON: " + e.what());
        }
    }
    return recs;
}

}  // namespace np::eval
