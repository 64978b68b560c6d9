#include "data/gym_phrasing.h"

#include <cctype>

#include "core/error.h"

namespace np::data::gym {

std::string str(int64_t v) {
    return std::to_string(v);
}

int64_t pow10(int d) {
    int64_t p = 1;
    for (int i = 0; i < d; ++i) p *= 10;
    return p;
}

int64_t with_digits(Rng& r, int d) {
    return d <= 1 ? r.range(0, 9) : r.range(pow10(d - 1), pow10(d) - 1);
}

std::vector<int> digits_lsb(int64_t v) {
    std::vector<int> out;
    do {
        out.push_back(int(v % 10));
        v /= 10;
    } while (v > 0);
    return out;
}

std::string fill(std::string_view frame, const Slots& slots) {
    std::string out;
    out.reserve(frame.size() + 32);
    for (size_t i = 0; i < frame.size(); ++i) {
        if (frame[i] != '{') {
            out += frame[i];
            continue;
        }
        const size_t close = frame.find('}', i);
        if (close == std::string_view::npos)
            fail("gym frame \"" + std::string(frame) + "\": unterminated {");
        const std::string_view name = frame.substr(i + 1, close - i - 1);
        bool found = false;
        for (const auto& [k, v] : slots) {
            if (k != name) continue;
            out += v;
            found = true;
            break;
        }
        if (!found)
            fail("gym frame \"" + std::string(frame) + "\": no value for slot {" +
                 std::string(name) + "}");
        i = close;
    }
    return out;
}

FramePick pick_frame(Rng& r, const std::vector<Family>& families, GymSplit split) {
    auto in_split = [&](const Family& f) {
        return split == GymSplit::All || f.heldout == (split == GymSplit::Heldout);
    };
    size_t total = 0;
    for (const Family& f : families)
        if (in_split(f)) total += f.frames.size();
    if (total == 0) fail("gym: a task has no sentence frame in the requested split");
    size_t k = size_t(r.next() % total);
    for (const Family& f : families) {
        if (!in_split(f)) continue;
        if (k < f.frames.size()) return {f.name, f.frames[k]};
        k -= f.frames.size();
    }
    fail("gym: frame selection out of range");
}

std::string Ctx::num(int64_t v) {
    std::string plain = str(v < 0 ? -v : v);
    std::string s = v < 0 ? "-" : "";
    if (plain.size() >= 4 && r.chance(0.25)) {
        const char sep = it ? '.' : ',';
        for (size_t i = 0; i < plain.size(); ++i) {
            if (i && (plain.size() - i) % 3 == 0) s += sep;
            s += plain[i];
        }
        return s;
    }
    return s + plain;
}

std::string vary_surface(Rng& r, std::string q, bool it, bool may_lower_first) {
    static const std::vector<std::string> open_en = {
        "Quick question: ", "Please answer: ",       "Hey, ",       "Tell me: ",
        "Can you help? ",   "Here is one for you: ", "Math time: ", "Question: "};
    static const std::vector<std::string> open_it = {
        "Domanda veloce: ",    "Rispondi per favore: ",  "Ehi, ",    "Dimmi: ", "Mi aiuti? ",
        "Eccone una per te: ", "Un po' di matematica: ", "Domanda: "};
    static const std::vector<std::string> close_en = {" Thanks!", " Thank you.", " Please."};
    static const std::vector<std::string> close_it = {" Grazie!", " Grazie mille.", " Per favore."};
    const bool opens_lower_able =
        may_lower_first && !q.empty() && std::isupper((unsigned char)q[0]);
    if (r.chance(0.15)) {
        const std::string& o = r.pick(it ? open_it : open_en);
        if (o.ends_with(", ") && opens_lower_able && r.chance(0.7))
            q[0] = char(std::tolower((unsigned char)q[0]));
        q = o + q;
    } else if (opens_lower_able && r.chance(0.08)) {
        q[0] = char(std::tolower((unsigned char)q[0]));
    }
    if (r.chance(0.02))
        for (char& ch : q) ch = char(std::tolower((unsigned char)ch));
    const char last = q.empty() ? 0 : q.back();
    if ((last == '?' || last == '.') && r.chance(0.1)) {
        q.pop_back();
    } else if (last == '?' && r.chance(0.04)) {
        q += "?";
    } else if (r.chance(0.05)) {
        q += r.pick(it ? close_it : close_en);
    }
    return q;
}

std::string Ctx::ask(const Phrasings& p, const Slots& slots, std::string_view& frame) {
    const FramePick pick = pick_frame(r, p.of(it), split);
    family = std::string(pick.family);
    frame = pick.frame;
    // A frame opening with a slot (a name) keeps its capital.
    return vary_surface(r, fill(pick.frame, slots), it, !pick.frame.starts_with('{'));
}

std::string Ctx::ask(const Phrasings& p, const Slots& slots) {
    std::string_view frame;
    return ask(p, slots, frame);
}

}  // namespace np::data::gym
