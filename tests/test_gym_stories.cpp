// Word problems of the gym (word_money, word_time, word_age, word_quantity, word_units): every
// trace's first line, the formula the story restates as, is evaluated here by independent code and
// its lines re-derived; the formula is tied to the question (its numbers, its unit factor, its
// start time); and the sentence frames follow the rules every task's frames follow.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "data/gym.h"
#include "data/gym_phrasing.h"
#include "gym_test_util.h"

using namespace np::data;

namespace {

using np::test::lines_of;
using np::test::question_integers;

const std::vector<std::string> kTasks = {"word_money", "word_time", "word_age", "word_quantity",
                                         "word_units"};

// A chain formula: a number or a parenthesised chain, then (op operand) where an additive operand
// may be a product "a*b" and '*' multiplies everything before it.
struct Operand {
    long long a, b = 0;  // b > 0: a*b
};
struct ParsedChain {
    Operand start{0};
    std::vector<std::pair<char, Operand>> steps;
    std::multiset<long long> numbers;
};

ParsedChain parse_chain(const std::string& f) {
    ParsedChain c;
    size_t i = 0;
    // Opening parentheses only ever wrap a prefix of the chain; a ")*k" multiplies all before it.
    while (i < f.size() && f[i] == '(') ++i;
    auto number = [&] {
        size_t b = i;
        while (i < f.size() && isdigit((unsigned char)f[i])) ++i;
        EXPECT_GT(i, b) << "number expected at " << b << " in " << f;
        const long long v = b < i ? std::stoll(f.substr(b, i - b)) : 0;
        c.numbers.insert(v);
        return v;
    };
    c.start = Operand{number()};
    if (i < f.size() && f[i] == '*') {
        ++i;
        c.start.b = number();
    }
    while (i < f.size()) {
        const bool closed = f[i] == ')';
        if (closed) ++i;
        const char op = f[i++];
        EXPECT_TRUE(op == '+' || op == '-' || op == '*') << f;
        EXPECT_TRUE(!closed || op == '*') << f;
        Operand o{number()};
        if (op != '*' && i < f.size() && f[i] == '*') {
            ++i;
            o.b = number();
        }
        c.steps.push_back({op, o});
    }
    return c;
}

// The lines the formula's evaluation should write, and its value.
long long derive_chain(const ParsedChain& c, std::vector<std::string>& lines) {
    auto s = [](long long v) { return std::to_string(v); };
    long long v = c.start.a;
    if (c.start.b) {
        v = c.start.a * c.start.b;
        lines.push_back(s(c.start.a) + "*" + s(c.start.b) + "=" + s(v));
    }
    for (const auto& [op, o] : c.steps) {
        long long x = o.a;
        if (o.b) {
            x = o.a * o.b;
            lines.push_back(s(o.a) + "*" + s(o.b) + "=" + s(x));
        }
        const long long next = op == '+' ? v + x : op == '-' ? v - x : v * x;
        lines.push_back(s(v) + op + s(x) + "=" + s(next));
        v = next;
    }
    return v;
}

std::string hmm(long long minutes) {
    minutes %= 24 * 60;
    char b[16];
    snprintf(b, sizeof b, "%lld:%02lld", minutes / 60, minutes % 60);
    return b;
}

// "9:35+1h20m+45m": its lines and the arrival time.
std::string derive_time(const std::string& first, std::vector<std::string>& lines, int& legs) {
    std::smatch m;
    EXPECT_TRUE(
        std::regex_match(first, m, std::regex("(\\d{1,2}):(\\d\\d)((?:\\+(?:\\d+h)?(?:\\d+m)?)+)")))
        << first;
    long long now = std::stoll(m[1]) * 60 + std::stoll(m[2]);
    const std::string rest = m[3];
    legs = 0;
    std::regex leg("\\+(?:(\\d+)h)?(?:(\\d+)m)?");
    for (auto it = std::sregex_iterator(rest.begin(), rest.end(), leg);
         it != std::sregex_iterator(); ++it) {
        const long long h = (*it)[1].matched ? std::stoll((*it)[1]) : 0;
        const long long mm = (*it)[2].matched ? std::stoll((*it)[2]) : 0;
        EXPECT_TRUE(h > 0 || mm > 0) << first;
        EXPECT_LT(mm, 60) << first;
        ++legs;
        if (h) {
            lines.push_back(hmm(now) + "+" + std::to_string(h) + "h=" + hmm(now + h * 60));
            now += h * 60;
        }
        if (mm) {
            lines.push_back(hmm(now) + "+" + std::to_string(mm) + "m: " + std::to_string(now % 60) +
                            "+" + std::to_string(mm) + "=" + std::to_string(now % 60 + mm) +
                            " -> " + hmm(now + mm));
            now += mm;
        }
    }
    return hmm(now);
}

// The conversion factor a units question needs, read from the unit words it uses.
long long unit_factor(const std::string& q) {
    auto has = [&](const char* re) {
        return std::regex_search(q, std::regex(re, std::regex::icase));
    };
    if (has("\\bsecond")) return 60;
    if (has("\\b(weeks?|settiman[ae])\\b")) return 7;
    if (has("\\b(days?|giorn[oi])\\b")) return 24;
    if (has("\\b(hours?|or[ae])\\b")) return 60;
    if (has("\\b(cm|centimet)")) return 100;
    if (has("\\b(km|kilomet|chilomet)")) return 1000;
    if (has("\\b(kg|kilogram|chilogramm)")) return 1000;
    if (has("\\b(L|ml|liters?|litr[oi]|millilit)\\b")) return 1000;
    if (has("\\b(years?|ann[oi]|months?|mes[ei])\\b")) return 12;
    if (has("\\b(euros?|cents?|centesim[oi])\\b")) return 100;
    ADD_FAILURE() << "no unit in: " << q;
    return 0;
}

void check_record(const GymRecord& r) {
    SCOPED_TRACE(r.task + " " + r.lang + " d" + std::to_string(r.difficulty) + " [" + r.family +
                 "]\n" + r.question + "\n" + r.thinking);
    const std::vector<std::string> got = lines_of(r.thinking);
    std::vector<std::string> want = {got[0]};
    const std::multiset<long long> qn = question_integers(r.question);
    if (r.task == "word_time") {
        int legs = 0;
        EXPECT_EQ(r.answer, derive_time(got[0], want, legs));
        EXPECT_EQ(want, got);
        EXPECT_NE(r.question.find(" " + got[0].substr(0, got[0].find('+'))), std::string::npos)
            << "the start time is the question's";
        EXPECT_EQ(legs, std::min(r.difficulty, 6));
        return;
    }
    const ParsedChain c = parse_chain(got[0]);
    const long long value = derive_chain(c, want);
    EXPECT_EQ(want, got);
    EXPECT_EQ(r.answer, std::to_string(value));
    EXPECT_GE(value, 0);
    const int d = std::min(r.difficulty, 6);
    // Every number of the question is in the formula.
    const std::set<long long> in_formula(c.numbers.begin(), c.numbers.end());
    for (long long v : qn) EXPECT_TRUE(in_formula.count(v)) << v << " not in the formula";
    if (r.task == "word_money") {
        // has - q1*p1 - q2*p2 ...: exactly the question's numbers, one step per kind of item.
        EXPECT_EQ(c.numbers, qn);
        EXPECT_EQ(c.steps.size(), size_t(d));
        for (const auto& [op, o] : c.steps) EXPECT_TRUE(op == '-' && o.b > 0);
        EXPECT_EQ(c.start.a, *std::max_element(qn.begin(), qn.end()));
    } else if (r.task == "word_age") {
        // Multipliers (twice...) are words, every other operand a number of the question.
        std::multiset<long long> without_multipliers;
        for (const auto& [op, o] : c.steps) {
            if (op != '*') without_multipliers.insert(o.a);
        }
        without_multipliers.insert(c.start.a);
        EXPECT_EQ(without_multipliers, qn);
        // "3*4" reads as a starting product; it is the same first relation.
        const size_t relations = c.steps.size() + (c.start.b > 0);
        EXPECT_GE(relations, size_t(d));
        EXPECT_LE(relations, size_t(d) + 1);
    } else if (r.task == "word_quantity") {
        // boxes*per first, then one step per event (a delivery is more*per).
        EXPECT_GT(c.start.b, 0);
        EXPECT_EQ(c.steps.size(), size_t(d));
        for (const auto& [op, o] : c.steps) {
            if (o.b) {
                EXPECT_EQ(o.b, c.start.b) << "a delivery brings full boxes";
            }
        }
    } else if (r.task == "word_units") {
        const long long f = unit_factor(r.question);
        EXPECT_EQ(c.start.b ? c.start.b : f, f);
        for (const auto& [op, o] : c.steps) {
            EXPECT_EQ(op == '*' ? o.a : f, f);
            EXPECT_EQ(o.b ? o.b : f, f);
            EXPECT_TRUE(op != '+' || o.b || o.a < f) << "a small part is under one big unit";
        }
        std::multiset<long long> without_factors = {c.start.a};
        for (const auto& [op, o] : c.steps) {
            if (op != '*') without_factors.insert(o.a);
        }
        EXPECT_EQ(without_factors, qn);
    }
    EXPECT_EQ(r.thinking.find(','), std::string::npos) << "traces write plain digits";
}

// Questions as they start, so a test can check the first number of a story.
long long first_number(const std::string& q) {
    std::smatch m;
    return std::regex_search(q, m, std::regex("\\d+")) ? std::stoll(m.str()) : -1;
}

}  // namespace

