// The gym's phrasing machinery, shared by the task generators (gym_*.cpp): a deterministic RNG,
// sentence frames grouped into families, slot filling, the way numbers are written in a question
// and surface variation (casing, punctuation, filler words).
//
// A frame is a sentence with named slots such as "Add {b} to {a}." Frames of one sentence
// shape form a family; a family is either a training family or a held-out one, so `gym --split
// heldout` asks questions in shapes a model trained on `--split train` never saw.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "data/gym.h"

namespace np::data::gym {

// Own generator and range reduction: std distributions differ between standard libraries, and the
// gym must give the same problems everywhere for a given seed.
struct Rng {
    uint64_t s;
    uint64_t next() {
        uint64_t x = (s += 0x9e3779b97f4a7c15ull);
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        return x ^ (x >> 31);
    }
    int64_t range(int64_t lo, int64_t hi) { return lo + int64_t(next() % uint64_t(hi - lo + 1)); }
    bool chance(double p) { return double(next() >> 11) * 0x1.0p-53 < p; }
    template <class T>
    const T& pick(const std::vector<T>& v) {
        return v[size_t(next() % v.size())];
    }
};

struct Family {
    std::string_view name;  // unique within a task and language
    bool heldout = false;   // asked only in --split heldout (and all)
    std::vector<std::string_view> frames;
};

// A task's frames in both languages.
struct Phrasings {
    std::vector<Family> en, it;
    const std::vector<Family>& of(bool it_lang) const { return it_lang ? it : en; }
};

// Slot values by name: {"a", "487"}.
using Slots = std::vector<std::pair<std::string_view, std::string>>;

// frame with every {name} replaced by its value. Throws np::Error naming the frame on a slot with
// no value or an unterminated brace.
std::string fill(std::string_view frame, const Slots& slots);

// A frame of the split, uniform over the split's frames (not its families, so large families are
// asked more often). Throws np::Error when the split has no frame.
struct FramePick {
    std::string_view family, frame;
};
FramePick pick_frame(Rng& r, const std::vector<Family>& families, GymSplit split);

std::string str(int64_t v);
int64_t pow10(int d);
// A random number of exactly d digits (d = 1: 0..9).
int64_t with_digits(Rng& r, int d);
// Decimal digits, least significant first (0 -> {0}).
std::vector<int> digits_lsb(int64_t v);

// One problem's generation context. Generators draw numbers from r, write numbers into the question
// with num() and phrase it with ask(), which records the frame's family.
struct Ctx {
    Rng& r;
    bool it;
    int d;  // difficulty >= 1
    GymSplit split;
    std::string family;  // set by ask()

    const std::string& L(const std::string& en, const std::string& itv) const {
        return it ? itv : en;
    }
    // v as written in a question: plain digits, or (sometimes, from 1000 up) with thousands
    // separators: 12,345 in English, 12.345 in Italian. Traces always write plain digits.
    std::string num(int64_t v);
    // A frame of the split filled with slots, with surface variation: sometimes a filler opening
    // ("Quick question: ", "Scusa, "), a lower-case first letter, or a dropped final mark.
    std::string ask(const Phrasings& p, const Slots& slots);
    // As ask(), also returning the picked frame (generators that look at the frame's wording, e.g.
    // which operand it names first).
    std::string ask(const Phrasings& p, const Slots& slots, std::string_view& frame);
};

// Surface variation of a finished question (what ask() applies after filling the frame);
// may_lower_first: the first letter may be lower-cased (not when the question opens with a name).
std::string vary_surface(Rng& r, std::string q, bool it, bool may_lower_first);

// A task: its generator, every Phrasings its generator asks from (word problems keep one per
// story shape) and what --difficulty means for it.
struct TaskDef {
    std::string_view name;
    GymRecord (*generate)(Ctx&);
    std::vector<const Phrasings*> phrasings;
    std::string_view difficulty;  // e.g. "d-digit operands"
    AnswerKind answer = AnswerKind::Number;
};

// The tasks of each generator file, in `gym --task all` order.
std::vector<TaskDef> arithmetic_tasks();  // gym_arith.cpp
std::vector<TaskDef> ordering_tasks();    // gym_order.cpp
std::vector<TaskDef> story_tasks();       // gym_stories.cpp

}  // namespace np::data::gym
