// GGUF v3 files (DESIGN §4.2): a writer, and a reader that mmaps a NanoPrime model file and
// validates all of it before anything uses it.
//
// Container (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), little-endian:
//   "GGUF", u32 version = 3, u64 tensor_count, u64 kv_count,
//   kv_count x (string key, u32 value type, value)        -- strings are u64 length + bytes
//   tensor_count x (string name, u32 n_dims, n_dims x u64 ne, u32 ggml type, u64 offset)
//   zero padding to general.alignment (32), then the data section; every tensor's offset (relative
//   to the data section) is a multiple of the alignment and every tensor is zero-padded to it.
// ne[0] is the innermost (contiguous) dimension: a row-major matrix [rows, cols] has ne = {cols,
// rows}.
//
// A NanoPrime file holds these keys:
//   general.architecture = "nanoprime", general.name, general.alignment (u32 32)
//   nanoprime.config_json   the checkpoint's config.json text: authoritative for the architecture
//   nanoprime.context_length, .embedding_length, .block_count, .vocab_size (u32),
//   nanoprime.feed_forward_length (u32), nanoprime.layer_pattern (string): must agree with it
//   nanoprime.weights = "tq2" | "tq1", nanoprime.embed = "f16" | "q8_0"
//   tokenizer.ggml.model = "gpt2"; tokenizer.ggml.tokens (vocab_size strings: the HF pieces, ids
//     the tokenizer does not use are "[PAD<id>]"), tokenizer.ggml.token_type (i32: 1 normal,
//     3 control = the special tokens, 4 user-defined added tokens, 5 unused),
//     tokenizer.ggml.merges ("left right" in rank order), tokenizer.ggml.bos_token_id = 0
//     (<|endoftext|> starts every document), eos_token_id = 3 (<|im_end|>), padding_token_id = 1,
//     tokenizer.ggml.add_bos_token = true
//   tokenizer.huggingface.json  the full HF tokenizer.json: what tokenizer() rebuilds from
//   tokenizer.chat_template     Jinja ChatML with thinking (DESIGN §3)
// and these tensors, under their checkpoint names (DESIGN §4.1):
//   BitLinear weights W[rows, cols] (in_proj, out_proj, q_proj, kv_down, kv_up, o_proj, gate, up,
//     down): TQ2_0 (nanoprime.weights = tq2) or TQ1_0 (tq1) holding ternarize_weights(W), each row
//     zero-padded to ternary_padded_cols(cols) (a multiple of 256), ne = {padded cols, rows}. Every
//     block's fp16 d is fp16(gamma), so standard readers dequantise to Wq * fp16(gamma).
//   "<name>.scale": F32 ne = {1}, the exact fp32 gamma (what NanoPrime's kernels use).
//   embed.weight (and lm_head.weight when untied): F16 or Q8_0, ne = {d_model, vocab_size}.
//   everything else (norms, conv1d.weight [C,K], conv1d.bias, dt_bias, A_log, D): F32 with the
//     checkpoint shape reversed into ne.
// The logical cols of a ternary tensor come from the config, never from ne[0].
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/cpu/ternary_pack.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace np::gguf {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kVersion = 3;
constexpr uint32_t kAlignment = 32;
constexpr size_t kMaxNameLength = 63;  // ggml's GGML_MAX_NAME is 64 including the NUL
constexpr int kMaxDims = 4;

enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 8, TQ1_0 = 34, TQ2_0 = 35 };
const char* type_name(GgmlType t);
// True for the five types above; anything else in a file is an error.
bool type_known(uint32_t t);
int64_t type_block_elems(GgmlType t);  // elements per block: 1, 1, 32, 256, 256
size_t type_block_bytes(GgmlType t);   // bytes per block: 4, 2, 34, 54, 66
// Data bytes of a tensor of this type and shape; np::Error (prefixed by `what`) when a dimension
// is not positive, ne[0] is not a multiple of the block, or the size overflows.
size_t tensor_bytes(GgmlType t, std::span<const int64_t> ne, const std::string& what = "tensor");

enum class ValueType : uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12
};
const char* value_type_name(ValueType t);

// A metadata value as it lies in the mapped file (already bounds-checked).
struct Value {
    ValueType type = ValueType::UINT8;
    ValueType elem_type = ValueType::UINT8;  // arrays only
    uint64_t count = 0;                      // arrays only: number of elements
    const uint8_t* data = nullptr;           // the encoded value (for arrays: after type + count)
    size_t nbytes = 0;
};

struct Tensor {
    std::string name;
    GgmlType type = GgmlType::F32;
    std::vector<int64_t> ne;  // ne[0] innermost, GGUF order
    const uint8_t* data = nullptr;
    size_t nbytes = 0;
    uint64_t offset = 0;  // within the data section
};

// Builds a GGUF v3 file in memory (tensor payloads are moved in, not copied) and writes it
// atomically. Keys and tensor names must be unique; names at most kMaxNameLength bytes.
class Writer {
public:
    void set_u32(const std::string& key, uint32_t v);
    void set_i32(const std::string& key, int32_t v);
    void set_u64(const std::string& key, uint64_t v);
    void set_f32(const std::string& key, float v);
    void set_bool(const std::string& key, bool v);
    void set_string(const std::string& key, const std::string& v);
    void set_strings(const std::string& key, const std::vector<std::string>& v);
    void set_i32s(const std::string& key, const std::vector<int32_t>& v);
    // Checks nbytes == tensor_bytes(type, ne).
    void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne,
                    std::vector<uint8_t> data);

    size_t metadata_bytes() const { return kv_.size(); }  // the key/value section
    size_t file_bytes() const;
    void write(const std::string& path) const;

