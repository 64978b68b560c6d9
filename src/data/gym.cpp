// The gym's task registry, problem generation and problem sets. The tasks themselves are in
// gym_arith.cpp, gym_order.cpp and gym_stories.cpp; scoring in gym_score.cpp.
#include "data/gym.h"

#include <algorithm>
#include <unordered_set>

#include "core/error.h"
#include "core/rng.h"
#include "data/gym_phrasing.h"

namespace np::data {

namespace {

const std::vector<gym::TaskDef>& registry() {
    static const std::vector<gym::TaskDef> tasks = [] {
        std::vector<gym::TaskDef> all = gym::arithmetic_tasks();
        for (auto more : {gym::ordering_tasks(), gym::story_tasks()})
            all.insert(all.end(), more.begin(), more.end());
        return all;
    }();
    return tasks;
}

[[noreturn]] void unknown_task(const std::string& task) {
    std::string all;
    for (const auto& t : gym_tasks()) all += " " + t;
    fail("gym: unknown task \"" + task + "\" (tasks:" + all + ", or all)");
}

const gym::TaskDef& task_def(const std::string& task) {
    for (const auto& t : registry())
        if (t.name == task) return t;
    unknown_task(task);
}

uint64_t fnv(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char ch : s) h = (h ^ uint8_t(ch)) * 0x100000001b3ull;
    return h;
}

}  // namespace

nlohmann::json GymRecord::to_json() const {
    return {{"task", task},     {"lang", lang},         {"difficulty", difficulty},
            {"family", family}, {"question", question}, {"thinking", thinking},
            {"answer", answer}};
}

GymRecord GymRecord::from_json(const nlohmann::json& j) {
    GymRecord g;
    g.task = j.value("task", "");
    g.lang = j.value("lang", "");
    g.difficulty = j.value("difficulty", 1);
    g.family = j.value("family", "");
    g.question = j.value("question", "");
    g.thinking = j.value("thinking", "");
    g.answer = j.value("answer", "");
    return g;
}

const std::vector<std::string>& gym_tasks() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const auto& t : registry()) v.emplace_back(t.name);
        return v;
    }();
    return names;
}

AnswerKind gym_answer_kind(const std::string& task) {
    return task_def(task).answer;
}

std::string gym_difficulty_meaning(const std::string& task) {
    return std::string(task_def(task).difficulty);
}

std::vector<GymFamilyInfo> gym_families(const std::string& task, const std::string& lang) {
    if (lang != "en" && lang != "it") fail("gym: --lang must be en or it, got \"" + lang + "\"");
    std::vector<GymFamilyInfo> out;
    for (const gym::Phrasings* p : task_def(task).phrasings)
        for (const gym::Family& f : p->of(lang == "it"))
            out.push_back({std::string(f.name), f.heldout, f.frames.size()});
    return out;
}

GymSplit parse_gym_split(std::string_view name) {
    if (name == "all") return GymSplit::All;
    if (name == "train") return GymSplit::Train;
    if (name == "heldout") return GymSplit::Heldout;
    fail("gym: --split must be train, heldout or all, got \"" + std::string(name) + "\"");
}

GymRecord gym_generate(const std::string& task, const std::string& lang, int difficulty,
                       uint64_t seed, GymSplit split) {
    if (lang != "en" && lang != "it") fail("gym: --lang must be en or it, got \"" + lang + "\"");
    if (difficulty < 1 || difficulty > 12)
        fail("gym: --difficulty must be in 1..12, got " + std::to_string(difficulty));
    const gym::TaskDef& def = task_def(task);
    gym::Rng r{seed * 0x9e3779b97f4a7c15ull + fnv(task) + (lang == "it" ? 0x17 : 0)};
    r.next();
    gym::Ctx c{r, lang == "it", difficulty, split, {}};
    GymRecord g = def.generate(c);
    g.task = task;
    g.lang = lang;
    g.difficulty = difficulty;
    g.family = c.family;
    return g;
}

