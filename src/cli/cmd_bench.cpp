// nanoprime bench: prompt-processing and generation speed of a model, as llama-bench reports it
// (a table and JSON), plus what decode reads per token against the machine's measured read
// bandwidth — decode is memory-bound, so that ratio is the honest measure of the kernels.
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/memory_bandwidth.h"
#include "core/rng.h"
#include "infer/export.h"
#include "infer/model_loader.h"
#include "infer/packed_decoder.h"
#include "kernels/cpu/dispatch.h"
#include "train/metrics.h"

namespace np::cli {

namespace {

struct BenchArgs {
    std::string model, threads = "", prompt = "128", gen = "128", depth = "0", out;
    int reps = 3;
    bool json = false, reference = false, no_bandwidth = false;
};

std::vector<int> parse_list(const std::string& s, const std::string& flag, int min) {
    std::vector<int> v;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        size_t used = 0;
        int x = 0;
        try {
            x = std::stoi(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != item.size() || item.empty() || x < min)
            fail(flag + ": expected a comma-separated list of integers >= " + std::to_string(min) +
                 ", got '" + s + "'");
        v.push_back(x);
    }
    if (v.empty()) fail(flag + ": empty list");
    return v;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Stat {
    double mean = 0, sd = 0;
};
Stat stat_of(const std::vector<double>& v) {
    Stat s;
    for (double x : v) s.mean += x;
    s.mean /= double(v.size());
    for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
    s.sd = v.size() > 1 ? std::sqrt(s.sd / double(v.size() - 1)) : 0;
    return s;
}

void run_bench(const BenchArgs& a) {
    const auto threads = parse_list(
        a.threads.empty() ? std::to_string(omp_get_max_threads()) : a.threads, "-t/--threads", 1);
    const auto prompts = parse_list(a.prompt, "-p/--n-prompt", 0);
    const auto gens = parse_list(a.gen, "-n/--n-gen", 0);
    const auto depths = parse_list(a.depth, "-d/--n-depth", 0);
    if (a.reps < 1) fail("-r/--repetitions: expected >= 1");
    infer::LoadOptions lo;
    lo.reference = a.reference;
    infer::LoadedModel lm = infer::load_model(a.model, lo);
    infer::Decoder& dec = *lm.decoder;
    const ModelConfig& cfg = dec.config();
    const auto* packed = dynamic_cast<infer::PackedDecoder*>(&dec);
    const size_t bytes_per_token = packed ? packed->model().bytes_read_per_token() : 0;
    const size_t weight_bytes = packed ? packed->model().weight_bytes() : 0;
    for (int d : depths)
        for (int p : prompts)
            if (d + p + 1 > (1 << 24)) fail("-d/-p: context too large");

    // Token ids for the benchmark: fixed pseudo-random ids other than 0 (which would start a new
    // document), after one leading 0.
    Rng rng(1234);
    auto random_tokens = [&](int n) {
        std::vector<int32_t> t(n);
        for (auto& x : t) x = 1 + int32_t(rng.next_u64() % uint64_t(cfg.vocab_size - 1));
        return t;
    };
    std::vector<float> logits(cfg.vocab_size);
    auto fill_context = [&](int depth) {
        dec.reset();
        std::vector<int32_t> ctx = random_tokens(depth + 1);
        ctx[0] = 0;
        dec.prefill(ctx, logits);
    };

    const std::string backend =
        std::string("CPU ") + kern::kernel_path_name(kern::active_kernel_path());
    nlohmann::json rows = nlohmann::json::array();
    std::printf("model: %s (%s), %d layers, d_model %d, weights %s, decode reads %s per token\n",
                a.model.c_str(), dec.name().c_str(), cfg.n_layers, cfg.d_model,
                format_bytes(double(weight_bytes)).c_str(),
                format_bytes(double(bytes_per_token)).c_str());
    std::printf("| %-8s | %-7s | %-15s | %19s | %9s | %10s | %10s | %10s |\n", "backend", "threads",
                "test", "t/s", "GB/s", "% of BW", "cache", "RSS");
    std::printf("| %-8s | %-7s | %-15s | %19s | %9s | %10s | %10s | %10s |\n", "--------",
                "------:", "---------------",
                "------------------:", "--------:", "---------:", "---------:", "---------:");
    // The read bandwidth is re-measured right before every timed generation repetition and each
    // repetition's rate is set against its own measurement: on a shared machine the bandwidth
    // drifts by tens of percent within a minute, and a ratio of numbers taken minutes apart
    // would measure the drift, not the kernels.
    std::unique_ptr<ReadBandwidthProbe> probe;
    if (packed && !a.no_bandwidth) probe = std::make_unique<ReadBandwidthProbe>(size_t(256) << 20);
    for (int t : threads) {
        omp_set_num_threads(t);
        for (int d : depths) {
            auto run = [&](const std::string& kind, int n) {
                if (n == 0) return;
                std::vector<double> rates, bws, fractions;
                size_t cache = 0;
                for (int r = 0; r < a.reps + 1; r++) {  // the first repetition warms up
                    fill_context(d);
                    std::vector<int32_t> toks = random_tokens(n);
                    const double bw_r =
                        probe && kind == "tg" && r > 0 ? probe->measure_gbps(t, 2) : 0;
                    const auto t0 = std::chrono::steady_clock::now();
                    if (kind == "pp") {
                        dec.prefill(toks, logits);
                    } else {
                        for (int i = 0; i < n; i++) dec.step(toks[i], logits);
                    }
                    const double s = seconds_since(t0);
                    if (r > 0) rates.push_back(double(n) / s);
                    if (bw_r > 0) {
                        bws.push_back(bw_r);
                        fractions.push_back(double(n) / s * double(bytes_per_token) / 1e9 / bw_r);
                    }
                    if (packed) cache = packed->cache_bytes();
                }
                const Stat st = stat_of(rates);
                const std::string test =
                    kind + std::to_string(n) + (d > 0 ? " @ d" + std::to_string(d) : "");
                const double gbps = kind == "tg" ? st.mean * double(bytes_per_token) / 1e9 : 0;
                const Stat frac = fractions.empty() ? Stat{} : stat_of(fractions);
                const double bw = bws.empty() ? 0 : stat_of(bws).mean;
                char rate[64], g[32], pct[32];
                std::snprintf(rate, sizeof rate, "%.2f ± %.2f", st.mean, st.sd);
                std::snprintf(g, sizeof g, "%.2f", gbps);
                std::snprintf(pct, sizeof pct, "%.0f ± %.0f%%", 100 * frac.mean, 100 * frac.sd);
                // The bandwidth probe's buffer is resident too; it is not the model's memory.
                const size_t rss = current_rss_bytes() - (probe ? probe->bytes() : 0);
                std::printf("| %-8s | %7d | %-15s | %19s | %9s | %10s | %10s | %10s |\n",
                            backend.c_str(), t, test.c_str(), rate,
                            kind == "tg" && packed ? g : "-", !fractions.empty() ? pct : "-",
                            format_bytes(double(cache)).c_str(), format_bytes(double(rss)).c_str());
                std::fflush(stdout);
                rows.push_back({{"test", kind},
                                {"n", n},
                                {"depth", d},
                                {"threads", t},
                                {"tokens_per_s", st.mean},
                                {"stddev", st.sd},
                                {"samples", rates},
                                {"weight_gbps", gbps},
                                {"read_bandwidth_gbps", bw},
                                {"read_bandwidth_samples", bws},
                                {"bandwidth_fraction", frac.mean},
                                {"bandwidth_fraction_samples", fractions},
                                {"cache_bytes", cache},
                                {"rss_bytes", rss}});
            };
            for (int p : prompts) run("pp", p);
            for (int n : gens) run("tg", n);
        }
    }
    std::printf(
        "GB/s: weight + state bytes decode reads per token x tokens/s; %% of BW: each repetition "
        "against the read bandwidth measured right before it on the same threads, mean ± sd (a "
        "model that fits in the CPU caches can exceed 100%%).\n");
    nlohmann::json report = {
        {"model", a.model},
        {"decoder", dec.name()},
        {"kernel_path", kern::kernel_path_name(kern::active_kernel_path())},
        {"bytes_read_per_token", bytes_per_token},
        {"weight_bytes", weight_bytes},
        {"cache_bytes_per_token", infer::inference_memory(cfg).mla_cache_per_token},
        {"mamba_state_bytes", infer::inference_memory(cfg).mamba_state},
        {"results", rows}};
    if (a.json) std::printf("%s\n", report.dump(2).c_str());
    if (!a.out.empty()) write_file_atomic(a.out, report.dump(2) + "\n");
}

}  // namespace

void register_bench_commands(CLI::App& app) {
    auto a = std::make_shared<BenchArgs>();
    auto* c = app.add_subcommand(
        "bench", "Prompt (pp) and generation (tg) tokens/s of a model, llama-bench style");
    c->add_option("-m,--model", a->model, "Checkpoint directory or .gguf file")->required();
    c->add_option("-p,--n-prompt", a->prompt, "Prompt lengths, comma-separated (0: skip)")
        ->capture_default_str();
    c->add_option("-n,--n-gen", a->gen, "Generated tokens, comma-separated (0: skip)")
        ->capture_default_str();
    c->add_option("-t,--threads", a->threads, "Thread counts, comma-separated (default: all)");
    c->add_option("-d,--n-depth", a->depth,
                  "Context already in the cache before each test, comma-separated")
        ->capture_default_str();
    c->add_option("-r,--repetitions", a->reps, "Timed repetitions per test (after one warm-up)")
        ->capture_default_str();
    c->add_flag("--reference", a->reference,
                "Checkpoint directories: time the fp32 reference decoder instead");
    c->add_flag("--no-bandwidth", a->no_bandwidth, "Skip the memory-bandwidth measurement");
    c->add_flag("--json", a->json, "Also print the results as JSON");
    c->add_option("--out", a->out, "Write the JSON report to this file");
    c->callback([a] { run_bench(*a); });
}

}  // namespace np::cli
