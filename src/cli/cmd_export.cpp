// Deployment commands: export (checkpoint -> GGUF) and info (sizes, bits per weight, inference
// memory of a checkpoint directory, a .gguf file or a preset).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "infer/export.h"
#include "infer/gguf.h"
#include "infer/gguf_checksum.h"
#include "model/checkpoint.h"
#include "model/params.h"

namespace np::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string bytes_str(double b) {
    char buf[48];
    if (b >= double(1 << 30))
        std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1 << 30));
    else if (b >= double(1 << 20))
        std::snprintf(buf, sizeof buf, "%.2f MiB", b / double(1 << 20));
    else if (b >= 1024)
        std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
    else
        std::snprintf(buf, sizeof buf, "%.0f B", b);
    return buf;
}

std::string pct(double part, double whole) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", whole > 0 ? 100.0 * part / whole : 0.0);
    return buf;
}

struct ExportCmd {
    std::string ckpt, out;
    infer::ExportOptions opt;
    bool force = false;
};

void print_sizes(const infer::GgufSizes& z) {
    const double t = double(z.total);
    std::printf("  ternary  %12zu bytes  %6s  (%lld weights, %.4f bits/weight)\n", z.ternary,
                pct(double(z.ternary), t).c_str(), (long long)z.ternary_weights,
                z.ternary_bits_per_weight());
    std::printf("  embed    %12zu bytes  %6s\n", z.embed, pct(double(z.embed), t).c_str());
    std::printf("  other    %12zu bytes  %6s  (F32 norms, conv, SSM parameters, scales)\n", z.other,
                pct(double(z.other), t).c_str());
    const size_t overhead = z.total - z.ternary - z.embed - z.other;
    std::printf("  metadata %12zu bytes  %6s  (keys, tokenizer, tensor infos, padding)\n", overhead,
                pct(double(overhead), t).c_str());
}

void run_export(const ExportCmd& o) {
    if (fs::exists(o.out) && !o.force)
        fail("export: --out " + o.out + " already exists (use --force to replace it)");
    infer::export_gguf(o.ckpt, o.out, o.opt);
    const gguf::GgufFile f = gguf::GgufFile::open(o.out);  // re-validates what was written
    const infer::GgufSizes z = infer::measure_gguf_sizes(f);
    std::printf("wrote %s: %lld tensors, %zu bytes (%s), weights %s, embeddings %s\n",
                o.out.c_str(), (long long)z.tensors, z.total, bytes_str(double(z.total)).c_str(),
                f.weights_format().c_str(), f.embed_format().c_str());
    std::printf("bits per ternary weight: %.4f (packed rows; exact fp32 scale per tensor)\n",
                z.ternary_bits_per_weight());
    print_sizes(z);
}

struct InfoCmd {
    std::string model, preset;
    int64_t ctx = 0;
    bool as_json = false, check = false;
};

