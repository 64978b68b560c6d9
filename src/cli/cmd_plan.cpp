// nanoprime plan: training memory estimate for a model at a batch x sequence length against a
// device memory budget.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "model/config.h"
#include "train/memory_plan.h"

namespace np::cli {

namespace {

struct PlanCliOptions {
    std::string preset, config, gpu_mem;
    PlanOptions plan;
};

void run_plan(const PlanCliOptions& o) {
    const ModelConfig cfg = ModelConfig::from_preset_or_file(o.preset, o.config, "plan");
    const int64_t budget = parse_size(o.gpu_mem, "--gpu-mem");
    const MemoryPlan p = plan_memory(cfg, o.plan);
    std::fputs(render_plan(cfg, o.plan, p, budget).c_str(), stdout);
}

}  // namespace

void register_plan_commands(CLI::App& app) {
    auto o = std::make_shared<PlanCliOptions>();
    auto* c = app.add_subcommand(
        "plan",
        "Estimate training memory (weights, gradients, optimizer, activations) vs a budget");
    c->add_option("--preset", o->preset, "Architecture preset: nano | small | elleci-1.5b");
    c->add_option("--config", o->config, "Architecture from a config.json instead of a preset");
    c->add_option("--gpu-mem", o->gpu_mem, "Device memory, e.g. 12GiB, 12GB, 8000MiB")->required();
    c->add_option("--batch", o->plan.batch, "Sequences per step")->capture_default_str();
    c->add_option("--seq", o->plan.seq, "Sequence length (default: the config's max_seq_len)");
    c->add_flag("--recompute", o->plan.recompute,
                "Activation recomputation: keep only per-layer residual inputs");
    c->add_flag("--adam8bit", o->plan.adam8bit, "8-bit block-wise AdamW state");
    c->add_flag("--bf16", o->plan.bf16, "bf16 weight copy and activations");
    c->callback([o] { run_plan(*o); });
}

}  // namespace np::cli
