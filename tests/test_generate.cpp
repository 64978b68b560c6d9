// Generation over the Decoder interface on a tiny random model: ChatML rendering against the
// training renderer, the thinking budget, max tokens, greedy determinism, stop strings across
// token boundaries, UTF-8-safe streaming, and chat turns that reuse the decoder state.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "data/chat.h"
#include "infer/generate.h"
#include "infer/reference_decoder.h"
#include "model/model.h"
#include "tiny_chat.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/role_specials.h"

namespace {

using np::test::tiny_model;
using np::test::tiny_tokenizer;

using np::Tokenizer;
using np::infer::ThinkMode;

np::infer::ReferenceDecoder tiny_decoder(uint64_t seed) {
    return np::infer::ReferenceDecoder(tiny_model(tiny_tokenizer().vocab_size(), seed));
}

// The tokenizer as the data pipeline sees it (what `data prepare` trains on).
struct TokEncoder final : np::data::TextEncoder {
    const Tokenizer& t;
    explicit TokEncoder(const Tokenizer& tok) : t(tok) {}
    std::vector<int32_t> encode(std::string_view s) const override { return t.encode(s); }
    int32_t vocab_size() const override { return t.vocab_size(); }
};

struct Collected {
    std::string all, thinking;
    std::vector<std::string> pieces;
    np::infer::StreamCallback callback() {
        return [this](std::string_view p, bool th) {
            EXPECT_FALSE(p.empty());
            pieces.emplace_back(p);
            all += p;
            if (th) thinking += p;
        };
    }
};

// The same tokens as the training renderer gives a conversation: the prompt is a prefix of the
// tokenized conversation that continues it.
TEST(Generate, RenderChatMatchesTrainingTokens) {
    const auto& tok = tiny_tokenizer();
    const TokEncoder enc(tok);
    using np::data::Message;
    const std::vector<Message> head{{"system", "Be brief."}, {"user", "What is 4 + 5?"}};
    for (auto [mode, reply] : std::vector<std::pair<ThinkMode, std::string>>{
             {ThinkMode::Off, "The answer is 9."},
             {ThinkMode::On, "<think>4 and 5 make 9</think>The answer is 9."},
             {ThinkMode::Auto, "<think>4 and 5</think>9"}}) {
        np::data::Document doc{true, "", head};
        doc.messages.push_back({"assistant", reply});
        const auto full = np::data::tokenize_document(doc, enc).ids;
        const auto prompt = np::infer::render_chat(tok, head, mode);
        ASSERT_LE(prompt.size(), full.size());
        EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), full.begin()))
            << np::infer::think_mode_name(mode);
    }
    // Earlier assistant turns keep only their answer.
    const std::vector<Message> hist{{"user", "hi"},
                                    {"assistant", "<think>\nsome reasoning\n</think>\n\nhello"},
                                    {"user", "again"}};
    EXPECT_EQ(tok.decode(np::infer::render_chat(tok, hist, ThinkMode::On)),
              "<|endoftext|><|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n"
              "</think>\n\nhello<|im_end|>\n<|im_start|>user\nagain<|im_end|>\n"
              "<|im_start|>assistant\n<think>\n");
    EXPECT_THROW(np::infer::render_chat(tok, {{"robot", "x"}}, ThinkMode::Off), np::Error);
}

