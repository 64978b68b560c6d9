// Reasoning gym: every answer is recomputed from the question text by independent code here, and
// the scorer's edge cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>

#include "core/error.h"
#include "data/gym.h"

using namespace np::data;
using nlohmann::json;

namespace {

std::vector<long long> ints(const std::string& s) {
    std::vector<long long> v;
    std::regex re("\\d+");
    for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it)
        v.push_back(std::stoll(it->str()));
    return v;
}

// Recursive-descent evaluator for + - * and parentheses.
struct Parser {
    std::string s;
    size_t i = 0;
    void ws() {
        while (i < s.size() && s[i] == ' ') ++i;
    }
    long long atom() {
        ws();
        if (s[i] == '(') {
            ++i;
            long long v = sum();
            ws();
            EXPECT_EQ(s[i], ')');
            ++i;
            return v;
        }
        size_t b = i;
        while (i < s.size() && isdigit((unsigned char)s[i])) ++i;
        return std::stoll(s.substr(b, i - b));
    }
    long long product() {
        long long v = atom();
        for (ws(); i < s.size() && s[i] == '*'; ws()) {
            ++i;
            v *= atom();
        }
        return v;
    }
    long long sum() {
        long long v = product();
        for (ws(); i < s.size() && (s[i] == '+' || s[i] == '-'); ws()) {
            char op = s[i++];
            long long r = product();
            v = op == '+' ? v + r : v - r;
        }
        return v;
    }
};

std::string after(const std::string& s, const std::string& marker) {
    size_t p = s.find(marker);
    EXPECT_NE(p, std::string::npos) << marker << " in " << s;
    return p == std::string::npos ? "" : s.substr(p + marker.size());
}

std::string hhmm(long long minutes) {
    minutes %= 24 * 60;
    char b[16];
    std::snprintf(b, sizeof b, "%lld:%02lld", minutes / 60, minutes % 60);
    return b;
}

std::vector<std::string> sentences(const std::string& q) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : q) {
        cur += c;
        if (c == '.' || c == '?') {
            size_t b = cur.find_first_not_of(' ');
            out.push_back(cur.substr(b));
            cur.clear();
        }
    }
    return out;
}

