// Reasoning gym: the phrasing families and splits of every task, the arithmetic tasks' traces
// re-derived line by line by independent solvers here, and the scorer's edge cases.
// (test_gym_order.cpp and test_gym_stories.cpp re-derive the other tasks' traces.)
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "core/error.h"
#include "data/gym.h"
#include "gym_test_util.h"

using namespace np::data;
using nlohmann::json;

namespace {

using np::test::lines_of;
using np::test::question_integers;

std::multiset<long long> numbers_in(const std::string& s) {
    std::multiset<long long> out;
    std::regex re("\\d+");
    for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it)
        out.insert(std::stoll(it->str()));
    return out;
}

// School column addition / subtraction on digit strings padded to one width: each column line is
// "x+y+c=" then the two-digit column sum, or "x-y-b=" then the borrow out and the digit.
std::vector<std::string> columns(const std::string& a, const std::string& b, bool minus) {
    const size_t w = std::max(a.size(), b.size());
    const std::string pa = std::string(w - a.size(), '0') + a,
                      pb = std::string(w - b.size(), '0') + b;
    std::vector<std::string> out;
    int carry = 0;
    for (size_t k = w; k-- > 0;) {
        const int x = pa[k] - '0', y = pb[k] - '0';
        std::string l = std::string(1, pa[k]) + (minus ? '-' : '+') + pb[k] + (minus ? '-' : '+') +
                        char('0' + carry) + "=";
        if (minus) {
            const int r = x - y - carry;
            carry = r < 0 ? 1 : 0;
            l += char('0' + carry);
            l += char('0' + r + 10 * carry);
        } else {
            const int r = x + y + carry;
            carry = r >= 10;
            l += char('0' + r / 10);
            l += char('0' + r % 10);
        }
        out.push_back(l);
    }
    return out;
}

void append(std::vector<std::string>& v, const std::vector<std::string>& more) {
    v.insert(v.end(), more.begin(), more.end());
}

// ---- expressions: parse the canonical first line, reduce in school order ----

struct Expr {
    char op = 0;
    long long v = 0;
    std::shared_ptr<Expr> l, r;
};
using ExprP = std::shared_ptr<Expr>;

struct ExprParser {
    std::string s;
    size_t i = 0;
    ExprP atom() {
        if (s[i] == '(') {
            ++i;
            ExprP e = sum();
            EXPECT_EQ(s[i], ')') << s;
            ++i;
            return e;
        }
        size_t b = i;
        while (i < s.size() && isdigit((unsigned char)s[i])) ++i;
        EXPECT_GT(i, b) << "number expected at " << b << " in " << s;
        auto e = std::make_shared<Expr>();
        e->v = std::stoll(s.substr(b, i - b));
        return e;
    }
    ExprP product() {
        ExprP e = atom();
        while (i < s.size() && (s[i] == '*' || s[i] == '/')) {
            auto n = std::make_shared<Expr>();
            n->op = s[i++];
            n->l = e;
            n->r = atom();
            e = n;
        }
        return e;
    }
    ExprP sum() {
        ExprP e = product();
        while (i < s.size() && (s[i] == '+' || s[i] == '-')) {
            auto n = std::make_shared<Expr>();
            n->op = s[i++];
            n->l = e;
            n->r = product();
            e = n;
        }
        return e;
    }
};

int level(const Expr& e) {
    return e.op == 0 ? 3 : e.op == '*' || e.op == '/' ? 2 : 1;
}

std::string show(const Expr& e) {
    if (!e.op) return std::to_string(e.v);
    std::string a = show(*e.l), b = show(*e.r);
    if (level(*e.l) < level(e)) a = "(" + a + ")";
    if (level(*e.r) <= level(e)) b = "(" + b + ")";
    return a + e.op + b;
}

// All operations with two number operands, left to right.
void ready(Expr& e, std::vector<Expr*>& out) {
    if (!e.op) return;
    if (!e.l->op && !e.r->op) {
        out.push_back(&e);
        return;
    }
    ready(*e.l, out);
    ready(*e.r, out);
}

