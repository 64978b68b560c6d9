#include "train/schedule.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "train/optimizer.h"

namespace np {

DecayShape parse_decay_shape(const std::string& s) {
    if (s == "linear") return DecayShape::Linear;
    if (s == "cosine") return DecayShape::Cosine;
    if (s == "1-sqrt") return DecayShape::OneMinusSqrt;
    fail("decay shape: expected linear, cosine or 1-sqrt, got \"" + s + "\"");
}

std::string to_string(DecayShape s) {
    switch (s) {
        case DecayShape::Linear:
            return "linear";
        case DecayShape::Cosine:
            return "cosine";
        case DecayShape::OneMinusSqrt:
            return "1-sqrt";
    }
    return "?";
}

LrSchedule::Kind parse_schedule_kind(const std::string& s) {
    if (s == "wsd") return LrSchedule::Kind::Wsd;
    if (s == "cosine") return LrSchedule::Kind::Cosine;
    fail("lr schedule: expected wsd or cosine, got \"" + s + "\"");
}

void LrSchedule::validate() const {
    auto in01 = [](double x) { return x >= 0 && x <= 1; };
    if (!(base_lr > 0)) fail("lr: expected a positive learning rate");
    if (total_steps <= 0) fail("steps: expected a positive number of optimizer steps");
    if (!in01(warmup_frac)) fail("warmup: expected a fraction in [0, 1]");
    if (!in01(decay_frac)) fail("decay: expected a fraction in [0, 1]");
    if (kind == Kind::Wsd &&
        warmup_steps() + int64_t(std::llround(decay_frac * total_steps)) > total_steps)
        fail("warmup + decay: the fractions add up to more than the whole run");
    if (!in01(min_lr_ratio)) fail("min_lr_ratio: expected a ratio in [0, 1]");
    if (!in01(warmup_start_ratio)) fail("warmup_start_ratio: expected a ratio in [0, 1]");
}

int64_t LrSchedule::warmup_steps() const {
    return std::llround(warmup_frac * total_steps);
}

int64_t LrSchedule::decay_start() const {
    if (kind == Kind::Cosine) return warmup_steps();
    return total_steps - std::llround(decay_frac * total_steps);
}

double LrSchedule::lr(int64_t step) const {
    const int64_t W = warmup_steps();
    if (step < W) {
        const double f = double(step + 1) / double(W);
        return base_lr * (warmup_start_ratio + (1.0 - warmup_start_ratio) * f);
    }
    const int64_t s0 = decay_start();
    if (step < s0) return base_lr;
    const int64_t D = total_steps - s0;
    const double p = D > 0 ? std::min(1.0, double(step - s0 + 1) / double(D)) : 1.0;
    double f;  // 1 -> 0 over the decay
    const DecayShape sh = kind == Kind::Cosine ? DecayShape::Cosine : shape;
    switch (sh) {
        case DecayShape::Linear:
            f = 1.0 - p;
            break;
        case DecayShape::Cosine:
            f = 0.5 * (1.0 + std::cos(M_PI * p));
            break;
        default:
            f = 1.0 - std::sqrt(p);
            break;
    }
    return base_lr * (min_lr_ratio + (1.0 - min_lr_ratio) * f);
}

SeqCurriculum SeqCurriculum::parse(std::string_view spec, const std::string& flag) {
    SeqCurriculum c;
    size_t pos = 0;
    while (pos <= spec.size()) {
        size_t comma = spec.find(',', pos);
        if (comma == std::string_view::npos) comma = spec.size();
        const std::string item(spec.substr(pos, comma - pos));
        const size_t at = item.find('@');
        auto bad = [&](const std::string& why) -> void {
            fail(flag + ": entry \"" + item + "\" " + why +
                 " (expected LEN@FRACTION,..., e.g. 256@0,512@0.2,1024@0.6)");
        };
        if (at == std::string::npos) bad("has no '@'");
        Entry e{};
        const char* b = item.data();
        auto r1 = std::from_chars(b, b + at, e.seq_len);
        if (r1.ec != std::errc() || r1.ptr != b + at || e.seq_len <= 0)
            bad("needs a positive integer length");
        try {
            size_t used = 0;
            const std::string fs = item.substr(at + 1);
            e.frac = std::stod(fs, &used);
            if (used != fs.size()) bad("has a malformed fraction");
        } catch (const std::logic_error&) {
            bad("has a malformed fraction");
        }
        if (!(e.frac >= 0 && e.frac < 1)) bad("needs a fraction in [0, 1)");
        if (c.entries_.empty() && e.frac != 0) bad("must start at fraction 0");
        if (!c.entries_.empty() && e.frac <= c.entries_.back().frac)
            bad("must come after the previous entry's fraction");
        c.entries_.push_back(e);
        pos = comma + 1;
    }
    return c;
}

int SeqCurriculum::at_step(int64_t step, int64_t total_steps) const {
    if (entries_.empty()) fail("sequence curriculum: empty");
    int len = entries_.front().seq_len;
    for (const Entry& e : entries_)
        if (step >= std::llround(e.frac * double(total_steps))) len = e.seq_len;
    return len;
}

int SeqCurriculum::max_len() const {
    int m = 0;
    for (const Entry& e : entries_) m = std::max(m, e.seq_len);
    return m;
}

void LeracSchedule::validate() const {
    if (!(start_decades >= 0)) fail("lerac_decades: expected a value >= 0");
}

double LeracSchedule::multiplier(int depth, int max_depth, int64_t step) const {
    if (end_step <= 0 || step >= end_step || max_depth <= 0) return 1.0;
    const double remaining = 1.0 - double(step) / double(end_step);
    return std::pow(10.0, -start_decades * double(depth) / double(max_depth) * remaining);
}

int LeracSchedule::depth_of(const ParamSpec& spec, int n_layers) {
    if (spec.layer >= 0) return spec.layer + 1;
    return spec.name.rfind("embed", 0) == 0 ? 0 : n_layers + 1;
}

void LeracSchedule::multipliers(const ParamLayout& layout, int n_layers, int64_t step,
                                std::span<float> out) const {
    if (out.size() != layout.specs.size())
        fail("LeRaC multipliers: output has " + std::to_string(out.size()) +
             " slots, expected one per parameter tensor (" + std::to_string(layout.specs.size()) +
             ")");
    for (size_t i = 0; i < out.size(); i++)
        out[i] = float(multiplier(depth_of(layout.specs[i], n_layers), n_layers + 1, step));
}

Swa::Swa(size_t n_params, double start_frac, int every)
    : start_frac_(start_frac), every_(every), avg_(n_params, 0.0f) {
    if (!(start_frac >= 0 && start_frac <= 1)) fail("swa_start: expected a fraction in [0, 1]");
    if (every <= 0) fail("swa_every: expected a positive number of steps");
}

bool Swa::due(int64_t steps_done, int64_t total_steps) const {
    const int64_t start = std::max<int64_t>(1, std::llround(start_frac_ * double(total_steps)));
    return steps_done >= start && (steps_done - start) % every_ == 0;
}

void Swa::update(std::span<const float> params) {
    if (params.size() != avg_.size())
        fail("SWA update: " + std::to_string(params.size()) + " parameters, expected " +
             std::to_string(avg_.size()));
    const double w = 1.0 / double(count_ + 1);
    float* a = avg_.data();
    const float* p = params.data();
    const int64_t n = int64_t(avg_.size());
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) a[i] = float(double(a[i]) + (double(p[i]) - double(a[i])) * w);
    count_++;
}

