// nanoprime generate / chat: streamed text generation on any model infer::load_model opens, with
// the thinking modes, a thinking budget, sampling flags and stop strings.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "cli/line_reader.h"
#include "core/error.h"
#include "infer/generate.h"
#include "infer/model_loader.h"
#include "tokenizer/role_specials.h"

namespace np::cli {

namespace {

struct CommonArgs {
    std::string model, tokenizer, think = "auto", wait_text = "Wait";
    int think_budget = -1, think_min = 0, max_tokens = 256, threads = 0, ctx = 0;
    std::vector<std::string> stop;
    bool reference = false;
    SamplingArgs sampling;
};

void add_common_flags(CLI::App* c, CommonArgs& a) {
    c->add_option("-m,--model", a.model, "Checkpoint directory or .gguf file")->required();
    c->add_option("--tokenizer", a.tokenizer, "tokenizer.json (default: the model's own)");
    c->add_option("--think-budget", a.think_budget,
                  "Force </think> after this many thinking tokens (-1: no limit)")
        ->capture_default_str();
    c->add_option("--think-min", a.think_min,
                  "Think at least this many tokens: an earlier </think> becomes --wait (s1)")
        ->capture_default_str();
    c->add_option("--wait", a.wait_text, "Text that replaces an early </think> (--think-min)")
        ->capture_default_str();
    c->add_option("-n,--max-tokens,--n-predict", a.max_tokens, "Generated tokens per reply")
        ->capture_default_str();
    add_threads_flag(c, a.threads);
    add_ctx_flag(c, a.ctx);
    c->add_option("--stop", a.stop, "Stop before this string (repeatable)")
        ->allow_extra_args(false);
    c->add_flag("--reference", a.reference,
                "Checkpoint directories: run the fp32 reference decoder, not the packed engine");
    add_sampling_flags(c, a.sampling);
}

// The model's context unless -c/--ctx-size narrows (or widens) it.
infer::GenerateOptions generate_options(const CommonArgs& a, const infer::LoadedModel& m) {
    if (a.think_budget < -1)
        fail("--think-budget: expected >= 0 or -1 (no limit), got " +
             std::to_string(a.think_budget));
    infer::GenerateOptions o;
    o.mode = infer::parse_think_mode(a.think);
    o.think_budget = a.think_budget;
    o.think_min = a.think_min;
    o.wait_text = a.wait_text;
    o.max_tokens = a.max_tokens;
    o.ctx = a.ctx > 0 ? a.ctx : m.decoder->config().max_seq_len;
    o.stop = a.stop;
    o.sampling = sampler_options(a.sampling);
    infer::validate(o);
    return o;
}

infer::LoadedModel open_model(const CommonArgs& a) {
    apply_threads(a.threads);
    auto m = infer::load_model(a.model, {a.reference, a.tokenizer});
    require_nanoprime_specials(m.tokenizer, "--model " + a.model);
    return m;
}

// Streams pieces to stdout; on a terminal the think block is dim, elsewhere its tags show it.
class Printer {
public:
    Printer() : tty_(isatty(STDOUT_FILENO) != 0) {}
    void operator()(std::string_view piece, bool thinking) {
        if (tty_ && thinking != dim_) {
            std::fputs(thinking ? "\x1b[2m" : "\x1b[0m", stdout);
            dim_ = thinking;
        }
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
    }
    void end() {
        if (dim_) std::fputs("\x1b[0m", stdout);
        dim_ = false;
        std::fputc('\n', stdout);
        std::fflush(stdout);
    }

private:
    bool tty_, dim_ = false;
};

double per_second(double n, double s) {
    return s > 0 ? n / s : 0.0;
}

struct GenerateArgs : CommonArgs {
    std::string prompt, prompt_file;
    bool chat = false, json = false;
};

void run_generate(const GenerateArgs& a) {
    const std::string text =
        a.prompt_file.empty() ? a.prompt : read_prompt_file(a.prompt_file, "-f/--prompt-file");
    auto m = open_model(a);
    auto opt = generate_options(a, m);
    if (!a.chat) opt.mode = infer::ThinkMode::Auto;
    std::vector<int32_t> prompt;
    if (a.chat) {
        prompt = infer::build_prompt(m.tokenizer, text, opt.mode);
    } else {
        prompt.push_back(special_ids_of(m.tokenizer).end_of_text);
        m.tokenizer.encode_into(text, false, prompt);
    }
    Printer print;
    infer::StreamCallback cb;
    if (!a.json) cb = [&](std::string_view p, bool th) { print(p, th); };
    auto g = infer::generate(*m.decoder, m.tokenizer, prompt, opt, cb);
    if (!a.json) print.end();
    const double n_gen = double(g.tokens.size());
    if (a.json) {
        nlohmann::json j = {
            {"text", g.text},
            {"thinking", g.thinking},
            {"answer", g.answer},
            {"tokens", g.tokens},
            {"stop_reason", infer::stop_reason_name(g.stop_reason)},
            {"thinking_tokens", g.thinking_tokens},
            {"forced_close", g.forced_close},
            {"seed", opt.sampling.seed},
            {"decoder", m.decoder->name()},
            {"timings",
             {{"prompt_tokens", g.prompt_tokens},
              {"prompt_seconds", g.prefill_seconds},
              {"prompt_tok_s", per_second(double(g.prompt_tokens), g.prefill_seconds)},
              {"generated_tokens", g.tokens.size()},
              {"gen_seconds", g.decode_seconds},
              {"gen_tok_s", per_second(n_gen, g.decode_seconds)}}}};
        // An untrained model's output may hold invalid UTF-8.
        std::printf("%s\n",
                    j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    }
    std::fprintf(stderr,
                 "[generate] prompt %lld tokens, %.1f tok/s | generated %zu tokens, %.1f tok/s | "
                 "stop: %s | seed %llu\n",
                 (long long)g.prompt_tokens, per_second(double(g.prompt_tokens), g.prefill_seconds),
                 g.tokens.size(), per_second(n_gen, g.decode_seconds),
                 infer::stop_reason_name(g.stop_reason), (unsigned long long)opt.sampling.seed);
}

struct ChatArgs : CommonArgs {
    std::string system;
};

constexpr const char* kChatHelp =
    "commands:\n"
    "  /help                  this list\n"
    "  /reset                 forget the conversation (the system prompt stays)\n"
    "  /think on|off|auto     thinking mode of the next replies\n"
    "  /budget N              thinking budget in tokens (-1: no limit)\n"
    "  /quit, /exit, Ctrl-D   leave";

void run_chat(const ChatArgs& a) {
    auto m = open_model(a);
    auto opt = generate_options(a, m);
    const auto& cfg = m.decoder->config();
    std::fprintf(stderr,
                 "nanoprime chat: %s (%s decoder, %d layers, d_model %d, max_seq_len %d), "
                 "context %lld, think %s, seed %llu (/help for commands)\n",
                 a.model.c_str(), m.decoder->name().c_str(), cfg.n_layers, cfg.d_model,
                 cfg.max_seq_len, (long long)opt.ctx, infer::think_mode_name(opt.mode),
                 (unsigned long long)opt.sampling.seed);
    infer::ChatSession session(*m.decoder, m.tokenizer, a.system);
    LineReader input("> ");
    Printer print;
    std::string line;
    while (input.read(line)) {
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        if (line[0] == '/') {
            const auto sp = line.find(' ');
            const std::string cmd = line.substr(0, sp);
            const std::string arg = sp == std::string::npos ? "" : line.substr(sp + 1);
            if (cmd == "/quit" || cmd == "/exit") break;
            if (cmd == "/help") {
                std::fprintf(stderr, "%s\n", kChatHelp);
            } else if (cmd == "/budget") {
                try {
                    size_t used = 0;
                    const int b = std::stoi(arg, &used);
                    if (used != arg.size() || b < -1) throw std::invalid_argument(arg);
                    opt.think_budget = b;
                    infer::validate(opt);
                    std::fprintf(stderr, "[thinking budget %d]\n", b);
                } catch (const std::exception&) {
                    std::fprintf(stderr, "error: /budget: expected an integer >= -1, got '%s'\n",
                                 arg.c_str());
                }
            } else if (cmd == "/reset") {
                session.reset();
                std::fputs("[conversation cleared]\n", stderr);
            } else if (cmd == "/think") {
                try {
                    opt.mode = infer::parse_think_mode(arg);
                    std::fprintf(stderr, "[think %s]\n", infer::think_mode_name(opt.mode));
                } catch (const Error&) {
                    std::fprintf(stderr, "error: /think: expected on | off | auto, got '%s'\n",
                                 arg.c_str());
                }
            } else {
                std::fprintf(stderr, "unknown command %s (/help lists them)\n", cmd.c_str());
            }
            continue;
        }
        infer::Generation g;
        try {
            g = session.reply(line, opt, [&](std::string_view p, bool th) { print(p, th); });
        } catch (const Error& e) {
            // A full context (or any error of one turn) ends the turn, not the session.
            std::fprintf(stderr, "error: %s\n", e.what());
            continue;
        }
        print.end();
        std::fprintf(stderr,
                     "[prompt %lld tokens (%zu reused), %.1f tok/s | generated %zu tokens, %.1f "
                     "tok/s | stop: %s]\n",
                     (long long)g.prompt_tokens, session.last_reused(),
                     per_second(double(g.prompt_tokens), g.prefill_seconds), g.tokens.size(),
                     per_second(double(g.tokens.size()), g.decode_seconds),
                     infer::stop_reason_name(g.stop_reason));
        if (g.stop_reason == infer::StopReason::ContextFull)
            std::fprintf(stderr,
                         "[the conversation filled the context of %lld tokens; /reset starts "
                         "over]\n",
                         (long long)opt.ctx);
    }
}

}  // namespace

void register_generate_commands(CLI::App& app) {
    auto g = std::make_shared<GenerateArgs>();
    auto* c = app.add_subcommand(
        "generate", "Continue a prompt (or answer it as a chat turn with --chat), streamed");
    add_common_flags(c, *g);
    auto* prompt = c->add_option("-p,--prompt", g->prompt, "Prompt text");
    auto* file = c->add_option("-f,--prompt-file,--file", g->prompt_file,
                               "Read the prompt from a file (-: standard input)");
    prompt->excludes(file);
    auto* chat = c->add_flag("--chat", g->chat,
                             "The prompt is a user turn (ChatML), answered in the --think mode");
    c->add_option("--think", g->think, "With --chat: on | off | auto")
        ->capture_default_str()
        ->needs(chat);
    c->add_flag("--json", g->json,
                "Print one JSON object {text, thinking, answer, tokens, stop_reason, timings}");
    c->callback([g, prompt, file] {
        if (prompt->count() == 0 && file->count() == 0)
            fail("generate: give -p/--prompt TEXT or -f/--prompt-file FILE (- for stdin)");
        run_generate(*g);
    });

    auto h = std::make_shared<ChatArgs>();
    h->max_tokens = 1024;
    auto* r = app.add_subcommand(
        "chat", "Multi-turn chat on stdin with line editing and history (/help), streamed");
    add_common_flags(r, *h);
    r->add_option("--system", h->system, "System prompt");
    r->add_option("--think", h->think, "on | off | auto")->capture_default_str();
    r->callback([h] { run_chat(*h); });
}

}  // namespace np::cli