std::vector<std::string> expression_trace(const std::string& first) {
    ExprParser p{first};
    ExprP root = p.sum();
    EXPECT_EQ(p.i, first.size()) << first;
    std::vector<std::string> out{first};
    while (root->op) {
        std::vector<Expr*> cand;
        ready(*root, cand);
        Expr* pick = cand.front();
        for (Expr* c : cand)
            if (level(*c) > level(*pick)) {
                pick = c;
                break;
            }
        const long long a = pick->l->v, b = pick->r->v;
        EXPECT_TRUE(pick->op != '/' || (b != 0 && a % b == 0)) << first;
        const long long v = pick->op == '+'   ? a + b
                            : pick->op == '-' ? a - b
                            : pick->op == '*' ? a * b
                                              : a / b;
        EXPECT_GE(v, 0) << "negative intermediate in " << first;
        std::string l = std::to_string(a) + pick->op + std::to_string(b) + "=" + std::to_string(v);
        pick->op = 0;
        pick->v = v;
        if (root->op) l += " -> " + show(*root);
        out.push_back(l);
    }
    return out;
}

// The whole expected trace of an arithmetic record, derived from its first line, and the answer.
struct Derived {
    std::vector<std::string> lines;
    std::string answer;
    std::multiset<long long> operands;
};

Derived derive(const GymRecord& r) {
    const std::string first = lines_of(r.thinking).front();
    Derived d;
    d.lines.push_back(first);
    std::smatch m;
    if (r.task == "addition") {
        EXPECT_TRUE(std::regex_match(first, m, std::regex("(\\d+)\\+(\\d+)"))) << first;
        append(d.lines, columns(m[1], m[2], false));
        d.answer = std::to_string(std::stoll(m[1]) + std::stoll(m[2]));
        d.operands = {std::stoll(m[1]), std::stoll(m[2])};
    } else if (r.task == "subtraction") {
        EXPECT_TRUE(std::regex_match(first, m, std::regex("(\\d+)-(\\d+)(=-\\((\\d+)-(\\d+)\\))?")))
            << first;
        const long long a = std::stoll(m[1]), b = std::stoll(m[2]);
        EXPECT_EQ(m[3].matched, a < b) << first;
        if (a < b) {
            EXPECT_EQ(m[4].str(), m[2].str());
            EXPECT_EQ(m[5].str(), m[1].str());
        }
        append(d.lines, a < b ? columns(m[2], m[1], true) : columns(m[1], m[2], true));
        d.answer = std::to_string(a - b);
        d.operands = {a, b};
    } else if (r.task == "multiplication") {
        EXPECT_TRUE(std::regex_match(first, m, std::regex("(\\d+)\\*(\\d+)"))) << first;
        const std::string x = m[1], y = m[2];
        EXPECT_GE(x.size(), y.size()) << "the longer factor comes first: " << first;
        long long acc = 0;
        for (size_t j = 0; j < y.size(); ++j) {
            const int yd = y[y.size() - 1 - j] - '0';
            int carry = 0;
            for (size_t i = x.size(); i-- > 0;) {
                const int p = (x[i] - '0') * yd + carry;
                char buf[32];
                std::snprintf(buf, sizeof buf, "%c*%d+%d=%02d", x[i], yd, carry, p);
                d.lines.push_back(buf);
                carry = p / 10;
            }
            long long shift = 1;
            for (size_t k = 0; k < j; ++k) shift *= 10;
            const long long part = std::stoll(x) * yd * shift;
            d.lines.push_back(x + "*" + std::to_string(yd * shift) + "=" + std::to_string(part));
            if (j > 0) {
                d.lines.push_back(std::to_string(acc) + "+" + std::to_string(part));
                append(d.lines, columns(std::to_string(acc), std::to_string(part), false));
            }
            acc += part;
        }
        d.answer = std::to_string(acc);
        EXPECT_EQ(acc, std::stoll(x) * std::stoll(y));
        d.operands = {std::stoll(x), std::stoll(y)};
    } else if (r.task == "division") {
        EXPECT_TRUE(std::regex_match(first, m, std::regex("(\\d+)/(\\d+)"))) << first;
        const std::string a = m[1];
        const long long b = std::stoll(m[2]);
        long long rem = 0, q = 0;
        for (char ch : a) {
            const std::string cur = rem ? std::to_string(rem) + ch : std::string(1, ch);
            const long long v = std::stoll(cur);
            d.lines.push_back(cur + "/" + std::to_string(b) + "=" + std::to_string(v / b) + "r" +
                              std::to_string(v % b));
            q = q * 10 + v / b;
            rem = v % b;
        }
        const bool with_rem =
            r.answer.find(r.lang == "it" ? " resto " : " remainder ") != std::string::npos;
        EXPECT_TRUE(with_rem || rem == 0) << r.question;
        d.answer = with_rem ? std::to_string(q) + (r.lang == "it" ? " resto " : " remainder ") +
                                  std::to_string(rem)
                            : std::to_string(q);
        d.operands = {std::stoll(a), b};
    } else if (r.task == "expression") {
        d.lines = expression_trace(first);
        const std::string last = d.lines.back();
        d.answer = last.substr(last.rfind('=') + 1);
        d.operands = numbers_in(first);
    } else {
        ADD_FAILURE() << "no solver for " << r.task;
    }
    return d;
}

