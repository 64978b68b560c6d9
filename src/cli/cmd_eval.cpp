// nanoprime eval: accuracy of a model (anything infer::load_model opens) on gym or
// {question, answer} JSONL, per thinking mode.
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file_io.h"
#include "eval/eval.h"
#include "infer/model_loader.h"

namespace np::cli {

namespace {

struct EvalArgs {
    std::string model, data, tokenizer, think = "auto", out;
    int think_budget = -1, votes = 1, max_tokens = 256;
    long limit = -1;
    uint64_t seed = 0;
    float temperature = 0.7f;
    bool reference = false;
};

std::string dump(const nlohmann::json& j) {
    // Outputs of an untrained model may hold invalid UTF-8.
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

void run_eval(const EvalArgs& a) {
    eval::EvalOptions opt;
    opt.gen.mode = eval::parse_think_mode(a.think);
    opt.gen.think_budget = a.think_budget;
    opt.gen.max_tokens = a.max_tokens;
    opt.gen.sampling.seed = a.seed;
    opt.votes = a.votes;
    opt.vote_temperature = a.temperature;
    if (a.votes < 1) fail("--votes: expected >= 1, got " + std::to_string(a.votes));
    if (a.max_tokens < 1) fail("--max-tokens: expected >= 1, got " + std::to_string(a.max_tokens));
    if (a.votes > 1 && !(a.temperature > 0)) fail("--temperature: voting needs a temperature > 0");
    auto loaded = infer::load_model(a.model, {a.reference, a.tokenizer});
    infer::Decoder& dec = *loaded.decoder;
    const Tokenizer& tok = loaded.tokenizer;
    eval::check_tokenizer(tok, dec.config().vocab_size,
                          a.tokenizer.empty() ? a.model + " (its tokenizer)" : a.tokenizer);
    auto recs = eval::read_records(a.data, a.limit);
    if (recs.empty()) fail("--data: " + a.data + " holds no records");

    std::vector<eval::RecordResult> results;
    nlohmann::json rows = nlohmann::json::array();
    for (size_t i = 0; i < recs.size(); ++i) {
        results.push_back(eval::evaluate_record(dec, tok, recs[i], i, opt));
        rows.push_back(eval::record_to_json(results.back(), i));
        std::fprintf(stderr, "\r[eval] %zu/%zu", i + 1, recs.size());
    }
    std::fprintf(stderr, "\n");
    auto summary = eval::summarize(results, opt);
    summary["model"] = a.model;
    summary["decoder"] = dec.name();
    summary["data"] = a.data;
    std::printf("%s\n", dump(summary).c_str());
    if (!a.out.empty()) {
        auto report = summary;
        report["records"] = rows;
        write_file_atomic(a.out, dump(report) + "\n");
    }
}

}  // namespace

void register_eval_commands(CLI::App& app) {
    auto a = std::make_shared<EvalArgs>();
    auto* c = app.add_subcommand(
        "eval", "Accuracy of a model on gym or {question, answer} JSONL (DESIGN §3 modes)");
    c->add_option("--model", a->model, "Checkpoint directory (or any model `generate` opens)")
        ->required();
    c->add_option("--data", a->data, "Records JSONL (gym records or {question, answer})")
        ->required();
    c->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default: MODEL/tokenizer.json)");
    c->add_option("--think", a->think, "on | off | auto")->capture_default_str();
    c->add_option("--think-budget", a->think_budget,
                  "Force </think> after this many thinking tokens (-1: no limit)")
        ->capture_default_str();
    c->add_option("--votes", a->votes, "Samples per question, majority vote (1: greedy)")
        ->capture_default_str();
    c->add_option("--temperature", a->temperature, "Sampling temperature when --votes > 1")
        ->capture_default_str();
    c->add_option("--seed", a->seed, "Sampling seed")->capture_default_str();
    c->add_option("--limit", a->limit, "Evaluate only the first N records (-1: all)")
        ->capture_default_str();
    c->add_option("--max-tokens", a->max_tokens, "Generated tokens per answer")
        ->capture_default_str();
    c->add_flag("--reference", a->reference,
                "Checkpoint directories: run the fp32 reference decoder, not the packed engine");
    c->add_option("--out", a->out, "Write the report with per-record details as JSON");
    c->callback([a] { run_eval(*a); });
}

}  // namespace np::cli
