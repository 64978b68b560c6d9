// Training throughput of the fp32 CPU engine: forward + backward tokens/s and peak memory for a
// preset at a given batch, sequence length and thread count. One JSON line per run, so
// bench/train_vs_torch.sh can put it beside the PyTorch reference (bench/torch_train_bench.py).
#include <cblas.h>
#include <omp.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/rng.h"
#include "model/model.h"

int main(int argc, char** argv) {
    CLI::App app{"bench_train: forward+backward tokens/s of the CPU trainer's model step"};
    std::string preset = "nano", config;
    int batch = 4, seq = 256, threads = 2, steps = 5, warmup = 1, doc_len = 0;
    bool no_quant = false;
    app.add_option("--preset", preset, "nano | small | elleci-1.5b")->capture_default_str();
    app.add_option("--config", config,
                   "A model config JSON (e.g. configs/reasoner_model.json) instead of a preset");
    app.add_option("--batch", batch)->capture_default_str();
    app.add_option("--seq", seq)->capture_default_str();
    app.add_option("--threads", threads)->capture_default_str();
    app.add_option("--steps", steps, "Timed steps")->capture_default_str();
    app.add_option("--warmup", warmup, "Untimed steps first")->capture_default_str();
    app.add_option("--doc-len", doc_len, "A new document (id 0) every N tokens; 0 = one per row")
        ->capture_default_str();
    app.add_flag("--no-quant", no_quant, "BitLinear quantisers off (plain linear layers)");
    CLI11_PARSE(app, argc, argv);

    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    np::ModelConfig cfg = np::ModelConfig::preset(preset);
    if (!config.empty()) {
        std::ifstream f(config);
        if (!f) {
            std::fprintf(stderr, "bench_train: cannot read %s\n", config.c_str());
            return 1;
        }
        try {
            cfg = np::ModelConfig::from_json(nlohmann::json::parse(f), config);
        } catch (const np::Error& e) {
            std::fprintf(stderr, "bench_train: %s\n", e.what());  // names the file and field
            return 1;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "bench_train: %s: %s\n", config.c_str(), e.what());
            return 1;
        }
    }
    np::Model<float> model(cfg);
    model.init_random(1);
    model.quantize = !no_quant;
    // Random tokens; with --doc-len, packed documents as in pretraining rows.
    np::Rng rng(7);
    std::vector<int32_t> tokens(size_t(batch) * seq);
    for (auto& t : tokens) t = 1 + int32_t(rng.next_u64() % uint64_t(model.cfg.vocab_size - 1));
    if (doc_len > 0)
        for (size_t i = 0; i < tokens.size(); i += size_t(doc_len)) tokens[i] = 0;

    double loss = 0;
    for (int i = 0; i < warmup; i++) loss = model.loss(tokens, {}, batch, seq, true).loss;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; i++) loss = model.loss(tokens, {}, batch, seq, true).loss;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    nlohmann::json j = {{"impl", "nanoprime"},
                        {"preset", config.empty() ? preset : config},
                        {"batch", batch},
                        {"seq", seq},
                        {"threads", threads},
                        {"quantize", !no_quant},
                        {"doc_len", doc_len},
                        {"steps", steps},
                        {"loss", loss},
                        {"ms_per_step", 1e3 * secs / steps},
                        {"tokens_per_s", double(batch) * seq * steps / secs},
                        {"peak_rss_mib", double(ru.ru_maxrss) / 1024.0}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
}