TEST(Generate, ThinkBudgetForcesClose) {
    const auto& tok = tiny_tokenizer();
    auto dec = tiny_decoder(7);
    const auto prompt = np::infer::build_prompt(tok, "What is 1 + 2?", ThinkMode::On);
    for (int budget : {0, 3, 8}) {
        np::infer::GenerateOptions opt;
        opt.mode = ThinkMode::On;
        opt.think_budget = budget;
        opt.max_tokens = 30;
        opt.sampling.temperature = 2.0f;  // a random model rarely closes the block by itself
        opt.sampling.seed = uint64_t(budget);
        Collected c;
        auto g = np::infer::generate(dec, tok, prompt, opt, c.callback());
        EXPECT_LE(g.thinking_tokens, budget);
        auto it = std::find(g.tokens.begin(), g.tokens.end(), Tokenizer::kThinkEnd);
        ASSERT_NE(it, g.tokens.end()) << "budget " << budget;
        EXPECT_LE(it - g.tokens.begin(), budget + 1);  // a "\n" may precede the forced tag
        EXPECT_EQ(g.text.rfind("<think>\n", 0), 0u);
        EXPECT_NE(g.text.find("</think>"), std::string::npos);
        if (g.forced_close) {
            EXPECT_EQ(g.thinking_tokens, budget);
            // "\n</think>\n\n" as training renders reasoning: the block ends in a newline.
            EXPECT_NE(g.text.find("\n</think>\n\n"), std::string::npos) << g.text;
        }
        EXPECT_EQ(c.all, g.text);
        // The streamed think pieces start with the block, tags included (a random model may
        // emit stray think tags later, which are flagged too).
        EXPECT_EQ(c.thinking.rfind(g.text.substr(0, g.text.find("</think>") + 8), 0), 0u);
    }
    // Off mode starts after the empty block: nothing counts as thinking unless the model reopens.
    np::infer::GenerateOptions off;
    off.mode = ThinkMode::Off;
    off.think_budget = 0;
    off.max_tokens = 10;
    auto g =
        np::infer::generate(dec, tok, np::infer::build_prompt(tok, "1 + 2?", ThinkMode::Off), off);
    EXPECT_EQ(g.text.find("<think>"), std::string::npos) << "the empty block is not shown";
    if (std::find(g.tokens.begin(), g.tokens.end(), Tokenizer::kThink) == g.tokens.end()) {
        EXPECT_EQ(g.thinking_tokens, 0);
        EXPECT_FALSE(g.forced_close);
        EXPECT_EQ(g.thinking, "");
    }
}

TEST(Generate, MaxTokensAndDecoderState) {
    const auto& tok = tiny_tokenizer();
    auto dec = tiny_decoder(3);
    std::vector<int32_t> prompt{Tokenizer::kEndOfText};
    tok.encode_into("the answer is", false, prompt);
    np::infer::GenerateOptions opt;
    opt.max_tokens = 5;
    opt.sampling.temperature = 1.0f;
    auto g = np::infer::generate(dec, tok, prompt, opt);
    EXPECT_LE(g.tokens.size(), 5u);
    if (g.stop_reason == np::infer::StopReason::MaxTokens) {
        EXPECT_EQ(g.tokens.size(), 5u);
    }
    EXPECT_EQ(g.prompt_tokens, int64_t(prompt.size()));
    // The decoder was fed the prompt and every token but the last.
    EXPECT_EQ(dec.n_past(), int64_t(prompt.size() + g.tokens.size() - 1));
    opt.max_tokens = 0;
    EXPECT_THROW(np::infer::generate(dec, tok, prompt, opt), np::Error);
}

// ignore_eos: a model whose every step prefers to end the turn still runs to max_tokens.
TEST(Generate, IgnoreEosRunsToMaxTokens) {
    const auto& tok = tiny_tokenizer();
    const auto sp = np::special_ids_of(tok);
    auto model = tiny_model(tok.vocab_size(), 5);
    // The head is tied: an embedding row far out makes that token the argmax almost everywhere.
    float* e = model.param("embed.weight");
    for (int i = 0; i < model.cfg.d_model; i++)
        e[size_t(sp.im_end) * model.cfg.d_model + i] *= 500.f;
    np::infer::ReferenceDecoder dec(std::move(model));
    const auto prompt = np::infer::build_prompt(tok, "What is 4 + 5?", ThinkMode::Auto);
    np::infer::GenerateOptions opt;
    opt.mode = ThinkMode::Auto;
    opt.max_tokens = 12;
    const auto ends = np::infer::generate(dec, tok, prompt, opt);
    ASSERT_EQ(ends.stop_reason, np::infer::StopReason::EndOfTurn);  // the premise
    opt.ignore_eos = true;
    const auto g = np::infer::generate(dec, tok, prompt, opt);
    EXPECT_EQ(g.stop_reason, np::infer::StopReason::MaxTokens);
    EXPECT_EQ(g.tokens.size(), 12u);
    for (int32_t t : g.tokens) EXPECT_FALSE(sp.is_end(t));
}

