// Ordering and counting tasks of the gym (compare, sort, letters, word_count): every trace is
// re-derived line by line from its first line by independent code here and tied to the question
// text, and the sentence frames are checked against the rules every task follows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/gym.h"
#include "data/gym_phrasing.h"
#include "gym_test_util.h"

using namespace np::data;

namespace {

using np::test::lines_of;

const std::vector<std::string> kTasks = {"compare", "sort", "letters", "word_count"};

std::string lower(std::string s) {
    for (char& ch : s) ch = char(std::tolower((unsigned char)ch));
    return s;
}

bool has_any(const std::string& s, std::initializer_list<const char*> words) {
    for (const char* w : words)
        if (s.find(w) != std::string::npos) return true;
    return false;
}

// The question's numbers in order, thousands separators removed ("12,345" in English, "12.345"
// in Italian).
std::vector<std::string> question_numbers(const std::string& q, const std::string& lang) {
    const std::regex re(lang == "it" ? "\\d+(?:\\.\\d{3})*" : "\\d+(?:,\\d{3})*");
    std::vector<std::string> out;
    for (auto it = std::sregex_iterator(q.begin(), q.end(), re); it != std::sregex_iterator();
         ++it) {
        std::string n;
        for (char ch : it->str())
            if (std::isdigit((unsigned char)ch)) n += ch;
        out.push_back(n);
    }
    return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    size_t i = 0;
    while (true) {
        const size_t e = s.find(sep, i);
        out.push_back(s.substr(i, e == std::string::npos ? std::string::npos : e - i));
        if (e == std::string::npos) return out;
        i = e + 1;
    }
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
    return s;
}

bool canonical_int(const std::string& s) {
    return std::regex_match(s, std::regex("0|[1-9][0-9]*"));
}

// The expected trace and answer of a record, derived from the first line of its trace only.
struct Expected {
    std::vector<std::string> lines;
    std::string answer;
};

// max(x,y) / min(x,y): digit counts, or digit pairs from the left up to the first difference.
Expected solve_compare(const GymRecord& r, const std::string& first) {
    std::smatch m;
    if (!std::regex_match(first, m, std::regex("(max|min)\\((\\d+),(\\d+)\\)"))) {
        ADD_FAILURE() << "compare first line: " << first;
        return {};
    }
    const bool want_max = m[1] == "max";
    const std::string x = m[2], y = m[3];
    EXPECT_TRUE(canonical_int(x) && canonical_int(y)) << first;
    EXPECT_NE(x, y) << first;
    EXPECT_EQ(std::max(x.size(), y.size()), size_t(r.difficulty)) << first;
    EXPECT_EQ(question_numbers(r.question, r.lang), (std::vector<std::string>{x, y})) << r.question;
    const std::string q = lower(r.question);
    const bool says_max =
        r.lang == "it" ? has_any(q, {"maggiore", "più grande", "massimo", "più alto", "di più"})
                       : has_any(q, {"larger", "bigger", "greater", "higher", "maximum"});
    const bool says_min =
        r.lang == "it" ? has_any(q, {"minore", "più piccolo", "minimo", "più basso", "di meno"})
                       : has_any(q, {"smaller", "lower", "less", "minimum"});
    EXPECT_EQ(says_max, want_max) << r.question;
    EXPECT_EQ(says_min, !want_max) << r.question;

    Expected e;
    e.lines.push_back(first);
    bool x_larger = false;
    if (x.size() != y.size()) {
        x_larger = x.size() > y.size();
        e.lines.push_back(std::to_string(x.size()) + (x_larger ? ">" : "<") +
                          std::to_string(y.size()) + " digits");
    } else {
        for (size_t i = 0; i < x.size(); ++i) {
            const char rel = x[i] == y[i] ? '=' : x[i] > y[i] ? '>' : '<';
            e.lines.push_back(std::string{x[i], rel, y[i]});
            if (rel != '=') {
                x_larger = rel == '>';
                break;
            }
        }
    }
    e.answer = x_larger == want_max ? x : y;
    e.lines.push_back(e.answer);
    return e;
}

// asc(...)/desc(...): one selection per line over the numbers left, then the picks.
Expected solve_sort(const GymRecord& r, const std::string& first) {
    std::smatch m;
    if (!std::regex_match(first, m, std::regex("(asc|desc)\\((\\d+(?:,\\d+)*)\\)"))) {
        ADD_FAILURE() << "sort first line: " << first;
        return {};
    }
    const bool asc = m[1] == "asc";
    const std::vector<std::string> nums = split(m[2], ',');
    EXPECT_EQ(nums.size(), size_t(r.difficulty) + 2) << first;
    EXPECT_EQ(std::set<std::string>(nums.begin(), nums.end()).size(), nums.size()) << first;
    for (const std::string& n : nums) {
        EXPECT_TRUE(canonical_int(n)) << first;
        EXPECT_LE(n.size(), size_t(r.difficulty) + 1) << first;
    }
    EXPECT_EQ(question_numbers(r.question, r.lang), nums) << r.question;
    // English lists with a thousands separator use semicolons: "2; 5,319; 9", never "2, 5,319".
    if (r.lang == "en" && std::regex_search(r.question, std::regex("\\d,\\d"))) {
        EXPECT_FALSE(std::regex_search(r.question, std::regex("\\d, \\d"))) << r.question;
    }
    const std::string q = lower(r.question);
    const bool says_asc =
        r.lang == "it"
            ? has_any(q, {" crescente", "piccolo al", "minore al", "basso al", "dal più piccolo"})
            : has_any(q, {"ascending", "increasing", "smallest to", "lowest to", "smallest up",
                          "from the smallest", "starting with the smallest"});
    const bool says_desc =
        r.lang == "it"
            ? has_any(q, {"decrescente", "grande al", "maggiore al", "alto al", "dal più grande"})
            : has_any(q, {"descending", "decreasing", "largest to", "highest to", "biggest to",
                          "biggest down", "from the largest", "starting with the largest"});
    EXPECT_EQ(says_asc, asc) << r.question;
    EXPECT_EQ(says_desc, !asc) << r.question;

    // Compare as numbers: lengths first, then digits (values may exceed what a double holds
    // exactly, never what a long long holds, but this needs neither).
    auto less = [](const std::string& a, const std::string& b) {
        return a.size() != b.size() ? a.size() < b.size() : a < b;
    };
    Expected e;
    e.lines.push_back(first);
    std::vector<std::string> rest = nums, out;
    while (!rest.empty()) {
        auto best = rest.begin();
        for (auto it = rest.begin(); it != rest.end(); ++it)
            if (asc ? less(*it, *best) : less(*best, *it)) best = it;
        e.lines.push_back(std::string(asc ? "min(" : "max(") + join(rest, ",") + ")=" + *best);
        out.push_back(*best);
        rest.erase(best);
    }
    e.lines.push_back(join(out, ","));
    e.answer = join(out, ", ");
    return e;
}

// count(l,words): each letter with the running count, a line per word, then the count.
Expected solve_letters(const GymRecord& r, const std::string& first) {
    std::smatch m;
    if (!std::regex_match(first, m, std::regex("count\\(([a-z]),([a-z]+(?: [a-z]+)*)\\)"))) {
        ADD_FAILURE() << "letters first line: " << first;
        return {};
    }
    const char letter = m[1].str()[0];
    const std::string text = m[2];
    const std::vector<std::string> words = split(text, ' ');
    const int d = r.difficulty;
    EXPECT_EQ(words.size(), size_t(d <= 2 ? 1 : std::min(d - 1, 6))) << first;
    if (d == 1) {
        EXPECT_LE(words.front().size(), 6u) << first;
    }
    EXPECT_EQ(std::set<std::string>(words.begin(), words.end()).size(), words.size()) << first;
    const std::string q = lower(r.question);
    EXPECT_NE(q.find(text), std::string::npos) << r.question;
    // The letter stands alone somewhere in the question: 'r', "r", «r», r's, the letter r.
    bool alone = false;
    for (size_t i = 0; i < q.size(); ++i) {
        if (q[i] != letter) continue;
        const bool left = i == 0 || !std::isalpha((unsigned char)q[i - 1]);
        const bool right = i + 1 == q.size() || !std::isalpha((unsigned char)q[i + 1]) ||
                           q.compare(i + 1, 3, "'s ") == 0;
        if (left && right) alone = true;
    }
    EXPECT_TRUE(alone) << "letter " << letter << " not asked in: " << r.question;
    EXPECT_TRUE(question_numbers(r.question, r.lang).empty()) << r.question;

    Expected e;
    e.lines.push_back(first);
    int k = 0;
    for (const std::string& w : words) {
        std::string l;
        for (size_t i = 0; i < w.size(); ++i) {
            k += w[i] == letter;
            l += (i ? " " : "") + std::string(1, w[i]) + std::to_string(k);
        }
        e.lines.push_back(l);
    }
    e.answer = std::to_string(k);
    e.lines.push_back(e.answer);
    return e;
}

// words(sentence): one numbered word per line, then the count.
Expected solve_word_count(const GymRecord& r, const std::string& first) {
    std::smatch m;
    if (!std::regex_match(first, m, std::regex("words\\(([A-Za-z]+(?: [A-Za-z]+)*)\\)"))) {
        ADD_FAILURE() << "word_count first line: " << first;
        return {};
    }
    const std::string sentence = m[1];
    const std::vector<std::string> words = split(sentence, ' ');
    EXPECT_EQ(words.size(), size_t(std::min(r.difficulty + 2, 14))) << first;
    EXPECT_TRUE(std::isupper((unsigned char)sentence[0])) << first;
    EXPECT_NE(lower(r.question).find(lower(sentence)), std::string::npos) << r.question;
    EXPECT_TRUE(question_numbers(r.question, r.lang).empty()) << r.question;

    Expected e;
    e.lines.push_back(first);
    for (size_t i = 0; i < words.size(); ++i)
        e.lines.push_back(std::to_string(i + 1) + " " + words[i]);
    e.answer = std::to_string(words.size());
    e.lines.push_back(e.answer);
    return e;
}

void check_record(const GymRecord& r) {
    SCOPED_TRACE(r.task + " " + r.lang + " d=" + std::to_string(r.difficulty) + " [" + r.family +
                 "]\n" + r.question + "\n" + r.thinking + "\n=> " + r.answer);
    ASSERT_FALSE(r.question.empty());
    ASSERT_FALSE(r.thinking.empty());
    EXPECT_FALSE(r.family.empty());
    for (char ch : r.thinking) EXPECT_TRUE((unsigned char)ch < 128) << "non-ASCII trace";
    const std::vector<std::string> got = lines_of(r.thinking);
    const std::string& first = got.front();
    const Expected e = r.task == "compare"   ? solve_compare(r, first)
                       : r.task == "sort"    ? solve_sort(r, first)
                       : r.task == "letters" ? solve_letters(r, first)
                                             : solve_word_count(r, first);
    EXPECT_EQ(got, e.lines);
    EXPECT_EQ(r.answer, e.answer);
    EXPECT_TRUE(std::regex_match(
        r.answer, std::regex(r.task == "sort" ? "(0|[1-9]\\d*)(, (0|[1-9]\\d*))*" : "0|[1-9]\\d*")))
        << r.answer;
}

}  // namespace