TEST(GymStories, TracesFollowFromTheirFormulaAndTheQuestion) {
    int checked = 0;
    for (const std::string& task : kTasks)
        for (const std::string lang : {"en", "it"})
            for (const GymSplit split : {GymSplit::Train, GymSplit::Heldout})
                for (int d = 1; d <= 8; ++d)
                    for (uint64_t seed = 0; seed < 30; ++seed) {
                        const GymRecord r = gym_generate(task, lang, d, seed, split);
                        EXPECT_EQ(r.task, task);
                        check_record(r);
                        EXPECT_TRUE(gym_score(r.to_json(), "<think>\n" + r.thinking +
                                                               "\n</think>\n\n" + r.answer)
                                        .correct);
                        if (::testing::Test::HasFailure()) return;
                        ++checked;
                    }
    EXPECT_EQ(checked, 5 * 2 * 2 * 8 * 30);
}

// Ages and stock counts are told in the order the chain uses them: the story's first number is
// where the formula starts.
TEST(GymStories, StoriesStartWhereTheirFormulaStarts) {
    for (const std::string lang : {"en", "it"}) {
        for (uint64_t seed = 0; seed < 200; ++seed) {
            const GymRecord a = gym_generate("word_age", lang, 3, seed, GymSplit::Train);
            const bool asks_first = a.family.find("question_first") != std::string::npos ||
                                    a.family.find("domanda_prima") != std::string::npos;
            EXPECT_TRUE(asks_first ||
                        first_number(lines_of(a.thinking)[0]) == first_number(a.question))
                << a.question;
            const GymRecord q = gym_generate("word_quantity", lang, 3, seed, GymSplit::Train);
            const std::string f = lines_of(q.thinking)[0];
            EXPECT_EQ(f.substr(0, f.find('*')), std::to_string(first_number(q.question)))
                << q.question;
        }
    }
}

