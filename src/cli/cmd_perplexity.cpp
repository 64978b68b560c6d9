// nanoprime perplexity: llama-perplexity's measurement for any model the loader opens.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "core/error.h"
#include "eval/eval.h"
#include "eval/perplexity.h"
#include "infer/model_loader.h"

namespace np::cli {

namespace {

struct PerplexityArgs {
    std::string model, file, tokenizer;
    int ctx = 0, stride = 0, threads = 0;
    int64_t max_tokens = 0;
    bool reference = false, json = false;
};

void run_perplexity(const PerplexityArgs& a) {
    apply_threads(a.threads);
    const std::string text = read_prompt_file(a.file, "-f/--file");
    auto m = infer::load_model(a.model, {a.reference, a.tokenizer});
    eval::check_tokenizer(m.tokenizer, m.decoder->config().vocab_size,
                          a.tokenizer.empty() ? a.model + " (its tokenizer)" : a.tokenizer);
    std::vector<int32_t> ids = m.tokenizer.encode(text);
    if (a.max_tokens > 0 && int64_t(ids.size()) > a.max_tokens) ids.resize(size_t(a.max_tokens));
    eval::PerplexityOptions opt;
    opt.ctx = a.ctx > 0 ? a.ctx : m.decoder->config().max_seq_len;
    opt.stride = a.stride > 0 ? a.stride : std::max<int64_t>(1, (opt.ctx - 1) / 2);
    const bool tty = isatty(STDERR_FILENO) != 0;
    std::fprintf(stderr,
                 "[perplexity] %s (%s): %zu tokens of %s, windows of %lld tokens every %lld\n",
                 a.model.c_str(), m.decoder->name().c_str(), ids.size(), a.file.c_str(),
                 (long long)opt.ctx, (long long)opt.stride);
    const auto r = eval::perplexity(
        *m.decoder, ids, opt, [&](int64_t done, int64_t total, const eval::PerplexityResult& s) {
            if (!tty && done % std::max<int64_t>(1, total / 10) != 0 && done != total) return;
            std::fprintf(stderr,
                         tty ? "\r[perplexity] window %lld/%lld  ppl %.4f  %.0f tok/s"
                             : "[perplexity] window %lld/%lld  ppl %.4f  %.0f tok/s\n",
                         (long long)done, (long long)total, s.ppl(),
                         s.seconds > 0 ? double(s.tokens) / s.seconds : 0.0);
        });
    if (tty) std::fputc('\n', stderr);
    if (a.json) {
        const nlohmann::json j = {{"model", a.model},
                                  {"decoder", m.decoder->name()},
                                  {"file", a.file},
                                  {"text_tokens", ids.size()},
                                  {"ctx", opt.ctx},
                                  {"stride", opt.stride},
                                  {"scored_tokens", r.tokens},
                                  {"windows", r.windows},
                                  {"mean_nll", r.mean_nll()},
                                  {"ppl", r.ppl()},
                                  {"ppl_stderr", r.ppl_stderr()},
                                  {"seconds", r.seconds}};
        std::printf("%s\n", j.dump(2).c_str());
        return;
    }
    std::printf(
        "perplexity %.4f +/- %.4f (mean NLL %.5f nats over %lld tokens, %lld windows, "
        "%.1f s)\n",
        r.ppl(), r.ppl_stderr(), r.mean_nll(), (long long)r.tokens, (long long)r.windows,
        r.seconds);
}

}  // namespace

void register_perplexity_commands(CLI::App& app) {
    auto a = std::make_shared<PerplexityArgs>();
    auto* c = app.add_subcommand(
        "perplexity",
        "Perplexity of a model (.gguf or checkpoint) on a text file, in sliding windows");
    c->add_option("-m,--model", a->model, "Checkpoint directory or .gguf file")->required();
    c->add_option("-f,--file", a->file, "Text file (-: standard input)")->required();
    c->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default: the model's own)");
    add_ctx_flag(c, a->ctx);
    c->add_option(
         "--stride", a->stride,
         "Tokens between window starts (default: half a window; at most ctx-2, the fastest)")
        ->check(CLI::NonNegativeNumber);
    c->add_option("--max-tokens", a->max_tokens,
                  "Score only the first N tokens of the text (0: all)")
        ->check(CLI::NonNegativeNumber);
    add_threads_flag(c, a->threads);
    c->add_flag("--reference", a->reference,
                "Checkpoint directories: the fp32 reference decoder, not the packed engine");
    c->add_flag("--json", a->json, "Print one JSON object");
    c->callback([a] { run_perplexity(*a); });
}

}  // namespace np::cli