TEST(Generate, GreedyDeterministicAndSeeded) {
    const auto& tok = tiny_tokenizer();
    auto model = tiny_model(tok.vocab_size(), 3);
    const auto prompt = np::infer::build_prompt(tok, "What is 4 + 5?", ThinkMode::Auto);
    auto full = model.logits(prompt, 1, int(prompt.size()));
    np::infer::ReferenceDecoder dec(std::move(model));
    np::infer::GenerateOptions opt;
    opt.max_tokens = 20;
    auto a = np::infer::generate(dec, tok, prompt, opt);
    auto b = np::infer::generate(dec, tok, prompt, opt);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.text, b.text);
    // Greedy is the argmax of the full forward's logits at the last prompt position.
    const int32_t V = dec.config().vocab_size;
    const float* last = full.data() + (prompt.size() - 1) * size_t(V);
    EXPECT_EQ(a.tokens[0], int32_t(std::max_element(last, last + V) - last));
    opt.sampling.temperature = 5.0f;
    opt.sampling.seed = 11;
    auto s1 = np::infer::generate(dec, tok, prompt, opt);
    auto s2 = np::infer::generate(dec, tok, prompt, opt);
    EXPECT_EQ(s1.tokens, s2.tokens);
    opt.sampling.seed = 12;
    EXPECT_NE(np::infer::generate(dec, tok, prompt, opt).tokens, s1.tokens);
}

TEST(Generate, StopStringAcrossTokenBoundary) {
    const auto& tok = tiny_tokenizer();
    auto dec = tiny_decoder(5);
    std::vector<int32_t> prompt{Tokenizer::kEndOfText};
    tok.encode_into("What is", false, prompt);
    np::infer::GenerateOptions opt;
    opt.max_tokens = 40;
    opt.sampling.temperature = 1.0f;
    opt.sampling.seed = 2;
    auto base = np::infer::generate(dec, tok, prompt, opt);
    // A stop string made of the end of one ordinary token and the start of the next.
    std::string stop;
    size_t offset = 0, found_at = 0;
    for (size_t i = 0; i + 1 < base.tokens.size(); ++i) {
        const auto &a = tok.id_to_bytes(base.tokens[i]), &b = tok.id_to_bytes(base.tokens[i + 1]);
        if (i >= 2 && !tok.is_special(base.tokens[i]) && !tok.is_special(base.tokens[i + 1]) &&
            a.size() >= 1 && b.size() >= 1) {
            stop = a.substr(a.size() - 1) + b.substr(0, 1);
            found_at = base.text.find(stop);
            if (found_at >= offset + a.size() - 1) break;  // first occurrence spans the boundary
        }
        offset += a.size();
        stop.clear();
    }
    ASSERT_FALSE(stop.empty()) << base.text;
    opt.stop = {"never appears \x01", stop};
    Collected c;
    auto g = np::infer::generate(dec, tok, prompt, opt, c.callback());
    EXPECT_EQ(g.stop_reason, np::infer::StopReason::StopString);
    EXPECT_EQ(g.text, base.text.substr(0, found_at));
    EXPECT_EQ(c.all, g.text);
    if (g.text.find("think>") == std::string::npos) {
        EXPECT_EQ(g.answer, g.text);
    }
    opt.stop = {""};
    EXPECT_THROW(np::infer::generate(dec, tok, prompt, opt), np::Error);
}

