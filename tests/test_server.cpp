// The serving core without HTTP: the batching scheduler against generate() on a decoder of its
// own (greedy and seeded sampling give the same text alone or batched, with prompt chunks
// interleaved), prefix reuse, cancellation and the bounded queue; and the OpenAI request parser on
// a corpus of malformed bodies (each a 400 naming the field) and the thinking split of streams.
#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "core/error.h"
#include "infer/packed_decoder.h"
#include "server/openai_api.h"
#include "server/scheduler.h"
#include "tiny_chat.h"

namespace np {
namespace {

using infer::GenerateOptions;
using infer::Generation;
using server::Job;
using server::Scheduler;
using server::SchedulerOptions;
using test::tiny_tokenizer;

// A packed model over the tiny tokenizer, with sharpened logits so greedy choices are not decided
// by rounding, big enough for every kernel path.
std::shared_ptr<const infer::PackedModel> packed_model() {
    ModelConfig c;
    c.vocab_size = tiny_tokenizer().vocab_size();
    c.d_model = 64;
    c.n_layers = 3;
    c.layer_pattern = "MAM";
    c.tie_embeddings = true;
    c.max_seq_len = 256;
    c.ffn = {"swiglu", 96};
    c.mamba = {64, 2, 16, 8, 1, 4};
    c.mla = {64, 4, 12, 8, 16, 24, 10000.0};
    c.validate();
    Model<float> m(c);
    m.init_random(31);
    float* e = m.param("embed.weight");
    for (int i = 0; i < c.vocab_size * c.d_model; i++) e[i] *= 30.f;
    return infer::PackedModel::from_checkpoint(m, kern::TernaryFormat::TQ2_0);
}

const std::shared_ptr<const infer::PackedModel>& model() {
    static const auto m = packed_model();
    return m;
}

struct Outcome {
    Generation gen;
    std::string error, streamed;
};

// Submits a job; the future is ready when it is done.
std::future<Outcome> submit(Scheduler& s, std::vector<int32_t> prompt, const GenerateOptions& o,
                            std::shared_ptr<std::atomic<bool>> cancel = nullptr) {
    auto done = std::make_shared<std::promise<Outcome>>();
    auto streamed = std::make_shared<std::string>();
    Job job;
    job.prompt = std::move(prompt);
    job.options = o;
    if (cancel) job.cancelled = cancel;
    job.on_piece = [streamed](std::string_view p, bool) { *streamed += p; };
    job.on_done = [done, streamed](const Generation& g, const std::string& err) {
        done->set_value({g, err, *streamed});
    };
    EXPECT_TRUE(s.submit(std::move(job)));
    return done->get_future();
}

std::vector<int32_t> prompt_of(int i, infer::ThinkMode mode) {
    return infer::build_prompt(tiny_tokenizer(),
                               "What is " + std::to_string(i * 37 + 5) + " + " +
                                   std::to_string(i * 11) + "?" +
                                   std::string(size_t(i % 4) * 9, '1'),
                               mode);
}

GenerateOptions options(int max_tokens, float temperature, uint64_t seed) {
    GenerateOptions o;
    o.mode = infer::ThinkMode::Auto;
    o.max_tokens = max_tokens;
    o.sampling.temperature = temperature;
    o.sampling.seed = seed;
    return o;
}

TEST(Scheduler, BatchedJobsGiveTheTextEachGetsAlone) {
    const int chunk = 8;
    SchedulerOptions so;
    so.slots = 3;
    so.prefill_chunk = chunk;  // prompts of 20-50 tokens take several interleaved steps
    so.max_prefills = 2;
    for (float temperature : {0.f, 0.9f}) {
        Scheduler sched(model(), tiny_tokenizer(), so);
        std::vector<std::future<Outcome>> batched;
        const int jobs = 7;  // more than the slots: jobs queue and join between steps
        for (int i = 0; i < jobs; i++)
            batched.push_back(submit(sched, prompt_of(i, infer::ThinkMode(i % 3)),
                                     options(12 + 5 * i, temperature, 100 + uint64_t(i))));
        for (int i = 0; i < jobs; i++) {
            infer::PackedDecoder alone(model(), chunk);
            const auto prompt = prompt_of(i, infer::ThinkMode(i % 3));
            const Generation want =
                infer::generate(alone, tiny_tokenizer(), prompt,
                                options(12 + 5 * i, temperature, 100 + uint64_t(i)));
            const Outcome got = batched[size_t(i)].get();
            EXPECT_EQ(got.error, "");
            EXPECT_EQ(got.gen.tokens, want.tokens) << "job " << i << " T=" << temperature;
            EXPECT_EQ(got.gen.text, want.text);
            EXPECT_EQ(got.streamed, want.text);
            EXPECT_EQ(got.gen.prompt_tokens, int64_t(prompt.size()));
        }
        sched.stop(true);
        const auto st = sched.stats();
        EXPECT_EQ(st.jobs_done, jobs);
        EXPECT_EQ(st.busy_slots, 0);
        EXPECT_EQ(st.queued, 0);
        // Batching happened: fewer engine steps than the tokens run through the model.
        EXPECT_LT(st.steps, st.generated_tokens + st.prefilled_tokens);
    }
}

TEST(Scheduler, AFollowUpReusesTheSlotsPrefix) {
    SchedulerOptions so;
    so.slots = 2;
    Scheduler sched(model(), tiny_tokenizer(), so);
    const auto& tok = tiny_tokenizer();
    const auto first = prompt_of(3, infer::ThinkMode::Off);
    const Outcome a = submit(sched, first, options(6, 0, 1)).get();
    ASSERT_EQ(a.error, "");
    // A prompt that shares only the first prompt (a regenerated reply): the slot goes back to the
    // checkpoint at the end of the first prompt.
    const auto turn = tok.encode("\nuser\nAnd 4 + 4?\n");
    std::vector<int32_t> other = first;
    other.insert(other.end(), turn.begin(), turn.end());
    const Outcome c = submit(sched, other, options(6, 0, 1)).get();
    EXPECT_EQ(c.gen.prompt_tokens, int64_t(turn.size()));
    infer::PackedDecoder alone(model(), so.prefill_chunk);
    std::vector<float> logits(size_t(tok.vocab_size()));
    alone.prefill(first, logits);
    EXPECT_EQ(c.gen.tokens,
              infer::generate(alone, tok, other, options(6, 0, 1), {}, first.size()).tokens);
    // The conversation goes on: the whole exchange, then a new turn. Only what the slot did not
    // hold is prefilled: the prompt and the reply minus its last token (never fed) were there.
    std::vector<int32_t> follow = other;
    follow.insert(follow.end(), c.gen.tokens.begin(), c.gen.tokens.end());
    follow.insert(follow.end(), turn.begin(), turn.end());
    const Outcome b = submit(sched, follow, options(6, 0, 1)).get();
    ASSERT_EQ(b.error, "");
    const size_t held = other.size() + c.gen.tokens.size() - 1;
    EXPECT_EQ(b.gen.prompt_tokens, int64_t(follow.size() - held));
    infer::PackedDecoder alone2(model(), so.prefill_chunk);
    alone2.prefill(first, logits);
    alone2.prefill(std::span(other).subspan(first.size()), logits);
    alone2.prefill(std::span(follow).subspan(other.size(), held - other.size()), logits);
    EXPECT_EQ(b.gen.tokens,
              infer::generate(alone2, tok, follow, options(6, 0, 1), {}, held).tokens);
}

TEST(Scheduler, CancelledJobFreesItsSlot) {
    SchedulerOptions so;
    so.slots = 1;
    so.max_queue = 1;
    Scheduler sched(model(), tiny_tokenizer(), so);
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    GenerateOptions endless = options(200, 0.9f, 3);
    endless.ignore_eos = true;
    auto running = submit(sched, prompt_of(1, infer::ThinkMode::On), endless, cancel);
    auto waiting = submit(sched, prompt_of(2, infer::ThinkMode::Off), options(5, 0, 1));
    // One slot busy (or about to be), one job queued: a third is refused.
    Job extra;
    extra.prompt = prompt_of(4, infer::ThinkMode::Off);
    extra.on_done = [](const Generation&, const std::string&) {};
    EXPECT_FALSE(sched.submit(std::move(extra)));
    cancel->store(true);
    const Outcome c = running.get();
    EXPECT_LT(c.gen.tokens.size(), 200u);
    const Outcome w = waiting.get();
    EXPECT_EQ(w.error, "");
    sched.stop(true);
    EXPECT_GE(sched.stats().jobs_cancelled, 1);
}

TEST(Scheduler, RefusesBadJobsBeforeQueueing) {
    SchedulerOptions so;
    so.ctx = 32;
    Scheduler sched(model(), tiny_tokenizer(), so);
    Job empty;
    EXPECT_THROW(sched.submit(std::move(empty)), Error);
    Job long_prompt;
    long_prompt.prompt.assign(32, 5);
    EXPECT_THROW(sched.submit(std::move(long_prompt)), Error);
    Job bad_id;
    bad_id.prompt = {0, tiny_tokenizer().vocab_size() + 3};
    EXPECT_THROW(sched.submit(std::move(bad_id)), Error);
    EXPECT_EQ(sched.stats().queued, 0);
    SchedulerOptions zero;
    zero.slots = 0;
    EXPECT_THROW(Scheduler(model(), tiny_tokenizer(), zero), Error);
}

TEST(Scheduler, StopWithoutDrainEndsEveryJob) {
    SchedulerOptions so;
    so.slots = 1;
    Scheduler sched(model(), tiny_tokenizer(), so);
    std::vector<std::future<Outcome>> f;
    for (int i = 0; i < 4; i++)
        f.push_back(submit(sched, prompt_of(i, infer::ThinkMode::On), options(200, 0.9f, 7)));
    sched.stop(false);
    for (auto& x : f) {
        ASSERT_EQ(x.wait_for(std::chrono::seconds(10)), std::future_status::ready);
        x.get();
    }
    Job late;
    late.prompt = prompt_of(0, infer::ThinkMode::Off);
    EXPECT_FALSE(sched.submit(std::move(late)));
}

// Malformed request bodies: each one a 400 that names the field at fault.
TEST(OpenAiApi, MalformedRequestsNameTheField) {
    const server::RequestDefaults d;
    const std::vector<std::pair<std::string, std::string>> chat_cases = {
        {"{", ""},
        {"[]", ""},
        {R"({"messages": "hi"})", "messages"},
        {R"({})", "messages"},
        {R"({"messages": []})", "messages"},
        {R"({"messages": [{"role": "robot", "content": "hi"}]})", "messages[0].role"},
        {R"({"messages": [{"content": "hi"}]})", "messages[0].role"},
        {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
        {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
         "messages[0].content[0]"},
        {R"({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})",
         "temperature"},
        {R"({"messages": [{"role": "user", "content": "hi"}], "temperature": -1})", "temperature"},
        {R"({"messages": [{"role": "user", "content": "hi"}], "top_p": 2})", "top_p"},
        {R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0})", "max_tokens"},
        {R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2.5})", "max_tokens"},
        {R"({"messages": [{"role": "user", "content": "hi"}], "n": 99})", "n"},
        {R"({"messages": [{"role": "user", "content": "hi"}], "stream": "yes"})", "stream"},
        {R"({"messages": [{"role": "user", "content": "hi"}], "stop": 3})", "stop"},
        {R"({"messages": [{"role": "user", "content": "hi"}], "stop": ["", "x"]})", "stop"},
        {R"({"messages": [{"role": "user", "content": "hi"}], "presence_penalty": 3})",
         "presence_penalty"},
        {R"({"messages": [{"role": "user", "content": "hi"}], "seed": "x"})", "seed"},
        {R"({"messages": [{"role": "user", "content": "hi"}], "think": "maybe"})", "think"},
        {R"({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "max"})",
         "reasoning_effort"},
    };
    for (const auto& [body, field] : chat_cases) {
        try {
            server::parse_request(body, true, d);
            ADD_FAILURE() << "accepted: " << body;
        } catch (const server::ApiError& e) {
            EXPECT_EQ(e.status, 400) << body;
            EXPECT_EQ(e.param, field) << body << ": " << e.message;
            EXPECT_FALSE(e.message.empty());
        }
    }
    EXPECT_THROW(server::parse_request(R"({"prompt": 7})", false, d), server::ApiError);
    const auto ok = server::parse_request(
        R"({"messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "max_completion_tokens": 9, "stop": "END", "reasoning_effort": "low", "seed": 4})",
        true, d);
    EXPECT_EQ(ok.messages.size(), 2u);
    EXPECT_EQ(ok.messages[1].content, "hi");
    EXPECT_EQ(ok.options.max_tokens, 9);
    EXPECT_EQ(ok.options.stop, std::vector<std::string>{"END"});
    EXPECT_EQ(ok.options.mode, infer::ThinkMode::On);
    EXPECT_EQ(ok.options.think_budget, 64);
    EXPECT_EQ(ok.options.sampling.seed, 4u);
}

