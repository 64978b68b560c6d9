// Training commands: train (the DESIGN §5 recipe, resumable) and plot (metrics as an SVG).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/interrupt.h"
#include "core/error.h"
#include "train/distributed.h"
#include "train/metrics.h"
#include "train/plot_svg.h"
#include "train/train_config.h"
#include "train/trainer.h"

namespace np::cli {

namespace {

struct TrainCli {
    std::string config, resume;
    TrainConfig flags;  // values of the config flags; only the ones given override
    std::vector<std::pair<CLI::Option*, std::string>> field_opts;
    int64_t stop_at = 0;
    bool dry_run = false, quiet = false;
};

template <class T>
void field(CLI::App* c, TrainCli& o, const std::string& key, T& v, const std::string& help) {
    std::string dashed = key;
    for (char& ch : dashed)
        if (ch == '_') ch = '-';
    std::string names = "--" + dashed + (dashed != key ? ",--" + key : "");
    CLI::Option* opt;
    if constexpr (std::is_same_v<T, bool>)
        opt = c->add_flag(names, v, help);
    else
        opt = c->add_option(names, v, help)->capture_default_str();
    o.field_opts.emplace_back(opt, key);
}

void run_train(const TrainCli& o, const Communicator& comm) {
    namespace fs = std::filesystem;
    TrainConfig cfg;
    TrainOptions opt;
    opt.comm = &comm;
    opt.stop_at = o.stop_at;
    opt.dry_run = o.dry_run;
    opt.progress = !o.quiet;
    if (!o.resume.empty()) {
        if (!o.config.empty())
            fail("train: --resume takes the run's own train_config.json; drop --config");
        for (const auto& [op, key] : o.field_opts)
            if (op->count() > 0)
                fail("train: --" + key + " cannot change a resumed run (its config is " + o.resume +
                     "/train_config.json)");
        const std::string p = (fs::path(o.resume) / "train_config.json").string();
        if (!fs::exists(p))
            fail("--resume: " + o.resume + " has no train_config.json (not a run directory?)");
        cfg = TrainConfig::load(p);
        cfg.out = o.resume;
        opt.resume = true;
    } else {
        nlohmann::json j =
            o.config.empty() ? nlohmann::json::object() : TrainConfig::load(o.config).to_json();
        const nlohmann::json given = o.flags.to_json();
        for (const auto& [op, key] : o.field_opts)
            if (op->count() > 0) j[key] = given[key];
        cfg = TrainConfig::from_json(j, o.config.empty() ? "flags" : o.config);
        // The saved config must still work from another directory (--resume).
        for (std::string* p : {&cfg.init, &cfg.data, &cfg.val_data, &cfg.out, &cfg.sample_prompts})
            if (!p->empty() && (p == &cfg.out || fs::exists(*p)))
                *p = fs::absolute(*p).lexically_normal().string();
    }
    if (!o.dry_run) opt.interrupt = &interrupt_flag();
    const TrainResult r = train(cfg, opt);
    if (r.interrupted) {
        const int sig = interrupt_flag().load();
        if (comm.root())
            std::fprintf(stderr,
                         "interrupted by %s after step %lld: checkpoint %s written; continue with "
                         "nanoprime train --resume %s\n",
                         signal_name(sig), (long long)r.steps_done,
                         latest_checkpoint(cfg.out).c_str(), cfg.out.c_str());
        throw ExitCode{128 + sig};  // braces: clang 14 has no parenthesized aggregate init
    }
    if (!comm.root()) return;
    if (r.already_finished) {
        std::printf("nothing to do: %s finished all %lld steps (its model is %s/final)\n",
                    cfg.out.c_str(), (long long)r.steps_done, cfg.out.c_str());
        return;
    }
    if (o.dry_run) {
        std::printf(
            "dry run: %lld steps, %.3f s/step, %.0f tokens/s (%d rows x %d micro-batches)\n",
            (long long)r.steps_done, r.step_seconds, r.tok_s, cfg.batch, cfg.accum);
        std::printf("memory: peak RSS %s | parameters %s | gradients %s | optimizer state %s\n",
                    format_bytes(double(r.peak_rss)).c_str(),
                    format_bytes(double(r.param_bytes)).c_str(),
                    format_bytes(double(r.grad_bytes)).c_str(),
                    format_bytes(double(r.optimizer_bytes)).c_str());
        std::printf(
            "activations (one micro-batch): %s, %.3f s forward+backward | with --recompute: "
            "%s, %.3f s\n",
            format_bytes(double(r.activation_bytes)).c_str(), r.micro_seconds,
            format_bytes(double(r.activation_bytes_recompute)).c_str(), r.micro_seconds_recompute);
        if (r.ranks > 1)
            std::printf("data parallel: %d ranks (memory and time per rank, tokens/s of all)\n",
                        r.ranks);
    } else {
        std::printf("trained %lld steps (%lld skipped), last loss %.4f, run directory %s\n",
                    (long long)r.steps_done, (long long)r.skipped, r.last_loss, cfg.out.c_str());
    }
}

}  // namespace

void register_train_commands(CLI::App& app) {
    {
        auto o = std::make_shared<TrainCli>();
        auto* c = app.add_subcommand(
            "train", "Train a model (AdamW, WSD schedule, curriculum, checkpoints, resume)");
        c->footer(mpi_available()
                      ? "Data parallel: MPI support on (" + mpi_library_version() +
                            "): mpirun -np N nanoprime train ... runs batch x accum rows per "
                            "step over N ranks (accum a multiple of N)"
                      : "Data parallel: MPI support off (built without MPI)");
        TrainConfig& f = o->flags;
        c->add_option("--config", o->config,
                      "train.json with any of the fields below (flags override it)");
        c->add_option("--resume", o->resume, "Continue RUN_DIR exactly from its newest checkpoint");
        c->add_option("--stop-at", o->stop_at,
                      "Stop (with a checkpoint) once this many steps are done");
        c->add_flag("--dry-run", o->dry_run,
                    "Run a few steps, then report step time and memory; writes nothing");
        c->add_flag("--quiet", o->quiet, "No progress line");
        field(c, *o, "init", f.init, "Checkpoint directory to start from, or a preset name");
        field(c, *o, "data", f.data,
              "Data config JSON, shard directory (train_*.npts) or .npts file");
        field(c, *o, "val_data", f.val_data,
              "Validation data: config JSON, shard directory (val_*.npts) or .npts");
        field(c, *o, "out", f.out, "Run directory");
        field(c, *o, "steps", f.steps, "Optimizer steps");
        field(c, *o, "batch", f.batch, "Rows per micro-batch");
        field(c, *o, "accum", f.accum, "Micro-batches per optimizer step");
        field(c, *o, "seq", f.seq,
              "Tokens per row, or a curriculum LEN@FRAC,... e.g. 256@0,512@0.2");
        field(c, *o, "lr", f.lr, "Peak learning rate");
        field(c, *o, "min_lr_ratio", f.min_lr_ratio, "Final LR as a fraction of lr");
        field(c, *o, "warmup", f.warmup, "Warmup fraction of the run");
        field(c, *o, "decay", f.decay, "WSD decay fraction of the run");
        field(c, *o, "decay_shape", f.decay_shape, "linear | cosine | 1-sqrt");
        field(c, *o, "weight_decay", f.weight_decay, "AdamW weight decay (matrices only)");
        field(c, *o, "adam8bit", f.adam8bit, "8-bit block-wise optimizer state");
        field(c, *o, "clip", f.clip, "Global gradient-norm clip (0 = off)");
        field(c, *o, "lerac_end_step", f.lerac_end_step,
              "LeRaC: step where every layer reaches the base LR (0 = off)");
        field(c, *o, "swa_start", f.swa_start, "SWA from this fraction of the run (0 = off)");
        field(c, *o, "swa_every", f.swa_every, "SWA: average every N steps");
        field(c, *o, "seed", f.seed,
              "Seed of the initialisation and of a shard directory's sampling");
        field(c, *o, "threads", f.threads, "OpenMP threads (0 = default)");
        field(c, *o, "save_every", f.save_every, "Checkpoint every N steps (0 = only at the end)");
        field(c, *o, "keep_last", f.keep_last, "Checkpoints kept");
        field(c, *o, "eval_every", f.eval_every, "Validation loss every N steps (0 = off)");
        field(c, *o, "val_rows", f.val_rows, "Fixed validation rows");
        field(c, *o, "log_every", f.log_every,
              "Plain progress line every N steps (when stderr is not a terminal)");
        field(c, *o, "spike_factor", f.spike_factor,
              "Skip a step whose loss exceeds this x the running mean (0 = off)");
        field(c, *o, "max_skips", f.max_skips, "Stop after this many consecutive skipped steps");
        field(c, *o, "dropout", f.dropout, "Dropout on each residual branch, in [0, 1)");
        field(c, *o, "label_smoothing", f.label_smoothing, "Label smoothing eps, in [0, 1)");
        field(c, *o, "recompute", f.recompute,
              "Recompute activations in the backward (less memory, more time)");
        field(c, *o, "sample_every", f.sample_every,
              "Greedy sample generations every N steps into RUN/samples.jsonl (0 = off)");
        field(c, *o, "sample_prompts", f.sample_prompts,
              "Prompts for --sample-every: JSONL {\"question\"} or text lines (default: two "
              "arithmetic questions)");
        c->callback([o] {
            // Joins MPI when mpirun started this process; finalises it on the way out.
            const Communicator comm;
            if (comm.size() == 1) return run_train(*o, comm);
            // An error on one rank would leave the others waiting in a collective: end them all.
            try {
                run_train(*o, comm);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "error (rank %d of %d): %s\n", comm.rank(), comm.size(),
                             e.what());
                comm.abort(1);
            }
        });
    }
    {
        auto run = std::make_shared<std::string>();
        auto out = std::make_shared<std::string>();
        auto* c =
            app.add_subcommand("plot", "Render a run's loss, LR and throughput curves as an SVG");
        c->add_option("RUN_DIR", *run, "Run directory (holds metrics.jsonl)")->required();
        auto force = std::make_shared<bool>(false);
        c->add_option("--out", *out, "SVG file (default RUN_DIR/metrics.svg, redrawn each time)");
        c->add_flag("--force", *force, "Replace --out if it exists");
        c->callback([run, out, force] {
            if (!out->empty() && !*force && std::filesystem::exists(*out))
                fail("plot: --out " + *out + " exists (add --force to replace it)");
            std::printf("%s\n", plot_run(*run, *out).c_str());
        });
    }
}

}  // namespace np::cli