// The answer, computed from the question alone.
std::string solve(const GymRecord& r) {
    const std::string& q = r.question;
    bool it = r.lang == "it";
    if (r.task == "addition" || r.task == "subtraction" || r.task == "multiplication") {
        auto n = ints(q);
        EXPECT_EQ(n.size(), 2u) << q;
        long long v = r.task == "addition"      ? n[0] + n[1]
                      : r.task == "subtraction" ? n[0] - n[1]
                                                : n[0] * n[1];
        return std::to_string(v);
    }
    if (r.task == "expression") {
        std::string e = after(q, it ? "Calcola " : "Compute ");
        e.pop_back();  // final '.'
        Parser p{e};
        return std::to_string(p.sum());
    }
    if (r.task == "compare") {
        auto n = ints(q);
        return std::to_string(std::max(n[0], n[1]));
    }
    if (r.task == "sort") {
        auto n = ints(after(q, ": "));
        bool asc = q.find(it ? "dal più piccolo" : "from smallest") != std::string::npos;
        std::sort(n.begin(), n.end());
        if (!asc) std::reverse(n.begin(), n.end());
        std::string s;
        for (size_t i = 0; i < n.size(); ++i) s += (i ? ", " : "") + std::to_string(n[i]);
        return s;
    }
    if (r.task == "letters") {
        std::smatch m;
        EXPECT_TRUE(std::regex_search(q, m, std::regex("\"(.)\".*\"([a-z ]+)\"")));
        std::string phrase = m[2].str();
        return std::to_string(std::count(phrase.begin(), phrase.end(), m[1].str()[0]));
    }
    if (r.task == "word_money") {
        long long money = ints(q)[0], spent = 0;
        std::regex item(it ? "(\\d+) [a-z]+ a (\\d+) euro" : "(\\d+) [a-z-]+ at \\$(\\d+) each");
        for (auto m = std::sregex_iterator(q.begin(), q.end(), item); m != std::sregex_iterator();
             ++m)
            spent += std::stoll((*m)[1]) * std::stoll((*m)[2]);
        return std::to_string(money - spent);
    }
    if (r.task == "word_time") {
        std::smatch m;
        EXPECT_TRUE(std::regex_search(q, m, std::regex("(\\d+):(\\d\\d)")));
        long long t = std::stoll(m[1]) * 60 + std::stoll(m[2]);
        std::regex h("(\\d+) (hours?|ore|ora)\\b"), mi("(\\d+) (minutes?|minuti|minuto)\\b");
        for (auto x = std::sregex_iterator(q.begin(), q.end(), h); x != std::sregex_iterator(); ++x)
            t += 60 * std::stoll((*x)[1]);
        for (auto x = std::sregex_iterator(q.begin(), q.end(), mi); x != std::sregex_iterator();
             ++x)
            t += std::stoll((*x)[1]);
        return hhmm(t);
    }
    if (r.task == "word_age") {
        long long age = -1;
        for (const std::string& s : sentences(q)) {
            auto n = ints(s);
            auto has = [&](const char* w) { return s.find(w) != std::string::npos; };
            if (age < 0)
                age = n.at(0);
            else if (has("older than") || has("anni più di"))
                age += n.at(0);
            else if (has("younger than") || has("anni meno di"))
                age -= n.at(0);
            else if (has("twice") || has("doppio"))
                age *= 2;
            else if (has("three times") || has("triplo"))
                age *= 3;
            else if (has("four times") || has("quadruplo"))
                age *= 4;
            else if (!n.empty())
                age += n[0];  // "in N years" / "tra N anni"
        }
        return std::to_string(age);
    }
    if (r.task == "word_quantity") {
        auto first = ints(sentences(q)[0]);
        long long per = first.at(1), total = first.at(0) * per;
        for (const std::string& s : sentences(q)) {
            auto n = ints(s);
            if (s.find("sells") != std::string::npos || s.find("vende") != std::string::npos)
                total -= n.at(0);
            if (s.find("receives") != std::string::npos || s.find("riceve") != std::string::npos ||
                s.find("Riceve") != std::string::npos)
                total += n.at(0) * per;
        }
        return std::to_string(total);
    }
    ADD_FAILURE() << "no independent solver for " << r.task;
    return "";
}

}  // namespace

TEST(GymGenerate, AnswersMatchIndependentSolutions) {
    int checked = 0;
    for (const std::string& task : gym_tasks()) {
        for (const char* lang : {"en", "it"}) {
            for (int d = 1; d <= 5; ++d) {
                for (uint64_t seed = 0; seed < 12; ++seed) {
                    GymRecord r = gym_generate(task, lang, d, seed);
                    ASSERT_EQ(r.task, task);
                    EXPECT_EQ(r.answer, solve(r))
                        << task << " " << lang << " d" << d << " seed " << seed << "\n"
                        << r.question << "\n"
                        << r.thinking;
                    EXPECT_FALSE(r.thinking.empty());
                    // The reasoning ends with the answer (the last step states it).
                    EXPECT_NE(r.thinking.substr(r.thinking.rfind('\n') + 1).find(r.answer),
                              std::string::npos)
                        << r.thinking;
                    EXPECT_TRUE(gym_score(r.to_json(),
                                          "<think>\n" + r.thinking + "\n</think>\n\n" + r.answer)
                                    .correct);
                    ++checked;
                }
            }
        }
    }
    EXPECT_EQ(checked, int(gym_tasks().size()) * 2 * 5 * 12);
}

