// Training schedules (DESIGN §5), all counted in optimizer steps: the learning rate (WSD or
// cosine), the sequence-length curriculum, LeRaC per-layer LR multipliers and SWA weight averaging.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/params.h"

namespace np {

enum class DecayShape { Linear, Cosine, OneMinusSqrt };
DecayShape parse_decay_shape(const std::string& s);  // "linear" | "cosine" | "1-sqrt"
std::string to_string(DecayShape s);

// Learning rate at optimizer step s (0-based) of total_steps.
//   warmup: the first W = round(warmup_frac*total) steps rise linearly from
//           base*warmup_start_ratio to base: lr = base*(r0 + (1-r0)*(s+1)/W), so step 0 already
//           moves and step W-1 is at base.
//   WSD:    stable at base until the last D = round(decay_frac*total) steps, which fall with
//   `shape`
//           from base to base*min_lr_ratio: progress p = (s-(total-D)+1)/D, reaching min at the
//           last step.
//   cosine: after warmup, a cosine from base to base*min_lr_ratio over the remaining steps (same
//           progress convention); decay_frac and shape are unused.
// Steps past the end stay at the final value.
struct LrSchedule {
    enum class Kind { Wsd, Cosine };
    Kind kind = Kind::Wsd;
    double base_lr = 3e-4;
    int64_t total_steps = 0;
    double warmup_frac = 0.05;
    double decay_frac = 0.2;
    DecayShape shape = DecayShape::Linear;
    double min_lr_ratio = 0.0;
    double warmup_start_ratio = 0.0;

    void validate() const;  // throws np::Error naming the bad field
    double lr(int64_t step) const;
    int64_t warmup_steps() const;
    int64_t decay_start() const;  // first step of the decay (WSD) or of the cosine
};
LrSchedule::Kind parse_schedule_kind(const std::string& s);  // "wsd" | "cosine"

// Sequence-length curriculum, e.g. "256@0,512@0.2,1024@0.6": each entry's length applies from the
// step round(frac*total) on. Fractions strictly increasing, the first 0, all in [0, 1).
class SeqCurriculum {
public:
    struct Entry {
        int seq_len;
        double frac;
    };
    SeqCurriculum() = default;
    explicit SeqCurriculum(int fixed_len) : entries_{{fixed_len, 0.0}} {}
    // Throws np::Error naming `flag` and the bad entry.
    static SeqCurriculum parse(std::string_view spec, const std::string& flag = "seq_curriculum");
    int at_step(int64_t step, int64_t total_steps) const;
    int max_len() const;
    const std::vector<Entry>& entries() const { return entries_; }

private:
    std::vector<Entry> entries_;
};

// LeRaC (Learning Rate Curriculum, Croitoru et al. 2023): deeper parameters start with a lower LR
// and all reach the base LR at end_step. Depth d: 0 for the embedding, l+1 for layer l, L+1 for the
// final norm and untied head (the output end). With max depth Dm = L+1, a depth-d tensor starts at
//   mult_0(d) = 10^(-start_decades * d / Dm)
// and rises exponentially (log-linearly, as the paper's schedule) to 1:
//   mult(d, s) = mult_0(d)^(1 - s/end_step) for s < end_step, 1 afterwards.
// start_decades = 1 puts the head at 0.1x at step 0. end_step <= 0 disables it (all 1).
struct LeracSchedule {
    double start_decades = 1.0;
    int64_t end_step = 0;

    void validate() const;
    double multiplier(int depth, int max_depth, int64_t step) const;
    static int depth_of(const ParamSpec& spec, int n_layers);
    // out: one multiplier per layout spec, for AdamW::step.
    void multipliers(const ParamLayout& layout, int n_layers, int64_t step,
                     std::span<float> out) const;
};

// Stochastic weight averaging: a running mean of the parameters taken every `every` optimizer steps
// from the step round(start_frac*total) on (due() takes the count of steps completed so far).
class Swa {
public:
    Swa() = default;
    Swa(size_t n_params, double start_frac, int every);
    bool due(int64_t steps_done, int64_t total_steps) const;
    // avg += (p - avg)/(count+1), each element in double.
    void update(std::span<const float> params);
    int64_t count() const { return count_; }
    const std::vector<float>& average() const { return avg_; }

    std::string serialize() const;
    // Throws np::Error naming `what` on a truncated/corrupted blob or a size mismatch.
    void deserialize(std::string_view bytes, const std::string& what = "SWA state");

private:
    double start_frac_ = 0.8;
    int every_ = 1;
    int64_t count_ = 0;
    std::vector<float> avg_;
};

}  // namespace np
