// nanoprime eval: accuracy of a model (anything infer::load_model opens) on gym or
// {question, answer} JSONL, per thinking mode.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "core/error.h"
#include "core/file_io.h"
#include "eval/eval.h"
#include "infer/model_loader.h"
#include "train/plot_svg.h"

namespace np::cli {

namespace {

struct EvalArgs {
    std::string model, data, tokenizer, think = "auto", out, plot;
    // Comma lists: more than one value in any of them evaluates every combination (a sweep).
    std::string think_budget = "-1", think_min = "0", votes = "1";
    std::string wait_text = "Wait";
    int max_tokens = 256, threads = 0, ctx = 0;
    long limit = -1;
    uint64_t seed = 0;
    float temperature = 0.7f;
    bool reference = false;
};

std::string dump(const nlohmann::json& j) {
    // Outputs of an untrained model may hold invalid UTF-8.
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

// "8,16,-1" -> {8, 16, -1}; np::Error naming the flag on anything but integers >= lo.
std::vector<int> int_list(const std::string& flag, const std::string& text, int lo) {
    std::vector<int> out;
    size_t pos = 0;
    while (pos <= text.size()) {
        const size_t comma = std::min(text.find(',', pos), text.size());
        const std::string item = text.substr(pos, comma - pos);
        size_t used = 0;
        int v = 0;
        try {
            v = std::stoi(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (item.empty() || used != item.size() || v < lo)
            fail(flag + ": expected integers >= " + std::to_string(lo) +
                 " separated by commas, got \"" + text + "\"");
        out.push_back(v);
        pos = comma + 1;
    }
    return out;
}

// Accuracy against the thinking tokens spent per question (mean thinking tokens x votes), one
// curve per thinking mode and number of votes.
void write_sweep_plot(const std::string& path, const nlohmann::json& runs,
                      const std::string& title) {
    static const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c",
                                   "#9467bd", "#ff7f0e", "#8c564b"};
    std::map<std::string, PlotSeries> by_votes;
    for (const auto& r : runs) {
        const int v = r["votes"].get<int>();
        const std::string name = r["mode"].get<std::string>() +
                                 (v == 1 ? ", greedy" : ", " + std::to_string(v) + " votes");
        PlotSeries& s = by_votes[name];
        if (s.name.empty()) {
            s.name = name;
            s.color = colors[(by_votes.size() - 1) % 6];
        }
        s.pts.push_back(
            {r["mean_thinking_tokens"].get<double>() * v, 100 * r["accuracy"].get<double>()});
    }
    PlotPanel panel{"Accuracy against thinking compute", "accuracy (%)", {}};
    for (auto& [v, s] : by_votes) {
        std::sort(s.pts.begin(), s.pts.end());
        panel.series.push_back(s);
    }
    write_file_atomic(path, render_panels_svg(title, "thinking tokens per question", {panel}));
}

void run_eval(const EvalArgs& a) {
    const std::vector<int> budgets = int_list("--think-budget", a.think_budget, -1),
                           mins = int_list("--think-min", a.think_min, 0),
                           votes = int_list("--votes", a.votes, 1);
    std::vector<std::string> modes;
    for (size_t pos = 0; pos <= a.think.size();) {
        const size_t comma = std::min(a.think.find(',', pos), a.think.size());
        modes.push_back(a.think.substr(pos, comma - pos));
        pos = comma + 1;
    }
    const bool sweep = modes.size() * budgets.size() * mins.size() * votes.size() > 1;
    if (!sweep && !a.plot.empty())
        fail(
            "--plot: needs a sweep (a comma list in --think, --think-budget, --think-min or "
            "--votes)");
    if (a.max_tokens < 1) fail("--max-tokens: expected >= 1, got " + std::to_string(a.max_tokens));
    if (a.limit < -1)
        fail("--limit: expected a number of records >= 0, or -1 for all; got " +
             std::to_string(a.limit));
    apply_threads(a.threads);
    eval::EvalOptions base;
    base.gen.max_tokens = a.max_tokens;
    base.gen.sampling.seed = a.seed;
    base.gen.wait_text = a.wait_text;
    base.vote_temperature = a.temperature;
    std::vector<eval::EvalOptions> configs;
    for (const std::string& mode : modes)
        for (int b : budgets)
            for (int m : mins)
                for (int v : votes) {
                    eval::EvalOptions o = base;
                    o.gen.mode = eval::parse_think_mode(mode);
                    o.gen.think_budget = b;
                    o.gen.think_min = m;
                    o.votes = v;
                    if (v > 1 && !(a.temperature > 0))
                        fail("--temperature: voting needs a temperature > 0");
                    infer::validate(o.gen);
                    configs.push_back(o);
                }
    auto loaded = infer::load_model(a.model, {a.reference, a.tokenizer});
    infer::Decoder& dec = *loaded.decoder;
    const Tokenizer& tok = loaded.tokenizer;
    eval::check_tokenizer(tok, dec.config().vocab_size,
                          a.tokenizer.empty() ? a.model + " (its tokenizer)" : a.tokenizer);
    for (auto& o : configs) o.gen.ctx = a.ctx > 0 ? a.ctx : dec.config().max_seq_len;
    auto recs = eval::read_records(a.data, a.limit);
    if (recs.empty()) fail("--data: " + a.data + " holds no records");

    const bool tty = isatty(STDERR_FILENO) != 0;
    nlohmann::json runs = nlohmann::json::array(), last_rows;
    for (size_t c = 0; c < configs.size(); ++c) {
        const eval::EvalOptions& opt = configs[c];
        std::vector<eval::RecordResult> results;
        nlohmann::json rows = nlohmann::json::array();
        const std::string run =
            sweep ? "run " + std::to_string(c + 1) + "/" + std::to_string(configs.size()) + " "
                  : "";
        // On a terminal one line redrawn per record; in a log a line per tenth of the set.
        const size_t every = tty ? 1 : std::max<size_t>(1, recs.size() / 10);
        for (size_t i = 0; i < recs.size(); ++i) {
            results.push_back(eval::evaluate_record(dec, tok, recs[i], i, opt));
            rows.push_back(eval::record_to_json(results.back(), i));
            if ((i + 1) % every == 0 || i + 1 == recs.size())
                std::fprintf(stderr, tty ? "\r[eval] %s%zu/%zu" : "[eval] %s%zu/%zu\n", run.c_str(),
                             i + 1, recs.size());
        }
        if (tty) std::fprintf(stderr, "\n");
        auto summary = eval::summarize(results, opt);
        summary["model"] = a.model;
        summary["decoder"] = dec.name();
        summary["data"] = a.data;
        if (sweep) {
            // Where the model thinks and where it is right, per difficulty (adaptive thinking).
            std::fprintf(stderr,
                         "think %-4s budget %4d  min %4d  votes %2d  accuracy %5.1f%%  thinking "
                         "tokens %6.1f\n",
                         eval::think_mode_name(opt.gen.mode), opt.gen.think_budget,
                         opt.gen.think_min, opt.votes, 100 * summary["accuracy"].get<double>(),
                         summary["mean_thinking_tokens"].get<double>());
            for (const auto& [d, b] : summary["by_difficulty"].items())
                std::fprintf(stderr,
                             "    difficulty %-2s  n %4d  thought %5.1f%%  accuracy %5.1f%%\n",
                             d.c_str(), b["n"].get<int>(), 100 * b["thought"].get<double>(),
                             100 * b["accuracy"].get<double>());
            summary.erase("by_family");
        }
        runs.push_back(summary);
        last_rows = rows;
    }
    if (!sweep) {
        std::printf("%s\n", dump(runs[0]).c_str());
        if (!a.out.empty()) {
            auto report = runs[0];
            report["records"] = last_rows;
            write_file_atomic(a.out, dump(report) + "\n");
        }
        return;
    }
    const nlohmann::json report = {{"model", a.model}, {"data", a.data}, {"runs", runs}};
    std::printf("%s\n", dump(report).c_str());
    if (!a.out.empty()) write_file_atomic(a.out, dump(report) + "\n");
    if (!a.plot.empty()) write_sweep_plot(a.plot, runs, "NanoPrime test-time compute: " + a.model);
}

}  // namespace

void register_eval_commands(CLI::App& app) {
    auto a = std::make_shared<EvalArgs>();
    auto* c = app.add_subcommand(
        "eval", "Accuracy of a model on gym or {question, answer} JSONL (DESIGN §3 modes)");
    c->add_option("-m,--model", a->model, "Checkpoint directory or .gguf file")->required();
    c->add_option("--data", a->data, "Records JSONL (gym records or {question, answer})")
        ->required();
    c->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default: MODEL/tokenizer.json)");
    c->add_option("--think", a->think, "on | off | auto; a comma list (on,auto) sweeps")
        ->capture_default_str();
    c->add_option("--think-budget", a->think_budget,
                  "Force </think> after this many thinking tokens (-1: no limit); a comma list "
                  "sweeps")
        ->capture_default_str();
    c->add_option("--think-min", a->think_min,
                  "Think at least this many tokens: an earlier </think> becomes --wait (s1 budget "
                  "forcing); a comma list sweeps")
        ->capture_default_str();
    c->add_option("--wait", a->wait_text, "Text that replaces an early </think> (--think-min)")
        ->capture_default_str();
    c->add_option("--votes", a->votes,
                  "Samples per question, majority vote (1: greedy); a comma list sweeps")
        ->capture_default_str();
    c->add_option("--plot", a->plot,
                  "With a sweep: write accuracy against thinking tokens per question as SVG");
    c->add_option("--temperature,--temp", a->temperature, "Sampling temperature when --votes > 1")
        ->capture_default_str();
    c->add_option("-s,--seed", a->seed, "Sampling seed")->capture_default_str();
    c->add_option("--limit", a->limit, "Evaluate only the first N records (-1: all)")
        ->capture_default_str();
    c->add_option("-n,--max-tokens,--n-predict", a->max_tokens, "Generated tokens per answer")
        ->capture_default_str();
    add_threads_flag(c, a->threads);
    add_ctx_flag(c, a->ctx);
    c->add_flag("--reference", a->reference,
                "Checkpoint directories: run the fp32 reference decoder, not the packed engine");
    c->add_option("--out", a->out, "Write the report with per-record details as JSON");
    c->callback([a] { run_eval(*a); });
}

}  // namespace np::cli
