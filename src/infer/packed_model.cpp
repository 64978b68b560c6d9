#include "infer/packed_model.h"

#include <functional>

#include "core/error.h"
#include "infer/export.h"
#include "infer/gguf.h"
#include "kernels/cpu/dispatch.h"

namespace np::infer {

namespace {

std::string layer_prefix(int l) {
    return "layers." + std::to_string(l) + ".";
}

// Every tensor of the model, by kind: how both constructors walk the same list.
struct TensorVisitor {
    std::function<kern::TernaryView(const std::string&, int rows, int cols)> ternary;
    std::function<const float*(const std::string&, int64_t n)> f32;
};

void build_layers(const ModelConfig& cfg, const TensorVisitor& v, std::vector<PackedLayer>& out) {
    const int D = cfg.d_model, F = cfg.ffn.hidden;
    const MambaDims md = cfg.mamba;
    const MlaDims ad = cfg.mla;
    out.assign(cfg.n_layers, PackedLayer{});
    for (int l = 0; l < cfg.n_layers; l++) {
        const std::string p = layer_prefix(l);
        PackedLayer& L = out[l];
        L.kind = cfg.mixer_kind(l);
        L.mixer_norm = v.f32(p + "mixer_norm.weight", D);
        L.ffn_norm = v.f32(p + "ffn_norm.weight", D);
        if (L.kind == 'M') {
            const int Di = md.d_inner(), C = md.conv_dim(), H = md.n_heads();
            const std::string m = p + "mamba.";
            L.mamba.in_proj = v.ternary(m + "in_proj.weight", md.in_proj_dim(), D);
            L.mamba.out_proj = v.ternary(m + "out_proj.weight", D, Di);
            L.mamba.conv_w = v.f32(m + "conv1d.weight", int64_t(C) * md.d_conv);
            L.mamba.conv_b = v.f32(m + "conv1d.bias", C);
            L.mamba.dt_bias = v.f32(m + "dt_bias", H);
            L.mamba.A_log = v.f32(m + "A_log", H);
            L.mamba.D = v.f32(m + "D", H);
            L.mamba.norm_w = v.f32(m + "norm.weight", Di);
        } else {
            const std::string a = p + "mla.";
            L.mla.q_proj = v.ternary(a + "q_proj.weight", ad.q_dim(), D);
            L.mla.kv_down = v.ternary(a + "kv_down.weight", ad.kv_down_dim(), D);
            L.mla.kv_up = v.ternary(a + "kv_up.weight", ad.kv_up_dim(), ad.kv_rank);
            L.mla.o_proj = v.ternary(a + "o_proj.weight", D, ad.o_dim());
            L.mla.kv_norm = v.f32(a + "kv_norm.weight", ad.kv_rank);
            L.mla.o_norm = v.f32(a + "o_norm.weight", ad.o_dim());
        }
        const std::string f = p + "ffn.";
        L.ffn.gate = v.ternary(f + "gate.weight", F, D);
        L.ffn.up = v.ternary(f + "up.weight", F, D);
        L.ffn.down = v.ternary(f + "down.weight", D, F);
        L.ffn.down_norm = v.f32(f + "down_norm.weight", F);
    }
}

}  // namespace

PackedModel::~PackedModel() = default;

std::shared_ptr<const PackedModel> PackedModel::from_checkpoint(const Model<float>& model,
                                                                kern::TernaryFormat format) {
    std::shared_ptr<PackedModel> pm(new PackedModel());
    pm->cfg_ = model.cfg;
    pm->format_ = format;
    const ModelConfig& cfg = model.cfg;
    // Pass 1 sizes the owned buffers (pointers into them must not move), pass 2 fills them.
    size_t f32_total = 0, n_ternary = 0;
    TensorVisitor count{[&](const std::string&, int, int) {
                            n_ternary++;
                            return kern::TernaryView{};
                        },
                        [&](const std::string&, int64_t n) {
                            f32_total += size_t(n);
                            return static_cast<const float*>(nullptr);
                        }};
    std::vector<PackedLayer> scratch;
    build_layers(cfg, count, scratch);
    pm->f32_.reserve(f32_total + size_t(cfg.d_model));
    pm->packed_.reserve(n_ternary);
    std::vector<int8_t> wq;
    TensorVisitor fill{
        [&](const std::string& name, int rows, int cols) {
            wq.resize(size_t(rows) * cols);
            const float gamma =
                kern::ternarize_weights(wq.data(), model.param(name), int64_t(rows) * cols);
            pm->packed_.push_back(kern::pack_ternary(format, wq.data(), rows, cols, gamma));
            return pm->packed_.back().view();
        },
        [&](const std::string& name, int64_t n) {
            const float* src = model.param(name);
            const size_t at = pm->f32_.size();
            pm->f32_.insert(pm->f32_.end(), src, src + n);
            return static_cast<const float*>(pm->f32_.data() + at);
        }};
    build_layers(cfg, fill, pm->layers_);
    pm->final_norm_ = fill.f32("final_norm.weight", cfg.d_model);
    // The embedding (and untied head) stay in the model's own F32 layout: copy them so the packed
    // model does not depend on the checkpoint's lifetime.
    auto dense = [&](const std::string& name) {
        const size_t n = size_t(cfg.vocab_size) * cfg.d_model;
        const float* src = model.param(name);
        pm->dense_f32_.emplace_back(src, src + n);
        return kern::DenseView{kern::DenseType::F32, cfg.vocab_size, cfg.d_model,
                               reinterpret_cast<const uint8_t*>(pm->dense_f32_.back().data())};
    };
    pm->embed_ = dense("embed.weight");
    pm->head_ = cfg.tie_embeddings ? pm->embed_ : dense("lm_head.weight");
    pm->finish();
    return pm;
}

std::shared_ptr<const PackedModel> PackedModel::from_gguf(const std::string& path) {
    std::shared_ptr<PackedModel> pm(new PackedModel());
    pm->file_ = std::make_unique<gguf::GgufFile>(gguf::GgufFile::open(path));
    const gguf::GgufFile& f = *pm->file_;
    pm->cfg_ = f.config();
    pm->format_ = f.ternary_format();
    TensorVisitor v{
        [&](const std::string& name, int rows, int cols) { return f.ternary(name, rows, cols); },
        [&](const std::string& name, int64_t n) { return f.f32(name, n).data(); }};
    build_layers(pm->cfg_, v, pm->layers_);
    pm->final_norm_ = v.f32("final_norm.weight", pm->cfg_.d_model);
    auto dense = [&](const std::string& name) {
        const gguf::Tensor& t = f.tensor(name);
        kern::DenseType type;
        switch (t.type) {
            case gguf::GgmlType::F32:
                type = kern::DenseType::F32;
                break;
            case gguf::GgmlType::F16:
                type = kern::DenseType::F16;
                break;
            case gguf::GgmlType::Q8_0:
                type = kern::DenseType::Q8_0;
                break;
            default:
                fail(path + ": tensor " + name + " has type " + gguf::type_name(t.type) +
                     ", expected F32, F16 or Q8_0");
        }
        if (t.ne.size() != 2 || t.ne[0] != pm->cfg_.d_model || t.ne[1] != pm->cfg_.vocab_size)
            fail(path + ": tensor " + name + " must have ne = {d_model, vocab_size}");
        return kern::DenseView{type, pm->cfg_.vocab_size, pm->cfg_.d_model, t.data};
    };
    pm->embed_ = dense("embed.weight");
    pm->head_ = pm->cfg_.tie_embeddings ? pm->embed_ : dense("lm_head.weight");
    pm->finish();
    return pm;
}

// The matrices the ternary kernels read (kv_up is used unpacked), repacked 16 rows at a time for
// the AVX-512 VNNI products (kernels/cpu/ternary_x16.h); the file's pages of the repacked rows
// are released, so the weights stay resident once.
void PackedModel::repack_ternary() {
    if (format_ != kern::TernaryFormat::TQ2_0 ||
        kern::active_kernel_path() != kern::KernelPath::AVX512VNNI)
        return;
    std::vector<kern::TernaryView*> views;
    for (PackedLayer& L : layers_) {
        if (L.kind == 'M')
            views.insert(views.end(), {&L.mamba.in_proj, &L.mamba.out_proj});
        else
            views.insert(views.end(), {&L.mla.q_proj, &L.mla.kv_down, &L.mla.o_proj});
        views.insert(views.end(), {&L.ffn.gate, &L.ffn.up, &L.ffn.down});
    }
    x16_.clear();
    x16_.reserve(views.size());
    for (kern::TernaryView* v : views) {
        const kern::TernaryX16& r = x16_.emplace_back(kern::TernaryX16::repack(*v));
        v->x16 = r.data();
        v->x16_groups = r.groups();
        if (file_) file_->release_pages(v->data, size_t(r.groups()) * 16 * v->row_bytes());
    }
}

void PackedModel::finish() {
    repack_ternary();
    if (head_.type == kern::DenseType::Q8_0 && kern::q8_0x8_has_simd()) {
        head_q8x8_ = std::make_unique<kern::Q8_0x8Matrix>(kern::Q8_0x8Matrix::repack(head_));
        // The repacked copy replaces the file's pages for the product and, when tied, for the
        // embedding lookups.
        if (file_) file_->release_pages(head_.data, head_.bytes());
    }
    const MambaDims md = cfg_.mamba;
    const int C = md.conv_dim(), K = md.d_conv;
    conv_wT_.clear();
    conv_wT_.reserve(layers_.size());
    for (PackedLayer& L : layers_) {
        if (L.kind != 'M') continue;
        std::vector<float>& t = conv_wT_.emplace_back(size_t(K) * C);
        for (int c = 0; c < C; c++)
            for (int j = 0; j < K; j++) t[size_t(j) * C + c] = L.mamba.conv_w[size_t(c) * K + j];
        L.mamba.conv_wT = t.data();
    }
    const MlaDims ad = cfg_.mla;
    kv_up_q_.clear();
    kv_up_q_.reserve(layers_.size());
    for (PackedLayer& L : layers_) {
        if (L.kind != 'A') continue;
        kv_up_q_.emplace_back(size_t(ad.kv_up_dim()) * ad.kv_rank);
        kern::unpack_ternary(kv_up_q_.back().data(), L.mla.kv_up);
        L.mla.kv_up_q = kv_up_q_.back().data();
    }
}

void PackedModel::embed_row(float* out, int token) const {
    if (head_q8x8_ && cfg_.tie_embeddings)
        head_q8x8_->dequantize_row(out, token);
    else
        kern::dense_row(out, embed_, token);
}

std::string PackedModel::describe() const {
    return std::string(format_ == kern::TernaryFormat::TQ2_0 ? "tq2" : "tq1") + "/" +
           kern::dense_type_name(embed_.type);
}

namespace {

// Bytes a product over `v` reads: repacked rows at 2 bits per weight, the rest as TQ2_0/TQ1_0.
size_t product_bytes(const kern::TernaryView& v) {
    if (!v.x16) return v.bytes();
    const size_t rows16 = size_t(v.x16_groups) * 16;
    return rows16 * size_t(v.nblocks()) * kern::kTernaryBlock / 4 +
           (size_t(v.rows) - rows16) * v.row_bytes();
}

}  // namespace

size_t PackedModel::bytes_read_per_token() const {
    const int D = cfg_.d_model, F = cfg_.ffn.hidden;
    const MambaDims md = cfg_.mamba;
    const MlaDims ad = cfg_.mla;
    size_t b = head_.bytes() + size_t(D) * 4 /* final norm */ + embed_.row_bytes();
    for (const PackedLayer& L : layers_) {
        b += 2 * size_t(D) * 4;
        if (L.kind == 'M') {
            b += product_bytes(L.mamba.in_proj) + product_bytes(L.mamba.out_proj);
            b += (size_t(md.conv_dim()) * (md.d_conv + 1) + 3 * size_t(md.n_heads()) +
                  size_t(md.d_inner())) *
                 4;
        } else {
            b += product_bytes(L.mla.q_proj) + product_bytes(L.mla.kv_down) +
                 product_bytes(L.mla.o_proj);
            b += size_t(ad.kv_up_dim()) * ad.kv_rank;  // the unpacked int8 kv_up
            b += (size_t(ad.kv_rank) + ad.o_dim()) * 4;
        }
        b += product_bytes(L.ffn.gate) + product_bytes(L.ffn.up) + product_bytes(L.ffn.down) +
             size_t(F) * 4;
    }
    // The recurrent state is read (and written back) every token too.
    return b + inference_memory(cfg_).mamba_state;
}

size_t PackedModel::weight_bytes() const {
    // A file's pages of repacked rows are released: the repacked copy takes their place.
    if (file_) return file_->file_bytes();
    size_t repacked = 0;
    for (const auto& x : x16_) repacked += x.bytes();
    size_t b = f32_.size() * 4;
    for (const auto& p : packed_) b += p.data.size();
    for (const auto& q : kv_up_q_) b += q.size();
    for (const auto& t : conv_wT_) b += t.size() * 4;
    for (const auto& d : dense_f32_) b += d.size() * 4;
    return b + repacked;
}

}  // namespace np::infer