TEST(GymOrder, TracesFollowFromTheirFirstLineAndTheQuestion) {
    for (const std::string& task : kTasks)
        for (const std::string lang : {"en", "it"})
            for (const GymSplit split : {GymSplit::Train, GymSplit::Heldout})
                for (int d = 1; d <= 12; ++d)
                    for (uint64_t seed = 0; seed < (d <= 6 ? 40u : 8u); ++seed) {
                        const GymRecord r = gym_generate(task, lang, d, seed, split);
                        EXPECT_EQ(r.task, task);
                        EXPECT_EQ(r.lang, lang);
                        EXPECT_EQ(r.difficulty, d);
                        check_record(r);
                        if (::testing::Test::HasFailure()) return;
                    }
}

// Both languages and both splits generate, every family is asked, and only in its own split.
TEST(GymOrder, EveryFamilyIsAskedInItsSplitOnly) {
    for (const std::string& task : kTasks)
        for (const std::string lang : {"en", "it"}) {
            std::set<std::string> train, heldout;
            for (const GymFamilyInfo& f : gym_families(task, lang))
                (f.heldout ? heldout : train).insert(f.name);
            ASSERT_FALSE(train.empty()) << task << " " << lang;
            ASSERT_FALSE(heldout.empty()) << task << " " << lang;
            for (const GymSplit split : {GymSplit::Train, GymSplit::Heldout}) {
                std::set<std::string> seen;
                for (uint64_t seed = 0; seed < 600; ++seed)
                    seen.insert(gym_generate(task, lang, 1 + int(seed % 6), seed, split).family);
                EXPECT_EQ(seen, split == GymSplit::Train ? train : heldout)
                    << task << " " << lang << (split == GymSplit::Train ? " train" : " heldout");
            }
        }
}

