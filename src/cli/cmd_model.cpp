// Model commands: init (random checkpoint), params (parameter counts), loss (cross-entropy and
// grads).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/safetensors.h"
#include "data/shard.h"
#include "model/checkpoint.h"
#include "model/model.h"

namespace np::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct InitOptions {
    std::string preset, config, out;
    uint64_t seed = 1;
    bool force = false;
};

void run_init(const InitOptions& o) {
    ModelConfig cfg = ModelConfig::from_preset_or_file(o.preset, o.config, "init");
    if (fs::exists(o.out) && !o.force && !(fs::is_directory(o.out) && fs::is_empty(o.out)))
        fail("init: --out " + o.out +
             " already exists and is not empty (use --force to replace it)");
    Model<float> model(cfg);
    model.init_random(o.seed);
    save_checkpoint(o.out, model);
    ParamCounts n = count_params(cfg);
    std::printf("wrote %s: %lld parameters (%lld ternary), seed %llu\n", o.out.c_str(),
                (long long)n.total, (long long)n.ternary, (unsigned long long)o.seed);
}

struct ParamsOptions {
    std::string dir, preset;
    bool as_json = false;
};

std::string human(double n) {
    char buf[32];
    if (n >= 1e9)
        std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
    else if (n >= 1e6)
        std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
    else if (n >= 1e3)
        std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%.0f", n);
    return buf;
}

std::string bytes_str(double b) {
    char buf[32];
    if (b >= 1 << 30)
        std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1 << 30));
    else if (b >= 1 << 20)
        std::snprintf(buf, sizeof buf, "%.1f MiB", b / double(1 << 20));
    else
        std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
    return buf;
}

void run_params(const ParamsOptions& o) {
    if (o.dir.empty() == o.preset.empty())
        fail("params: give exactly one of a checkpoint DIR or --preset NAME");
    ModelConfig cfg = o.preset.empty()
                          ? ModelConfig::load((fs::path(o.dir) / "config.json").string())
                          : ModelConfig::preset(o.preset);
    ParamCounts n = count_params(cfg);
    // Deployment estimate: ternary at 2 bits/weight (tq2) plus a per-tensor scale, the rest in
    // fp16.
    const double fp32_bytes = 4.0 * double(n.total);
    const double deploy_bytes = double(n.ternary) * 2.0 / 8.0 + 2.0 * double(n.full_precision);
    if (o.as_json) {
        json j = {{"total", n.total},
                  {"ternary", n.ternary},
                  {"full_precision", n.full_precision},
                  {"embedding", n.embedding},
                  {"lm_head", n.head},
                  {"norms", n.norms},
                  {"mamba", n.mamba},
                  {"mla", n.mla},
                  {"ffn", n.ffn},
                  {"fp32_bytes", fp32_bytes},
                  {"deploy_tq2_f16_bytes", deploy_bytes},
                  {"config", cfg.to_json()}};
        std::printf("%s\n", j.dump().c_str());
        return;
    }
    int n_m = 0, n_a = 0;
    for (int l = 0; l < cfg.n_layers; l++) (cfg.mixer_kind(l) == 'M' ? n_m : n_a)++;
    std::printf(
        "model: d_model %d, %d layers (%d Mamba-2, %d MLA, pattern %s), vocab %d, %s head\n",
        cfg.d_model, cfg.n_layers, n_m, n_a, cfg.layer_pattern.c_str(), cfg.vocab_size,
        cfg.tie_embeddings ? "tied" : "untied");
    std::printf("%-22s %14s %9s\n", "component", "parameters", "share");
    auto row = [&](const char* name, int64_t v) {
        std::printf("%-22s %14lld %8.2f%%\n", name, (long long)v,
                    100.0 * double(v) / double(n.total));
    };
    row("embedding", n.embedding);
    if (!cfg.tie_embeddings) row("lm_head", n.head);
    row("mamba-2 mixers", n.mamba);
    row("mla mixers", n.mla);
    row("ffn", n.ffn);
    row("block/final norms", n.norms);
    std::printf("%-22s %14lld  (%s)\n", "total", (long long)n.total,
                human(double(n.total)).c_str());
    std::printf("%-22s %14lld %8.2f%%  (BitLinear, {-1,0,+1} x per-tensor scale)\n", "ternary",
                (long long)n.ternary, 100.0 * double(n.ternary) / double(n.total));
    std::printf("%-22s %14lld %8.2f%%  (embedding, head, norms, conv, A_log, dt_bias, D)\n",
                "full precision", (long long)n.full_precision,
                100.0 * double(n.full_precision) / double(n.total));
    std::printf(
        "size: fp32 checkpoint %s; deployed (ternary 2 bits, rest fp16) ~%s = %.2f "
        "bits/parameter\n",
        bytes_str(fp32_bytes).c_str(), bytes_str(deploy_bytes).c_str(),
        8.0 * deploy_bytes / double(n.total));
}

