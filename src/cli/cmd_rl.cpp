// `nanoprime rl`: reinforcement learning with verifiable rewards (GRPO or iterative DPO) from a
// checkpoint, on gym problems of the training families (rl/rl.h).
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/interrupt.h"
#include "core/error.h"
#include "core/file_io.h"
#include "rl/rl.h"

namespace np::cli {

namespace {

struct RlCli {
    rl::RlConfig cfg;
    std::string config, resume;
    int64_t stop_at = 0;
    bool quiet = false;
    std::vector<CLI::Option*> fields;
};

void run(const RlCli& o) {
    namespace fs = std::filesystem;
    rl::RlOptions opt;
    opt.stop_at = o.stop_at;
    opt.progress = !o.quiet;
    rl::RlConfig cfg = o.cfg;
    if (!o.resume.empty()) {
        for (const CLI::Option* f : o.fields)
            if (f->count() > 0)
                fail("rl: " + f->get_name() + " cannot change a resumed run (its config is " +
                     o.resume + "/rl_config.json)");
        const std::string p = (fs::path(o.resume) / "rl_config.json").string();
        if (!fs::exists(p))
            fail("rl: --resume: " + o.resume + " has no rl_config.json (not an rl run directory?)");
        cfg = rl::RlConfig::from_json(nlohmann::json::parse(read_file(p), nullptr, false), p);
        cfg.out = o.resume;
        opt.resume = true;
    } else if (!o.config.empty()) {
        const auto j = nlohmann::json::parse(read_file(o.config), nullptr, false);
        if (j.is_discarded()) fail("rl: --config " + o.config + ": invalid JSON");
        nlohmann::json merged = j;
        // Flags given on the command line override the file.
        const nlohmann::json flags = o.cfg.to_json();
        for (const CLI::Option* f : o.fields)
            if (f->count() > 0) {
                std::string key = f->get_name().substr(2);
                for (char& ch : key)
                    if (ch == '-') ch = '_';
                merged[key] = flags.at(key);
            }
        cfg = rl::RlConfig::from_json(merged, o.config);
    }
    opt.interrupt = &interrupt_flag();
    const rl::RlResult r = rl::run_rl(cfg, opt);
    if (r.interrupted) {
        const int sig = interrupt_flag().load();
        std::fprintf(stderr,
                     "interrupted by %s after step %lld: checkpoint written; continue with "
                     "nanoprime rl --resume %s\n",
                     signal_name(sig), (long long)r.steps_done, cfg.out.c_str());
        throw ExitCode{128 + sig};  // braces: clang 14 has no parenthesized aggregate init
    }
    std::printf("rl: %lld steps, last mean reward %.3f", (long long)r.steps_done, r.last_reward);
    if (r.last_heldout >= 0) std::printf(", held-out accuracy %.1f%%", 100 * r.last_heldout);
    if (r.first_heldout >= 0) std::printf(" (%.1f%% at the start)", 100 * r.first_heldout);
    std::printf("; run directory %s (metrics.svg, rl_metrics.jsonl)\n", cfg.out.c_str());
}

}  // namespace

void register_rl_commands(CLI::App& app) {
    auto o = std::make_shared<RlCli>();
    rl::RlConfig& c = o->cfg;
    auto* cmd = app.add_subcommand(
        "rl", "Reinforcement learning with verifiable gym rewards: GRPO or iterative DPO");
    auto f = [&](CLI::Option* opt) {
        o->fields.push_back(opt->capture_default_str());
        return opt;
    };
    f(cmd->add_option("--init", c.init, "Starting checkpoint directory (also the KL reference)"));
    f(cmd->add_option("--out", c.out, "Run directory"));
    f(cmd->add_option("--algo", c.algo,
                      "grpo | dpo (iterative: pairs of a right and a wrong sample)"));
    f(cmd->add_option("--task", c.task, "Gym task(s) to train on: a task, a comma list or all"));
    f(cmd->add_option("--lang", c.lang, "en | it | both"));
    f(cmd->add_option("--difficulty", c.difficulty, "D or A-B (gym --list says what it means)"));
    f(cmd->add_option("--steps", c.steps, "Steps (one sampled batch each)"));
    f(cmd->add_option("--prompts", c.prompts, "Problems per step"));
    f(cmd->add_option("--group", c.group, "Samples per problem (K)"));
    f(cmd->add_option("--max-tokens", c.max_tokens, "Generated tokens per sample"));
    f(cmd->add_option("--temperature", c.temperature, "Sampling temperature"));
    f(cmd->add_option("--lr", c.lr, "AdamW learning rate"));
    f(cmd->add_option("--warmup", c.warmup, "Steps of linear LR warmup"));
    f(cmd->add_option("--weight-decay", c.weight_decay, "AdamW weight decay (matrices)"));
    f(cmd->add_option("--grad-clip", c.grad_clip, "Global gradient-norm clip (0: off)"));
    f(cmd->add_option("--epochs", c.epochs, "Updates per sampled batch"));
    f(cmd->add_option("--clip-eps", c.clip_eps, "GRPO policy-ratio clip"));
    f(cmd->add_option("--beta", c.beta, "GRPO: KL penalty to --init; DPO: preference temperature"));
    f(cmd->add_option("--scale-by-std", c.scale_by_std,
                      "GRPO: divide advantages by the group's std"));
    f(cmd->add_option("--format-penalty", c.format_penalty,
                      "Reward lost by a malformed think block"));
    f(cmd->add_option("--length-cost", c.length_cost,
                      "Reward lost per thinking token / max-tokens"));
    f(cmd->add_option("--trace-reward", c.trace_reward,
                      "Reward per share of the reference trace reproduced line for line"));
    f(cmd->add_option("--micro", c.micro, "Rows per forward/backward micro-batch"));
    f(cmd->add_option("--eval-data", c.eval_data,
                      "Held-out JSONL measured greedily with thinking on"));
    f(cmd->add_option("--eval-every", c.eval_every, "Steps between held-out measurements"));
    f(cmd->add_option("--eval-n", c.eval_n, "Held-out records measured (0: all)"));
    f(cmd->add_option("--save-every", c.save_every, "Steps between checkpoints"));
    f(cmd->add_option("--threads", c.threads, "OpenMP threads (0: default)"));
    f(cmd->add_option("--seed", c.seed, "Seed of the problems and the samples"));
    cmd->add_option("--config", o->config, "JSON file of the fields above (flags override it)");
    cmd->add_option("--resume", o->resume,
                    "Continue this run directory from its newest checkpoint");
    cmd->add_option("--stop-at", o->stop_at, "Stop after this many steps (with a checkpoint)");
    cmd->add_flag("--quiet", o->quiet, "No progress lines");
    cmd->callback([o] { run(*o); });
}

}  // namespace np::cli
