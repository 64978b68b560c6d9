#include "train/train_config.h"

#include <cmath>
#include <type_traits>

#include "core/error.h"
#include "core/file_io.h"
#include "train/schedule.h"

namespace np {

namespace {
// One table drives to_json and from_json so the two can never disagree.
template <class F>
void for_each_field(TrainConfig& c, F&& f) {
    f("init", c.init), f("data", c.data), f("val_data", c.val_data), f("out", c.out);
    f("steps", c.steps), f("batch", c.batch), f("accum", c.accum), f("seq", c.seq);
    f("lr", c.lr), f("min_lr_ratio", c.min_lr_ratio), f("warmup", c.warmup), f("decay", c.decay);
    f("decay_shape", c.decay_shape), f("weight_decay", c.weight_decay), f("adam8bit", c.adam8bit);
    f("clip", c.clip), f("lerac_end_step", c.lerac_end_step), f("swa_start", c.swa_start);
    f("swa_every", c.swa_every), f("seed", c.seed), f("threads", c.threads);
    f("save_every", c.save_every), f("keep_last", c.keep_last), f("eval_every", c.eval_every);
    f("val_rows", c.val_rows), f("log_every", c.log_every), f("spike_factor", c.spike_factor);
    f("max_skips", c.max_skips), f("dropout", c.dropout), f("label_smoothing", c.label_smoothing);
    f("recompute", c.recompute), f("sample_every", c.sample_every);
    f("sample_prompts", c.sample_prompts);
}
}  // namespace

void TrainConfig::validate() const {
    auto need = [](bool ok, const std::string& field, const std::string& what) {
        if (!ok) fail("train config: " + field + " " + what);
    };
    need(!init.empty(), "init", "must name a checkpoint directory or a preset");
    need(!data.empty(), "data", "must name a data config, a shard directory or a .npts file");
    need(steps > 0, "steps", "must be > 0");
    need(batch > 0, "batch", "must be > 0");
    need(accum > 0, "accum", "must be > 0");
    need(std::isfinite(lr) && lr > 0, "lr", "must be a finite number > 0");
    need(min_lr_ratio >= 0 && min_lr_ratio <= 1, "min_lr_ratio", "must be in [0, 1]");
    need(weight_decay >= 0, "weight_decay", "must be >= 0");
    need(clip >= 0, "clip", "must be >= 0 (0 = off)");
    need(lerac_end_step >= 0, "lerac_end_step", "must be >= 0 (0 = off)");
    need(swa_start >= 0 && swa_start < 1, "swa_start", "must be in [0, 1) (0 = off)");
    need(swa_every > 0, "swa_every", "must be > 0");
    need(threads >= 0, "threads", "must be >= 0 (0 = OpenMP default)");
    need(save_every >= 0, "save_every", "must be >= 0");
    need(keep_last > 0, "keep_last", "must be > 0");
    need(eval_every >= 0, "eval_every", "must be >= 0");
    need(eval_every == 0 || !val_data.empty(), "eval_every", "needs val_data");
    need(val_rows > 0, "val_rows", "must be > 0");
    need(log_every > 0, "log_every", "must be > 0");
    need(spike_factor == 0 || spike_factor > 1, "spike_factor", "must be 0 (off) or > 1");
    need(max_skips > 0, "max_skips", "must be > 0");
    need(std::isfinite(dropout) && dropout >= 0 && dropout < 1, "dropout",
         "must be in [0, 1) (0 = off)");
    need(std::isfinite(label_smoothing) && label_smoothing >= 0 && label_smoothing < 1,
         "label_smoothing", "must be in [0, 1) (0 = off)");
    need(sample_every >= 0, "sample_every", "must be >= 0 (0 = off)");
    if (seq.find('@') == std::string::npos) {
        size_t used = 0;
        int n = 0;
        try {
            n = std::stoi(seq, &used);
        } catch (const std::logic_error&) {
        }
        need(used == seq.size() && n > 1, "seq",
             "must be a length > 1 or a curriculum like 256@0,512@0.2");
    } else {
        SeqCurriculum::parse(seq, "train config: seq");
    }
    LrSchedule s;
    s.base_lr = lr;
    s.total_steps = steps;
    s.warmup_frac = warmup;
    s.decay_frac = decay;
    s.shape = parse_decay_shape(decay_shape);
    s.min_lr_ratio = min_lr_ratio;
    s.validate();
}

nlohmann::json TrainConfig::to_json() const {
    nlohmann::json j = nlohmann::json::object();
    TrainConfig c = *this;
    for_each_field(c, [&](const char* k, auto& v) { j[k] = v; });
    return j;
}

TrainConfig TrainConfig::from_json(const nlohmann::json& j, const std::string& where) {
    if (!j.is_object()) fail(where + ": expected a JSON object");
    TrainConfig c;
    size_t known = 0;
    for_each_field(c, [&](const char* k, auto& v) {
        if (!j.contains(k)) return;
        known++;
        using V = std::decay_t<decltype(v)>;
        // nlohmann would truncate 1.5 to 1 or wrap -1 to 2^64-1 without a word.
        if constexpr (std::is_integral_v<V> && !std::is_same_v<V, bool>) {
            const auto& x = j.at(k);
            const bool ok = std::is_signed_v<V> ? x.is_number_integer() : x.is_number_unsigned();
            if (!ok)
                fail(where + ": field \"" + k + "\" must be " +
                     (std::is_signed_v<V> ? "an integer" : "a non-negative integer") + " (" +
                     x.dump() + ")");
        }
        try {
            j.at(k).get_to(v);
        } catch (const nlohmann::json::exception&) {
            fail(where + ": field \"" + k + "\" has the wrong type (" + j.at(k).dump() + ")");
        }
    });
    if (known != j.size()) {
        TrainConfig probe;
        for (const auto& item : j.items()) {
            // A named reference, not a structured binding: clang 14 cannot capture bindings.
            const std::string& k = item.key();
            bool ok = false;
            for_each_field(probe, [&](const char* name, auto&) { ok = ok || k == name; });
            if (!ok) fail(where + ": unknown field \"" + k + "\"");
        }
    }
    return c;
}

TrainConfig TrainConfig::load(const std::string& path) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
        fail(path + ": not valid JSON (" + e.what() + ")");
    }
    return from_json(j, path);
}

}  // namespace np