TEST(OpenAiApi, MaxTokensBeyondTheContextNamesTheField) {
    auto req = server::parse_request(
        R"({"messages": [{"role": "user", "content": "What is 1 + 2?"}], "max_tokens": 500})", true,
        {});
    try {
        server::tokenize_request(req, tiny_tokenizer(), 64);
        ADD_FAILURE() << "accepted";
    } catch (const server::ApiError& e) {
        EXPECT_EQ(e.param, "max_tokens");
    }
    auto fits =
        server::parse_request(R"({"messages": [{"role": "user", "content": "hi"}]})", true, {});
    server::tokenize_request(fits, tiny_tokenizer(), 64);
    EXPECT_EQ(fits.options.max_tokens, 64 - int(fits.prompt_tokens.size()));
}

// The stream's deltas concatenate to what the non-streamed response gives, however the pieces fall.
TEST(OpenAiApi, ThinkSplitterMatchesTheFinishedSplit) {
    const std::string think = "<think>\n  2 and 3 make 5 \n</think>",
                      answer = "\n\nThe answer is 5.";
    for (size_t cut = 1; cut < 9; cut++) {
        server::ThinkSplitter s;
        std::string reasoning, content;
        for (const auto& [part, thinking] : {std::pair{think, true}, std::pair{answer, false}})
            for (size_t i = 0; i < part.size(); i += cut) {
                auto d = s.push(part.substr(i, cut), thinking);
                reasoning += d.reasoning, content += d.content;
            }
        auto d = s.finish();
        reasoning += d.reasoning, content += d.content;
        EXPECT_EQ(reasoning, "2 and 3 make 5") << cut;
        EXPECT_EQ(content, "The answer is 5.") << cut;
    }
}

}  // namespace
}  // namespace np
