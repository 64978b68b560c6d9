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
    std::string family;  // the sentence family the question was phrased in (gym --list)
    std::string question, thinking, answer;
    nlohmann::json to_json() const;
    static GymRecord from_json(const nlohmann::json& j);
};

// Which sentence families questions are drawn from: the training families, the held-out ones
// (shapes never trained on, for measuring paraphrase generalisation), or all of them.
enum class GymSplit { All, Train, Heldout };

enum class AnswerKind { Number, NumberList, QuotientRemainder, Time, Text };

// Task names, in `--task all` order: addition subtraction multiplication division expression
// compare sort letters word_count word_money word_time word_age word_quantity word_units.
const std::vector<std::string>& gym_tasks();

// How a task's answers are compared (gym_score).
AnswerKind gym_answer_kind(const std::string& task);

// What --difficulty means for a task ("d-digit operands"), for help and `gym --list`.
std::string gym_difficulty_meaning(const std::string& task);

struct GymFamilyInfo {
    std::string name;
    bool heldout = false;
    size_t frames = 0;  // distinct sentence frames in the family
};
// A task's sentence families in one language ("en" | "it").
std::vector<GymFamilyInfo> gym_families(const std::string& task, const std::string& lang);

// One problem. Deterministic in (task, lang, difficulty, seed, split). Every task writes a compact
// trace: the problem restated in canonical form (plain digits, operands in the order the operation
// needs) on the first line, then one short fixed-shape line per step (one column of a sum, one
// digit of a product, one step of a long division...), so that a small model fetches every digit
// it needs from a fixed landmark. Throws np::Error on an unknown task or language or a difficulty
// outside 1..12.
GymRecord gym_generate(const std::string& task, const std::string& lang, int difficulty,
                       uint64_t seed, GymSplit split = GymSplit::All);

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
    GymSplit split = GymSplit::All;
    bool unique = false;  // drop a candidate whose question text appeared earlier in the set
    // Small problem spaces (one-digit sums) run out: give up after this many dropped candidates in
    // a row.
    size_t max_rejections_in_a_row = 100000;
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

// The records as chat conversations for multi-turn SFT: consecutive records become the user and
// assistant turns of one {"messages": [...]} record (assistant content "<think>\nR\n</think>\n\nA",
// or the answer alone when the record is answered directly), each conversation taking between
// min_turns and max_turns records (drawn from `seed`; the last one may be shorter). Every record
// appears once, in order. A model trained on single questions only reads a second question after a
// first answer as something it has never seen, and answers it worse.
std::vector<nlohmann::json> gym_conversations(const std::vector<GymRecord>& recs, int min_turns,
                                              int max_turns, uint64_t seed);

// "train" | "heldout" | "all" -> GymSplit; throws np::Error naming --split.
GymSplit parse_gym_split(std::string_view name);

// ---- scoring ----

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
// the last h:mm; division compares the quotient and remainder (the last two numbers; a lone
// quotient is right when the remainder is 0); other answers compare case- and
// whitespace-normalised text.
ScoreResult gym_score(const nlohmann::json& record, std::string_view output);

}  // namespace np::data