TEST(GymGenerate, CarriesAndBorrowsAreWrittenOut) {
    GymRecord a = gym_generate("addition", "en", 3, 1);
    auto n = ints(a.question);
    // Two place tables, then one line per column of the longer operand (and one for a last carry).
    size_t cols = std::to_string(std::max(n[0], n[1])).size();
    EXPECT_EQ(size_t(std::count(a.thinking.begin(), a.thinking.end(), '\n')),
              2 + cols + (a.answer.size() > cols ? 1 : 0));
    EXPECT_NE(a.thinking.find("carry"), std::string::npos);
    bool saw_borrow = false;
    for (uint64_t s = 0; s < 20 && !saw_borrow; ++s)
        saw_borrow = gym_generate("subtraction", "it", 3, s).thinking.find(" prestito 1,") !=
                     std::string::npos;
    EXPECT_TRUE(saw_borrow);
    GymRecord m = gym_generate("multiplication", "en", 4, 3);
    EXPECT_NE(m.thinking.find("partial products"), std::string::npos);
}

TEST(GymGenerate, DifficultyControlsDigitsAndSteps) {
    for (int d = 1; d <= 8; ++d) {
        size_t longest = 0;
        for (uint64_t s = 0; s < 10; ++s) {
            auto n = ints(gym_generate("addition", "en", d, s).question);
            for (long long x : n) {
                EXPECT_LE(std::to_string(x).size(), size_t(d + 1));
                longest = std::max(longest, std::to_string(x).size());
            }
        }
        EXPECT_EQ(longest, size_t(d + 1));
        auto sorted = ints(after(gym_generate("sort", "en", d, 1).question, ": "));
        EXPECT_EQ(sorted.size(), size_t(d + 2));
        std::string e = gym_generate("expression", "en", d, 2).question;
        EXPECT_EQ(size_t(std::count_if(e.begin(), e.end(),
                                       [](char c) { return c == '+' || c == '-' || c == '*'; })),
                  size_t(d + 1));
    }
}

TEST(GymGenerate, DeterministicMixesAndErrors) {
    auto a = gym_generate_many("all", "both", 2, 9, 44);
    auto b = gym_generate_many("all", "both", 2, 9, 44);
    auto c = gym_generate_many("all", "both", 2, 10, 44);
    ASSERT_EQ(a.size(), 44u);
    int same = 0, it = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].to_json(), b[i].to_json());
        same += a[i].question == c[i].question;
        it += a[i].lang == "it";
        EXPECT_EQ(a[i].task, gym_tasks()[i % gym_tasks().size()]);
    }
    EXPECT_LT(same, 10);
    EXPECT_EQ(it, 22);
    EXPECT_EQ(GymRecord::from_json(a[3].to_json()).to_json(), a[3].to_json());
    EXPECT_THROW(gym_generate("division", "en", 1, 0), np::Error);
    EXPECT_THROW(gym_generate("addition", "fr", 1, 0), np::Error);
    EXPECT_THROW(gym_generate("addition", "en", 0, 0), np::Error);
}

TEST(GymScore, AnswerExtraction) {
    std::string a;
    EXPECT_TRUE(extract_answer("<think>\nsteps 1 2 3\n</think>\n\n42<|im_end|>", a));
    EXPECT_EQ(a, "42");
    EXPECT_TRUE(extract_answer("The answer is 7.", a));  // no think block at all: thinking off
    EXPECT_EQ(a, "The answer is 7.");
    EXPECT_FALSE(extract_answer("<think>\n3 + 4 = 7 and still going", a));  // never closed
    EXPECT_TRUE(extract_answer("<think>a</think>x</think> 9", a));          // last </think> wins
    EXPECT_EQ(a, "9");
}