// The rules every task's frames follow: enough frames and families per language, a held-out
// family and two training ones in every Phrasings, unique family names, and every frame naming
// each slot its generator gives exactly once (compare reads the mention order of {a} and {b}).
TEST(GymOrder, FramesFollowTheRules) {
    using namespace np::data::gym;
    const std::map<std::string, std::vector<std::string>> slots = {{"compare", {"a", "b"}},
                                                                   {"sort", {"list"}},
                                                                   {"letters", {"l", "w"}},
                                                                   {"word_count", {"s"}}};
    const std::vector<TaskDef> tasks = ordering_tasks();
    ASSERT_EQ(tasks.size(), kTasks.size());
    for (size_t t = 0; t < tasks.size(); ++t) {
        const TaskDef& def = tasks[t];
        EXPECT_EQ(def.name, kTasks[t]);
        EXPECT_FALSE(def.difficulty.empty());
        EXPECT_EQ(def.answer, def.name == "sort" ? AnswerKind::NumberList : AnswerKind::Number);
        Slots given;
        for (const std::string& s : slots.at(std::string(def.name))) given.push_back({s, "X"});
        for (const bool it : {false, true})
            np::test::check_frame_rules(def, it, [&](const std::string& s, size_t) {
                std::string rest = s;
                for (const auto& [name, v] : given) {
                    const std::string slot = "{" + std::string(name) + "}";
                    const size_t at = rest.find(slot);
                    ASSERT_NE(at, std::string::npos) << s << " lacks " << slot;
                    rest.erase(at, slot.size());
                    EXPECT_EQ(rest.find(slot), std::string::npos) << s << " twice " << slot;
                }
                EXPECT_EQ(rest.find_first_of("{}"), std::string::npos) << s;
                EXPECT_NO_THROW(fill(s, given)) << s;
            });
    }
}

