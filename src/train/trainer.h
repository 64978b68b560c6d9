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
//   samples.jsonl       {step, prompt, output} every sample_every steps (greedy, think mode auto)
// Resuming restores the model, optimizer, sampler cursor, guard statistics and SWA average of the
// newest checkpoint; everything else (the LR, the dropout masks) is a function of the step, so the
// resumed run repeats the uninterrupted run's losses bit for bit (with the same thread count).
//
// Data parallel (train/distributed.h): batch x accum rows stay the global batch of an optimizer
// step whatever the number of ranks N; accum must be a multiple of N and rank r runs the global
// micro-batches [r*accum/N, (r+1)*accum/N). Every rank draws the whole step's rows from an
// identical sampler (reading the other ranks' tokens costs little) instead of the sampler's row
// sharding, so that a micro-batch holds the same rows, and gets the same dropout seed (a function
// of seed, step and global micro-batch index), as in a single-process run. The target-weighted
// gradient sums and losses are summed over the ranks, then every rank clips and steps the same
// model; rank 0 alone writes the run directory and the progress line, and the ranks' weights are
// compared (a hash) at every checkpoint.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "train/distributed.h"
#include "train/train_config.h"

namespace np {

struct TrainOptions {
    bool resume = false;   // continue cfg.out from its newest checkpoint
    int64_t stop_at = 0;   // > 0: stop (with a checkpoint) once this many steps are done
    bool dry_run = false;  // a few steps, then a time/memory report; writes nothing
    int dry_run_steps = 3;
    bool progress = true;  // the stderr progress line
    // The ranks of a data-parallel run; nullptr = this process alone.
    const Communicator* comm = nullptr;
    // Set (to the signal's number) by a SIGINT/SIGTERM handler: the run ends after the current
    // step with a checkpoint, and TrainResult::interrupted is set.
    const std::atomic<int>* interrupt = nullptr;
    // Test hook, called after the gradients of a step are complete and before the guard.
    std::function<void(int64_t step, std::span<float> grads, double& loss)> after_backward;
};

struct TrainResult {
    int64_t steps_done = 0;
    int64_t skipped = 0;
    double last_loss = 0;
    double step_seconds = 0;  // mean wall time of an optimizer step (dry run: excluding the first)
    double tok_s = 0;         // counted targets per second (all ranks) over the same steps
    size_t param_bytes = 0, grad_bytes = 0, optimizer_bytes = 0, peak_rss = 0;  // this rank
    int ranks = 1;
    bool interrupted = false;       // stopped early by TrainOptions::interrupt (checkpoint saved)
    bool already_finished = false;  // --resume of a run that had done all its steps: nothing ran
    // Dry run only: Model::activation_bytes() and the wall time of one micro-batch's forward and
    // backward, without and with activation recomputation.
    size_t activation_bytes = 0, activation_bytes_recompute = 0;
    double micro_seconds = 0, micro_seconds_recompute = 0;
};

TrainResult train(const TrainConfig& cfg, const TrainOptions& opt = {});

// The newest RUN_DIR/ckpt/step_NNNNNN directory, or "" when there is none.
std::string latest_checkpoint(const std::string& run_dir);

// Removes the temporary directories that an interrupted checkpoint save left in RUN_DIR and
// RUN_DIR/ckpt (step_N.tmp.PID, final.tmp.PID, ...); returns their paths.
std::vector<std::string> remove_interrupted_saves(const std::string& run_dir);

// "step_000042": the name of the checkpoint directory of a step.
std::string step_dir_name(int64_t step);

// Keeps the rows of a JSONL file whose "step" is <= upto (a resumed run rewrites the later ones);
// a torn last line is dropped. Nothing happens when the file does not exist.
void truncate_jsonl_after(const std::string& path, int64_t upto);

}  // namespace np