namespace {
constexpr char kSwaMagic[8] = {'N', 'P', 'S', 'W', 'A', 'V', 'G', '1'};
}

std::string Swa::serialize() const {
    std::string out(kSwaMagic, sizeof(kSwaMagic));
    const int64_t count = count_;
    const uint64_t n = avg_.size();
    out.append(reinterpret_cast<const char*>(&count), 8);
    out.append(reinterpret_cast<const char*>(&n), 8);
    out.append(reinterpret_cast<const char*>(avg_.data()), avg_.size() * sizeof(float));
    const uint64_t sum = state_checksum(out);
    out.append(reinterpret_cast<const char*>(&sum), 8);
    return out;
}

void Swa::deserialize(std::string_view bytes, const std::string& what) {
    const size_t head = sizeof(kSwaMagic) + 16;
    if (bytes.size() < head + 8)
        fail(what + ": truncated (" + std::to_string(bytes.size()) + " bytes)");
    if (std::memcmp(bytes.data(), kSwaMagic, sizeof(kSwaMagic)) != 0)
        fail(what + ": not a NanoPrime SWA state (bad magic)");
    int64_t count;
    uint64_t n, sum;
    std::memcpy(&count, bytes.data() + 8, 8);
    std::memcpy(&n, bytes.data() + 16, 8);
    if (n != avg_.size())
        fail(what + ": holds " + std::to_string(n) + " parameters, this model has " +
             std::to_string(avg_.size()));
    if (bytes.size() != head + n * sizeof(float) + 8)
        fail(what + ": truncated or oversized (" + std::to_string(bytes.size()) +
             " bytes, expected " + std::to_string(head + n * sizeof(float) + 8) + ")");
    std::memcpy(&sum, bytes.data() + bytes.size() - 8, 8);
    if (sum != state_checksum(bytes.substr(0, bytes.size() - 8)))
        fail(what + ": checksum mismatch (the file is corrupted)");
    if (count < 0) fail(what + ": negative snapshot count");
    std::memcpy(avg_.data(), bytes.data() + head, n * sizeof(float));
    count_ = count;
}

}  // namespace np