void run_info(const InfoCmd& o) {
    if (o.model.empty() == o.preset.empty())
        fail("info: give exactly one of MODEL (checkpoint directory or .gguf) or --preset NAME");
    json j;
    ModelConfig cfg;
    size_t weights_bytes = 0, file_bytes = 0;
    double ternary_bits = 32;
    std::string kind;
    if (!o.preset.empty()) {
        cfg = ModelConfig::preset(o.preset);
        kind = "preset";
        weights_bytes = 4 * size_t(count_params(cfg).total);
    } else if (fs::is_directory(o.model)) {
        kind = "checkpoint";
        // Loaded whole, as generate and export load it: a cut file, a tensor the config does not
        // describe or a non-finite weight is reported here too, not only when the model runs.
        cfg = load_checkpoint(o.model).cfg;
        const fs::path st = fs::path(o.model) / "model.safetensors";
        file_bytes = size_t(fs::file_size(st));
        weights_bytes = 4 * size_t(count_params(cfg).total);
    } else {
        if (!fs::exists(o.model)) fail("info: " + o.model + " does not exist");
        kind = "gguf";
        const gguf::GgufFile f = gguf::GgufFile::open(o.model);
        const uint64_t sum = f.touch_all();
        cfg = f.config();
        const infer::GgufSizes z = infer::measure_gguf_sizes(f);
        file_bytes = f.file_bytes();
        weights_bytes = f.resident_bytes();
        ternary_bits = z.ternary_bits_per_weight();
        json meta = json::object();  // the long texts (config, tokenizer, template) left out
        for (const std::string& k : f.metadata_keys())
            if (k != "nanoprime.config_json" && k != "tokenizer.huggingface.json" &&
                k != "tokenizer.chat_template")
                meta[k] = f.value_json(k);
        j["metadata"] = meta;
        j["weights"] = f.weights_format();
        j["embed"] = f.embed_format();
        j["tensors"] = z.tensors;
        j["sizes"] = {{"ternary", z.ternary}, {"embed", z.embed},   {"other", z.other},
                      {"padding", z.padding}, {"header", z.header}, {"metadata", z.metadata},
                      {"touch_checksum", sum}};
        if (o.check) {
            const gguf::ChecksumCheck c = gguf::check_tensor_checksums(f, o.model);
            j["checksums"] = {
                {"present", c.present}, {"checked", c.checked}, {"mismatched", c.mismatched}};
        }
    }
    const ParamCounts n = count_params(cfg);
    const infer::InferenceMemory m = infer::inference_memory(cfg);
    const int64_t ctx = o.ctx > 0 ? o.ctx : cfg.max_seq_len;
    const size_t cache = m.mla_cache_per_token * size_t(ctx);
    const size_t total = weights_bytes + m.mamba_state + cache;
    const double file_bits = file_bytes ? 8.0 * double(file_bytes) / double(n.total) : 0.0;

    j["path"] = o.model.empty() ? o.preset : o.model;
    j["kind"] = kind;
    j["parameters"] = {
        {"total", n.total}, {"ternary", n.ternary}, {"full_precision", n.full_precision}};
    j["bits_per_weight"] = {{"ternary", ternary_bits}, {"file", file_bits}};
    j["file_bytes"] = file_bytes;
    j["resident_bytes"] = weights_bytes;
    j["attention_layers"] = m.attention_layers;
    j["mamba_layers"] = m.mamba_layers;
    j["per_token"] = {{"mla_cache_bytes", m.mla_cache_per_token},
                      {"mha_fp16_bytes", m.mha_fp16_per_token},
                      {"ratio_percent", 100.0 * m.cache_ratio()}};
    j["mamba_state_bytes"] = m.mamba_state;
    j["ctx"] = ctx;
    j["memory_at_ctx"] = {
        {"weights", weights_bytes}, {"state", m.mamba_state}, {"cache", cache}, {"total", total}};
    if (kind != "gguf") {
        json est;
        for (const char* w : {"tq2", "tq1"})
            for (const char* e : {"f16", "q8_0"}) {
                if (std::string(e) == "q8_0" && cfg.d_model % 32 != 0) continue;
                est[std::string(w) + "_" + e] = infer::estimate_gguf_bytes(cfg, {w, e, ""});
            }
        j["gguf_estimate_bytes"] = est;
    }
    j["config"] = cfg.to_json();
    // --check: a corrupted file is reported (by tensor) and ends with a non-zero status.
    const auto check_result = [&] {
        if (!j.contains("checksums") || j["checksums"]["mismatched"].empty()) return;
        std::string names;
        for (const auto& n : j["checksums"]["mismatched"])
            names += (names.empty() ? "" : ", ") + n.get<std::string>();
        fail("info: " + o.model + ": tensor data does not match its checksum: " + names);
    };
    if (o.as_json) {
        std::printf("%s\n", j.dump().c_str());
        check_result();
        return;
    }

    std::printf("%s (%s): d_model %d, %d layers (%d Mamba-2, %d MLA), vocab %d, %s head\n",
                j["path"].get<std::string>().c_str(), kind.c_str(), cfg.d_model, cfg.n_layers,
                m.mamba_layers, m.attention_layers, cfg.vocab_size,
                cfg.tie_embeddings ? "tied" : "untied");
    if (kind == "gguf")
        std::printf("format: GGUF v3, weights %s, embeddings %s, %lld tensors\n",
                    j["weights"].get<std::string>().c_str(), j["embed"].get<std::string>().c_str(),
                    (long long)j["tensors"].get<int64_t>());
    if (j.contains("checksums")) {
        const auto& c = j["checksums"];
        if (!c["present"].get<bool>())
            std::printf("tensor checksums: none in this file (exported before they existed)\n");
        else
            std::printf("tensor checksums: %zu of %zu match\n",
                        c["checked"].get<size_t>() - c["mismatched"].size(),
                        c["checked"].get<size_t>());
    }
    std::printf("parameters: %lld total, %lld ternary (%s), %lld full precision\n",
                (long long)n.total, (long long)n.ternary,
                pct(double(n.ternary), double(n.total)).c_str(), (long long)n.full_precision);
    if (file_bytes)
        std::printf("bits per weight: ternary %.4f, whole file %.3f\n", ternary_bits, file_bits);
    if (file_bytes)
        std::printf("file: %zu bytes (%s)\n", file_bytes, bytes_str(double(file_bytes)).c_str());
    std::printf("resident weights: %zu bytes (%s)%s\n", weights_bytes,
                bytes_str(double(weights_bytes)).c_str(),
                kind == "gguf" ? ", mapped pages touched after reading every tensor" : ", fp32");
    const MlaDims& a = cfg.mla;
    std::printf(
        "cache per token: MLA latent %zu bytes (%d attention layers x (kv_rank %d int8 + 4 B "
        "scale + qk_rope_dim %d fp32))\n",
        m.mla_cache_per_token, m.attention_layers, a.kv_rank, a.qk_rope_dim);
    std::printf(
        "  vs fp16 multi-head transformer %zu bytes (2 x %d layers x %d heads x v_dim %d x 2 B): "
        "%.2f%% (%.1f%% less)\n",
        m.mha_fp16_per_token, cfg.n_layers, a.n_heads, a.v_dim, 100.0 * m.cache_ratio(),
        100.0 * (1.0 - m.cache_ratio()));
    std::printf("Mamba state (constant): %zu bytes (%s) over %d layers\n", m.mamba_state,
                bytes_str(double(m.mamba_state)).c_str(), m.mamba_layers);
    std::printf("memory at ctx %lld: weights %s + state %s + cache %s = %s\n", (long long)ctx,
                bytes_str(double(weights_bytes)).c_str(), bytes_str(double(m.mamba_state)).c_str(),
                bytes_str(double(cache)).c_str(), bytes_str(double(total)).c_str());
    if (j.contains("gguf_estimate_bytes")) {
        std::printf("GGUF size estimates:");
        for (const auto& [k, v] : j["gguf_estimate_bytes"].items())
            std::printf(" %s %s", k.c_str(), bytes_str(v.get<double>()).c_str());
        std::printf("\n");
    }
    check_result();
}

}  // namespace