struct LossOptions {
    std::string ckpt, tokens, mask, grads;
    int seq = 0, batch = 0;
    bool no_quant = false;
};

bool is_shard_file(const std::string& path) {
    std::string head = read_file_prefix(path, 4);
    return head == "NPTS";
}

// Cuts the first batch*seq tokens of a shard into rows; the shard's own loss mask comes along.
void read_shard_rows(const LossOptions& o, int max_seq, std::vector<int32_t>& tokens,
                     std::vector<uint8_t>& mask, int& B, int& T) {
    data::ShardReader shard(o.tokens);
    T = o.seq > 0 ? o.seq : int(std::min<uint64_t>(shard.size(), uint64_t(max_seq)));
    if (T < 2) fail("--tokens " + o.tokens + ": the shard holds fewer than 2 tokens");
    B = o.batch > 0 ? o.batch : int(shard.size() / uint64_t(T));
    if (B < 1 || uint64_t(B) * uint64_t(T) > shard.size())
        fail("--tokens " + o.tokens + ": the shard holds " + std::to_string(shard.size()) +
             " tokens, fewer than --batch " + std::to_string(B) + " x --seq " + std::to_string(T));
    tokens.resize(size_t(B) * T);
    mask.resize(shard.has_mask() ? tokens.size() : 0);
    shard.read(0, tokens, mask);
}

// Reads a JSON array of equal-length arrays of integers; returns the flat data and its shape.
std::vector<int64_t> read_int_matrix(const std::string& path, const char* flag, int& B, int& T) {
    json j;
    try {
        j = json::parse(read_file(path));
    } catch (const json::parse_error& e) {
        fail(std::string(flag) + " " + path + ": invalid JSON: " + e.what());
    }
    if (!j.is_array() || j.empty())
        fail(std::string(flag) + " " + path +
             ": expected a non-empty JSON array of equal-length arrays of integers");
    B = int(j.size());
    T = -1;
    std::vector<int64_t> out;
    for (size_t b = 0; b < j.size(); b++) {
        const json& row = j[b];
        if (!row.is_array() || row.empty())
            fail(std::string(flag) + " " + path + ": row " + std::to_string(b) +
                 " is not a non-empty array");
        if (T < 0) T = int(row.size());
        if (int(row.size()) != T)
            fail(std::string(flag) + " " + path + ": row " + std::to_string(b) + " has " +
                 std::to_string(row.size()) + " entries, row 0 has " + std::to_string(T) +
                 " (rows must have equal length)");
        for (size_t t = 0; t < row.size(); t++) {
            if (!row[t].is_number_integer())
                fail(std::string(flag) + " " + path + ": entry [" + std::to_string(b) + "][" +
                     std::to_string(t) + "] is not an integer");
            out.push_back(row[t].get<int64_t>());
        }
    }
    return out;
}