private:
    void key(const std::string& k, ValueType t);
    std::string kv_;  // encoded key/value records
    uint64_t n_kv_ = 0;
    std::set<std::string> keys_, names_;
    struct Pending {
        std::string name;
        GgmlType type;
        std::vector<int64_t> ne;
        std::vector<uint8_t> data;
    };
    std::vector<Pending> tensors_;
};

class GgufFile {
public:
    // mmaps `path` and validates everything: container structure and bounds, the NanoPrime keys
    // against nanoprime.config_json, every tensor's presence, type and shape against the config,
    // the ternary scales, the tensor contents (finite F32/F16 values and scales, TQ2_0 codes,
    // every block's d == fp16(gamma)) and the tokenizer. Failures throw np::Error
    // "PATH: what is wrong (tensor X / key Y)"; no input makes it read outside the file.
    static GgufFile open(const std::string& path);
    // Only the container checks (structure, bounds, alignment, overlap): for files that are not
    // NanoPrime models. config(), tokenizer() and the formats are then empty.
    static GgufFile open_container(const std::string& path);

    GgufFile() = default;  // empty (no file), like a moved-from one
    GgufFile(GgufFile&&) noexcept;
    GgufFile& operator=(GgufFile&&) noexcept;
    GgufFile(const GgufFile&) = delete;
    GgufFile& operator=(const GgufFile&) = delete;
    ~GgufFile();

    const Tensor* find(const std::string& name) const;    // nullptr if absent
    const Tensor& tensor(const std::string& name) const;  // throws naming the file and tensor
    const std::vector<Tensor>& tensors() const { return tensors_; }  // in file order

    // Ternary matrix [rows, cols] (logical cols): type TQ2_0/TQ1_0, ne == {padded(cols), rows},
    // gamma from the F32 [1] tensor "<name>.scale".
    kern::TernaryView ternary(const std::string& name, int rows, int cols) const;
    // F32 tensor with exactly n elements.
    std::span<const float> f32(const std::string& name, int64_t n) const;

    const ModelConfig& config() const { return cfg_; }
    Tokenizer tokenizer() const { return tok_; }
    std::string chat_template() const;
    const std::string& weights_format() const { return weights_; }  // "tq2" | "tq1"
    const std::string& embed_format() const { return embed_; }      // "f16" | "q8_0"
    kern::TernaryFormat ternary_format() const;

    size_t file_bytes() const { return size_; }
    const std::string& path() const { return path_; }
    uint32_t version() const { return kVersion; }
    uint32_t alignment() const { return alignment_; }
    size_t metadata_bytes() const { return kv_bytes_; }  // the key/value section
    size_t data_offset() const { return data_offset_; }  // start of the data section
    // Bytes of the mapping resident in this process (Rss from /proc/self/smaps; where that is
    // unavailable, the pages mincore reports resident).
    size_t resident_bytes() const;
    // Reads one byte of every page of every tensor, so that resident_bytes() afterwards is what a
    // run that uses all weights keeps in memory. Returns a checksum so it cannot be optimised away.
    uint64_t touch_all() const;
    // Drops the mapping's resident pages inside [p, p + n) (whole pages only; madvise DONTNEED, a
    // later read faults them back in from the page cache): for a tensor that was copied into
    // another layout and is rarely read from the file afterwards.
    void release_pages(const uint8_t* p, size_t n) const;

    // Metadata, in file order. Typed getters throw naming the file and key when the key is absent
    // or has another type; integer getters accept any integer type whose value fits.
    const std::vector<std::string>& metadata_keys() const { return keys_; }
    const Value* find_value(const std::string& key) const;
    const Value& value(const std::string& key) const;
    std::string get_string(const std::string& key) const;
    uint64_t get_uint(const std::string& key) const;
    int64_t get_int(const std::string& key) const;
    bool get_bool(const std::string& key) const;
    double get_float(const std::string& key) const;
    std::vector<std::string> get_strings(const std::string& key) const;  // string array
    std::vector<int64_t> get_ints(const std::string& key) const;         // integer array
    // A value as JSON (arrays longer than max_array elements are cut, with "..." appended).
    nlohmann::json value_json(const std::string& key, size_t max_array = 8) const;

private:
    void parse();
    void validate_model();
    void validate_tokenizer();
    void validate_contents() const;
    [[noreturn]] void error(const std::string& what) const;

    std::string path_;
    const uint8_t* base_ = nullptr;
    size_t size_ = 0;
    uint32_t alignment_ = kAlignment;
    size_t kv_bytes_ = 0, data_offset_ = 0;
    std::vector<std::string> keys_;
    std::unordered_map<std::string, Value> values_;
    std::vector<Tensor> tensors_;
    std::unordered_map<std::string, size_t> by_name_;
    ModelConfig cfg_;
    Tokenizer tok_;
    std::string weights_, embed_;
};

// The chat template written into tokenizer.chat_template.
const std::string& nanoprime_chat_template();

// What tokenizer.ggml.tokens / token_type hold for id (writer and reader share these).
std::string token_piece(const Tokenizer& tok, int32_t id);
int32_t token_type(const Tokenizer& tok, int32_t id);
// A tokenizer.json's model.merges as "left right" strings in rank order; `where` prefixes errors.
std::vector<std::string> hf_merges(std::string_view hf_json, const std::string& where);

}  // namespace np::gguf