namespace {

std::vector<std::string> task_list(const std::string& spec) {
    if (spec == "all") return gym_tasks();
    std::vector<std::string> out;
    size_t b = 0;
    while (true) {
        size_t e = spec.find(',', b);
        std::string t = spec.substr(b, e == std::string::npos ? std::string::npos : e - b);
        if (t.empty() || t == "all")
            fail("gym: --task must be a task, all, or a comma-separated list of tasks, got \"" +
                 spec + "\"");
        if (std::find(gym_tasks().begin(), gym_tasks().end(), t) == gym_tasks().end())
            unknown_task(t);
        out.push_back(t);
        if (e == std::string::npos) break;
        b = e + 1;
    }
    return out;
}

uint64_t mix64(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void check_set_options(const GymSetOptions& o) {
    if (o.lang != "en" && o.lang != "it" && o.lang != "both")
        fail("gym: --lang must be en, it or both, got \"" + o.lang + "\"");
    if (o.min_difficulty < 1 || o.max_difficulty > 12 || o.min_difficulty > o.max_difficulty)
        fail("gym: --difficulty must be D or A-B with 1 <= A <= B <= 12, got " +
             std::to_string(o.min_difficulty) + "-" + std::to_string(o.max_difficulty));
    if (o.direct_max_difficulty < 0 || o.direct_max_difficulty > 12)
        fail("gym: --direct-max-difficulty must be in 0..12, got " +
             std::to_string(o.direct_max_difficulty));
    if (o.max_rejections_in_a_row == 0) fail("gym: max_rejections_in_a_row must be positive");
}

GymRecord candidate(const GymSetOptions& opt, const std::vector<std::string>& tasks, size_t i) {
    const std::string& t = tasks[i % tasks.size()];
    std::string l = opt.lang == "both" ? ((i / tasks.size()) % 2 ? "it" : "en") : opt.lang;
    uint64_t s = opt.seed * 0x100000001b3ull ^ (uint64_t(i) * 0xd1342543de82ef95ull + 1);
    int span = opt.max_difficulty - opt.min_difficulty + 1;
    // A separate hash of the record seed: the difficulty must not correlate with the problem.
    int d = opt.min_difficulty + int(mix64(s ^ 0x5bd1e9955bd1e995ull) % uint64_t(span));
    GymRecord g = gym_generate(t, l, d, s, opt.split);
    if (d <= opt.direct_max_difficulty) g.thinking.clear();
    return g;
}

}  // namespace

std::vector<GymRecord> gym_generate_many(const std::string& task, const std::string& lang,
                                         int difficulty, uint64_t seed, size_t n) {
    GymSetOptions o;
    o.task = task;
    o.lang = lang;
    o.min_difficulty = o.max_difficulty = difficulty;
    o.seed = seed;
    if (lang != "en" && lang != "it" && lang != "both")
        fail("gym: --lang must be en, it or both, got \"" + lang + "\"");
    if (difficulty < 1 || difficulty > 12)
        fail("gym: --difficulty must be in 1..12, got " + std::to_string(difficulty));
    return gym_generate_set(o, n);
}

void parse_difficulty_range(std::string_view spec, int& lo, int& hi) {
    auto bad = [&] {
        fail("gym: --difficulty must be D or A-B with 1 <= A <= B <= 12, got \"" +
             std::string(spec) + "\"");
    };
    auto number = [&](std::string_view s) {
        if (s.empty() || s.size() > 2) bad();
        int v = 0;
        for (char ch : s) {
            if (ch < '0' || ch > '9') bad();
            v = v * 10 + (ch - '0');
        }
        return v;
    };
    size_t dash = spec.find('-');
    lo = number(spec.substr(0, dash));
    hi = dash == std::string_view::npos ? lo : number(spec.substr(dash + 1));
    if (lo < 1 || hi > 12 || lo > hi) bad();
}

GymRecord gym_candidate(const GymSetOptions& opt, size_t i) {
    check_set_options(opt);
    return candidate(opt, task_list(opt.task), i);
}

std::vector<GymRecord> gym_generate_set(const GymSetOptions& opt, size_t n,
                                        const std::vector<std::string>& exclude) {
    check_set_options(opt);
    const std::vector<std::string> tasks = task_list(opt.task);
    std::unordered_set<std::string> seen(exclude.begin(), exclude.end());
    const bool filter = opt.unique || !exclude.empty();
    std::vector<GymRecord> out;
    out.reserve(n);
    size_t rejected_in_a_row = 0;
    for (size_t i = 0; out.size() < n; ++i) {
        GymRecord g = candidate(opt, tasks, i);
        if (filter) {
            bool dropped = opt.unique ? !seen.insert(g.question).second : seen.count(g.question);
            if (dropped) {
                if (++rejected_in_a_row >= opt.max_rejections_in_a_row)
                    fail("gym: only " + std::to_string(out.size()) + " of " + std::to_string(n) +
                         " problems are left after excluding repeated or held-out questions; "
                         "lower --n or widen --difficulty");
                continue;
            }
            rejected_in_a_row = 0;
        }
        out.push_back(std::move(g));
    }
    return out;
}

std::vector<nlohmann::json> gym_conversations(const std::vector<GymRecord>& recs, int min_turns,
                                              int max_turns, uint64_t seed) {
    if (min_turns < 1 || max_turns < min_turns)
        fail("gym: --turns expects A-B with 1 <= A <= B, got " + std::to_string(min_turns) + "-" +
             std::to_string(max_turns));
    Rng rng(splitmix64(seed ^ 0x7475726e73ull));
    std::vector<nlohmann::json> out;
    for (size_t i = 0; i < recs.size();) {
        const size_t turns =
            size_t(min_turns) + size_t(rng.next_u64() % uint64_t(max_turns - min_turns + 1));
        nlohmann::json messages = nlohmann::json::array();
        for (size_t k = 0; k < turns && i < recs.size(); ++k, ++i) {
            const GymRecord& r = recs[i];
            messages.push_back({{"role", "user"}, {"content", r.question}});
            messages.push_back({{"role", "assistant"},
                                {"content", r.thinking.empty() ? r.answer
                                                               : "<think>\n" + r.thinking +
                                                                     "\n</think>\n\n" + r.answer}});
        }
        out.push_back({{"messages", messages}, {"turns", messages.size() / 2}});
    }
    return out;
}

std::string gym_plain_text(const GymRecord& r) {
    std::string s = r.question + "\n";
    if (!r.thinking.empty()) s += r.thinking + "\n";
    return s + r.answer;
}

}  // namespace np::data
