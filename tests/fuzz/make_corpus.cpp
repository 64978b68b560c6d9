// Writes the seed corpora of the fuzz harnesses (corpus/<name>/: valid minimal inputs of every
// kind plus hostile variants) and the regression inputs of the findings known when the harnesses
// were written (regressions/<name>/). Deterministic: rerunning it rewrites the same bytes.
//   fuzz_make_corpus tests/fuzz
// Inputs found by the fuzzers themselves are added to regressions/<name>/ by hand (see README.md).
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "core/safetensors.h"
#include "data/shard.h"
#include "infer/export.h"
#include "infer/gguf.h"
#include "infer/gguf_checksum.h"
#include "model/checkpoint.h"
#include "tiny_chat.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using np::gguf::GgmlType;
using np::gguf::GgufFile;
using np::gguf::ValueType;

fs::path g_root;
const std::string kSep = "\n--8<--\n";  // fuzz_common.h split_parts()

void put(const std::string& kind, const std::string& name, const std::string& bytes) {
    const fs::path p = g_root / kind / name;
    fs::create_directories(p.parent_path());
    np::write_file_atomic(p.string(), bytes);
    std::printf("%8zu  %s\n", bytes.size(), (fs::path(kind) / name).c_str());
}
void seed(const std::string& parser, const std::string& name, const std::string& bytes) {
    put("corpus/" + parser, name, bytes);
}
void regression(const std::string& parser, const std::string& name, const std::string& bytes) {
    put("regressions/" + parser, name, bytes);
}

