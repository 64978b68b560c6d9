#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace np::infer {

void validate(const SamplerOptions& o) {
    if (!(o.temperature >= 0) || !std::isfinite(o.temperature))
        fail("--temperature: expected a finite value >= 0, got " + std::to_string(o.temperature));
    if (o.top_k < 0) fail("--top-k: expected >= 0 (0: off), got " + std::to_string(o.top_k));
    if (!(o.top_p > 0 && o.top_p <= 1))
        fail("--top-p: expected a value in (0, 1] (1: off), got " + std::to_string(o.top_p));
    if (!(o.min_p >= 0 && o.min_p < 1))
        fail("--min-p: expected a value in [0, 1) (0: off), got " + std::to_string(o.min_p));
    if (!(o.repetition_penalty > 0) || !std::isfinite(o.repetition_penalty))
        fail("--repeat-penalty: expected a finite value > 0 (1: off), got " +
             std::to_string(o.repetition_penalty));
    if (!(std::fabs(o.presence_penalty) <= 2))
        fail("--presence-penalty: expected a value in [-2, 2] (0: off), got " +
             std::to_string(o.presence_penalty));
    if (!(std::fabs(o.frequency_penalty) <= 2))
        fail("--frequency-penalty: expected a value in [-2, 2] (0: off), got " +
             std::to_string(o.frequency_penalty));
    if (o.repeat_last_n < 0)
        fail("--repeat-last-n: expected >= 0, got " + std::to_string(o.repeat_last_n));
}

Sampler::Sampler(const SamplerOptions& opt) : opt_(opt), rng_(splitmix64(opt.seed)) {
    validate(opt_);
    recent_.reserve(size_t(opt_.repeat_last_n));
}

void Sampler::reset() {
    rng_ = Rng(splitmix64(opt_.seed));
    recent_.clear();
    recent_next_ = 0;
}

void Sampler::accept(int32_t token) {
    const size_t n = size_t(opt_.repeat_last_n);
    if (n == 0) return;
    if (recent_.size() < n) {
        recent_.push_back(token);
        return;
    }
    recent_[recent_next_] = token;
    recent_next_ = (recent_next_ + 1) % n;
}

int32_t Sampler::sample(std::span<const float> logits) {
    const size_t V = logits.size();
    if (V == 0) fail("sampler: empty logits");
    const bool additive = opt_.presence_penalty != 0 || opt_.frequency_penalty != 0;
    const bool penalties = (opt_.repetition_penalty != 1 || additive) && !recent_.empty();
    // Greedy without penalties: the first largest logit, read in place (no copy of V candidates
    // per token; the same choice as below).
    if (opt_.temperature <= 0 && !penalties)
        return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    cand_.resize(V);
    for (size_t i = 0; i < V; ++i) cand_[i] = {logits[i], int32_t(i), 0.0};

    if (penalties) {
        seen_.resize(V);  // occurrences of each recent token
        for (int32_t t : recent_)
            if (t >= 0 && size_t(t) < V) seen_[size_t(t)]++;
        const float r = opt_.repetition_penalty;
        for (int32_t t : recent_) {
            if (t < 0 || size_t(t) >= V || seen_[size_t(t)] == 0) continue;
            float& l = cand_[size_t(t)].logit;
            if (r != 1) l = l > 0 ? l / r : l * r;
            // OpenAI's penalties: the count times frequency_penalty, plus presence_penalty once.
            if (additive)
                l -= float(seen_[size_t(t)]) * opt_.frequency_penalty + opt_.presence_penalty;
            seen_[size_t(t)] = 0;  // penalise each token once
        }
    }

    // Higher logit first; equal logits by lower id, so every choice below is deterministic.
    auto better = [](const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    if (opt_.temperature <= 0) return std::min_element(cand_.begin(), cand_.end(), better)->id;

    size_t n = V;
    bool sorted = false;
    if (opt_.top_k > 0 && size_t(opt_.top_k) < n) {
        n = size_t(opt_.top_k);
        std::partial_sort(cand_.begin(), cand_.begin() + ptrdiff_t(n), cand_.end(), better);
        sorted = true;
    }

    const double inv_t = 1.0 / double(opt_.temperature);
    double mx = -INFINITY;
    for (size_t i = 0; i < n; ++i) mx = std::max(mx, double(cand_[i].logit) * inv_t);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
        cand_[i].p = std::exp(double(cand_[i].logit) * inv_t - mx);
        sum += cand_[i].p;
    }
    for (size_t i = 0; i < n; ++i) cand_[i].p /= sum;
    sum = 1;

    if (opt_.top_p < 1) {
        if (!sorted) std::sort(cand_.begin(), cand_.begin() + ptrdiff_t(n), better);
        sorted = true;
        double cum = 0;
        size_t keep = n;
        for (size_t i = 0; i < n; ++i) {
            cum += cand_[i].p;
            if (cum >= double(opt_.top_p)) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
        sum = 0;
        for (size_t i = 0; i < n; ++i) sum += cand_[i].p;
    }

    if (opt_.min_p > 0) {
        double pmax = 0;
        for (size_t i = 0; i < n; ++i) pmax = std::max(pmax, cand_[i].p);
        const double threshold = double(opt_.min_p) * pmax;
        size_t kept = 0;
        sum = 0;
        for (size_t i = 0; i < n; ++i)
            if (cand_[i].p >= threshold) {
                cand_[kept++] = cand_[i];
                sum += cand_[i].p;
            }
        n = kept;  // >= 1: the most likely token always passes
    }

    const double u = rng_.uniform() * sum;
    double acc = 0;
    int32_t last = cand_[0].id;  // rounding can leave u >= acc: fall back to a token with p > 0
    for (size_t i = 0; i < n; ++i) {
        if (cand_[i].p <= 0) continue;
        acc += cand_[i].p;
        last = cand_[i].id;
        if (u < acc) return last;
    }
    return last;
}

}  // namespace np::infer