const std::vector<std::string> kArithmetic = {"addition", "subtraction", "multiplication",
                                              "division", "expression"};

}  // namespace

TEST(GymPhrasing, EveryTaskHasManyFramesInFamiliesOnBothSplits) {
    ASSERT_GE(gym_tasks().size(), 14u);
    for (const std::string& task : gym_tasks()) {
        EXPECT_FALSE(gym_difficulty_meaning(task).empty());
        for (const char* lang : {"en", "it"}) {
            auto fams = gym_families(task, lang);
            std::set<std::string> names;
            size_t frames = 0, held = 0, held_fams = 0;
            for (const auto& f : fams) {
                EXPECT_TRUE(names.insert(f.name).second) << task << " " << lang << " " << f.name;
                EXPECT_GT(f.frames, 0u) << f.name;
                frames += f.frames;
                held += f.heldout ? f.frames : 0;
                held_fams += f.heldout;
            }
            EXPECT_GE(fams.size(), 5u) << task << " " << lang;
            EXPECT_GE(frames, 20u) << task << " " << lang;
            EXPECT_GE(held_fams, 1u) << task << " " << lang;
            EXPECT_GE(fams.size() - held_fams, 2u) << task << " " << lang;
            // Enough held out to measure, enough left to learn from.
            EXPECT_GE(held * 100, frames * 15) << task << " " << lang;
            EXPECT_LE(held * 100, frames * 50) << task << " " << lang;
        }
    }
    EXPECT_THROW(gym_families("nope", "en"), np::Error);
    EXPECT_THROW(gym_families("addition", "fr"), np::Error);
}

// Splits draw only from their families, every family gets asked, and the sentence shapes (the
// question with its numbers masked) are many and never shared between the two splits.
TEST(GymPhrasing, SplitsAreDisjointAndEveryFamilyIsAsked) {
    for (const std::string& task : gym_tasks()) {
        for (const char* lang : {"en", "it"}) {
            std::map<std::string, bool> held;
            for (const auto& f : gym_families(task, lang)) held[f.name] = f.heldout;
            std::map<GymSplit, std::set<std::string>> shapes;
            std::set<std::string> asked;
            for (GymSplit split : {GymSplit::Train, GymSplit::Heldout}) {
                for (uint64_t seed = 0; seed < 600; ++seed) {
                    GymRecord r = gym_generate(task, lang, 1 + int(seed % 4), seed, split);
                    ASSERT_TRUE(held.count(r.family)) << task << " " << r.family;
                    EXPECT_EQ(held[r.family], split == GymSplit::Heldout)
                        << task << " " << lang << " " << r.family;
                    asked.insert(r.family);
                    // Letters and words in quotes vary too: mask digits and quoted material.
                    std::string shape = std::regex_replace(r.question, std::regex("\\d+"), "#");
                    shapes[split].insert(std::regex_replace(
                        shape, std::regex("[\"'“”«»][^\"'“”«»]*[\"'“”«»]"), "Q"));
                }
            }
            EXPECT_EQ(asked.size(), held.size()) << task << " " << lang;
            EXPECT_GE(shapes[GymSplit::Train].size(), 20u) << task << " " << lang;
            for (const std::string& s : shapes[GymSplit::Heldout])
                EXPECT_EQ(shapes[GymSplit::Train].count(s), 0u)
                    << task << " " << lang << ": held-out shape also in training: " << s;
        }
    }
}

