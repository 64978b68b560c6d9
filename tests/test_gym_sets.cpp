// Gym problem sets: difficulty ranges, direct answers (empty thinking) and how chat data renders
// them, held-out exclusion, splits, task lists and plain-text documents.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "core/error.h"
#include "data/chat.h"
#include "data/encoder.h"
#include "data/gym.h"

using namespace np::data;

namespace {

GymSetOptions arithmetic(uint64_t seed, int lo, int hi) {
    GymSetOptions o;
    o.task = "addition,subtraction";
    o.lang = "both";
    o.min_difficulty = lo;
    o.max_difficulty = hi;
    o.seed = seed;
    return o;
}

std::vector<std::string> questions(const std::vector<GymRecord>& recs) {
    std::vector<std::string> q;
    for (const auto& r : recs) q.push_back(r.question);
    return q;
}

}  // namespace

TEST(GymSet, DifficultyRangeParsing) {
    int lo = 0, hi = 0;
    parse_difficulty_range("3", lo, hi);
    EXPECT_EQ(lo, 3);
    EXPECT_EQ(hi, 3);
    parse_difficulty_range("1-4", lo, hi);
    EXPECT_EQ(lo, 1);
    EXPECT_EQ(hi, 4);
    parse_difficulty_range("12-12", lo, hi);
    EXPECT_EQ(lo, 12);
    for (const char* bad : {"0", "13", "4-2", "1-13", "a", "", "1-", "-3", "1-2-3", " 2"})
        EXPECT_THROW(parse_difficulty_range(bad, lo, hi), np::Error) << bad;
}

TEST(GymSet, RangesDrawDifficultiesDeterministically) {
    GymSetOptions o = arithmetic(5, 1, 4);
    auto a = gym_generate_set(o, 400), b = gym_generate_set(o, 400);
    std::map<int, int> count;
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].to_json(), b[i].to_json());
        EXPECT_EQ(a[i].to_json(), gym_candidate(o, i).to_json());
        EXPECT_EQ(a[i].task, i % 2 ? "subtraction" : "addition");
        EXPECT_EQ(a[i].lang, (i / 2) % 2 ? "it" : "en");
        // The difficulty sets the digits of the larger operand.
        EXPECT_EQ(a[i].to_json(), gym_generate(a[i].task, a[i].lang, a[i].difficulty,
                                               o.seed * 0x100000001b3ull ^
                                                   (uint64_t(i) * 0xd1342543de82ef95ull + 1))
                                      .to_json());
        ++count[a[i].difficulty];
    }
    ASSERT_EQ(count.size(), 4u);
    for (auto [d, n] : count) {
        EXPECT_GE(d, 1);
        EXPECT_LE(d, 4);
        EXPECT_GT(n, 60) << "difficulty " << d;
    }
    // A single difficulty gives exactly the records of gym_generate_many.
    GymSetOptions one = arithmetic(5, 3, 3);
    one.task = "addition";
    auto many = gym_generate_many("addition", "both", 3, 5, 30);
    auto set = gym_generate_set(one, 30);
    for (size_t i = 0; i < 30; ++i) EXPECT_EQ(set[i].to_json(), many[i].to_json());
    // A record does not depend on how many are asked for.
    EXPECT_EQ(gym_generate_set(o, 7)[6].to_json(), a[6].to_json());
}

TEST(GymSet, DirectAnswersRenderTheEmptyThinkBlock) {
    GymSetOptions o = arithmetic(2, 1, 3);
    o.direct_max_difficulty = 1;
    auto recs = gym_generate_set(o, 60);
    int direct = 0;
    for (const auto& r : recs) {
        EXPECT_EQ(r.thinking.empty(), r.difficulty <= 1) << r.question;
        direct += r.thinking.empty();
    }
    EXPECT_GT(direct, 5);
    EXPECT_LT(direct, 55);
    // Everything else about a direct record is the thinking record's.
    GymSetOptions thinking = o;
    thinking.direct_max_difficulty = 0;
    auto full = gym_generate_set(thinking, 60);
    for (size_t i = 0; i < recs.size(); ++i) {
        EXPECT_EQ(recs[i].question, full[i].question);
        EXPECT_EQ(recs[i].answer, full[i].answer);
    }

    const GymRecord& r = *std::find_if(recs.begin(), recs.end(),
                                       [](const GymRecord& g) { return g.thinking.empty(); });
    Document doc = record_to_document(r.to_json());
    const std::string assistant = "<think>\n\n</think>\n\n" + r.answer + "<|im_end|>";
    EXPECT_EQ(render_chat_text(doc.messages), "<|im_start|>user\n" + r.question +
                                                  "<|im_end|>\n<|im_start|>assistant\n" +
                                                  assistant + "\n");
    // The loss mask covers the whole assistant turn, empty think block included.
    ByteEncoder enc;
    TokenizedDoc t = tokenize_document(doc, enc);
    std::vector<int32_t> want{kThink};
    for (char ch : std::string("\n\n")) want.push_back(kNumSpecial + uint8_t(ch));
    want.push_back(kThinkEnd);
    for (char ch : "\n\n" + r.answer) want.push_back(kNumSpecial + uint8_t(ch));
    want.push_back(kImEnd);
    auto start = std::find(t.ids.begin(), t.ids.end(), kThink) - t.ids.begin();
    ASSERT_LE(size_t(start) + want.size() + 1, t.ids.size());
    EXPECT_EQ(std::vector<int32_t>(t.ids.begin() + start, t.ids.begin() + start + want.size()),
              want);
    for (size_t j = 0; j < t.ids.size(); ++j)
        EXPECT_EQ(t.mask[j], j >= size_t(start) && j < start + want.size()) << j;
}

