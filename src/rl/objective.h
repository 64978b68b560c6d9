// The RL objectives as per-token weights on the cross-entropy (Model::loss with weights): GRPO's
// clipped surrogate with a KL penalty to a reference model, and DPO's pairwise logistic loss. Each
// function returns the objective's value and dLoss/dCE for the tokens it covers, so one weighted
// backward pass gives the objective's exact gradient (CE = -log p, so dLoss/dCE = -dLoss/dlog p).
// Also the verifiable reward of a sampled answer and GRPO's group-normalised advantages.
#pragma once
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace np::rl {

struct RewardOptions {
    double format_penalty = 0.5;  // subtracted when the think block is malformed
    double length_cost = 0;       // subtracted per thinking token, times 1/max_tokens
    int max_tokens = 256;
    // Process credit: added times the share of the record's reference trace ("thinking") that the
    // completion's think block reproduces line for line from its start. Dense where the answer is
    // rarely right; 0: off.
    double trace_reward = 0;
};

struct Reward {
    double value = 0;
    bool correct = false, well_formed = false;
    double trace_share = 0;  // leading reference lines reproduced / reference lines
};

// A completion is well formed when its text (the "<think>\n" prefill included) holds one
// "<think>", then one "</think>", then a non-empty answer. The reward is 1 only for a right answer
// (the gym scorer) in a well-formed completion: a well-formed wrong answer earns 0, so format
// alone never pays; a malformed one earns -format_penalty. Both lose length_cost * thinking
// tokens / max_tokens and gain trace_reward * trace_share.
bool well_formed(std::string_view text);
Reward reward(const nlohmann::json& record, std::string_view text, int thinking_tokens,
              const RewardOptions& opt);

// GRPO advantages: rewards [n_groups * group], A = (r - mean) / (std + 1e-6) within each group
// (population std), or r - mean when scale_by_std is false (Dr. GRPO). A group whose rewards are
// all equal gets zeros: it carries no signal.
std::vector<double> group_advantages(std::span<const double> rewards, int group,
                                     bool scale_by_std = true);

// One sampled token under GRPO. lp, old_lp, ref_lp: log p of the token under the policy being
// updated, the policy that sampled it, and the frozen reference. With ratio = exp(lp - old_lp):
//   J = min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A) - beta * KL,
//   KL = exp(ref_lp - lp) - (ref_lp - lp) - 1   (the k3 estimator: unbiased, >= 0),
// and the loss is -inv_n * J (inv_n: 1 / the batch's completion tokens).
struct GrpoToken {
    double objective = 0;  // J
    double kl = 0;
    double weight = 0;     // dLoss/dCE
    bool clipped = false;  // the clipped branch is active (no surrogate gradient)
};
GrpoToken grpo_token(double lp, double old_lp, double ref_lp, double advantage, double clip_eps,
                     double beta, double inv_n);

// One DPO pair: sums of token log-probs of the chosen (right) and rejected (wrong) completions
// under the policy (lp_*) and the reference (ref_*). With z = beta * ((lp_c - ref_c) - (lp_r -
// ref_r)) the loss is -inv_pairs * log sigmoid(z); every chosen token's CE weighs
// inv_pairs * beta * sigmoid(-z) and every rejected token's the negative of that.
struct DpoPair {
    double loss = 0, margin = 0;  // margin = z
    double chosen_weight = 0, rejected_weight = 0;
};
DpoPair dpo_pair(double lp_chosen, double ref_chosen, double lp_rejected, double ref_rejected,
                 double beta, double inv_pairs);

}  // namespace np::rl