TEST(Generate, TextStreamHoldsBackStopPrefixesAndPartialUtf8) {
    std::vector<std::string> got;
    auto cb = [&](std::string_view p, bool) { got.emplace_back(p); };
    {
        np::infer::TextStream s({"STOP"}, cb);
        EXPECT_FALSE(s.push("ab S", false));
        EXPECT_EQ(got, std::vector<std::string>{"ab "});
        EXPECT_FALSE(s.push("T", false));
        EXPECT_FALSE(s.push("x", false));  // "STx" can no longer become STOP: released
        EXPECT_EQ(got.back(), "STx");
        EXPECT_FALSE(s.push("yS", false));
        EXPECT_TRUE(s.push("TOP tail", false));
        EXPECT_EQ(s.text(), "ab STxy");
        s.finish();
        std::string all;
        for (auto& p : got) all += p;
        EXPECT_EQ(all, "ab STxy");
    }
    got.clear();
    {
        // "è" = C3 A8 and "€" = E2 82 AC split across pushes: never half a character.
        np::infer::TextStream s({}, cb);
        s.push("a\xC3", false);
        EXPECT_EQ(got, std::vector<std::string>{"a"});
        s.push("\xA8\xE2\x82", false);
        EXPECT_EQ(got.back(), "\xC3\xA8");
        s.push("\xAC", false);
        EXPECT_EQ(got.back(), "\xE2\x82\xAC");
        s.push("\xC3", false);
        s.finish();  // the end flushes even an incomplete character
        EXPECT_EQ(got.back(), "\xC3");
    }
    got.clear();
    {
        // Thinking and answer bytes come as separate pieces; the earliest stop string wins.
        std::vector<std::pair<std::string, bool>> flagged;
        np::infer::TextStream s({"cd", "bc"}, [&](std::string_view p, bool th) {
            flagged.emplace_back(std::string(p), th);
        });
        s.push("<think>", true, false);
        s.push("a", true);
        s.push("b", false);
        EXPECT_TRUE(s.push("cd", false));
        EXPECT_EQ(s.text(), "<think>a");
        std::vector<std::pair<std::string, bool>> want{{"<think>", true}, {"a", true}};
        EXPECT_EQ(flagged, want);
    }
}

}  // namespace

// A tiny model whose logit for one special token is raised by 100 whenever `when(n_past)` holds.
struct Pushy final : np::infer::Decoder {
    np::infer::ReferenceDecoder inner;
    int32_t token;
    bool (*when)(int64_t);
    Pushy(np::infer::ReferenceDecoder d, int32_t t, bool (*w)(int64_t))
        : inner(std::move(d)), token(t), when(w) {}
    const np::ModelConfig& config() const override { return inner.config(); }
    std::string name() const override { return "pushy"; }
    void reset() override { inner.reset(); }
    int64_t n_past() const override { return inner.n_past(); }
    void prefill(std::span<const int32_t> tokens, std::span<float> logits) override {
        inner.prefill(tokens, logits);
        if (when(inner.n_past())) logits[token] += 100;
    }
};

// Each turn after one that ended with <|im_end|> continues the decoder's own tokens (the earlier
// reply, thinking included) and prefills only the new turn; the reply equals what a fresh decoder
// generates from the same tokens, and the state equals a full prefill of the context.
TEST(Generate, ChatReusesDecoderState) {
    const auto& tok = tiny_tokenizer();
    // A decoder that wants to end its turn every fifth position, so replies end with <|im_end|>.
    const auto ends_often = [](int64_t n) { return n % 5 == 0; };
    Pushy dec(tiny_decoder(5), Tokenizer::kImEnd, ends_often);
    np::infer::ChatSession chat(dec, tok, "Be brief.");
    np::infer::GenerateOptions opt;
    opt.mode = ThinkMode::On;
    opt.max_tokens = 12;
    std::vector<int32_t> before;
    for (const char* q : {"What is 1 + 2?", "And 3 + 4?", "the answer"}) {
        auto g = chat.reply(q, opt);
        ASSERT_EQ(g.tokens.back(), Tokenizer::kImEnd);
        const auto& ctx = chat.context();
        const size_t prompt_len = ctx.size() - (g.tokens.size() - 1);
        const std::vector<int32_t> prompt(ctx.begin(), ctx.begin() + ptrdiff_t(prompt_len));
        EXPECT_EQ(chat.last_reused(), before.size());
        if (!before.empty()) {
            ASSERT_GT(prompt.size(), before.size());
            EXPECT_TRUE(std::equal(before.begin(), before.end(), prompt.begin()));
            EXPECT_EQ(prompt[before.size()], Tokenizer::kImEnd);
            // The new turn is the renderer's, after its <|endoftext|>.
            const auto turn = np::infer::render_chat(tok, {{"user", q}}, opt.mode);
            EXPECT_TRUE(std::equal(turn.begin() + 1, turn.end(),
                                   prompt.end() - ptrdiff_t(turn.size() - 1)));
        }
        Pushy fresh(tiny_decoder(5), Tokenizer::kImEnd, ends_often);
        EXPECT_EQ(np::infer::generate(fresh, tok, prompt, opt).tokens, g.tokens);
        EXPECT_EQ(dec.n_past(), int64_t(ctx.size()));
        before = ctx;
    }
    ASSERT_EQ(chat.history().size(), 7u);
    EXPECT_EQ(chat.history()[0].role, "system");
    // Same state: one more token gives the same logits as a full prefill of the context.
    auto fresh = tiny_decoder(5);
    auto ctx = chat.context();
    ctx.push_back(Tokenizer::kImEnd);
    std::vector<float> a(size_t(dec.config().vocab_size)), b(a.size());
    dec.inner.step(Tokenizer::kImEnd, a);
    fresh.prefill(ctx, b);
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5f) << i;
    chat.reset();
    EXPECT_EQ(chat.history().size(), 1u);
    EXPECT_EQ(dec.n_past(), 0);
}