TEST(GymArithmetic, TracesAreRederivedFromTheRestatedProblem) {
    int checked = 0;
    for (const std::string& task : kArithmetic) {
        for (const char* lang : {"en", "it"}) {
            for (int d = 1; d <= 6; ++d) {
                for (uint64_t seed = 0; seed < 40; ++seed) {
                    const GymSplit split = GymSplit(seed % 3);
                    GymRecord r = gym_generate(task, lang, d, seed, split);
                    const std::string ctx = task + " " + lang + " d" + std::to_string(d) +
                                            " seed " + std::to_string(seed) + "\n" + r.question +
                                            "\n" + r.thinking;
                    Derived want = derive(r);
                    EXPECT_EQ(lines_of(r.thinking), want.lines) << ctx;
                    EXPECT_EQ(r.answer, want.answer) << ctx;
                    // The restated problem is the question's: the same numbers, no others.
                    EXPECT_EQ(question_integers(r.question), want.operands) << ctx;
                    EXPECT_EQ(r.thinking.find(','), std::string::npos)
                        << "traces write plain digits: " << ctx;
                    EXPECT_TRUE(gym_score(r.to_json(),
                                          "<think>\n" + r.thinking + "\n</think>\n\n" + r.answer)
                                    .correct)
                        << ctx;
                    ++checked;
                }
            }
        }
    }
    EXPECT_EQ(checked, 5 * 2 * 6 * 40);
}

TEST(GymArithmetic, DifficultyMeansWhatItsHelpSays) {
    for (int d = 1; d <= 8; ++d) {
        std::set<size_t> add_len, mul_short, div_len;
        for (uint64_t s = 0; s < 30; ++s) {
            auto n = question_integers(gym_generate("addition", "en", d, s).question);
            add_len.insert(std::to_string(*n.rbegin()).size());
            std::string f = lines_of(gym_generate("multiplication", "it", d, s).thinking)[0];
            EXPECT_EQ(f.substr(0, f.find('*')).size(), size_t(d)) << f;
            mul_short.insert(f.size() - f.find('*') - 1);
            std::string q = lines_of(gym_generate("division", "en", d, s).thinking)[0];
            div_len.insert(q.find('/'));
            EXPECT_EQ(q.size() - q.find('/') - 1, d <= 3 ? 1u : 2u) << q;
            std::string e = lines_of(gym_generate("expression", "en", d, s).thinking)[0];
            EXPECT_EQ(size_t(std::count_if(e.begin(), e.end(),
                                           [](char c) { return std::strchr("+-*/", c); })),
                      size_t(std::min(d + 1, 8)))
                << e;
        }
        EXPECT_EQ(add_len, std::set<size_t>{size_t(d)}) << "the larger operand has d digits";
        EXPECT_EQ(*mul_short.rbegin(), size_t((d + 1) / 2));
        // Exact divisions may shorten the dividend by a digit; most keep d+1 digits.
        EXPECT_EQ(*div_len.rbegin(), size_t(d + 1));
    }
}

TEST(GymArithmetic, VarietyTheTracesMustHandle) {
    bool negative = false, separators = false, reversed_sum = false, remainder = false,
         exact = false, words = false;
    for (uint64_t s = 0; s < 400; ++s) {
        GymRecord sub = gym_generate("subtraction", "en", 4, s);
        negative |= sub.answer[0] == '-';
        separators |= sub.question.find_first_of(",") != std::string::npos &&
                      std::regex_search(sub.question, std::regex("\\d,\\d{3}"));
        GymRecord add = gym_generate("addition", "it", 3, s);
        // "Aggiungi {b} a {a}": the trace restates the sum in the question's order.
        auto n = question_integers(add.question);
        std::string first = lines_of(add.thinking)[0];
        reversed_sum |= add.question.find(first.substr(0, first.find('+'))) >
                        add.question.find(first.substr(first.find('+') + 1));
        GymRecord div = gym_generate("division", "it", 2, s);
        remainder |= div.answer.find(" resto ") != std::string::npos;
        exact |= div.answer.find(' ') == std::string::npos;
        GymRecord e = gym_generate("expression", "en", 2, s, GymSplit::Heldout);
        words |= e.question.find(" plus ") != std::string::npos ||
                 e.question.find(" times ") != std::string::npos;
    }
    EXPECT_TRUE(negative);
    EXPECT_TRUE(separators);
    EXPECT_FALSE(reversed_sum);
    EXPECT_TRUE(remainder);
    EXPECT_TRUE(exact);
    EXPECT_TRUE(words);
}

