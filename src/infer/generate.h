// Text generation over any Decoder (issue 5 item 4): ChatML prompts with the three thinking modes
// (DESIGN §3), the thinking budget, stop strings, UTF-8-safe streaming, and multi-turn chat that
// reuses the decoder state while the rendered history only grows.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/chat.h"
#include "infer/decoder.h"
#include "infer/sampler.h"
#include "tokenizer/specials.h"
#include "tokenizer/tokenizer.h"

namespace np::infer {

enum class ThinkMode { On, Off, Auto };

// "on" | "off" | "auto"; anything else throws np::Error naming --think.
ThinkMode parse_think_mode(std::string_view s);
const char* think_mode_name(ThinkMode m);

// The mode's prefill: on "<think>\n", off the empty block "<think>\n\n</think>", auto nothing.
// Tokenized as the training renderer (data::tokenize_document) tokenizes the same text in front of
// an answer.
std::vector<int32_t> think_prefill(const Tokenizer& tok, ThinkMode mode);

// {role, content}; assistant content may hold "<think>...</think>answer".
using ChatMessage = data::Message;

// <|endoftext|>, the history as ChatML (data::tokenize_document: the tokens training saw), then
// "<|im_start|>assistant\n" and the mode's prefill. Assistant turns keep only their answer: their
// think block is rendered empty, as Qwen3 drops the reasoning of earlier turns. Throws np::Error on
// an unknown role.
std::vector<int32_t> render_chat(const Tokenizer& tok, const std::vector<ChatMessage>& history,
                                 ThinkMode mode);
// render_chat of one user turn.
std::vector<int32_t> build_prompt(const Tokenizer& tok, std::string_view question, ThinkMode mode);

struct GenerateOptions {
    // How the prompt ends: On inside the think block of the prefill (which cannot close, nor the
    // turn end, before it holds more than whitespace), Off after the empty block (and neither
    // "<think>" nor "</think>" is ever sampled), Auto at the start of the assistant turn. The
    // prefill's text starts Generation::text, except Off's empty block, which is not part of the
    // reply.
    ThinkMode mode = ThinkMode::Auto;
    int think_budget = -1;  // after this many thinking tokens "</think>" is forced; < 0: no limit
    // s1-style budget forcing the other way: while fewer than think_min tokens were thought, a
    // sampled "</think>" is replaced by wait_text (tokenized inside the block) and thinking goes
    // on. 0: off.
    int think_min = 0;
    std::string wait_text = "Wait";
    int max_tokens = 256;  // generated tokens, forced ones included; >= 1
    // Context limit: the prompt and the generated tokens together; a prompt that fills it is an
    // error, generation stops when it is full. 0: no limit.
    int64_t ctx = 0;
    SamplerOptions sampling;
    std::vector<std::string> stop;  // generation ends before the first occurrence of any of them
    // The turn never ends on its own: <|im_end|> and <|endoftext|> are never sampled, generation
    // runs to max_tokens or the context (load tests and benchmarks; vLLM's and llama-server's
    // ignore_eos).
    bool ignore_eos = false;
};

// Throws np::Error naming the flag (--max-tokens, --stop, the sampling flags).
void validate(const GenerateOptions& opt);

enum class StopReason { EndOfTurn, StopString, MaxTokens, ContextFull };
// "end_of_turn" | "stop_string" | "max_tokens" | "context_full"
const char* stop_reason_name(StopReason r);

struct Generation {
    // Generated and forced tokens, the end token (<|im_end|> or <|endoftext|>) included when
    // reached. The decoder was fed the prompt and all of these but the last.
    std::vector<int32_t> tokens;
    // The mode's prefill text (none for Off) and the generated text, special tokens spelled out,
    // the end token left out, cut before a stop string.
    std::string text;
    std::string thinking;  // the think block's content, trimmed
    // The text after "</think>" with leading whitespace removed; all of the text when there is no
    // think block; "" when the block never closed.
    std::string answer;
    int thinking_tokens = 0;    // tokens generated inside the think block (forced ones excluded)
    bool forced_close = false;  // the budget forced "</think>"
    int waits = 0;              // times think_min replaced a "</think>" with wait_text
    StopReason stop_reason = StopReason::MaxTokens;
    int64_t prompt_tokens = 0;  // prefilled by this call
    double prefill_seconds = 0, decode_seconds = 0;
};

// Receives the output as it is produced: the pieces concatenate to Generation::text. A piece never
// ends inside a UTF-8 character nor inside a possible stop string (those bytes wait for the next
// token). `thinking`: the bytes belong to the think block, its tags included.
using StreamCallback = std::function<void(std::string_view piece, bool thinking)>;

// Turns token bytes into stream pieces; what generate() uses, public for its tests.
class TextStream {
public:
    TextStream(std::vector<std::string> stop, StreamCallback on_piece);
    // Appends bytes. Returns true when a stop string is now complete: the text is cut before it
    // and everything before it was passed on. `stoppable` false: the bytes are passed on whole
    // and no stop string may start inside them (the prefill).
    bool push(std::string_view bytes, bool thinking, bool stoppable = true);
    // Passes on whatever is held back.
    void finish();
    const std::string& text() const { return text_; }

private:
    void emit(size_t end);
    std::vector<std::string> stop_;
    StreamCallback on_piece_;
    std::string text_;
    std::vector<uint8_t> thinking_;  // per byte of text_
    size_t emitted_ = 0;             // text_[0, emitted_) was passed on
    size_t scan_from_ = 0;           // no stop string starts before this
};

// One generation as a state machine, for callers that run the decoder themselves (a server runs
// many at once through one batched step): after the prompt is fed, next(logits) picks the token
// to feed (sampled, or forced by the thinking rules), until done(). The last token it returns when
// done() turns true is not fed. generate() below is the one-sequence loop around it.
class GenerationState {
public:
    // Throws np::Error as generate() does on bad options or a tokenizer without the specials.
    GenerationState(const Tokenizer& tok, std::span<const int32_t> prompt,
                    const GenerateOptions& opt, StreamCallback on_piece = {});
    // logits [V] after the last fed token (masked in place by the thinking rules).
    int32_t next(std::span<float> logits);
    bool done() const { return done_; }
    const Generation& generation() const { return g_; }
    // After done(): the text split into thinking and answer; the stream flushed.
    Generation finish();

private:
    const Tokenizer& tok_;
    GenerateOptions opt_;
    SpecialIds sp_;
    size_t usable_;  // ids past the tokenizer's vocabulary cannot be decoded: never chosen
    int64_t prompt_size_;
    Sampler sampler_;
    TextStream stream_;
    Generation g_;
    bool in_think_ = false, thought_ = false, done_ = false;
    std::vector<int32_t> forced_;
    size_t forced_pos_ = 0;
    bool thinking_piece(int32_t t);
};

// Generates a continuation of `prompt`. The decoder must hold exactly prompt[0, already_fed)
// (checked by count); 0 resets it first. The rest of the prompt is fed with one prefill call,
// then one step per token until an end token, a stop string or max_tokens. Inside the think block,
// once think_budget thinking tokens were generated, "</think>\n\n" is forced (after a "\n" when
// the thinking does not end with one, as the training format has it). The repetition penalty sees
// the whole prompt.
Generation generate(Decoder& dec, const Tokenizer& tok, std::span<const int32_t> prompt,
                    const GenerateOptions& opt, const StreamCallback& on_piece = {},
                    size_t already_fed = 0);

// A conversation over one decoder. When the last reply ended its turn (<|im_end|>), the next
// prompt is the decoder's own tokens, that reply's thinking included, then the new user turn as
// render_chat tokenizes it: only the new turn is prefilled. Otherwise (the first turn, a reply cut
// by max_tokens or a stop string) the whole history is rendered by render_chat (earlier thinking
// emptied) and prefilled.
class ChatSession {
public:
    ChatSession(Decoder& dec, const Tokenizer& tok, std::string system = "");
    // Adds the user turn, generates the reply and adds its answer to the history. On an error the
    // user turn is dropped again and the decoder reset.
    Generation reply(std::string_view user, const GenerateOptions& opt,
                     const StreamCallback& on_piece = {});
    // Forgets the conversation (the system prompt stays) and resets the decoder.
    void reset();
    const std::vector<ChatMessage>& history() const { return history_; }
    // The tokens the decoder holds.
    const std::vector<int32_t>& context() const { return context_; }
    // Prompt tokens of the last reply that were already in the decoder (0: full prefill).
    size_t last_reused() const { return last_reused_; }

private:
    Decoder& dec_;
    const Tokenizer& tok_;
    std::string system_;
    std::vector<ChatMessage> history_;
    std::vector<int32_t> context_;
    size_t last_reused_ = 0;
    bool turn_closed_ = false;  // the last reply ended with <|im_end|>
};

}  // namespace np::infer
