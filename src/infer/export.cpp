#include "infer/export.h"

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/file_io.h"
#include "infer/gguf_checksum.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/q8_0.h"
#include "kernels/cpu/ternary_pack.h"
#include "model/checkpoint.h"
#include "model/params.h"
#include "tokenizer/role_specials.h"

namespace np::infer {

namespace fs = std::filesystem;
using gguf::GgmlType;

namespace {

size_t align_up(size_t n, size_t a) {
    return (n + a - 1) / a * a;
}

GgmlType ternary_type(const ExportOptions& o) {
    return o.weights == "tq1" ? GgmlType::TQ1_0 : GgmlType::TQ2_0;
}
GgmlType embed_type(const ExportOptions& o) {
    return o.embed == "q8_0" ? GgmlType::Q8_0 : GgmlType::F16;
}
bool is_embedding(const ParamSpec& s) {
    return s.name == "embed.weight" || s.name == "lm_head.weight";
}

// GGUF type and ne of one checkpoint tensor (the layout documented in gguf.h).
std::vector<int64_t> gguf_ne(const ParamSpec& s) {
    std::vector<int64_t> ne(s.shape.rbegin(), s.shape.rend());
    if (s.ternary) ne[0] = kern::ternary_padded_cols(int(s.shape[1]));
    return ne;
}
GgmlType gguf_type(const ParamSpec& s, const ExportOptions& o) {
    if (s.ternary) return ternary_type(o);
    if (is_embedding(s)) return embed_type(o);
    return GgmlType::F32;
}

void add_model_metadata(gguf::Writer& w, const ModelConfig& cfg, const std::string& name,
                        const std::string& config_text, const ExportOptions& o) {
    w.set_string("general.architecture", "nanoprime");
    w.set_string("general.name", name);
    w.set_u32("general.alignment", gguf::kAlignment);
    w.set_string("nanoprime.config_json", config_text);
    w.set_u32("nanoprime.context_length", uint32_t(cfg.max_seq_len));
    w.set_u32("nanoprime.embedding_length", uint32_t(cfg.d_model));
    w.set_u32("nanoprime.block_count", uint32_t(cfg.n_layers));
    w.set_u32("nanoprime.vocab_size", uint32_t(cfg.vocab_size));
    w.set_u32("nanoprime.feed_forward_length", uint32_t(cfg.ffn.hidden));
    w.set_string("nanoprime.layer_pattern", cfg.layer_pattern);
    w.set_string("nanoprime.weights", o.weights);
    w.set_string("nanoprime.embed", o.embed);
    w.set_string("tokenizer.chat_template", gguf::nanoprime_chat_template());
}

void add_tokenizer_metadata(gguf::Writer& w, const Tokenizer& tok, int32_t vocab_size,
                            const std::string& where) {
    require_nanoprime_specials(tok, where);
    const SpecialIds sp = special_ids_of(tok);
    if (tok.vocab_size() > vocab_size)
        fail(where + ": the tokenizer has " + std::to_string(tok.vocab_size()) +
             " tokens, more than the model's vocab_size " + std::to_string(vocab_size));
    const std::string hf = tok.to_json();
    std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
    std::vector<int32_t> types(static_cast<size_t>(vocab_size));
    for (int32_t id = 0; id < vocab_size; id++) {
        tokens[size_t(id)] = gguf::token_piece(tok, id);
        types[size_t(id)] = gguf::token_type(tok, id);
    }
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_strings("tokenizer.ggml.tokens", tokens);
    w.set_i32s("tokenizer.ggml.token_type", types);
    w.set_strings("tokenizer.ggml.merges", gguf::hf_merges(hf, where));
    w.set_u32("tokenizer.ggml.bos_token_id", uint32_t(sp.end_of_text));
    w.set_u32("tokenizer.ggml.eos_token_id", uint32_t(sp.im_end));
    w.set_u32("tokenizer.ggml.padding_token_id", uint32_t(sp.pad));
    w.set_bool("tokenizer.ggml.add_bos_token", true);
    w.set_string("tokenizer.huggingface.json", hf);
}

template <class T>
std::vector<uint8_t> bytes_of(const T* p, size_t n) {
    std::vector<uint8_t> out(n * sizeof(T));
    std::memcpy(out.data(), p, out.size());
    return out;
}

size_t info_bytes(const std::string& name, size_t n_dims) {
    return 8 + name.size() + 4 + 8 * n_dims + 4 + 8;
}

}  // namespace

void check_export_options(const ExportOptions& o, const ModelConfig& cfg) {
    if (o.weights != "tq2" && o.weights != "tq1")
        fail("--weights " + o.weights +
             ": expected tq2 (TQ2_0, 2.06 bits/weight) or tq1 (TQ1_0, "
             "1.69 bits/weight)");
    if (o.embed != "f16" && o.embed != "q8_0")
        fail("--embed " + o.embed + ": expected f16 or q8_0");
    if (o.embed == "q8_0" && cfg.d_model % kern::kQ8Block != 0)
        fail("--embed q8_0: d_model " + std::to_string(cfg.d_model) +
             " is not a multiple of 32 (Q8_0 blocks hold 32 values); use --embed f16");
}

void export_gguf(const std::string& ckpt_dir, const std::string& out_path, const ExportOptions& o) {
    const std::string cfg_path = (fs::path(ckpt_dir) / "config.json").string();
    const std::string tok_path =
        o.tokenizer.empty() ? (fs::path(ckpt_dir) / "tokenizer.json").string() : o.tokenizer;
    if (!fs::is_directory(ckpt_dir))
        fail(ckpt_dir + ": not a checkpoint directory (expected config.json + model.safetensors)");
    if (!fs::exists(tok_path))
        fail("export: no tokenizer: " + tok_path +
             " does not exist; copy tokenizer.json into the checkpoint directory or pass "
             "--tokenizer PATH");
    check_export_options(o, ModelConfig::load(cfg_path));
    const Tokenizer tok = load_model_tokenizer(tok_path);
    require_nanoprime_specials(tok, tok_path);
    const Model<float> model = load_checkpoint(ckpt_dir);
    const ModelConfig& cfg = model.cfg;

    gguf::Writer w;
    fs::path dir = fs::absolute(ckpt_dir).lexically_normal();
    if (dir.filename().empty()) dir = dir.parent_path();
    const std::string name = dir.filename().empty() ? "nanoprime" : dir.filename().string();
    add_model_metadata(w, cfg, name, read_file(cfg_path), o);
    add_tokenizer_metadata(w, tok, cfg.vocab_size, tok_path);

    // Each tensor's CRC-32, in the order they are added (the file's order).
    std::vector<int32_t> crcs;
    auto add = [&](const std::string& n, GgmlType t, std::vector<int64_t> ne,
                   std::vector<uint8_t> data) {
        crcs.push_back(int32_t(gguf::crc32_of(data)));
        w.add_tensor(n, t, std::move(ne), std::move(data));
    };
    const kern::TernaryFormat tf =
        o.weights == "tq1" ? kern::TernaryFormat::TQ1_0 : kern::TernaryFormat::TQ2_0;
    for (const ParamSpec& s : model.layout.specs) {
        const float* W = model.params.data() + s.offset;
        if (s.ternary) {
            const int rows = int(s.shape[0]), cols = int(s.shape[1]);
            std::vector<int8_t> wq(size_t(s.numel));
            const float gamma = kern::ternarize_weights(wq.data(), W, s.numel);
            kern::PackedTernary p = kern::pack_ternary(tf, wq.data(), rows, cols, gamma);
            add(s.name, gguf_type(s, o), gguf_ne(s), std::move(p.data));
            add(s.name + ".scale", GgmlType::F32, {1}, bytes_of(&gamma, 1));
        } else if (is_embedding(s) && o.embed == "f16") {
            std::vector<uint16_t> h(size_t(s.numel));
            for (size_t i = 0; i < h.size(); i++) h[i] = kern::fp32_to_fp16(W[i]);
            add(s.name, GgmlType::F16, gguf_ne(s), bytes_of(h.data(), h.size()));
        } else if (is_embedding(s)) {
            std::vector<kern::BlockQ8_0> q(size_t(s.numel) / kern::kQ8Block);
            for (int64_t r = 0; r < s.shape[0]; r++)
                kern::quantize_row_q8_0(q.data() + r * (s.shape[1] / kern::kQ8Block),
                                        W + r * s.shape[1], s.shape[1]);
            add(s.name, GgmlType::Q8_0, gguf_ne(s), bytes_of(q.data(), q.size()));
        } else {
            add(s.name, GgmlType::F32, gguf_ne(s), bytes_of(W, size_t(s.numel)));
        }
    }
    w.set_i32s(gguf::kTensorChecksumKey, crcs);
    w.write(out_path);
}

// ---- sizes -------------------------------------------------------------------------------------

size_t GgufSizes::total_with_metadata(size_t kv_bytes) const {
    return align_up(header + kv_bytes, gguf::kAlignment) + ternary + embed + other + padding;
}

double GgufSizes::ternary_bits_per_weight() const {
    return ternary_weights ? 8.0 * double(ternary) / double(ternary_weights) : 0.0;
}

GgufSizes estimate_gguf_sizes(const ModelConfig& cfg, const ExportOptions& o) {
    check_export_options(o, cfg);
    GgufSizes z;
    z.header = 24;
    auto add = [&](const std::string& name, GgmlType t, const std::vector<int64_t>& ne,
                   size_t& bucket) {
        const size_t n = gguf::tensor_bytes(t, ne, name);
        bucket += n;
        z.padding += align_up(n, gguf::kAlignment) - n;
        z.header += info_bytes(name, ne.size());
        z.tensors++;
    };
    for (const ParamSpec& s : make_param_layout(cfg).specs) {
        if (s.ternary) {
            add(s.name, gguf_type(s, o), gguf_ne(s), z.ternary);
            add(s.name + ".scale", GgmlType::F32, {1}, z.other);
            z.ternary_weights += s.numel;
        } else {
            add(s.name, gguf_type(s, o), gguf_ne(s), is_embedding(s) ? z.embed : z.other);
        }
    }
    gguf::Writer w;
    add_model_metadata(w, cfg, "nanoprime", cfg.to_json().dump(2) + "\n", o);
    w.set_i32s(gguf::kTensorChecksumKey, std::vector<int32_t>(z.tensors));
    z.metadata = w.metadata_bytes() + kTokenizerBytesPerToken * size_t(cfg.vocab_size);
    z.total = z.total_with_metadata(z.metadata);
    return z;
}

size_t estimate_gguf_bytes(const ModelConfig& cfg, const ExportOptions& o) {
    return estimate_gguf_sizes(cfg, o).total;
}

GgufSizes measure_gguf_sizes(const gguf::GgufFile& f) {
    GgufSizes z;
    z.header = 24;
    z.metadata = f.metadata_bytes();
    for (const gguf::Tensor& t : f.tensors()) {
        z.header += info_bytes(t.name, t.ne.size());
        z.tensors++;
        if (t.type == GgmlType::TQ2_0 || t.type == GgmlType::TQ1_0)
            z.ternary += t.nbytes;
        else if (t.type == GgmlType::F16 || t.type == GgmlType::Q8_0)
            z.embed += t.nbytes;
        else
            z.other += t.nbytes;
    }
    for (const ParamSpec& s : make_param_layout(f.config()).specs)
        if (s.ternary) z.ternary_weights += s.numel;
    z.total = f.file_bytes();
    z.padding =
        z.total - align_up(z.header + z.metadata, f.alignment()) - z.ternary - z.embed - z.other;
    return z;
}

InferenceMemory inference_memory(const ModelConfig& cfg) {
    InferenceMemory m;
    const MambaDims& md = cfg.mamba;
    const MlaDims& a = cfg.mla;
    for (int l = 0; l < cfg.n_layers; l++) {
        if (cfg.mixer_kind(l) == 'A') {
            m.attention_layers++;
            m.mla_cache_per_token += size_t(a.kv_rank) + 4 + 4 * size_t(a.qk_rope_dim);
        } else {
            m.mamba_layers++;
            m.mamba_state += 4 * (size_t(md.d_conv - 1) * size_t(md.conv_dim()) +
                                  size_t(md.n_heads()) * md.head_dim * md.d_state);
        }
    }
    m.mha_fp16_per_token = 2 * size_t(cfg.n_layers) * size_t(a.n_heads) * size_t(a.v_dim) * 2;
    return m;
}

}  // namespace np::infer
