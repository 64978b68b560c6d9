// Reinforcement learning with verifiable rewards (`nanoprime rl`): the policy samples answers to
// gym problems on the packed ternary engine, the gym scorer rewards them, and the trainer's model
// and AdamW update the policy with GRPO (group-normalised advantages, clipped ratio, KL penalty to
// the starting checkpoint) or iterative DPO (pairs of a right and a wrong sample of one prompt).
//
// One step: pack the policy's current weights (PackedModel::from_checkpoint), sample `group`
// completions for each of `prompts` training-family problems (thinking on, seeds a function of
// seed, step, prompt and sample), reward them, then run `epochs` updates on the batch. Each
// update is one weighted backward pass (rl/objective.h) over micro-batches of `micro` rows whose
// gradients are summed, a global-norm clip and one AdamW step.
//
// Run directory:
//   rl_config.json      the resolved config
//   rl_metrics.jsonl    one row per step: reward, accuracy of the samples, KL, clip fraction, the
//                       objective, tokens, timings; heldout_accuracy on the steps it is measured
//   metrics.svg         reward, sample accuracy and held-out accuracy against the step
//   ckpt/step_NNNNNN/   config.json, model.safetensors, tokenizer.json, optimizer.bin,
//                       rl_state.json; final/ at the end
// Resuming restores the newest checkpoint's model and optimizer; prompts and sampling seeds are
// functions of the step, so the resumed run makes the uninterrupted run's updates bit for bit
// (with the same thread count).
#pragma once
#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace np::rl {

struct RlConfig {
    std::string init;           // checkpoint directory of the starting (and reference) policy
    std::string out;            // run directory
    std::string algo = "grpo";  // grpo | dpo
    // Training problems: gym tasks, language, difficulty range, always the training families.
    std::string task = "addition", lang = "both", difficulty = "1-3";
    int64_t steps = 50;
    int prompts = 8;  // problems per step
    int group = 8;    // samples per problem
    int max_tokens = 160;
    double temperature = 1.0;
    double lr = 2e-5;
    int64_t warmup = 0;  // steps of linear LR warmup
    double weight_decay = 0;
    double grad_clip = 1.0;
    int epochs = 1;            // updates per sampled batch (> 1 makes the ratio clip matter)
    double clip_eps = 0.2;     // GRPO ratio clip
    double beta = 0.04;        // GRPO: KL penalty weight; DPO: the preference temperature
    bool scale_by_std = true;  // GRPO advantages divided by the group's std
    double format_penalty = 0.5, length_cost = 0;
    double trace_reward = 0;  // process credit for reproducing the reference trace (objective.h)
    int micro = 16;           // rows per forward/backward micro-batch (bounds activation memory)
    // Held-out evaluation: greedy, thinking on, the first eval_n records of eval_data (all when
    // 0), before the first step and every eval_every steps.
    std::string eval_data;
    int eval_every = 10, eval_n = 0;
    int save_every = 10;
    int threads = 0;  // 0: OpenMP's default
    uint64_t seed = 0;

    void validate() const;  // np::Error naming the --flag of the first bad field
    nlohmann::json to_json() const;
    static RlConfig from_json(const nlohmann::json& j, const std::string& origin);
};

struct RlOptions {
    bool resume = false;   // continue cfg.out from its newest checkpoint
    int64_t stop_at = 0;   // > 0: stop (with a checkpoint) after this many steps
    bool progress = true;  // a line per step on stderr
    // Set (to the signal's number) by a SIGINT/SIGTERM handler: the run ends after the current
    // step with a checkpoint, and RlResult::interrupted is set.
    const std::atomic<int>* interrupt = nullptr;
};

struct RlResult {
    int64_t steps_done = 0;
    double last_reward = 0;
    double first_heldout = -1, last_heldout = -1;  // -1: not measured
    bool interrupted = false;
};

RlResult run_rl(const RlConfig& cfg, const RlOptions& opt = {});

}  // namespace np::rl