template <class T>
std::string raw(T v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

struct Tmp {
    fs::path dir;
    Tmp() {
        static int n = 0;
        dir = fs::temp_directory_path() / ("np_make_corpus_" + std::to_string(n++));
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~Tmp() { fs::remove_all(dir); }
    std::string operator/(const std::string& n) const { return (dir / n).string(); }
};

// ---- models ------------------------------------------------------------------------------------

np::ModelConfig small_config(int d_model, bool tied, const std::string& pattern) {
    np::ModelConfig c;
    c.vocab_size = np::test::tiny_tokenizer().vocab_size();
    c.d_model = d_model;
    c.n_layers = int(pattern.size());
    c.layer_pattern = pattern;
    c.tie_embeddings = tied;
    c.max_seq_len = 64;
    c.ffn = {"swiglu", 12};
    c.mamba = {d_model, 2, 4, 3, 1, 4};
    c.mla = {d_model, 2, 3, 4, 3, 5, 100.0};
    c.validate();
    return c;
}

// A checkpoint directory with the tiny tokenizer; returns its path.
std::string checkpoint(const Tmp& tmp, const std::string& name, const np::ModelConfig& cfg) {
    np::Model<float> m(cfg);
    m.init_random(7);
    const std::string dir = tmp / name;
    np::save_checkpoint(dir, m, {{"tokenizer.json", np::test::tiny_tokenizer().to_json()}});
    return dir;
}

// Copies a GGUF file's metadata and tensors through the writer, with string keys replaced by
// `strings`, integer keys by `ints` and tensors' shapes by `shapes` (payload kept as is).
std::string rewrite_gguf(const std::string& path, const std::map<std::string, std::string>& strings,
                         const std::map<std::string, uint64_t>& ints = {},
                         const std::map<std::string, std::vector<int64_t>>& shapes = {},
                         const std::set<std::string>& drop = {}) {
    const GgufFile f = GgufFile::open_container(path);
    std::string bytes;
    // The writer checks shapes against payloads; shapes that do not fit are patched in afterwards.
    np::gguf::Writer w;
    for (const std::string& k : f.metadata_keys()) {
        if (drop.count(k)) continue;
        const auto& v = f.value(k);
        if (auto it = strings.find(k); it != strings.end()) {
            w.set_string(k, it->second);
            continue;
        }
        if (auto it = ints.find(k); it != ints.end()) {
            v.type == ValueType::UINT64 ? w.set_u64(k, it->second)
                                        : w.set_u32(k, uint32_t(it->second));
            continue;
        }
        switch (v.type) {
            case ValueType::STRING:
                w.set_string(k, f.get_string(k));
                break;
            case ValueType::UINT32:
                w.set_u32(k, uint32_t(f.get_uint(k)));
                break;
            case ValueType::INT32:
                w.set_i32(k, int32_t(f.get_int(k)));
                break;
            case ValueType::UINT64:
                w.set_u64(k, f.get_uint(k));
                break;
            case ValueType::BOOL:
                w.set_bool(k, f.get_bool(k));
                break;
            case ValueType::FLOAT32:
                w.set_f32(k, float(f.get_float(k)));
                break;
            case ValueType::ARRAY:
                if (v.elem_type == ValueType::STRING) {
                    w.set_strings(k, f.get_strings(k));
                } else {
                    std::vector<int32_t> x;
                    for (int64_t i : f.get_ints(k)) x.push_back(int32_t(i));
                    w.set_i32s(k, x);
                }
                break;
            default:
                std::fprintf(stderr, "rewrite_gguf: unhandled type of %s\n", k.c_str());
                std::exit(1);
        }
    }
    for (const auto& t : f.tensors())
        w.add_tensor(t.name, t.type, t.ne, std::vector<uint8_t>(t.data, t.data + t.nbytes));
    Tmp tmp;
    w.write(tmp / "x.gguf");
    bytes = np::read_file(tmp / "x.gguf");
    // Patch shapes in place (the tensor-info record: name, n_dims, ne..., type, offset).
    for (const auto& [name, ne] : shapes) {
        std::string rec = raw<uint64_t>(name.size()) + name;
        const size_t p = bytes.find(rec);
        if (p == std::string::npos ||
            raw<uint32_t>(uint32_t(ne.size())) != bytes.substr(p + rec.size(), 4)) {
            std::fprintf(stderr, "rewrite_gguf: cannot patch %s\n", name.c_str());
            std::exit(1);
        }
        for (size_t i = 0; i < ne.size(); i++)
            std::memcpy(bytes.data() + p + rec.size() + 4 + 8 * i, &ne[i], 8);
    }
    return bytes;
}

// A bare container: header, then the given key/value and tensor-info records, zero padded.
std::string container(uint64_t n_tensors, uint64_t n_kv, const std::string& records,
                      size_t data_bytes) {
    std::string b = "GGUF" + raw<uint32_t>(3) + raw<uint64_t>(n_tensors) + raw<uint64_t>(n_kv);
    b += records;
    b.resize((b.size() + 31) / 32 * 32, '\0');
    return b + std::string(data_bytes, '\0');
}
std::string str_rec(const std::string& s) {
    return raw<uint64_t>(s.size()) + s;
}
std::string tensor_rec(const std::string& name, std::vector<uint64_t> ne, uint32_t type,
                       uint64_t offset) {
    std::string r = str_rec(name) + raw<uint32_t>(uint32_t(ne.size()));
    for (uint64_t d : ne) r += raw<uint64_t>(d);
    return r + raw<uint32_t>(type) + raw<uint64_t>(offset);
}

void gguf_and_checkpoint_seeds() {
    Tmp tmp;
    const std::string tied = checkpoint(tmp, "tied", small_config(8, true, "MA"));
    const std::string untied = checkpoint(tmp, "untied", small_config(32, false, "AM"));
    np::infer::export_gguf(tied, tmp / "tq2_f16.gguf", {"tq2", "f16", ""});
    np::infer::export_gguf(untied, tmp / "tq1_q8.gguf", {"tq1", "q8_0", ""});
    const std::string model = np::read_file(tmp / "tq2_f16.gguf");
    seed("gguf", "tq2_f16_tied.gguf", model);
    seed("gguf", "tq1_q8_0_untied.gguf", np::read_file(tmp / "tq1_q8.gguf"));
    // Without the tensor checksums (as files exported before them): mutated tensor data then
    // reaches the content checks and the decoder instead of stopping at a CRC mismatch.
    seed("gguf", "tq2_f16_tied_no_crc.gguf",
         rewrite_gguf(tmp / "tq2_f16.gguf", {}, {}, {}, {np::gguf::kTensorChecksumKey}));
    // Containers that are not models, and a few hostile shapes.
    const std::string align = str_rec("general.alignment") + raw<uint32_t>(4) + raw<uint32_t>(32);
    seed("gguf", "container_empty.gguf", container(0, 1, align, 0));
    seed("gguf", "container_one_tensor.gguf",
         container(1, 1, align + tensor_rec("w", {8, 2}, 0, 0), 64));
    seed("gguf", "container_nested_arrays.gguf",
         container(0, 1,
                   str_rec("a") + raw<uint32_t>(9) + raw<uint32_t>(9) + raw<uint64_t>(1) +
                       raw<uint32_t>(8) + raw<uint64_t>(2) + str_rec("x") + str_rec("yz"),
                   0));

    // Known findings. ne[0] * 4 wrapped to 0 and tensor_bytes divided by it (SIGFPE).
    regression("gguf", "f32_ne0_2pow62.gguf",
               container(1, 0, tensor_rec("w", {uint64_t(1) << 62, 1}, 0, 0), 64));
    // ne[0] = 2^62 + 8 wrapped to a small size the container accepted.
    regression("gguf", "f32_ne0_2pow62_plus8.gguf",
               container(1, 0, tensor_rec("w", {(uint64_t(1) << 62) + 8, 1}, 0, 0), 64));
    regression(
        "gguf", "model_final_norm_ne0_2pow62.gguf",
        rewrite_gguf(tmp / "tq2_f16.gguf", {}, {}, {{"final_norm.weight", {int64_t(1) << 62}}}));
    // Sizes taken on trust: n_layers 2^30 (the config alone made the loader build 2^30 layers).
    const json cfg = json::parse(np::read_file(tied + "/config.json"));
    auto with_cfg = [&](const std::string& key, int64_t v, const std::string& meta_key) {
        json c = cfg;
        c[key] = v;
        return rewrite_gguf(tmp / "tq2_f16.gguf", {{"nanoprime.config_json", c.dump()}},
                            {{meta_key, uint64_t(v)}});
    };
    regression("gguf", "config_n_layers_2pow30.gguf",
               with_cfg("n_layers", int64_t(1) << 30, "nanoprime.block_count"));
    regression("gguf", "config_n_layers_4000.gguf",
               with_cfg("n_layers", 4000, "nanoprime.block_count"));
    regression("gguf", "config_d_model_2pow30.gguf",
               with_cfg("d_model", int64_t(1) << 30, "nanoprime.embedding_length"));
    // An embedded tokenizer whose ids are far past vocab_size.
    json tok = json::parse(np::test::tiny_tokenizer().to_json());
    tok["model"]["vocab"]["!"] = 100000000;
    regression("gguf", "tokenizer_id_1e8.gguf",
               rewrite_gguf(tmp / "tq2_f16.gguf", {{"tokenizer.huggingface.json", tok.dump()}}));

    // Checkpoint directories: config.json, model.safetensors, tokenizer.json.
    auto dir_input = [](const std::string& d, bool with_tokenizer) {
        std::string s =
            np::read_file(d + "/config.json") + kSep + np::read_file(d + "/model.safetensors");
        if (with_tokenizer) s += kSep + np::read_file(d + "/tokenizer.json");
        return s;
    };
    seed("checkpoint", "tied_with_tokenizer", dir_input(tied, true));
    seed("checkpoint", "untied_no_tokenizer",
         dir_input(checkpoint(tmp, "untied8", small_config(8, false, "AM")), false));
    // A config claiming 2^33 parameters beside a tiny safetensors file.
    json big = cfg;
    big["d_model"] = 1 << 12;
    big["vocab_size"] = 1 << 21;
    regression("checkpoint", "config_2pow33_params_tiny_safetensors",
               big.dump() + kSep + np::read_file(tied + "/model.safetensors"));
}

// ---- safetensors -------------------------------------------------------------------------------

std::string st_file(const std::string& header, const std::string& data) {
    return raw<uint64_t>(header.size()) + header + data;
}

void safetensors_seeds() {
    Tmp tmp;
    const std::vector<float> a = {1.f, -2.f, 0.5f, 3.f, 0.f, -0.f};
    const std::vector<float> b = {7.f};
    const std::vector<np::TensorView> views = {{"a.weight", {2, 3}, a}, {"b", {1}, b}};
    np::save_safetensors(tmp / "f32.safetensors", views, {{"format", "pt"}});
    seed("safetensors", "f32_two_tensors.safetensors", np::read_file(tmp / "f32.safetensors"));
    seed("safetensors", "f16.safetensors",
         st_file(R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})",
                 raw<uint16_t>(0x3c00) + raw<uint16_t>(0xfc00)));
    seed("safetensors", "bf16_f64.safetensors",
         st_file(R"({"x":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},)"
                 R"("y":{"dtype":"F64","shape":[1,1],"data_offsets":[2,10]}})",
                 raw<uint16_t>(0x3f80) + raw<double>(-1.5)));
    seed("safetensors", "empty_tensor_and_metadata.safetensors",
         st_file(R"({"__metadata__":{"k":"v"},"e":{"dtype":"F32","shape":[0,5],)"
                 R"("data_offsets":[0,0]}})",
                 ""));
    seed("safetensors", "unsupported_dtype.safetensors",
         st_file(R"({"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", raw<int64_t>(3)));
    // Known finding: the product overflowed before the 0 (accepted, numel() then overflowed).
    regression("safetensors", "shape_2pow32_2pow32_0.safetensors",
               st_file(R"({"z":{"dtype":"F32","shape":[4294967296,4294967296,0],)"
                       R"("data_offsets":[0,0]}})",
                       ""));
    seed("safetensors", "header_length_huge.safetensors", raw<uint64_t>(uint64_t(1) << 62) + "{}");
}

// ---- tokenizer ---------------------------------------------------------------------------------

void tokenizer_seeds() {
    Tmp tmp;
    const np::Tokenizer& tok = np::test::tiny_tokenizer();
    const std::string hf = tok.to_json();
    seed("tokenizer", "tiny_tokenizer.json", std::string(1, '\0') + hf);
    tok.save_gpt2(tmp / "vocab.json", tmp / "merges.txt");
    seed("tokenizer", "tiny_gpt2",
         std::string(1, '\1') + np::read_file(tmp / "vocab.json") + kSep +
             np::read_file(tmp / "merges.txt"));
    // A Digits + ByteLevel pre-tokenizer, added tokens with every flag.
    json j = json::parse(hf);
    j["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers",
                           {{{"type", "Digits"}, {"individual_digits", true}},
                            {{"type", "ByteLevel"}, {"add_prefix_space", false}}}}};
    j["added_tokens"].push_back({{"id", tok.vocab_size()},
                                 {"content", " hello"},
                                 {"single_word", true},
                                 {"lstrip", true},
                                 {"rstrip", true},
                                 {"normalized", true},
                                 {"special", false}});
    j["model"]["ignore_merges"] = true;
    seed("tokenizer", "digits_added_flags.json", std::string(1, '\0') + j.dump());

    // Known findings: ids taken on trust before the file was checked.
    auto hostile = [&](const std::string& name, const std::function<void(json&)>& edit) {
        json x = json::parse(hf);
        edit(x);
        regression("tokenizer", name, std::string(1, '\0') + x.dump());
    };
    hostile("vocab_id_1e8.json", [](json& x) { x["model"]["vocab"]["!"] = 100000000; });
    hostile("vocab_id_int32_max.json", [](json& x) { x["model"]["vocab"]["!"] = 2147483647; });
    hostile("added_id_float_1e10.json", [](json& x) { x["added_tokens"][0]["id"] = 1e10; });
    hostile("added_id_2pow40.json", [](json& x) { x["added_tokens"][0]["id"] = int64_t(1) << 40; });
    hostile("decoder_not_object.json", [](json& x) { x["decoder"] = 5; });
    hostile("pre_tokenizer_sequence_of_numbers.json", [](json& x) {
        x["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {1, 2}}};
    });
    // An added token with id 4*10^8 beside an empty vocabulary: the table was allocated before
    // the missing pre_tokenizer was reported.
    regression("tokenizer", "added_id_4e8_only.json",
               std::string(1, '\0') +
                   R"({"model":{"type":"BPE","vocab":{},"merges":[]},)"
                   R"("added_tokens":[{"id":400000000,"content":"x","special":true}]})");
}

// ---- shards ------------------------------------------------------------------------------------

void shard_seeds() {
    Tmp tmp;
    const std::vector<int32_t> ids = {0, 7, 8, 9, 3, 0, 12, 299};
    const std::vector<uint8_t> mask = {0, 0, 1, 1, 1, 0, 1, 1};
    np::data::write_shard(tmp / "a.npts", ids, mask, 300, 2);
    seed("shard", "w2_mask_verify.npts", std::string(1, '\0') + np::read_file(tmp / "a.npts"));
    seed("shard", "w2_mask_noverify.npts", std::string(1, '\1') + np::read_file(tmp / "a.npts"));
    np::data::write_shard(tmp / "b.npts", ids, {}, 100000, 4);
    seed("shard", "w4_nomask.npts", std::string(1, '\0') + np::read_file(tmp / "b.npts"));
    np::data::write_shard(tmp / "c.npts", std::vector<int32_t>{}, {}, 0, 4);
    seed("shard", "empty_no_vocab.npts", std::string(1, '\0') + np::read_file(tmp / "c.npts"));
    // Known finding: a 4-byte id of 2^31 or more read as negative and passed verification when
    // no vocabulary was recorded. Same payload checksummed, so only the id check can reject it.
    std::string s = np::read_file(tmp / "b.npts");
    const uint32_t neg = 0xfffffff0u;
    std::memcpy(s.data() + np::data::kShardHeaderBytes + 4, &neg, 4);
    std::memset(s.data() + 24, 0, 4);  // vocab size: not recorded
    const uint64_t sum = np::data::fnv1a64(s.data() + np::data::kShardHeaderBytes,
                                           s.size() - np::data::kShardHeaderBytes);
    std::memcpy(s.data() + 32, &sum, 8);
    regression("shard", "w4_negative_id_no_vocab.npts", std::string(1, '\0') + s);
}

// ---- config ------------------------------------------------------------------------------------

void config_seeds() {
    for (const std::string& p : np::ModelConfig::preset_names())
        seed("config", p + ".json", np::ModelConfig::preset(p).to_json().dump(2));
    seed("config", "tiny_untied.json", small_config(32, false, "AM").to_json().dump());
    const json nano = np::ModelConfig::preset("nano").to_json();
    auto hostile = [&](const std::string& name, const std::function<void(json&)>& edit) {
        json x = nano;
        edit(x);
        regression("config", name, x.dump());
    };
    // Known findings: signed overflow in derived sizes accepted a config; huge counts.
    hostile("d_model_2pow30.json", [](json& x) { x["d_model"] = 1 << 30; });
    hostile("n_layers_2pow30.json", [](json& x) { x["n_layers"] = 1 << 30; });
    hostile("mla_q_dim_overflow.json", [](json& x) {
        x["mla"]["n_heads"] = 1 << 30;
        x["mla"]["qk_nope_dim"] = 1 << 30;
    });
    hostile("mamba_head_dim_wraps.json", [](json& x) {
        x["d_model"] = 1 << 30;
        x["mamba"]["expand"] = 4;
        x["mamba"]["head_dim"] = 1 << 30;
    });
    regression("config", "norm_eps_overflow_literal.json",
               R"({"architecture":"nanoprime","vocab_size":4096,"d_model":256,"n_layers":8,)"
               R"("layer_pattern":"MMMA","tie_embeddings":true,"norm_eps":1e999,)"
               R"("max_seq_len":512,"ffn":{"act":"swiglu","hidden":768},)"
               R"("mamba":{"expand":2,"head_dim":64,"d_state":32,"n_groups":1,"d_conv":4},)"
               R"("mla":{"n_heads":4,"qk_nope_dim":48,"qk_rope_dim":16,"v_dim":64,)"
               R"("kv_rank":64,"rope_theta":10000.0}})");
}

// ---- data prepare and chat ---------------------------------------------------------------------

const std::vector<std::pair<std::string, std::string>>& records() {
    static const std::vector<std::pair<std::string, std::string>> r = {
        {"text", R"({"text": "Plain text document.\nSecond line."})"},
        {"messages",
         R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": )"
         R"("Hi"}, {"role": "assistant", "content": "<think>greet</think>Hello!"}]})"},
        {"messages_no_think",
         R"({"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", )"
         R"("content": "4"}, {"role": "user", "content": "and 3+3?"}, {"role": "assistant", )"
         R"("content": "  <think>\n add \n</think>\n\n 6 "}]})"},
        {"instruction",
         R"({"system": "You translate.", "instruction": "Translate", "input": "ciao", )"
         R"("output": "hello"})"},
        {"question_thinking",
         R"({"question": "What is 6*7?", "thinking": "6*7=42", "answer": "42"})"},
        {"gsm8k",
         R"({"question": "Tom has 3 apples and buys 2.", "answer": "3+2=<<3+2=5>>5\n#### 5"})"},
        {"gsm8k_no_hash", R"({"question": "Say hi", "answer": "hi"})"},
        {"bad_think", R"({"messages": [{"role": "assistant", "content": "<think>a<think>b"}]})"},
        {"bad_role", R"({"messages": [{"role": "robot", "content": "x"}]})"},
        {"unicode", "{\"text\": \"caf\\u00e9 \\ud83d\\ude00 \\u0000 nul\"}"},
    };
    return r;
}

void prepare_and_chat_seeds() {
    for (const auto& [name, rec] : records()) seed("chat", name + ".json", rec);
    seed("chat", "raw_think_text", "  <think>\nreasoning\n</think>\n\nanswer <<1+1=2>> #### 2");
    std::string jsonl;
    for (const auto& [name, rec] : records()) jsonl += rec + "\n";
    jsonl += "not json at all\n{\"text\": 5}\n[1, 2]\n\n   \n";
    // Byte 0: format in bits 0-1 (auto, text, jsonl, chat), text mode in bits 2-3.
    seed("prepare", "auto_jsonl", std::string(1, '\0') + jsonl);
    seed("prepare", "chat_jsonl", std::string(1, '\3') + jsonl);
    const std::string text =
        "First paragraph, line one.\nline two.\n\n\nSecond paragraph.\r\n\r\n  \nThird\n"
        "no final newline";
    seed("prepare", "text_blank", std::string(1, '\1') + text);
    seed("prepare", "text_line", std::string(1, '\1' | 4) + text);
    seed("prepare", "text_file", std::string(1, '\1' | 8) + text);
    seed("prepare", "jsonl_crlf",
         std::string(1, '\2') + "{\"text\": \"a\"}\r\n{\"text\": \"b\"}\r\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: fuzz_make_corpus DIR  (DIR = tests/fuzz)\n");
        return 2;
    }
    g_root = argv[1];
    gguf_and_checkpoint_seeds();
    safetensors_seeds();
    tokenizer_seeds();
    shard_seeds();
    config_seeds();
    prepare_and_chat_seeds();
    return 0;
}
