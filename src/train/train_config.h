// The trainer's configuration (DESIGN §5 recipe): every field is a key of train.json and a flag of
// `nanoprime train`; the resolved config is saved as RUN_DIR/train_config.json.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace np {

struct TrainConfig {
    std::string init =
        "nano";               // a checkpoint directory, or a preset name (random init with `seed`)
    std::string data;         // a data config JSON (data/mixture.h), a shard directory or a .npts
    std::string val_data;     // the same kinds; a shard directory contributes its val_*.npts
    std::string out;          // run directory
    int64_t steps = 1000;     // optimizer steps
    int batch = 8;            // rows per micro-batch
    int accum = 1;            // micro-batches per optimizer step
    std::string seq = "256";  // tokens per row, or a curriculum "256@0,512@0.2"
    double lr = 3e-4, min_lr_ratio = 0.0;
    double warmup = 0.05, decay = 0.2;   // fractions of the run
    std::string decay_shape = "linear";  // linear | cosine | 1-sqrt
    double weight_decay = 0.1;
    bool adam8bit = false;
    double clip = 1.0;           // global-norm clip; 0 = off
    int64_t lerac_end_step = 0;  // 0 = LeRaC off
    double swa_start = 0;        // fraction of the run where SWA starts; 0 = off
    int swa_every = 1;
    uint64_t seed = 0;
    int threads = 0;         // 0 = OpenMP default
    int64_t save_every = 0;  // 0 = only the final checkpoint
    int keep_last = 3;
    int64_t eval_every = 0;  // 0 = no periodic validation
    int val_rows = 16;       // fixed validation rows
    int64_t log_every = 10;
    double spike_factor = 4.0;   // skip a step whose loss > factor * running mean (0 = off)
    int max_skips = 5;           // consecutive skipped steps before the run stops
    double dropout = 0;          // on each residual branch output (Model::TrainOptions), [0, 1)
    double label_smoothing = 0;  // eps of the smoothed targets, [0, 1)
    bool recompute = false;      // activation recomputation: keep only layer inputs
    int64_t sample_every = 0;    // greedy sample generations every N steps (0 = off)
    std::string sample_prompts;  // JSONL {"question"} or text lines; "" = two built-in questions

    // Throws np::Error naming the field and what was expected.
    void validate() const;
    nlohmann::json to_json() const;
    // Unknown keys are errors (a typo must not silently fall back to a default).
    static TrainConfig from_json(const nlohmann::json& j, const std::string& where = "train.json");
    static TrainConfig load(const std::string& path);
};

}  // namespace np
