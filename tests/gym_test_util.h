// Helpers shared by the gym tests: splitting traces into lines, the integers of a question, and
// the rules every task's sentence frames follow.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "data/gym_phrasing.h"

namespace np::test {

inline std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    size_t b = 0;
    for (size_t e; (e = s.find('\n', b)) != std::string::npos; b = e + 1)
        out.push_back(s.substr(b, e - b));
    out.push_back(s.substr(b));
    return out;
}

// The integers written in a question, thousands separators (1,234 / 1.234) removed; clock times
// (h:mm) are not integers and are skipped.
inline std::multiset<long long> question_integers(const std::string& q) {
    std::multiset<long long> out;
    const std::string text = std::regex_replace(q, std::regex("\\d{1,2}:\\d\\d"), " ");
    const std::regex re("\\d{1,3}(?:[.,]\\d{3})+(?!\\d)|\\d+");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
         ++it) {
        std::string digits;
        for (char ch : it->str())
            if (isdigit((unsigned char)ch)) digits += ch;
        out.insert(std::stoll(digits));
    }
    return out;
}

// The rules of one task's frames in one language: unique lower-case family names, no repeated
// frame, at least 22 frames in 5 families, a held-out family and two training ones in every
// Phrasings with 20-40% of its frames held out, 25-35% over the task. check_slots(frame,
// phrasings_index) checks a frame's slots.
inline void check_frame_rules(const data::gym::TaskDef& def, bool it,
                              const std::function<void(const std::string&, size_t)>& check_slots) {
    SCOPED_TRACE(std::string(def.name) + (it ? " it" : " en"));
    std::set<std::string> names, frames;
    size_t n_frames = 0, n_heldout = 0, n_families = 0;
    for (size_t pi = 0; pi < def.phrasings.size(); ++pi) {
        size_t held = 0, train = 0, p_frames = 0, p_heldout = 0;
        for (const data::gym::Family& f : def.phrasings[pi]->of(it)) {
            EXPECT_TRUE(names.insert(std::string(f.name)).second) << f.name;
            EXPECT_TRUE(std::regex_match(std::string(f.name), std::regex("[a-z_]+")));
            (f.heldout ? held : train) += 1;
            ++n_families;
            for (std::string_view fr : f.frames) {
                const std::string s(fr);
                EXPECT_TRUE(frames.insert(s).second) << "repeated frame: " << s;
                ++n_frames;
                n_heldout += f.heldout;
                ++p_frames;
                p_heldout += f.heldout;
                check_slots(s, pi);
            }
        }
        EXPECT_GE(held, 1u);
        EXPECT_GE(train, 2u);
        // Every Phrasings keeps roughly the task's share, whichever one a problem uses.
        EXPECT_GE(double(p_heldout) / double(p_frames), 0.2);
        EXPECT_LE(double(p_heldout) / double(p_frames), 0.4);
    }
    EXPECT_GE(n_frames, 22u);
    EXPECT_GE(n_families, 5u);
    const double share = double(n_heldout) / double(n_frames);
    EXPECT_GE(share, 0.25);
    EXPECT_LE(share, 0.35);
}

}  // namespace np::test
