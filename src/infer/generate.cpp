#include "infer/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "tokenizer/role_specials.h"

namespace np::infer {

ThinkMode parse_think_mode(std::string_view s) {
    if (s == "on") return ThinkMode::On;
    if (s == "off") return ThinkMode::Off;
    if (s == "auto") return ThinkMode::Auto;
    fail("--think: expected on | off | auto, got '" + std::string(s) + "'");
}

const char* think_mode_name(ThinkMode m) {
    switch (m) {
        case ThinkMode::On:
            return "on";
        case ThinkMode::Off:
            return "off";
        case ThinkMode::Auto:
            return "auto";
    }
    return "auto";
}

const char* stop_reason_name(StopReason r) {
    switch (r) {
        case StopReason::EndOfTurn:
            return "end_of_turn";
        case StopReason::StopString:
            return "stop_string";
        case StopReason::MaxTokens:
            return "max_tokens";
        case StopReason::ContextFull:
            return "context_full";
    }
    return "max_tokens";
}

namespace {

// The tokenizer behind the data pipeline's encoder interface, so chats render exactly as
// `data prepare` renders training conversations.
struct TokenizerEncoder final : data::TextEncoder {
    const Tokenizer& tok;
    explicit TokenizerEncoder(const Tokenizer& t) : tok(t) {}
    std::vector<int32_t> encode(std::string_view text) const override { return tok.encode(text); }
    int32_t vocab_size() const override { return tok.vocab_size(); }
    SpecialIds specials() const override { return special_ids_of(tok); }
};

// The tokens of `s` when more text follows it inside the same run, as in training: GPT-2
// pre-tokenisation cuts "\n\nThe" into "\n" "\n" "The", while "\n\n" alone is one word.
std::vector<int32_t> encode_before_text(const Tokenizer& tok, std::string_view s) {
    auto ids = tok.encode(std::string(s) + "A");
    for (size_t n = ids.size(); n > 0; --n)
        if (tok.decode({ids.data(), n}) == s) return {ids.begin(), ids.begin() + ptrdiff_t(n)};
    return tok.encode(s);
}

bool is_space(char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

std::string trim(std::string_view s, bool right = true) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (right && !s.empty() && is_space(s.back())) s.remove_suffix(1);
    return std::string(s);
}

std::string remove_all(std::string s, std::string_view what) {
    for (size_t p; (p = s.find(what)) != std::string::npos;) s.erase(p, what.size());
    return s;
}

// Length in bytes of the UTF-8 sequence a lead byte starts (1 for ASCII and invalid bytes).
size_t utf8_length(unsigned char c) {
    if (c < 0xC0) return 1;
    if (c < 0xE0) return 2;
    if (c < 0xF0) return 3;
    if (c < 0xF8) return 4;
    return 1;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

std::vector<int32_t> think_prefill(const Tokenizer& tok, ThinkMode mode) {
    const SpecialIds sp = special_ids_of(tok);
    std::vector<int32_t> ids;
    switch (mode) {
        case ThinkMode::On:
            ids.push_back(sp.think);
            for (int32_t t : encode_before_text(tok, "\n")) ids.push_back(t);
            break;
        case ThinkMode::Off:
            // The block only: how the "\n\n" after it is tokenized depends on the answer that
            // follows (a digit splits off, so "\n\n5" keeps "\n\n" whole, while "\n\nThe" is
            // "\n" "\n" "The"), so the model writes it, as it learned to.
            ids.push_back(sp.think);
            tok.encode_into("\n\n", false, ids);
            ids.push_back(sp.think_end);
            break;
        case ThinkMode::Auto:
            break;
    }
    return ids;
}

std::vector<int32_t> render_chat(const Tokenizer& tok, const std::vector<ChatMessage>& history,
                                 ThinkMode mode) {
    data::Document doc;
    doc.is_chat = true;
    for (const auto& m : history) {
        if (m.role != "assistant") {
            doc.messages.push_back(m);
            continue;
        }
        std::string reasoning, answer;
        data::split_thinking(m.content, reasoning, answer);
        doc.messages.push_back({m.role, answer});
    }
    auto ids = data::tokenize_document(doc, TokenizerEncoder(tok)).ids;
    ids.push_back(special_ids_of(tok).im_start);
    tok.encode_into("assistant\n", false, ids);
    auto pre = think_prefill(tok, mode);
    ids.insert(ids.end(), pre.begin(), pre.end());
    return ids;
}

std::vector<int32_t> build_prompt(const Tokenizer& tok, std::string_view question, ThinkMode mode) {
    return render_chat(tok, {{"user", std::string(question)}}, mode);
}

void validate(const GenerateOptions& opt) {
    validate(opt.sampling);
    if (opt.max_tokens < 1)
        fail("--max-tokens: expected >= 1, got " + std::to_string(opt.max_tokens));
    if (opt.ctx < 0) fail("--ctx-size: expected >= 0, got " + std::to_string(opt.ctx));
    for (const auto& s : opt.stop)
        if (s.empty()) fail("--stop: stop strings must not be empty");
    if (opt.think_min < 0) fail("--think-min: expected >= 0, got " + std::to_string(opt.think_min));
    if (opt.think_min > 0 && opt.think_budget >= 0 && opt.think_min > opt.think_budget)
        fail("--think-min: " + std::to_string(opt.think_min) + " is above --think-budget " +
             std::to_string(opt.think_budget));
    if (opt.think_min > 0 && opt.wait_text.empty())
        fail("--wait: the text that replaces an early </think> must not be empty");
}

TextStream::TextStream(std::vector<std::string> stop, StreamCallback on_piece)
    : stop_(std::move(stop)), on_piece_(std::move(on_piece)) {}

void TextStream::emit(size_t end) {
    while (emitted_ < end) {
        size_t run = emitted_;
        while (run < end && thinking_[run] == thinking_[emitted_]) ++run;
        if (on_piece_)
            on_piece_(std::string_view(text_).substr(emitted_, run - emitted_),
                      thinking_[emitted_] != 0);
        emitted_ = run;
    }
}

bool TextStream::push(std::string_view bytes, bool thinking, bool stoppable) {
    text_.append(bytes);
    thinking_.insert(thinking_.end(), bytes.size(), uint8_t(thinking));
    if (!stoppable) {
        emit(text_.size());
        scan_from_ = text_.size();
        return false;
    }
    size_t found = std::string::npos;
    for (const auto& s : stop_) found = std::min(found, text_.find(s, scan_from_));
    if (found != std::string::npos) {
        text_.resize(found);
        thinking_.resize(found);
        emit(found);
        return true;
    }
    // A stop string can only still start where the text's tail is a proper prefix of one.
    size_t hold = text_.size();
    for (const auto& s : stop_)
        for (size_t len = std::min(s.size() - 1, text_.size() - scan_from_); len > 0; --len)
            if (text_.compare(text_.size() - len, len, s, 0, len) == 0) {
                hold = std::min(hold, text_.size() - len);
                break;
            }
    scan_from_ = hold;
    // Hold back a UTF-8 character whose continuation bytes have not arrived yet.
    for (size_t back = 1; back <= 4 && back <= hold - emitted_; ++back) {
        const auto c = static_cast<unsigned char>(text_[hold - back]);
        if ((c & 0xC0) == 0x80) continue;
        if (utf8_length(c) > back) hold -= back;
        break;
    }
    emit(hold);
    return false;
}

void TextStream::finish() {
    emit(text_.size());
}

GenerationState::GenerationState(const Tokenizer& tok, std::span<const int32_t> prompt,
                                 const GenerateOptions& opt, StreamCallback on_piece)
    : tok_(tok),
      opt_(opt),
      sp_(special_ids_of(tok)),
      usable_(0),
      prompt_size_(int64_t(prompt.size())),
      sampler_((validate(opt), opt.sampling)),
      stream_(opt.stop, std::move(on_piece)) {
    if (!sp_.has_chat() || sp_.end_of_text < 0)
        fail("generate: the tokenizer lacks NanoPrime's special tokens (see tokenizer convert)");
    if (opt.ctx > 0 && int64_t(prompt.size()) >= opt.ctx)
        fail("generate: the prompt is " + std::to_string(prompt.size()) +
             " tokens, which leaves no room in the context of " + std::to_string(opt.ctx) +
             " tokens (-c/--ctx-size; shorten the prompt or raise the context)");
    usable_ = size_t(tok.vocab_size());
    const size_t window = size_t(opt.sampling.repeat_last_n);
    for (size_t i = prompt.size() > window ? prompt.size() - window : 0; i < prompt.size(); ++i)
        sampler_.accept(prompt[i]);
    // Off's empty block is part of the prompt, not of the reply: it is not shown.
    if (opt.mode != ThinkMode::Off)
        for (int32_t t : think_prefill(tok, opt.mode))
            stream_.push(tok.id_to_bytes(t), thinking_piece(t), false);
}

// Whether a token's bytes belong to the think block (its tags included); tracks the block.
bool GenerationState::thinking_piece(int32_t t) {
    const bool th = in_think_ || t == sp_.think || t == sp_.think_end;
    if (t == sp_.think) in_think_ = true;
    if (t == sp_.think_end) in_think_ = false;
    return th;
}

int32_t GenerationState::next(std::span<float> logits) {
    if (done_) fail("generate: the generation has ended");
    int32_t next;
    bool was_forced = false;
    if (forced_pos_ < forced_.size()) {
        next = forced_[forced_pos_++];
        was_forced = true;
    } else if (in_think_ && opt_.think_budget >= 0 && g_.thinking_tokens >= opt_.think_budget) {
        forced_.clear();
        const bool newline = !g_.tokens.empty() && !tok_.id_to_bytes(g_.tokens.back()).empty() &&
                             tok_.id_to_bytes(g_.tokens.back()).back() == '\n';
        if (!newline) forced_ = encode_before_text(tok_, "\n");
        forced_.push_back(sp_.think_end);
        for (int32_t t : encode_before_text(tok_, "\n\n")) forced_.push_back(t);
        forced_pos_ = 0;
        next = forced_[forced_pos_++];
        was_forced = true;
        g_.forced_close = true;
    } else {
        // Off means no thinking: a model trained to think on hard problems would otherwise
        // open a second block after the prefilled empty one, or write its reasoning and close
        // a block that was never opened.
        if (opt_.mode == ThinkMode::Off)
            for (int32_t t : {sp_.think, sp_.think_end}) logits[size_t(t)] = -INFINITY;
        // On means thinking happens: until the block holds more than whitespace it can be
        // neither closed nor the turn ended (a model used to answering directly would close
        // the prefilled block at once).
        if (opt_.mode == ThinkMode::On && in_think_ && !thought_)
            for (int32_t t : {sp_.think_end, sp_.im_end, sp_.end_of_text})
                logits[size_t(t)] = -INFINITY;
        if (opt_.ignore_eos)
            for (int32_t t : {sp_.im_end, sp_.end_of_text}) logits[size_t(t)] = -INFINITY;
        next = sampler_.sample(logits.first(std::min(usable_, logits.size())));
        if (next == sp_.think_end && in_think_ && g_.thinking_tokens < opt_.think_min) {
            forced_ = encode_before_text(tok_, opt_.wait_text);
            forced_pos_ = 0;
            next = forced_[forced_pos_++];
            was_forced = true;
            g_.waits++;
        }
    }
    g_.tokens.push_back(next);
    sampler_.accept(next);
    if (sp_.is_end(next)) {
        g_.stop_reason = StopReason::EndOfTurn;
        done_ = true;
        return next;
    }
    if (in_think_ && !was_forced && next != sp_.think_end) {
        g_.thinking_tokens++;
        const std::string& bytes = tok_.id_to_bytes(next);
        thought_ |= bytes.find_first_not_of(" \t\r\n") != std::string::npos;
    }
    // Off: the whitespace the model writes after the prefilled empty block belongs to the block's
    // layout, not to the reply (the block itself is not shown either).
    const std::string& bytes = tok_.id_to_bytes(next);
    const bool layout = opt_.mode == ThinkMode::Off && stream_.text().empty() &&
                        bytes.find_first_not_of(" \t\r\n") == std::string::npos;
    if (!layout && stream_.push(bytes, thinking_piece(next))) {
        g_.stop_reason = StopReason::StopString;
        done_ = true;
    } else if (int(g_.tokens.size()) >= opt_.max_tokens) {
        g_.stop_reason = StopReason::MaxTokens;
        done_ = true;
    } else if (opt_.ctx > 0 && prompt_size_ + int64_t(g_.tokens.size()) >= opt_.ctx) {
        g_.stop_reason = StopReason::ContextFull;
        done_ = true;
    }
    return next;
}

Generation GenerationState::finish() {
    stream_.finish();
    Generation g = g_;
    g.text = stream_.text();
    const size_t open = g.text.find("<think>"), close = g.text.find("</think>");
    if (close != std::string::npos) {
        const size_t body = open != std::string::npos && open < close ? open + 7 : 0;
        g.thinking = trim(std::string_view(g.text).substr(body, close - body));
        g.answer = trim(std::string_view(g.text).substr(close + 8), false);
    } else if (open != std::string::npos) {
        g.thinking = trim(std::string_view(g.text).substr(open + 7));
    } else {
        g.answer = g.text;
    }
    return g;
}

Generation generate(Decoder& dec, const Tokenizer& tok, std::span<const int32_t> prompt,
                    const GenerateOptions& opt, const StreamCallback& on_piece,
                    size_t already_fed) {
    GenerationState state(tok, prompt, opt, on_piece);
    if (prompt.size() <= already_fed)
        fail("generate: the prompt has " + std::to_string(prompt.size()) +
             " tokens, nothing beyond the " + std::to_string(already_fed) +
             " the decoder already holds");
    if (already_fed == 0)
        dec.reset();
    else if (dec.n_past() != int64_t(already_fed))
        fail("generate: the decoder holds " + std::to_string(dec.n_past()) + " tokens, expected " +
             std::to_string(already_fed));
    std::vector<float> logits(static_cast<size_t>(dec.config().vocab_size));
    auto t0 = std::chrono::steady_clock::now();
    dec.prefill(prompt.subspan(already_fed), logits);
    const double prefill_seconds = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    while (true) {
        const int32_t next = state.next(logits);
        if (state.done()) break;
        dec.step(next, logits);
    }
    Generation g = state.finish();
    g.prompt_tokens = int64_t(prompt.size() - already_fed);
    g.prefill_seconds = prefill_seconds;
    g.decode_seconds = seconds_since(t0);
    return g;
}

ChatSession::ChatSession(Decoder& dec, const Tokenizer& tok, std::string system)
    : dec_(dec), tok_(tok), system_(std::move(system)) {
    reset();
}

void ChatSession::reset() {
    history_.clear();
    if (!system_.empty()) history_.push_back({"system", system_});
    context_.clear();
    last_reused_ = 0;
    turn_closed_ = false;
    dec_.reset();
}

Generation ChatSession::reply(std::string_view user, const GenerateOptions& opt,
                              const StreamCallback& on_piece) {
    history_.push_back({"user", std::string(user)});
    try {
        std::vector<int32_t> prompt;
        size_t reuse = 0;
        if (turn_closed_ && dec_.n_past() == int64_t(context_.size())) {
            // The decoder's own tokens go on as they are, the last reply's thinking included:
            // nothing is prefilled twice, and the model reads its earlier reasoning instead of
            // an emptied block that would teach it to stop thinking. The new turn is the
            // renderer's tokens after <|endoftext|> (the "\n" between turns first).
            prompt = context_;
            prompt.push_back(special_ids_of(tok_).im_end);
            tok_.encode_into("\n", false, prompt);
            const auto turn = render_chat(tok_, {history_.back()}, opt.mode);
            prompt.insert(prompt.end(), turn.begin() + 1, turn.end());
            reuse = context_.size();
        } else {
            prompt = render_chat(tok_, history_, opt.mode);
        }
        Generation g = generate(dec_, tok_, prompt, opt, on_piece, reuse);
        last_reused_ = reuse;
        context_.assign(prompt.begin(), prompt.end());
        context_.insert(context_.end(), g.tokens.begin(), g.tokens.end() - 1);
        turn_closed_ = g.tokens.back() == special_ids_of(tok_).im_end;
        // Tag spellings left in the answer would read as a second think block when re-rendered.
        history_.push_back({"assistant", remove_all(remove_all(g.answer, "<think>"), "</think>")});
        return g;
    } catch (...) {
        history_.pop_back();
        context_.clear();
        last_reused_ = 0;
        turn_closed_ = false;
        dec_.reset();
        throw;
    }
}

}  // namespace np::infer