void run_loss(const LossOptions& o) {
    Model<float> model = load_checkpoint(o.ckpt);
    model.quantize = !o.no_quant;
    int B = 0, T = 0;
    std::vector<int64_t> raw;
    std::vector<int32_t> tokens;
    std::vector<uint8_t> mask;
    if (is_shard_file(o.tokens))
        read_shard_rows(o, model.cfg.max_seq_len, tokens, mask, B, T);
    else
        raw = read_int_matrix(o.tokens, "--tokens", B, T), tokens.resize(raw.size());
    for (size_t i = 0; i < raw.size(); i++) {
        if (raw[i] < 0 || raw[i] >= model.cfg.vocab_size)
            fail("--tokens " + o.tokens + ": token id " + std::to_string(raw[i]) + " at row " +
                 std::to_string(i / T) + ", column " + std::to_string(i % T) +
                 " is outside the vocabulary [0, " + std::to_string(model.cfg.vocab_size) + ")");
        tokens[i] = int32_t(raw[i]);
    }
    for (size_t i = 0; i < tokens.size(); i++)
        if (tokens[i] < 0 || tokens[i] >= model.cfg.vocab_size)
            fail("--tokens " + o.tokens + ": token id " + std::to_string(tokens[i]) +
                 " is outside the vocabulary [0, " + std::to_string(model.cfg.vocab_size) + ")");
    if (!o.mask.empty()) {
        mask.clear();
        int mb = 0, mt = 0;
        std::vector<int64_t> m = read_int_matrix(o.mask, "--mask", mb, mt);
        if (mb != B || mt != T)
            fail("--mask " + o.mask + ": shape [" + std::to_string(mb) + ", " + std::to_string(mt) +
                 "] differs from --tokens shape [" + std::to_string(B) + ", " + std::to_string(T) +
                 "]");
        for (int64_t v : m) {
            if (v != 0 && v != 1) fail("--mask " + o.mask + ": entries must be 0 or 1");
            mask.push_back(uint8_t(v));
        }
    }
    if (T > model.cfg.max_seq_len)
        std::fprintf(stderr, "warning: sequence length %d exceeds the model's max_seq_len %d\n", T,
                     model.cfg.max_seq_len);
    LossResult r = model.loss(tokens, mask, B, T, !o.grads.empty());
    if (!o.grads.empty()) {
        std::vector<TensorView> views;
        for (const ParamSpec& s : model.layout.specs)
            views.push_back(
                {s.name, s.shape,
                 std::span<const float>(model.grads.data() + s.offset, size_t(s.numel))});
        save_safetensors(o.grads, views);
    }
    json j = {{"loss", r.loss}, {"tokens", r.tokens}};
    std::printf("%s\n", j.dump().c_str());
}

}  // namespace

void register_model_commands(CLI::App& app) {
    {
        auto o = std::make_shared<InitOptions>();
        auto* c = app.add_subcommand(
            "init",
            "Write a randomly initialised checkpoint directory (config.json + model.safetensors)");
        c->add_option("--preset", o->preset, "Architecture preset: nano | small | elleci-1.5b");
        c->add_option("--config", o->config, "Architecture from a config.json instead of a preset");
        c->add_option("--out", o->out, "Output checkpoint directory")->required();
        c->add_option("--seed", o->seed, "Random seed for the initialisation")
            ->capture_default_str();
        c->add_flag("--force", o->force, "Replace --out if it exists");
        c->callback([o] { run_init(*o); });
    }
    {
        auto o = std::make_shared<ParamsOptions>();
        auto* c = app.add_subcommand(
            "params", "Print parameter counts per component, ternary vs full precision");
        c->add_option("dir", o->dir, "Checkpoint directory");
        c->add_option("--preset", o->preset,
                      "A preset instead of a checkpoint: nano | small | elleci-1.5b");
        c->add_flag("--json", o->as_json, "Print one JSON object");
        c->callback([o] { run_params(*o); });
    }
    {
        auto o = std::make_shared<LossOptions>();
        auto* c = app.add_subcommand(
            "loss",
            "Mean next-token cross-entropy of a checkpoint on given tokens (and gradients)");
        c->add_option("--ckpt", o->ckpt, "Checkpoint directory")->required();
        c->add_option("--tokens", o->tokens,
                      "JSON array of equal-length arrays of token ids (one row per batch element), "
                      "or a token shard")
            ->required();
        c->add_option("--seq", o->seq,
                      "With a shard: row length (default: the model's max_seq_len)");
        c->add_option("--batch", o->batch,
                      "With a shard: number of rows (default: as many as the shard fills)");
        c->add_option("--mask", o->mask,
                      "JSON 0/1 array of the same shape; 1 = this token counts as a target");
        c->add_option("--grads", o->grads,
                      "Write dL/dθ for every parameter to this fp32 .safetensors file");
        c->add_flag("--no-quant", o->no_quant,
                    "Disable the BitLinear quantisers (plain fp32 linear layers)");
        c->callback([o] { run_loss(*o); });
    }
}

}  // namespace np::cli