void register_export_commands(CLI::App& app) {
    {
        auto o = std::make_shared<ExportCmd>();
        auto* c = app.add_subcommand(
            "export", "Pack a checkpoint directory into a deployment .gguf (ternary TQ2_0/TQ1_0)");
        c->add_option("--ckpt", o->ckpt,
                      "Checkpoint directory (config.json, model.safetensors, tokenizer.json)")
            ->required();
        c->add_option("--out", o->out, "Output .gguf file")->required();
        c->add_option("--weights", o->opt.weights,
                      "Ternary packing: tq2 (2.06 bits/weight) | tq1 (1.69 bits/weight)")
            ->capture_default_str();
        c->add_option("--embed", o->opt.embed, "Embedding/head format: f16 | q8_0")
            ->capture_default_str();
        c->add_option("--tokenizer", o->opt.tokenizer,
                      "tokenizer.json to embed (default: CKPT/tokenizer.json)");
        c->add_flag("--force", o->force, "Replace --out if it exists");
        c->callback([o] { run_export(*o); });
    }
    {
        auto o = std::make_shared<InfoCmd>();
        auto* c = app.add_subcommand(
            "info",
            "Parameters, bits per weight, file and resident size, cache per token and memory of a "
            "checkpoint directory, a .gguf file or a preset");
        c->add_option("model,-m,--model", o->model, "Checkpoint directory or .gguf file");
        c->add_option("--preset", o->preset, "A preset instead: nano | small | elleci-1.5b");
        c->add_option("-c,--ctx,--ctx-size", o->ctx,
                      "Context length for the memory total (default: max_seq_len)")
            ->check(CLI::NonNegativeNumber);
        c->add_flag("--json", o->as_json, "Print one JSON object");
        c->add_flag(
            "--check", o->check,
            ".gguf: recompute every tensor's CRC-32 and name the tensors whose data changed "
            "(exit 1)");
        c->callback([o] { run_info(*o); });
    }
}

}  // namespace np::cli