// Every frame names each slot its Phrasings requires exactly once and no unknown slot; each
// Phrasings keeps a held-out family, two training ones and its share of held-out frames.
TEST(GymStories, FramesFollowTheRules) {
    using namespace np::data::gym;
    const std::vector<TaskDef> tasks = story_tasks();
    ASSERT_EQ(tasks.size(), kTasks.size());
    // Per task, per Phrasings: the required slots; optional ones follow.
    const std::map<std::string, std::vector<std::vector<std::string>>> required = {
        {"word_money", {{"who", "has", "buys"}}},
        {"word_time", {{"start", "legs"}}},
        {"word_age", {{"facts", "who"}, {"facts", "who", "k"}}},
        {"word_quantity", {{"story"}}},
        {"word_units", {{"amount", "unit"}, {"amounts", "unit"}}}};
    const std::set<std::string> optional = {"who", "things", "hm", "Hm"};
    for (size_t t = 0; t < tasks.size(); ++t) {
        const TaskDef& def = tasks[t];
        const std::string name(def.name);
        EXPECT_EQ(name, kTasks[t]);
        EXPECT_FALSE(def.difficulty.empty());
        EXPECT_EQ(def.answer, name == "word_time" ? AnswerKind::Time : AnswerKind::Number);
        ASSERT_EQ(def.phrasings.size(), required.at(name).size());
        for (const bool it : {false, true})
            np::test::check_frame_rules(def, it, [&](const std::string& s, size_t pi) {
                const std::vector<std::string>& req = required.at(name)[pi];
                std::map<std::string, int> used;
                const std::regex slot("\\{([A-Za-z]+)\\}");
                for (auto m = std::sregex_iterator(s.begin(), s.end(), slot);
                     m != std::sregex_iterator(); ++m)
                    ++used[(*m)[1]];
                // A name may be repeated ("{who} has... does {who} have"); the rest not.
                for (const std::string& r : req) {
                    EXPECT_GE(used[r], 1) << s << " lacks " << r;
                    EXPECT_TRUE(r == "who" || used[r] == 1) << s << " repeats " << r;
                }
                for (const auto& [k, n] : used)
                    EXPECT_TRUE(optional.count(k) ||
                                std::find(req.begin(), req.end(), k) != req.end())
                        << s << " has unknown slot " << k;
                EXPECT_EQ(std::regex_replace(s, slot, "").find_first_of("{}"), std::string::npos)
                    << s;
            });
    }
}

