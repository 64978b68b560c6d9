#include "rl/objective.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/gym.h"

namespace np::rl {

bool well_formed(std::string_view text) {
    const size_t open = text.find("<think>");
    if (open == std::string_view::npos || text.find("<think>", open + 1) != std::string_view::npos)
        return false;
    const size_t close = text.find("</think>", open);
    if (close == std::string_view::npos ||
        text.find("</think>", close + 1) != std::string_view::npos)
        return false;
    const std::string_view answer = text.substr(close + 8);
    return answer.find_first_not_of(" \t\r\n") != std::string_view::npos;
}

namespace {

std::vector<std::string_view> split_lines(std::string_view s) {
    std::vector<std::string_view> out;
    while (true) {
        const size_t nl = s.find('\n');
        out.push_back(s.substr(0, nl));
        if (nl == std::string_view::npos) return out;
        s.remove_prefix(nl + 1);
    }
}

// Leading lines of the reference trace reproduced by the think block of text, as a share.
double trace_share(std::string_view reference, std::string_view text) {
    const size_t open = text.find("<think>");
    if (reference.empty() || open == std::string_view::npos) return 0;
    std::string_view body = text.substr(open + 7);
    body = body.substr(0, body.find("</think>"));
    while (!body.empty() && body.front() == '\n') body.remove_prefix(1);
    const auto want = split_lines(reference), got = split_lines(body);
    size_t same = 0;
    while (same < want.size() && same < got.size() && want[same] == got[same]) ++same;
    return double(same) / double(want.size());
}

}  // namespace

Reward reward(const nlohmann::json& record, std::string_view text, int thinking_tokens,
              const RewardOptions& opt) {
    Reward r;
    if (opt.trace_reward > 0 && record.contains("thinking") && record["thinking"].is_string())
        r.trace_share = trace_share(record["thinking"].get<std::string>(), text);
    r.well_formed = well_formed(text);
    r.correct = r.well_formed && data::gym_score(record, text).correct;
    r.value = (r.correct ? 1.0 : 0.0) - (r.well_formed ? 0.0 : opt.format_penalty) -
              opt.length_cost * double(thinking_tokens) / double(std::max(1, opt.max_tokens)) +
              opt.trace_reward * r.trace_share;
    return r;
}

std::vector<double> group_advantages(std::span<const double> rewards, int group,
                                     bool scale_by_std) {
    if (group < 1 || rewards.size() % size_t(group) != 0)
        fail("rl: " + std::to_string(rewards.size()) + " rewards do not form groups of " +
             std::to_string(group));
    std::vector<double> a(rewards.size(), 0.0);
    for (size_t g = 0; g < rewards.size(); g += size_t(group)) {
        double mean = 0;
        for (int i = 0; i < group; ++i) mean += rewards[g + size_t(i)];
        mean /= group;
        double var = 0;
        for (int i = 0; i < group; ++i) var += std::pow(rewards[g + size_t(i)] - mean, 2);
        const double sd = std::sqrt(var / group);
        if (sd < 1e-12) continue;  // all equal: no signal
        for (int i = 0; i < group; ++i)
            a[g + size_t(i)] = (rewards[g + size_t(i)] - mean) / (scale_by_std ? sd + 1e-6 : 1.0);
    }
    return a;
}

GrpoToken grpo_token(double lp, double old_lp, double ref_lp, double advantage, double clip_eps,
                     double beta, double inv_n) {
    GrpoToken t;
    const double ratio = std::exp(lp - old_lp);
    const double clipped_ratio = std::clamp(ratio, 1 - clip_eps, 1 + clip_eps);
    const double plain = ratio * advantage, clipped = clipped_ratio * advantage;
    // min(plain, clipped): the clipped branch wins (and has no gradient in lp) only when it is
    // strictly smaller.
    t.clipped = clipped < plain;
    const double surrogate = t.clipped ? clipped : plain;
    const double d_surrogate = t.clipped ? 0.0 : plain;  // d(ratio * A)/d lp = ratio * A
    const double x = ref_lp - lp;
    t.kl = std::exp(x) - x - 1;
    const double d_kl = 1 - std::exp(x);  // dKL/d lp
    t.objective = surrogate - beta * t.kl;
    // loss = -inv_n * J; dLoss/dCE = -dLoss/dlp = inv_n * dJ/dlp.
    t.weight = inv_n * (d_surrogate - beta * d_kl);
    return t;
}

DpoPair dpo_pair(double lp_chosen, double ref_chosen, double lp_rejected, double ref_rejected,
                 double beta, double inv_pairs) {
    DpoPair p;
    p.margin = beta * ((lp_chosen - ref_chosen) - (lp_rejected - ref_rejected));
    // -log sigmoid(z) = log(1 + exp(-z)), computed without overflow.
    const double z = p.margin;
    p.loss = inv_pairs * (z > 0 ? std::log1p(std::exp(-z)) : -z + std::log1p(std::exp(z)));
    const double sig_neg = 1 / (1 + std::exp(z));  // sigmoid(-z) = -d(-log sigmoid z)/dz
    // dLoss/d lp_chosen(token) = -inv_pairs * beta * sigmoid(-z); dLoss/dCE is its negative.
    p.chosen_weight = inv_pairs * beta * sig_neg;
    p.rejected_weight = -p.chosen_weight;
    return p;
}

}  // namespace np::rl