TEST(GymSet, HeldOutQuestionsNeverReachTraining) {
    GymSetOptions eval = arithmetic(7, 2, 3);
    eval.unique = true;
    auto held = gym_generate_set(eval, 150);
    std::set<std::string> held_q;
    for (const auto& r : held) EXPECT_TRUE(held_q.insert(r.question).second) << r.question;

    // The same seed and range: the first candidates are exactly the held-out problems.
    GymSetOptions train = arithmetic(7, 2, 3);
    auto recs = gym_generate_set(train, 600, questions(held));
    ASSERT_EQ(recs.size(), 600u);
    for (const auto& r : recs) EXPECT_EQ(held_q.count(r.question), 0u) << r.question;
    // Without the exclusion the overlap is real, so the check above is not vacuous.
    auto plain = gym_generate_set(train, 600);
    size_t overlap = 0;
    for (const auto& r : plain) overlap += held_q.count(r.question);
    EXPECT_GE(overlap, 150u);
    // Excluding keeps candidate order: the training set is the unexcluded candidates in order.
    size_t k = 0;
    for (size_t i = 0; k < recs.size(); ++i) {
        GymRecord c = gym_candidate(train, i);
        if (held_q.count(c.question)) continue;
        EXPECT_EQ(c.to_json(), recs[k++].to_json());
    }

    // A space too small for the request fails instead of looping: one-digit sums in the held-out
    // families (100 pairs of operands times a few frames and their surface variants).
    GymSetOptions tiny;
    tiny.task = "addition";
    tiny.split = GymSplit::Heldout;
    tiny.min_difficulty = tiny.max_difficulty = 1;
    tiny.unique = true;
    tiny.max_rejections_in_a_row = 2000;
    EXPECT_THROW(gym_generate_set(tiny, 100000), np::Error);
}

TEST(GymSet, TaskListsTextAndErrors) {
    GymSetOptions o;
    o.task = "compare,sort,letters";
    auto recs = gym_generate_set(o, 6);
    for (size_t i = 0; i < 6; ++i)
        EXPECT_EQ(recs[i].task, std::vector<std::string>({"compare", "sort", "letters"})[i % 3]);
    o.task = "all";
    EXPECT_EQ(gym_generate_set(o, gym_tasks().size()).back().task, gym_tasks().back());
    for (const char* bad : {"addition,", "addition,nope", ",sort", "addition,all"}) {
        o.task = bad;
        EXPECT_THROW(gym_generate_set(o, 1), np::Error) << bad;
    }
    o.task = "addition";
    o.lang = "fr";
    EXPECT_THROW(gym_generate_set(o, 1), np::Error);
    o.lang = "en";
    o.direct_max_difficulty = -1;
    EXPECT_THROW(gym_generate_set(o, 1), np::Error);

    GymRecord r = gym_generate("addition", "en", 2, 4);
    EXPECT_EQ(gym_plain_text(r), r.question + "\n" + r.thinking + "\n" + r.answer);
    r.thinking.clear();
    EXPECT_EQ(gym_plain_text(r), r.question + "\n" + r.answer);
}

// Multi-turn SFT data: every problem once and in order, roles alternating, conversation lengths
// within the range, and the rendered conversation trains on exactly the assistant turns.
TEST(GymConversations, GroupProblemsIntoTurns) {
    np::data::GymSetOptions opt;
    opt.task = "addition,word_money";
    opt.min_difficulty = 1;
    opt.max_difficulty = 3;
    opt.direct_max_difficulty = 1;
    opt.seed = 5;
    const auto recs = np::data::gym_generate_set(opt, 40);
    const auto convs = np::data::gym_conversations(recs, 2, 3, 9);
    size_t next = 0;
    std::set<size_t> lengths;
    for (size_t c = 0; c < convs.size(); ++c) {
        const auto& m = convs[c]["messages"];
        ASSERT_EQ(m.size() % 2, 0u);
        const size_t turns = m.size() / 2;
        if (c + 1 < convs.size()) {
            EXPECT_TRUE(turns == 2 || turns == 3) << turns;
        }
        lengths.insert(turns);
        for (size_t t = 0; t < turns; ++t, ++next) {
            const auto& r = recs[next];
            EXPECT_EQ(m[2 * t]["role"], "user");
            EXPECT_EQ(m[2 * t]["content"], r.question);
            EXPECT_EQ(m[2 * t + 1]["role"], "assistant");
            std::string reasoning, answer;
            np::data::split_thinking(m[2 * t + 1]["content"].get<std::string>(), reasoning, answer);
            EXPECT_EQ(reasoning, r.thinking);
            EXPECT_EQ(answer, r.answer);
        }
        // Byte-level rendering: the targets are the assistant turns, nothing else.
        const auto doc = np::data::record_to_document(convs[c]);
        const auto tok = np::data::tokenize_document(doc, np::data::ByteEncoder());
        size_t targets = 0, want = 0;
        for (uint8_t x : tok.mask) targets += x;
        for (size_t t = 0; t < turns; ++t) {
            std::string reasoning, answer;
            np::data::split_thinking(m[2 * t + 1]["content"].get<std::string>(), reasoning, answer);
            // <think> \n R \n </think> \n\n A <|im_end|>
            want += 1 + 1 + reasoning.size() + 1 + 1 + 2 + answer.size() + 1;
        }
        EXPECT_EQ(targets, want);
    }
    EXPECT_EQ(next, recs.size());
    EXPECT_TRUE(lengths.count(2) && lengths.count(3));
    EXPECT_THROW(np::data::gym_conversations(recs, 0, 2, 1), np::Error);
    EXPECT_THROW(np::data::gym_conversations(recs, 3, 2, 1), np::Error);
}