// The draws the stories rely on: all event kinds and relation kinds appear, durations written
// in words appear, and units questions use every unit pair.
TEST(GymStories, DrawsHaveTheIntendedMix) {
    int sells = 0, deliveries = 0, finds = 0, times = 0, inverse = 0, later = 0, half = 0;
    std::set<long long> factors;
    for (uint64_t seed = 0; seed < 600; ++seed) {
        const std::string lang = seed % 2 ? "it" : "en";
        const ParsedChain q =
            parse_chain(lines_of(gym_generate("word_quantity", lang, 4, seed).thinking)[0]);
        for (const auto& [op, o] : q.steps) {
            sells += op == '-';
            deliveries += op == '+' && o.b > 0;
            finds += op == '+' && o.b == 0;
        }
        const GymRecord a = gym_generate("word_age", lang, 4, seed);
        times += lines_of(a.thinking)[0].find('*') != std::string::npos;
        inverse += std::regex_search(a.question, std::regex("younger|meno di|after|dopo di"));
        later += a.family.starts_with("later") || a.family.starts_with("futuro");
        const GymRecord t = gym_generate("word_time", lang, 3, seed);
        half += std::regex_search(t.question, std::regex("half|mezz|quarter|quarto"));
        factors.insert(unit_factor(gym_generate("word_units", lang, 2, seed).question));
    }
    EXPECT_GT(sells, 300);
    EXPECT_GT(deliveries, 150);
    EXPECT_GT(finds, 150);
    EXPECT_GT(times, 150);
    EXPECT_GT(inverse, 150);
    EXPECT_GT(later, 200);
    EXPECT_LT(later, 400);
    EXPECT_GT(half, 30);
    EXPECT_EQ(factors, (std::set<long long>{7, 12, 24, 60, 100, 1000}));
}
