// Reasoning gym: generators of verifiable problems with step-by-step reasoning in English and
// Italian, and the scorer that judges a model's output against a record.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace np::data {

struct GymRecord {
    std::string task, lang;  // lang: "en" | "it"
    int difficulty = 1;
    std::string question, thinking, answer;
    nlohmann::json to_json() const;
    static GymRecord from_json(const nlohmann::json& j);
};

// Task names: addition subtraction multiplication expression compare sort letters
// word_money word_time word_age word_quantity.
const std::vector<std::string>& gym_tasks();

// One problem. Deterministic in (task, lang, difficulty, seed); difficulty >= 1 sets the digits
// (addition/subtraction: d+1 digits; multiplication: (d+1) x ceil((d+1)/2) digits) or the steps
// (expression: d+1 operations; sort: d+2 numbers; word problems: d steps; letters: word/phrase
// length). Throws np::Error on an unknown task or language or difficulty < 1.
// Reasoning style of addition and subtraction (other tasks have one style): Steps writes place
// tables and one sentence per column with the result so far; Compact writes one fixed-width line
// per column, "x+y+c=cs" / "x-y-b=bd" (see gym.cpp) — far fewer tokens, and a layout a small model
// can learn to read within minutes.
enum class GymTrace { Steps, Compact };

GymRecord gym_generate(const std::string& task, const std::string& lang, int difficulty,
                       uint64_t seed, GymTrace trace = GymTrace::Steps);

// n problems; task "all" cycles through every task and lang "both" alternates en/it. Record i
// depends only on (task, lang, difficulty, seed, i). The same as gym_generate_set with one
// difficulty, no direct answers and nothing excluded.
std::vector<GymRecord> gym_generate_many(const std::string& task, const std::string& lang,
                                         int difficulty, uint64_t seed, size_t n);

// A generated problem set (`nanoprime gym`).
struct GymSetOptions {
    std::string task = "all";  // a task, "all", or a comma-separated list ("addition,subtraction")
    std::string lang = "en";   // en | it | both (alternates en/it)
    int min_difficulty = 1, max_difficulty = 1;  // candidate i draws its difficulty from (seed, i)
    // Candidates with difficulty <= this are answered directly: empty "thinking", which `data
    // prepare` renders as the empty think block. 0 = every problem is answered with thinking.
    int direct_max_difficulty = 0;
    uint64_t seed = 0;
    GymTrace trace = GymTrace::Steps;
    bool unique = false;  // drop a candidate whose question text appeared earlier in the set
};

// "D" or "A-B" (1 <= A <= B <= 12) -> [A, B]; throws np::Error naming --difficulty.
void parse_difficulty_range(std::string_view spec, int& lo, int& hi);

// Candidate i of a set: depends only on (task, lang, difficulty range, direct_max_difficulty,
// seed, i). Task i cycles through the task list; with one difficulty it equals record i of
// gym_generate_many, so single-difficulty sets stay what they were.
GymRecord gym_candidate(const GymSetOptions& opt, size_t i);

// The first n candidates whose question text is not in `exclude` (and not repeated, with unique),
// in candidate order. Held-out sets: generate the eval set, then the training set with the eval
// questions excluded. Throws np::Error when the problem space runs out (too few distinct
// questions for n).
std::vector<GymRecord> gym_generate_set(const GymSetOptions& opt, size_t n,
                                        const std::vector<std::string>& exclude = {});

// The record as one plain-text document for pretraining: question, reasoning (when there is
// any) and answer on their own lines.
std::string gym_plain_text(const GymRecord& r);

// ---- scoring ----
enum class AnswerKind { Number, NumberList, Time, Text };

// The answer part of a model output: the text after the last </think>. Without </think>: if the
// output opened a think block that never closed, there is no answer (returns false); otherwise
// (thinking off) the whole output is the answer. A trailing <|im_end|> / <|endoftext|> is dropped.
bool extract_answer(std::string_view output, std::string& answer);

// Numbers in text, in order. Separators: with both ',' and '.' the last one is the decimal point;
// a single ',' is decimal in Italian ("3,5") and a thousands separator in English when followed by
// exactly three digits ("1,234"); a single '.' is decimal in English and a thousands separator in
// Italian when followed by exactly three digits ("1.234"); a repeated separator is thousands.
// integers_only treats ',' and '.' as plain separators between integers (for lists).
std::vector<double> parse_numbers(std::string_view text, std::string_view lang,
                                  bool integers_only = false);

struct ScoreResult {
    bool correct = false;
    AnswerKind kind = AnswerKind::Text;
    std::string expected;   // reference answer (after "#### " for GSM8K-style records)
    std::string extracted;  // the model's answer text
    std::string reason;     // why it is wrong (empty when correct)
};

// Judges `output` against a record: a gym record ({"task","lang","answer",...}) or a plain
// {"question","answer"} record (GSM8K "#### N" allowed). Numeric answers compare the last number
// in the answer (relative tolerance 1e-9); sort compares the list of numbers; word_time compares
// the last h:mm; other answers compare case- and whitespace-normalised text.
ScoreResult gym_score(const nlohmann::json& record, std::string_view output);

}  // namespace np::data