TEST(GymScore, NumbersCommasAndDots) {
    EXPECT_EQ(parse_numbers("1,234", "en"), std::vector<double>({1234}));
    EXPECT_EQ(parse_numbers("1.234", "it"), std::vector<double>({1234}));
    EXPECT_EQ(parse_numbers("3,5", "it"), std::vector<double>({3.5}));
    EXPECT_EQ(parse_numbers("3.5", "en"), std::vector<double>({3.5}));
    EXPECT_EQ(parse_numbers("1,23", "en"), std::vector<double>({1.23}));  // not a thousands group
    EXPECT_EQ(parse_numbers("1.234.567,5", "it"), std::vector<double>({1234567.5}));
    EXPECT_EQ(parse_numbers("1,234,567.25", "en"), std::vector<double>({1234567.25}));
    EXPECT_EQ(parse_numbers("$12.50, then 7.", "en"), std::vector<double>({12.5, 7}));
    EXPECT_EQ(parse_numbers("-4 and 5-3", "en"), std::vector<double>({-4, 5, 3}));
    EXPECT_EQ(parse_numbers("12, 45, 78", "it"), std::vector<double>({12, 45, 78}));
    EXPECT_EQ(parse_numbers("12,45", "it", true), std::vector<double>({12, 45}));
}

TEST(GymScore, JudgesRecords) {
    json add = {{"task", "addition"}, {"lang", "en"}, {"answer", "1234"}};
    EXPECT_TRUE(gym_score(add, "<think>\n1000 + 234\n</think>\n\nThe sum is 1,234.").correct);
    EXPECT_TRUE(gym_score(add, "<think>x</think>I first thought 12 but it is 1234")
                    .correct);  // last number
    EXPECT_FALSE(gym_score(add, "<think>x</think>1234 or maybe 1235").correct);
    EXPECT_FALSE(gym_score(add, "<think>the answer is 1234").correct);  // unterminated thinking
    EXPECT_EQ(gym_score(add, "<think>the answer is 1234").reason,
              "unterminated <think> block: no answer");
    EXPECT_FALSE(
        gym_score(add, "<think>1234</think>no idea").correct);  // numbers in thinking don't count
    EXPECT_TRUE(gym_score(add, "1234").correct);

    json it = {{"task", "word_money"}, {"lang", "it"}, {"answer", "1234"}};
    EXPECT_TRUE(gym_score(it, "</think>Restano 1.234 euro.").correct);
    EXPECT_FALSE(
        gym_score(it, "</think>Restano 1,234 euro.").correct);  // 1,234 is 1.234 in Italian

    json sort = {{"task", "sort"}, {"lang", "it"}, {"answer", "3, 12, 45"}};
    EXPECT_TRUE(gym_score(sort, "</think>Ordine: 3, 12, 45.").correct);
    EXPECT_TRUE(gym_score(sort, "</think>3,12,45").correct);
    EXPECT_FALSE(gym_score(sort, "</think>3, 45, 12").correct);

    json time = {{"task", "word_time"}, {"lang", "it"}, {"answer", "9:05"}};
    EXPECT_TRUE(gym_score(time, "</think>Arriva alle 9.05.").correct);
    EXPECT_TRUE(gym_score(time, "</think>at 09:05").correct);
    EXPECT_FALSE(gym_score(time, "</think>alle 9:50").correct);

    // Plain {"question","answer"} files: GSM8K "#### N", plain numbers and text answers.
    json gsm = {{"question", "q"}, {"answer", "Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72"}};
    ScoreResult r = gym_score(gsm, "<think>48 + 24 = 72</think>\n\n72 clips");
    EXPECT_TRUE(r.correct);
    EXPECT_EQ(r.expected, "72");
    EXPECT_EQ(r.kind, AnswerKind::Number);
    EXPECT_TRUE(gym_score({{"question", "q"}, {"answer", "#### 1,000"}}, "</think>1000").correct);
    json text = {{"question", "Capital of Italy?"}, {"answer", "Rome"}};
    EXPECT_EQ(gym_score(text, "").kind, AnswerKind::Text);
    EXPECT_TRUE(gym_score(text, "<think>\n\n</think>\n\n**rome**.").correct);
    EXPECT_FALSE(gym_score(text, "</think>Milan").correct);
    EXPECT_THROW(gym_score(json{{"question", "q"}}, "x"), np::Error);
}
