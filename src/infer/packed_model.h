// The deployed model (DESIGN §2.2, §4.2): BitLinear weights packed ternary (TQ2_0 / TQ1_0 with
// the exact fp32 gamma), embedding/head F32, F16 or Q8_0, everything else fp32. Built either by
// packing an fp32 checkpoint in memory or by mapping a GGUF file (zero copy). Immutable once
// built; any number of PackedDecoder sessions can share it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/dense_rows.h"
#include "kernels/cpu/q8_0_x8.h"
#include "kernels/cpu/ternary_pack.h"
#include "kernels/cpu/ternary_x16.h"
#include "model/config.h"
#include "model/model.h"

namespace np::gguf {
class GgufFile;
}

namespace np::infer {

struct PackedMamba {
    kern::TernaryView in_proj, out_proj;                          // [Ip, D], [D, d_inner]
    const float *conv_w, *conv_b, *dt_bias, *A_log, *D, *norm_w;  // [C,K] [C] [H] [H] [H] [d_inner]
    const float* conv_wT;  // conv_w transposed to [K, C] (PackedModel's copy): taps over channels
};

struct PackedMla {
    kern::TernaryView q_proj, kv_down, kv_up, o_proj;  // [nh*(dn+dr), D] [r+dr, D] [nh*(dn+dv), r]
    const float *kv_norm, *o_norm;                     // [r], [nh*dv]
    // kv_up unpacked to int8 {-1,0,1} [nh*(dn+dv), r]: decode absorbs it into the query and the
    // output instead of expanding the cache (DESIGN §2.4).
    const int8_t* kv_up_q;
};

struct PackedFfn {
    kern::TernaryView gate, up, down;  // [F, D] [F, D] [D, F]
    const float* down_norm;            // [F]
};

struct PackedLayer {
    char kind = 'M';  // 'M' Mamba-2 | 'A' MLA
    const float *mixer_norm, *ffn_norm;
    PackedMamba mamba{};
    PackedMla mla{};
    PackedFfn ffn{};
};

class PackedModel {
public:
    // Packs the checkpoint's BitLinear weights (exactly the ternary values and gamma the fp32
    // forward uses); embedding and head stay F32, so logits differ from Model::logits only by float
    // summation order.
    static std::shared_ptr<const PackedModel> from_checkpoint(const Model<float>& model,
                                                              kern::TernaryFormat format);
    // Maps and validates a .gguf file (np::Error naming the file on anything wrong).
    static std::shared_ptr<const PackedModel> from_gguf(const std::string& path);
    ~PackedModel();

    const ModelConfig& config() const { return cfg_; }
    const kern::DenseView& embed() const { return embed_; }
    const kern::DenseView& head() const { return head_; }  // == embed() when tied
    // A Q8_0 head repacked 8 rows at a time for the decode product (kernels/cpu/q8_0_x8.h), where
    // this build has its SIMD kernel; else nullptr and the head is used as head(). A tied
    // embedding is then read from the repacked copy too, so the file's pages of the table are
    // not needed after loading (they are released: one resident copy, not two).
    const kern::Q8_0x8Matrix* head_q8x8() const { return head_q8x8_.get(); }
    // out[d_model] = embedding row of `token`.
    void embed_row(float* out, int token) const;
    const float* final_norm() const { return final_norm_; }
    const std::vector<PackedLayer>& layers() const { return layers_; }
    kern::TernaryFormat format() const { return format_; }
    // "tq2/f32", "tq1/q8_0", ...: ternary format and embedding type.
    std::string describe() const;
    // Bytes one decode step reads at an empty context: every ternary matrix, the head, the norms
    // and other fp32 tensors, the unpacked kv_up, and the Mamba state (read and rewritten). The
    // bandwidth bound is this divided by the read bandwidth.
    size_t bytes_read_per_token() const;
    // The mapped file (from_gguf), else nullptr.
    const gguf::GgufFile* file() const { return file_.get(); }
    // Bytes of weights held (file mapping or packed buffers), counted once.
    size_t weight_bytes() const;

private:
    PackedModel() = default;
    // Repacks the head (and, where the AVX-512 VNNI kernels run, the TQ2_0 matrices), unpacks
    // kv_up, transposes the conv weights.
    void finish();
    void repack_ternary();

    ModelConfig cfg_;
    kern::TernaryFormat format_ = kern::TernaryFormat::TQ2_0;
    kern::DenseView embed_, head_;
    const float* final_norm_ = nullptr;
    std::vector<PackedLayer> layers_;
    // Owners: packed buffers and fp32 copies (from_checkpoint) or the mapped file (from_gguf).
    std::vector<kern::PackedTernary> packed_;
    std::vector<float> f32_;
    std::vector<std::vector<float>> dense_f32_;  // embedding / untied head (from_checkpoint)
    std::unique_ptr<gguf::GgufFile> file_;
    std::vector<std::vector<int8_t>> kv_up_q_;
    std::vector<std::vector<float>> conv_wT_;
    std::unique_ptr<kern::Q8_0x8Matrix> head_q8x8_;
    std::vector<kern::TernaryX16> x16_;
};

}  // namespace np::infer