// The draws the difficulty strings and the trace design rely on.
TEST(GymOrder, DrawsHaveTheIntendedMix) {
    const int n = 800;
    int shared_prefix = 0, want_max = 0, asc = 0, present = 0, two_clauses = 0;
    for (int i = 0; i < n; ++i) {
        const std::string lang = i % 2 ? "it" : "en";
        const std::string c = lines_of(gym_generate("compare", lang, 4, i).thinking).front();
        const std::vector<std::string> ab = split(c.substr(4, c.size() - 5), ',');
        shared_prefix += ab[0].size() == ab[1].size() && ab[0][0] == ab[1][0];
        want_max += c.starts_with("max(");
        asc += gym_generate("sort", lang, 3, i).thinking.starts_with("asc(");
        const GymRecord l = gym_generate("letters", lang, 1 + i % 6, i);
        present += l.answer != "0";
        const std::string w = lines_of(gym_generate("word_count", lang, 7, i).thinking).front();
        two_clauses += w.find(lang == "it" ? " e " : " and ") != std::string::npos;
    }
    // 60% share a prefix by construction; a few more by chance.
    EXPECT_GT(shared_prefix, n * 55 / 100);
    EXPECT_LT(shared_prefix, n * 75 / 100);
    EXPECT_GT(want_max, n * 40 / 100);
    EXPECT_LT(want_max, n * 60 / 100);
    EXPECT_GT(asc, n * 40 / 100);
    EXPECT_LT(asc, n * 60 / 100);
    EXPECT_GT(present, n * 78 / 100);
    EXPECT_LT(present, n * 92 / 100);
    EXPECT_GT(two_clauses, n * 20 / 100);
    EXPECT_LT(two_clauses, n * 40 / 100);
}