// A reply cut by max_tokens leaves its turn open: the next turn renders the whole history (the
// earlier reasoning emptied) and prefills it, giving the same reply as a fresh decoder.
TEST(Generate, ChatRePrefillsAfterAnOpenTurn) {
    const auto& tok = tiny_tokenizer();
    auto dec = tiny_decoder(4);
    np::infer::ChatSession chat(dec, tok);
    np::infer::GenerateOptions opt;
    opt.mode = ThinkMode::On;
    opt.think_budget = 2;
    opt.max_tokens = 2;  // too few to close the think block, let alone the turn
    chat.reply("What is 1 + 2?", opt);
    EXPECT_EQ(chat.last_reused(), 0u);
    EXPECT_EQ(chat.history().back().content.find("<think>"), std::string::npos);
    auto g = chat.reply("And 3 + 4?", opt);
    EXPECT_EQ(chat.last_reused(), 0u);
    auto fresh = tiny_decoder(4);
    std::vector<np::infer::ChatMessage> before(chat.history().begin(), chat.history().end() - 1);
    EXPECT_EQ(
        np::infer::generate(fresh, tok, np::infer::render_chat(tok, before, opt.mode), opt).tokens,
        g.tokens);
}

TEST(Generate, ThinkMinReplacesAnEarlyCloseWithWait) {
    const auto& tok = tiny_tokenizer();
    // It tries to end its thinking on every other step.
    Pushy dec(tiny_decoder(3), Tokenizer::kThinkEnd, [](int64_t n) { return n % 2 == 0; });
    const auto prompt = np::infer::build_prompt(tok, "What is 1 + 2?", ThinkMode::On);
    np::infer::GenerateOptions opt;
    opt.mode = ThinkMode::On;
    opt.max_tokens = 60;
    auto g = np::infer::generate(dec, tok, prompt, opt);
    // Without think_min the block closes at the first chance once it holds a thought.
    ASSERT_NE(g.text.find("</think>"), std::string::npos);
    EXPECT_LE(g.thinking_tokens, 4);
    EXPECT_EQ(g.waits, 0);
    // A one-token wait text keeps the closer's rhythm: every other step it tries to close.
    opt.think_min = 6;
    opt.wait_text = "\n";
    ASSERT_EQ(tok.encode("\n").size(), 1u);
    g = np::infer::generate(dec, tok, prompt, opt);
    EXPECT_GE(g.waits, 5);
    const size_t close = g.text.find("</think>");
    ASSERT_NE(close, std::string::npos) << g.text;
    // The block closed only once the minimum was thought (the wait tokens do not count).
    EXPECT_GE(g.thinking_tokens, 6);
    EXPECT_LE(g.thinking_tokens, 7);
    opt.think_budget = 4;
    EXPECT_THROW(np::infer::validate(opt), np::Error);
    opt.think_budget = -1;
    opt.think_min = -1;
    EXPECT_THROW(np::infer::validate(opt), np::Error);
}

