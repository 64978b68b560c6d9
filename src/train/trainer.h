// The pretraining loop (DESIGN §5): AdamW (fp32 or 8-bit state), WSD schedule, sequence-length
// curriculum, gradient accumulation, global-norm clipping, LeRaC, SWA, data phases, a loss-spike /
// NaN guard, periodic validation, atomic checkpoints and exact resume.
//
// Run directory:
//   train_config.json   the resolved config
//   metrics.jsonl       one row per optimizer step (train/metrics.h)
//   ckpt/step_NNNNNN/   config.json, model.safetensors, optimizer.bin, trainer_state.json,
//                       swa.bin (when SWA has started), tokenizer.json (when one is known)
//   final/, final_swa/  at the end
// Resuming restores the model, optimizer, sampler cursor, guard statistics and SWA average of the
// newest checkpoint; everything else is a function of the step, so the resumed run repeats the
// uninterrupted run's losses bit for bit (with the same thread count).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "train/train_config.h"

namespace np {

struct TrainOptions {
    bool resume = false;   // continue cfg.out from its newest checkpoint
    int64_t stop_at = 0;   // > 0: stop (with a checkpoint) once this many steps are done
    bool dry_run = false;  // a few steps, then a time/memory report; writes nothing
    int dry_run_steps = 3;
    bool progress = true;  // the stderr progress line
    // Test hook, called after the gradients of a step are complete and before the guard.
    std::function<void(int64_t step, std::span<float> grads, double& loss)> after_backward;
};

struct TrainResult {
    int64_t steps_done = 0;
    int64_t skipped = 0;
    double last_loss = 0;
    double step_seconds = 0;
    double tok_s = 0;  // counted targets per second over the same steps  // mean wall time of an
                       // optimizer step (dry run: excluding the first)
    size_t param_bytes = 0, grad_bytes = 0, optimizer_bytes = 0, peak_rss = 0;
};

TrainResult train(const TrainConfig& cfg, const TrainOptions& opt = {});

// The newest RUN_DIR/ckpt/step_NNNNNN directory, or "" when there is none.
std::string latest_checkpoint(const std::string& run_dir);

}  // namespace np