TEST(GymGenerate, EveryTaskIsDeterministic) {
    for (const std::string& task : gym_tasks())
        for (const GymSplit split : {GymSplit::All, GymSplit::Train, GymSplit::Heldout})
            for (uint64_t seed = 0; seed < 5; ++seed) {
                const GymRecord a = gym_generate(task, "it", 3, seed, split);
                const GymRecord b = gym_generate(task, "it", 3, seed, split);
                EXPECT_EQ(a.to_json(), b.to_json()) << task;
            }
}

TEST(GymGenerate, DeterministicMixesAndErrors) {
    auto a = gym_generate_many("all", "both", 2, 9, 56);
    auto b = gym_generate_many("all", "both", 2, 9, 56);
    auto c = gym_generate_many("all", "both", 2, 10, 56);
    ASSERT_EQ(a.size(), 56u);
    int same = 0, it = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].to_json(), b[i].to_json());
        same += a[i].question == c[i].question;
        it += a[i].lang == "it";
        EXPECT_EQ(a[i].task, gym_tasks()[i % gym_tasks().size()]);
        EXPECT_FALSE(a[i].family.empty());
        EXPECT_FALSE(a[i].thinking.empty());
        EXPECT_TRUE(
            gym_score(a[i].to_json(), "<think>\n" + a[i].thinking + "\n</think>\n\n" + a[i].answer)
                .correct)
            << a[i].task << ": " << a[i].question << " -> " << a[i].answer;
    }
    EXPECT_LT(same, 10);
    EXPECT_EQ(it, 28);
    EXPECT_EQ(GymRecord::from_json(a[3].to_json()).to_json(), a[3].to_json());
    EXPECT_THROW(gym_generate("nope", "en", 1, 0), np::Error);
    EXPECT_THROW(gym_generate("addition", "fr", 1, 0), np::Error);
    EXPECT_THROW(gym_generate("addition", "en", 0, 0), np::Error);
    EXPECT_THROW(gym_generate("addition", "en", 13, 0), np::Error);
    EXPECT_EQ(parse_gym_split("heldout"), GymSplit::Heldout);
    EXPECT_EQ(parse_gym_split("train"), GymSplit::Train);
    EXPECT_EQ(parse_gym_split("all"), GymSplit::All);
    EXPECT_THROW(parse_gym_split("test"), np::Error);
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

    json neg = {{"task", "subtraction"}, {"lang", "en"}, {"answer", "-172"}};
    EXPECT_TRUE(gym_score(neg, "</think>-172").correct);
    EXPECT_FALSE(gym_score(neg, "</think>172").correct);

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

    // Division: quotient and remainder both count; a lone quotient only when nothing remains.
    json div = {{"task", "division"}, {"lang", "en"}, {"answer", "141 remainder 1"}};
    EXPECT_EQ(gym_score(div, "").kind, AnswerKind::QuotientRemainder);
    EXPECT_TRUE(gym_score(div, "</think>141 remainder 1").correct);
    EXPECT_TRUE(gym_score(div, "</think>847 / 6 = 141, remainder 1").correct);
    EXPECT_FALSE(gym_score(div, "</think>141").correct);
    EXPECT_FALSE(gym_score(div, "</think>141 remainder 2").correct);
    EXPECT_FALSE(gym_score(div, "</think>1 remainder 141").correct);
    json exact = {{"task", "division"}, {"lang", "it"}, {"answer", "14"}};
    EXPECT_TRUE(gym_score(exact, "</think>14").correct);
    EXPECT_TRUE(gym_score(exact, "</think>14 resto 0").correct);
    EXPECT_FALSE(gym_score(exact, "</think>14 resto 3").correct);

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