TEST(Generate, ThinkOnThinksBeforeClosing) {
    const auto& tok = tiny_tokenizer();
    // It always wants to close the block (or end the turn) at once.
    for (int32_t closer : {Tokenizer::kThinkEnd, Tokenizer::kImEnd}) {
        Pushy dec(tiny_decoder(6), closer, [](int64_t) { return true; });
        np::infer::GenerateOptions opt;
        opt.mode = ThinkMode::On;
        opt.max_tokens = 12;
        const auto g = np::infer::generate(
            dec, tok, np::infer::build_prompt(tok, "1 + 2?", ThinkMode::On), opt);
        EXPECT_NE(g.thinking.find_first_not_of(" \t\r\n"), std::string::npos)
            << "an empty think block: " << g.text;
        EXPECT_EQ(g.tokens.back(), closer) << "it closes as soon as it may";
    }
}

TEST(Generate, ThinkOffNeverOpensNorClosesABlock) {
    const auto& tok = tiny_tokenizer();
    // It always wants to open a think block: with thinking off it never can.
    Pushy dec(tiny_decoder(4), Tokenizer::kThink, [](int64_t) { return true; });
    np::infer::GenerateOptions opt;
    opt.max_tokens = 8;
    opt.mode = ThinkMode::Auto;
    auto g =
        np::infer::generate(dec, tok, np::infer::build_prompt(tok, "1 + 2?", ThinkMode::Auto), opt);
    EXPECT_EQ(g.tokens.front(), Tokenizer::kThink);  // the premise: it wants to think
    opt.mode = ThinkMode::Off;
    g = np::infer::generate(dec, tok, np::infer::build_prompt(tok, "1 + 2?", ThinkMode::Off), opt);
    EXPECT_EQ(std::count(g.tokens.begin(), g.tokens.end(), Tokenizer::kThink), 0);
    EXPECT_EQ(g.thinking_tokens, 0);
    // Nor can it close a block it never opened (reasoning written as the answer, then </think>).
    Pushy closer(tiny_decoder(4), Tokenizer::kThinkEnd, [](int64_t) { return true; });
    g = np::infer::generate(closer, tok, np::infer::build_prompt(tok, "1 + 2?", ThinkMode::Off),
                            opt);
    EXPECT_EQ(std::count(g.tokens.begin(), g.tokens.end(), Tokenizer::kThinkEnd), 0);
    EXPECT_EQ(g.answer, g.text);
}

// Off prefills the empty block only; the newlines the model writes after it are layout, not
// reply: neither streamed nor in the text.
TEST(Generate, ThinkOffHidesTheNewlinesAfterTheBlock) {
    const auto& tok = tiny_tokenizer();
    const auto prompt = np::infer::build_prompt(tok, "1 + 2?", ThinkMode::Off);
    static int64_t layout_end;  // the model writes "\n\n" at the first two positions after it
    layout_end = int64_t(prompt.size()) + 2;
    Pushy dec(tiny_decoder(4), tok.encode("\n")[0], [](int64_t n) { return n < layout_end; });
    np::infer::GenerateOptions opt;
    opt.mode = ThinkMode::Off;
    opt.max_tokens = 6;
    Collected c;
    const auto g = np::infer::generate(dec, tok, prompt, opt, c.callback());
    ASSERT_GE(g.tokens.size(), 3u);
    EXPECT_EQ(g.tokens[0], tok.encode("\n")[0]);  // the premise: it wrote newlines first
    EXPECT_EQ(g.tokens[1], tok.encode("\n")[0]);
    EXPECT_TRUE(g.text.empty() || g.text.front() != '\n') << g.text;
    EXPECT_EQ(c.all, g.text);
    EXPECT_EQ(g.answer, g.text);
}
