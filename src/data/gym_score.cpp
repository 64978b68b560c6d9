// Scoring of model outputs against gym records and plain {question, answer} records.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.h"
#include "data/gym.h"
#include "data/gym_phrasing.h"

namespace np::data {

namespace {

bool is_space(char ch) {
    return ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r';
}

std::string normalise_text(std::string_view s) {
    std::string out;
    for (char ch : s) {
        if (is_space(ch)) {
            if (!out.empty() && out.back() != ' ') out += ' ';
        } else {
            out += char(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        }
    }
    auto strip = [](char ch) {
        return ch == ' ' || ch == '.' || ch == '"' || ch == '\'' || ch == '*' || ch == '`';
    };
    while (!out.empty() && strip(out.back())) out.pop_back();
    size_t b = 0;
    while (b < out.size() && strip(out[b])) ++b;
    return out.substr(b);
}

// Last "h:mm" (or "h.mm") in s, hours of one or two digits.
bool last_time(std::string_view s, int& h, int& m) {
    auto digit = [&](size_t i) { return i < s.size() && isdigit((unsigned char)s[i]); };
    bool found = false;
    for (size_t i = 1; i < s.size(); ++i) {
        if ((s[i] != ':' && s[i] != '.') || !digit(i - 1) || !digit(i + 1) || !digit(i + 2) ||
            digit(i + 3))
            continue;
        size_t b = i;
        while (b > 0 && digit(b - 1)) --b;
        if (i - b > 2) continue;
        h = std::stoi(std::string(s.substr(b, i - b))) % 24;
        m = std::stoi(std::string(s.substr(i + 1, 2)));
        found = true;
    }
    return found;
}

double interpret(std::string_view tok, std::string_view lang) {
    size_t n_comma = std::count(tok.begin(), tok.end(), ','),
           n_dot = std::count(tok.begin(), tok.end(), '.');
    char decimal = 0;
    if (n_comma && n_dot) {
        decimal = tok[tok.find_last_of(",.")];
    } else if (n_comma + n_dot == 1) {
        char sep = n_comma ? ',' : '.';
        size_t after = tok.size() - tok.find(sep) - 1;
        bool thousands_if_three = lang == "it" ? sep == '.' : sep == ',';
        decimal = thousands_if_three && after == 3 ? 0 : sep;
    }
    std::string clean;
    for (char ch : tok) {
        if (ch == decimal)
            clean += '.';
        else if (ch != ',' && ch != '.')
            clean += ch;
    }
    return std::strtod(clean.c_str(), nullptr);
}

AnswerKind kind_of(const std::string& task, const std::string& expected, std::string_view lang) {
    if (std::find(gym_tasks().begin(), gym_tasks().end(), task) != gym_tasks().end())
        return gym_answer_kind(task);
    // Plain records: numeric when the reference is one number, possibly with a currency sign.
    std::string core;
    for (char ch : expected)
        if (ch != '$' && ch != ' ' && ch != '%') core += ch;
    auto nums = parse_numbers(core, lang);
    if (nums.size() == 1 && !core.empty() && (isdigit((unsigned char)core.back())) &&
        (isdigit((unsigned char)core[0]) || core[0] == '-'))
        return AnswerKind::Number;
    return AnswerKind::Text;
}

}  // namespace

bool extract_answer(std::string_view output, std::string& answer) {
    size_t close = output.rfind("</think>");
    std::string_view a;
    if (close != std::string_view::npos) {
        a = output.substr(close + 8);
    } else {
        if (output.find("<think>") != std::string_view::npos) {
            answer.clear();
            return false;
        }
        a = output;
    }
    for (std::string_view tail : {"<|endoftext|>", "<|im_end|>"}) {
        size_t p = a.find(tail);
        if (p != std::string_view::npos) a = a.substr(0, p);
    }
    while (!a.empty() && is_space(a.front())) a.remove_prefix(1);
    while (!a.empty() && is_space(a.back())) a.remove_suffix(1);
    answer = std::string(a);
    return true;
}

std::vector<double> parse_numbers(std::string_view s, std::string_view lang, bool integers_only) {
    std::vector<double> out;
    auto digit = [&](size_t i) { return i < s.size() && isdigit((unsigned char)s[i]); };
    for (size_t i = 0; i < s.size();) {
        if (!digit(i)) {
            ++i;
            continue;
        }
        size_t b = i;
        while (digit(i) || (!integers_only && (s[i] == ',' || s[i] == '.') && digit(i + 1))) ++i;
        double v = interpret(s.substr(b, i - b), lang);
        // A minus sign counts when it does not follow a digit or letter ("5-3" is not -3).
        if (b > 0 && s[b - 1] == '-' && (b == 1 || !isalnum((unsigned char)s[b - 2]))) v = -v;
        out.push_back(v);
    }
    return out;
}

ScoreResult gym_score(const nlohmann::json& record, std::string_view output) {
    if (!record.is_object() || !record.contains("answer") || !record["answer"].is_string())
        fail("gym score: record has no string field \"answer\"");
    ScoreResult res;
    std::string task = record.value("task", ""), lang = record.value("lang", "");
    std::string expected = record["answer"].get<std::string>();
    size_t hash = expected.rfind("####");
    if (hash != std::string::npos) expected = expected.substr(hash + 4);
    size_t b = expected.find_first_not_of(" \t\r\n");
    expected = b == std::string::npos ? "" : expected.substr(b);
    while (!expected.empty() && is_space(expected.back())) expected.pop_back();
    res.expected = expected;
    res.kind = kind_of(task, res.expected, lang);
    if (!extract_answer(output, res.extracted)) {
        res.reason = "unterminated <think> block: no answer";
        return res;
    }
    switch (res.kind) {
        case AnswerKind::Number: {
            auto got = parse_numbers(res.extracted, lang);
            auto want = parse_numbers(res.expected, lang);
            if (want.empty())
                fail("gym score: reference answer \"" + res.expected + "\" has no number");
            if (got.empty()) {
                res.reason = "no number in the answer";
                break;
            }
            double a = got.back(), b = want.back();
            res.correct = std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b));
            if (!res.correct) res.reason = "last number differs";
            break;
        }
        case AnswerKind::QuotientRemainder: {
            // "141 remainder 1": the last two numbers; a lone quotient when the remainder is 0.
            auto got = parse_numbers(res.extracted, lang, true);
            auto want = parse_numbers(res.expected, lang, true);
            if (want.empty() || want.size() > 2)
                fail("gym score: reference answer \"" + res.expected +
                     "\" is not a quotient and remainder");
            if (want.size() == 1) want.push_back(0);
            if (got.size() >= 2 && got[got.size() - 2] == want[0] && got.back() == want[1])
                res.correct = true;
            else if (!got.empty() && want[1] == 0 && got.back() == want[0])
                res.correct = true;
            if (!res.correct) res.reason = "quotient or remainder differs";
            break;
        }
        case AnswerKind::NumberList:
            res.correct =
                parse_numbers(res.extracted, lang, true) == parse_numbers(res.expected, lang, true);
            if (!res.correct) res.reason = "list of numbers differs";
            break;
        case AnswerKind::Time: {
            int h1, m1, h2, m2;
            if (!last_time(res.expected, h2, m2))
                fail("gym score: reference answer \"" + res.expected + "\" is not a time h:mm");
            if (!last_time(res.extracted, h1, m1)) {
                res.reason = "no time h:mm in the answer";
                break;
            }
            res.correct = h1 == h2 && m1 == m2;
            if (!res.correct) res.reason = "time differs";
            break;
        }
        case AnswerKind::Text:
            res.correct = normalise_text(res.extracted) == normalise_text(res.expected);
            if (!res.correct) res.reason = "text differs";
            break;
    }
    return res;
}

}  // namespace np::data
