// GGUF export and loader (DESIGN §4.2): exact round trips in every format, Q8_0 against ggml's
// reference loop, size estimates to the byte, inference memory of the presets, and a hostile-input
// battery (truncations, corrupted headers, offsets, types, shapes, scales, payloads, config) where
// every case must be an np::Error naming the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>

#include "core/error.h"
#include "core/file_io.h"
#include "infer/export.h"
#include "infer/gguf.h"
#include "infer/gguf_checksum.h"
#include "infer/packed_model.h"
#include "kernels/cpu/dense_rows.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/q8_0.h"
#include "kernels/cpu/q8_0_x8.h"
#include "kernels/cpu/ternary_pack.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "tiny_chat.h"
#include "tokenizer/bpe_train.h"

namespace {

using np::test::tiny_tokenizer;

namespace fs = std::filesystem;
using np::gguf::GgmlType;
using np::gguf::GgufFile;
using np::infer::ExportOptions;

// d_model 32 so that Q8_0 embeddings apply; rows of every ternary tensor get padded (cols < 256).
np::ModelConfig tiny_config(bool tied) {
    np::ModelConfig c;
    c.vocab_size = 320;
    c.d_model = 32;
    c.n_layers = 3;
    c.layer_pattern = "MA";
    c.tie_embeddings = tied;
    c.max_seq_len = 128;
    c.ffn = {"swiglu", 48};
    c.mamba = {32, 2, 16, 8, 1, 4};
    c.mla = {32, 2, 8, 4, 8, 16, 1000.0};
    c.validate();
    return c;
}

struct TempDir {
    fs::path path;
    TempDir() {
        static std::atomic<int> n{0};
        path = fs::temp_directory_path() /
               ("np_gguf_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// A checkpoint with a tokenizer, written once per configuration.
struct Ckpt {
    TempDir dir;
    std::string path;
    np::Model<float> model;
    explicit Ckpt(bool tied) : path(dir / "ckpt"), model(tiny_config(tied)) {
        model.init_random(tied ? 3 : 4);
        np::save_checkpoint(path, model, {{"tokenizer.json", tiny_tokenizer().to_json()}});
    }
};
const Ckpt& untied_ckpt() {
    static const Ckpt c(false);
    return c;
}
const Ckpt& tied_ckpt() {
    static const Ckpt c(true);
    return c;
}

// The ggml reference loop for Q8_0, written out independently of kernels/cpu/q8_0.cpp.
void reference_q8_0(const float* x, uint8_t* out, int64_t n) {
    for (int64_t i = 0; i < n / 32; i++) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) {
            const float v = x[i * 32 + j];
            amax = amax > std::fabs(v) ? amax : std::fabs(v);
        }
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        const uint16_t dh = np::kern::fp32_to_fp16(d);
        std::memcpy(out + 34 * i, &dh, 2);
        for (int j = 0; j < 32; ++j) {
            const float x0 = x[i * 32 + j] * id;
            out[34 * i + 2 + j] = uint8_t(int8_t(roundf(x0)));
        }
    }
}

TEST(GgufQ8_0, MatchesGgmlReference) {
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.f, 0.05f);
    const int64_t n = 32 * 40;
    std::vector<float> x(n);
    for (auto& v : x) v = nd(rng);
    for (int j = 0; j < 32; j++) x[32 + j] = 0.f;                   // an all-zero block
    x[64] = 1000.f, x[65] = -1000.f, x[66] = 3.9370079e-3f * 0.5f;  // a half-way value
    for (int j = 0; j < 32; j++) x[96 + j] = float(j - 16) * 0.5f;  // exact ties
    std::vector<np::kern::BlockQ8_0> q(n / 32);
    np::kern::quantize_row_q8_0(q.data(), x.data(), n);
    std::vector<uint8_t> ref(size_t(n / 32) * 34);
    reference_q8_0(x.data(), ref.data(), n);
    ASSERT_EQ(std::memcmp(q.data(), ref.data(), ref.size()), 0);
    std::vector<float> y(n);
    np::kern::dequantize_row_q8_0(y.data(), q.data(), n);
    for (int64_t b = 0; b < n / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[b * 32 + j]));
        const float d = amax / 127.f;
        for (int j = 0; j < 32; j++) {
            const int64_t i = b * 32 + j;
            EXPECT_EQ(y[i], float(q[b].qs[j]) * np::kern::fp16_to_fp32(q[b].d));
            EXPECT_LE(std::fabs(y[i] - x[i]), 0.5f * d + 127.f * d * 1e-3f + 1e-12f) << i;
        }
    }
    EXPECT_EQ(q[1].d, 0);
    EXPECT_THROW(np::kern::quantize_row_q8_0(q.data(), x.data(), 33), np::Error);
    EXPECT_THROW(np::kern::dequantize_row_q8_0(y.data(), q.data(), 31), np::Error);
}

TEST(GgufWriter, ContainerRoundTrip) {
    TempDir tmp;
    np::gguf::Writer w;
    w.set_u32("a.u32", 7);
    w.set_i32("a.i32", -5);
    w.set_u64("a.u64", uint64_t(1) << 40);
    w.set_f32("a.f32", 0.25f);
    w.set_bool("a.bool", true);
    w.set_string("a.str", "héllo");
    w.set_strings("a.strs", {"x", "", "yz"});
    w.set_i32s("a.ints", {3, -1, 4});
    EXPECT_THROW(w.set_u32("a.u32", 1), np::Error);
    std::vector<uint8_t> f16(2 * 64 * 3, 0);
    w.add_tensor("t.f16", GgmlType::F16, {64, 3}, f16);
    w.add_tensor("t.f32", GgmlType::F32, {5}, std::vector<uint8_t>(20, 1));
    EXPECT_THROW(w.add_tensor("t.bad", GgmlType::F32, {5}, std::vector<uint8_t>(16)), np::Error);
    EXPECT_THROW(w.add_tensor("t.q8", GgmlType::Q8_0, {33}, std::vector<uint8_t>(34)), np::Error);
    EXPECT_THROW(w.add_tensor(std::string(64, 'n'), GgmlType::F32, {1}, std::vector<uint8_t>(4)),
                 np::Error);
    const std::string path = tmp / "c.gguf";
    w.write(path);
    EXPECT_EQ(fs::file_size(path), w.file_bytes());
    const GgufFile f = GgufFile::open_container(path);
    EXPECT_EQ(f.metadata_keys().size(), 8u);
    EXPECT_EQ(f.metadata_bytes(), w.metadata_bytes());
    EXPECT_EQ(f.get_uint("a.u32"), 7u);
    EXPECT_EQ(f.get_int("a.i32"), -5);
    EXPECT_THROW(f.get_uint("a.i32"), np::Error);
    EXPECT_EQ(f.get_uint("a.u64"), uint64_t(1) << 40);
    EXPECT_EQ(f.get_float("a.f32"), 0.25);
    EXPECT_THROW(f.get_float("a.u32"), np::Error);
    EXPECT_TRUE(f.get_bool("a.bool"));
    EXPECT_EQ(f.get_string("a.str"), "héllo");
    EXPECT_THROW(f.get_string("a.nope"), np::Error);
    EXPECT_EQ(f.get_strings("a.strs"), (std::vector<std::string>{"x", "", "yz"}));
    EXPECT_EQ(f.get_ints("a.ints"), (std::vector<int64_t>{3, -1, 4}));
    EXPECT_EQ(f.value_json("a.ints", 2), nlohmann::json::parse(R"j([3, -1, "... (3 in all)"])j"));
    EXPECT_EQ(f.value_json("a.str"), "héllo");
    EXPECT_EQ(f.tensor("t.f16").ne, (std::vector<int64_t>{64, 3}));
    EXPECT_EQ(f.tensor("t.f32").data - f.tensor("t.f16").data, 384);
    EXPECT_EQ(f.tensor("t.f16").offset, 0u);
    EXPECT_EQ(f.tensor("t.f32").offset, 384u);
    EXPECT_EQ(f.f32("t.f32", 5).size(), 5u);
    EXPECT_THROW(f.f32("t.f16", 192), np::Error);
    EXPECT_THROW(f.f32("t.f32", 4), np::Error);
    EXPECT_EQ(f.data_offset() % 32, 0u);
    // Not a NanoPrime model: the full open says what is missing.
    try {
        GgufFile::open(path);
        ADD_FAILURE();
    } catch (const np::Error& e) {
        EXPECT_NE(std::string(e.what()).find("missing key general.architecture"), std::string::npos)
            << e.what();
    }
}

// Everything a loader can observe, checked against the fp32 checkpoint.
void check_round_trip(const Ckpt& c, const ExportOptions& opt) {
    SCOPED_TRACE(opt.weights + "/" + opt.embed + (c.model.cfg.tie_embeddings ? " tied" : ""));
    TempDir tmp;
    const std::string out = tmp / "model.gguf";
    np::infer::export_gguf(c.path, out, opt);
    const GgufFile f = GgufFile::open(out);
    const np::Model<float>& m = c.model;
    EXPECT_EQ(f.config().to_json(), m.cfg.to_json());
    EXPECT_EQ(f.weights_format(), opt.weights);
    EXPECT_EQ(f.embed_format(), opt.embed);
    EXPECT_EQ(f.get_string("general.architecture"), "nanoprime");
    EXPECT_EQ(f.get_uint("general.alignment"), 32u);
    EXPECT_EQ(f.get_uint("tokenizer.ggml.bos_token_id"), 0u);
    EXPECT_EQ(f.get_uint("tokenizer.ggml.eos_token_id"), 3u);
    EXPECT_EQ(f.get_uint("tokenizer.ggml.padding_token_id"), 1u);
    EXPECT_EQ(f.get_strings("tokenizer.ggml.tokens").size(), size_t(m.cfg.vocab_size));
    const auto types = f.get_ints("tokenizer.ggml.token_type");
    for (int id = 0; id < 6; id++) EXPECT_EQ(types[size_t(id)], 3) << id;
    EXPECT_EQ(types[size_t(m.cfg.vocab_size - 1)], 5);
    EXPECT_EQ(f.chat_template(), np::gguf::nanoprime_chat_template());
    EXPECT_EQ(f.file_bytes(), fs::file_size(out));

    const np::Tokenizer tok = f.tokenizer();
    EXPECT_EQ(tok.to_json(), tiny_tokenizer().to_json());
    for (const char* text : {"What is 123 + 45?", "the answer is here\n\n", "caffè ✓ 9"})
        EXPECT_EQ(tok.encode(text), tiny_tokenizer().encode(text)) << text;
    EXPECT_EQ(tok.encode_with_specials("<|im_start|>user\nhi<|im_end|>"),
              tiny_tokenizer().encode_with_specials("<|im_start|>user\nhi<|im_end|>"));

    size_t n_tensors = 0;
    for (const np::ParamSpec& s : m.layout.specs) {
        SCOPED_TRACE(s.name);
        const float* W = m.params.data() + s.offset;
        n_tensors += s.ternary ? 2 : 1;
        if (s.ternary) {
            const int rows = int(s.shape[0]), cols = int(s.shape[1]);
            std::vector<int8_t> want(size_t(s.numel)), got(size_t(s.numel));
            const float gamma = np::kern::ternarize_weights(want.data(), W, s.numel);
            const np::kern::TernaryView v = f.ternary(s.name, rows, cols);
            EXPECT_EQ(v.format, opt.weights == "tq2" ? np::kern::TernaryFormat::TQ2_0
                                                     : np::kern::TernaryFormat::TQ1_0);
            EXPECT_EQ(std::memcmp(&v.gamma, &gamma, 4), 0);
            np::kern::unpack_ternary(got.data(), v);
            EXPECT_EQ(got, want);
            EXPECT_EQ(f.tensor(s.name).ne,
                      (std::vector<int64_t>{np::kern::ternary_padded_cols(cols), rows}));
        } else if (s.name == "embed.weight" || s.name == "lm_head.weight") {
            const np::gguf::Tensor& t = f.tensor(s.name);
            EXPECT_EQ(t.ne, (std::vector<int64_t>{s.shape[1], s.shape[0]}));
            std::vector<float> y(size_t(s.numel));
            if (opt.embed == "f16") {
                ASSERT_EQ(t.type, GgmlType::F16);
                for (size_t i = 0; i < y.size(); i++) {
                    uint16_t h;
                    std::memcpy(&h, t.data + 2 * i, 2);
                    y[i] = np::kern::fp16_to_fp32(h);
                    // fp16 keeps 11 significant bits: relative error <= 2^-11 (normal range).
                    EXPECT_LE(std::fabs(y[i] - W[i]), std::fabs(W[i]) * 0x1p-11f + 0x1p-25f);
                }
            } else {
                ASSERT_EQ(t.type, GgmlType::Q8_0);
                np::kern::dequantize_row_q8_0(
                    y.data(), reinterpret_cast<const np::kern::BlockQ8_0*>(t.data), s.numel);
                for (int64_t b = 0; b < s.numel / 32; b++) {
                    float amax = 0;
                    for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(W[b * 32 + j]));
                    for (int j = 0; j < 32; j++)
                        EXPECT_LE(std::fabs(y[b * 32 + j] - W[b * 32 + j]),
                                  amax / 127.f * (0.5f + 127.f * 1e-3f));
                }
            }
        } else {
            const std::span<const float> v = f.f32(s.name, s.numel);
            EXPECT_EQ(std::memcmp(v.data(), W, size_t(s.numel) * 4), 0);
            EXPECT_EQ(f.tensor(s.name).ne,
                      (std::vector<int64_t>(s.shape.rbegin(), s.shape.rend())));
        }
    }
    EXPECT_EQ(f.tensors().size(), n_tensors);

    // The estimate is exact apart from the key/value section.
    const np::infer::GgufSizes est = np::infer::estimate_gguf_sizes(m.cfg, opt);
    const np::infer::GgufSizes got = np::infer::measure_gguf_sizes(f);
    EXPECT_EQ(est.total_with_metadata(f.metadata_bytes()), f.file_bytes());
    EXPECT_EQ(got.total, f.file_bytes());
    EXPECT_EQ(est.ternary, got.ternary);
    EXPECT_EQ(est.embed, got.embed);
    EXPECT_EQ(est.other, got.other);
    EXPECT_EQ(est.padding, got.padding);
    EXPECT_EQ(est.header, got.header);
    EXPECT_EQ(est.tensors, got.tensors);
    EXPECT_EQ(est.ternary_weights, got.ternary_weights);
    // The tokenizer estimate is generous for this tiny vocabulary.
    EXPECT_GT(est.metadata, got.metadata / 2);

    // The loaded model: a Q8_0 head is repacked for the decode product (and its file pages
    // released); the product and the embedding rows read back from the file must be unchanged.
    {
        const auto pm = np::infer::PackedModel::from_gguf(out);
        const np::kern::DenseView& head = pm->head();
        EXPECT_EQ(pm->head_q8x8() != nullptr, opt.embed == "q8_0" && np::kern::q8_0x8_has_simd());
        if (pm->head_q8x8()) {
            std::vector<float> x(size_t(head.cols)), want(size_t(head.rows)),
                got(size_t(head.rows));
            for (int i = 0; i < head.cols; i++) x[size_t(i)] = std::sin(0.7f * float(i));
            np::kern::dense_matvec_reference(want.data(), head, x.data());
            np::kern::q8_0x8_matvec(got.data(), *pm->head_q8x8(), x.data());
            for (int o = 0; o < head.rows; o++)
                EXPECT_NEAR(got[size_t(o)], want[size_t(o)],
                            1e-5f * (1 + std::fabs(want[size_t(o)])))
                    << o;
        }
        std::vector<float> row(size_t(head.cols)), want_row(size_t(head.cols));
        pm->embed_row(row.data(), 3);
        const np::gguf::Tensor& te = f.tensor("embed.weight");
        np::kern::DenseView ev{pm->embed().type, head.rows, head.cols, te.data};
        np::kern::dense_row(want_row.data(), ev, 3);
        EXPECT_EQ(row, want_row);
    }

    // Reading every tensor makes the mapping resident; it can never exceed the file.
    f.touch_all();
    const size_t rss = f.resident_bytes();
    EXPECT_GT(rss, f.file_bytes() / 2);
    EXPECT_LE(rss, (f.file_bytes() + 4095) / 4096 * 4096);
}

TEST(GgufRoundTrip, EveryFormatUntied) {
    for (const char* w : {"tq2", "tq1"})
        for (const char* e : {"f16", "q8_0"}) check_round_trip(untied_ckpt(), {w, e, ""});
}

TEST(GgufRoundTrip, Tied) {
    check_round_trip(tied_ckpt(), {"tq2", "f16", ""});
    check_round_trip(tied_ckpt(), {"tq1", "q8_0", ""});
}

TEST(GgufRoundTrip, MoveKeepsTheMapping) {
    TempDir tmp;
    np::infer::export_gguf(untied_ckpt().path, tmp / "m.gguf", {});
    GgufFile a = GgufFile::open(tmp / "m.gguf");
    const uint8_t* p = a.tensor("final_norm.weight").data;
    GgufFile b = std::move(a);
    EXPECT_EQ(b.tensor("final_norm.weight").data, p);
    EXPECT_EQ(b.f32("final_norm.weight", 32)[0], untied_ckpt().model.param("final_norm.weight")[0]);
}

TEST(GgufExport, Errors) {
    TempDir tmp;
    const std::string out = tmp / "m.gguf";
    auto expect_error = [&](const std::string& dir, const ExportOptions& o, const char* needle) {
        try {
            np::infer::export_gguf(dir, out, o);
            ADD_FAILURE() << "no error for " << needle;
        } catch (const np::Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
        EXPECT_FALSE(fs::exists(out));
    };
    expect_error(untied_ckpt().path, {"tq3", "f16", ""}, "--weights");
    expect_error(untied_ckpt().path, {"tq2", "bf16", ""}, "--embed");
    expect_error(tmp / "nope", {}, "nope");
    // No tokenizer in the directory.
    const std::string bare = tmp / "bare";
    np::save_checkpoint(bare, untied_ckpt().model);
    expect_error(bare, {}, "tokenizer");
    // q8_0 with d_model not a multiple of 32.
    np::ModelConfig c = tiny_config(true);
    c.d_model = 24, c.mamba.d_model = 24, c.mla.d_model = 24;
    np::Model<float> m(c);
    m.init_random(1);
    const std::string odd = tmp / "odd";
    np::save_checkpoint(odd, m, {{"tokenizer.json", tiny_tokenizer().to_json()}});
    expect_error(odd, {"tq2", "q8_0", ""}, "multiple of 32");
    np::infer::export_gguf(odd, out, {"tq1", "f16", ""});  // f16 is fine
    EXPECT_EQ(GgufFile::open(out).config().d_model, 24);
}

// ---- estimates and memory of the presets --------------------------------------------------------

TEST(GgufEstimate, Presets) {
    for (const std::string& name : np::ModelConfig::preset_names()) {
        const np::ModelConfig cfg = np::ModelConfig::preset(name);
        for (const char* w : {"tq2", "tq1"})
            for (const char* e : {"f16", "q8_0"}) {
                const auto z = np::infer::estimate_gguf_sizes(cfg, {w, e, ""});
                std::printf(
                    "[ estimate ] %-12s %s/%-4s %11zu bytes (ternary %zu, embed %zu, other "
                    "%zu, metadata ~%zu), %.4f bits/ternary weight\n",
                    name.c_str(), w, e, z.total, z.ternary, z.embed, z.other, z.metadata,
                    z.ternary_bits_per_weight());
                EXPECT_EQ(z.total, np::infer::estimate_gguf_bytes(cfg, {w, e, ""}));
                EXPECT_EQ(z.ternary_weights, np::count_params(cfg).ternary);
            }
    }
    const np::ModelConfig e = np::ModelConfig::preset("elleci-1.5b");
    // Every elleci-1.5b ternary row is a multiple of 256: no padding, ggml's exact rates.
    EXPECT_DOUBLE_EQ(
        np::infer::estimate_gguf_sizes(e, {"tq2", "f16", ""}).ternary_bits_per_weight(), 2.0625);
    EXPECT_DOUBLE_EQ(
        np::infer::estimate_gguf_sizes(e, {"tq1", "f16", ""}).ternary_bits_per_weight(), 1.6875);
    // The deployment target: tq2 fits in 0.5 GB with Q8_0 embeddings (the untied fp16 embedding
    // and head alone are 263 MB, which pushes tq2/f16 past it).
    EXPECT_LE(np::infer::estimate_gguf_bytes(e, {"tq2", "q8_0", ""}), size_t(500'000'000));
    EXPECT_GT(np::infer::estimate_gguf_bytes(e, {"tq2", "f16", ""}), size_t(500'000'000));
    EXPECT_LE(np::infer::estimate_gguf_bytes(e, {"tq1", "q8_0", ""}), size_t(450'000'000));
}

TEST(GgufMemory, PresetsMatchDesign) {
    const auto m = np::infer::inference_memory(np::ModelConfig::preset("elleci-1.5b"));
    EXPECT_EQ(m.attention_layers, 6);
    EXPECT_EQ(m.mamba_layers, 18);
    EXPECT_EQ(m.mla_cache_per_token, 6u * (256 + 4 + 4 * 64));  // 3096 B
    EXPECT_EQ(m.mha_fp16_per_token, 2u * 24 * 16 * 128 * 2);    // 192 KiB, DESIGN §2.7
    EXPECT_LT(m.cache_ratio(), 0.02);
    EXPECT_EQ(m.mamba_state, 18u * 4 * (3 * (4096 + 2 * 128) + 64 * 64 * 128));
    const auto n = np::infer::inference_memory(np::ModelConfig::preset("nano"));
    EXPECT_EQ(n.mla_cache_per_token, 2u * (64 + 4 + 4 * 16));
    EXPECT_EQ(n.mha_fp16_per_token, 2u * 8 * 4 * 64 * 2);
}

// ---- hostile input ------------------------------------------------------------------------------

// A valid file's bytes to corrupt, and where its records lie.
struct Sample {
    std::string bytes;
    size_t data_offset = 0;
    std::map<std::string, std::pair<uint64_t, size_t>> tensors;  // name -> (offset, nbytes)
};
const Sample& sample() {
    static const Sample s = [] {
        TempDir tmp;
        np::infer::export_gguf(untied_ckpt().path, tmp / "s.gguf", {"tq2", "f16", ""});
        Sample s;
        s.bytes = np::read_file(tmp / "s.gguf");
        const GgufFile f = GgufFile::open(tmp / "s.gguf");
        s.data_offset = f.data_offset();
        for (const auto& t : f.tensors()) s.tensors[t.name] = {t.offset, t.nbytes};
        return s;
    }();
    return s;
}

std::string length_prefixed(const std::string& s) {
    std::string out(8, '\0');
    const uint64_t n = s.size();
    std::memcpy(out.data(), &n, 8);
    return out + s;
}
// Position right after a key's or tensor name's string record in the header.
size_t after_record(const std::string& bytes, const std::string& name) {
    const size_t p = bytes.find(length_prefixed(name));
    EXPECT_NE(p, std::string::npos) << name;
    EXPECT_EQ(bytes.find(length_prefixed(name), p + 1), std::string::npos) << name;
    return p + 8 + name.size();
}
template <class T>
void poke(std::string& bytes, size_t pos, T v) {
    std::memcpy(bytes.data() + pos, &v, sizeof v);
}
template <class T>
T peek(const std::string& bytes, size_t pos) {
    T v;
    std::memcpy(&v, bytes.data() + pos, sizeof v);
    return v;
}
size_t data_pos(const std::string& tensor) {
    return sample().data_offset + size_t(sample().tensors.at(tensor).first);
}

// Writes `bytes` and expects np::Error whose message names the file and contains `needle`.
void expect_rejected(const std::string& bytes, const std::string& needle) {
    TempDir tmp;
    const std::string path = tmp / "bad.gguf";
    np::write_file_atomic(path, bytes);
    try {
        GgufFile::open(path);
        ADD_FAILURE() << "accepted: " << needle;
    } catch (const np::Error& e) {
        const std::string msg = e.what();
        EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
        EXPECT_NE(msg.find(needle), std::string::npos)
            << "expected \"" << needle << "\" in: " << msg;
    }
}

TEST(GgufCorrupt, Truncated) {
    const std::string& b = sample().bytes;
    for (size_t n : {size_t(0), size_t(3), size_t(8), size_t(23), size_t(24), size_t(30)})
        expect_rejected(b.substr(0, n), "trunc");
    for (int k = 1; k < 64; k++) {
        SCOPED_TRACE(k);
        expect_rejected(b.substr(0, b.size() * k / 64), "");
    }
    expect_rejected(b.substr(0, b.size() - 1), "past the end");
}

TEST(GgufCorrupt, Header) {
    std::string b = sample().bytes;
    b[0] = 'X';
    expect_rejected(b, "bad magic");
    b = sample().bytes;
    poke<uint32_t>(b, 4, 2);
    expect_rejected(b, "version 2");
    b = sample().bytes;
    poke<uint64_t>(b, 8, uint64_t(1) << 60);
    expect_rejected(b, "tensor count");
    b = sample().bytes;
    poke<uint64_t>(b, 16, ~uint64_t(0));
    expect_rejected(b, "metadata count");
    b = sample().bytes;
    poke<uint64_t>(b, 8, peek<uint64_t>(b, 8) - 1);  // one tensor fewer: a missing scale or weight
    expect_rejected(b, "");
}

TEST(GgufCorrupt, Metadata) {
    std::string b = sample().bytes;
    // A string whose length runs past the end.
    size_t p = after_record(b, "general.architecture");
    poke<uint64_t>(b, p + 4, uint64_t(1) << 40);
    expect_rejected(b, "general.architecture");
    // A string array whose count cannot fit.
    b = sample().bytes;
    p = after_record(b, "tokenizer.ggml.tokens");
    poke<uint64_t>(b, p + 8, uint64_t(1) << 61);
    expect_rejected(b, "tokenizer.ggml.tokens");
    // Unknown value type, unknown array element type, a bool that is not 0/1.
    b = sample().bytes;
    p = after_record(b, "nanoprime.block_count");
    poke<uint32_t>(b, p, 77);
    expect_rejected(b, "unknown value type");
    b = sample().bytes;
    p = after_record(b, "tokenizer.ggml.token_type");
    poke<uint32_t>(b, p + 4, 99);
    expect_rejected(b, "unknown array element type");
    b = sample().bytes;
    p = after_record(b, "tokenizer.ggml.add_bos_token");
    b[p + 4] = 2;
    expect_rejected(b, "bool");
    // Right length, wrong type: block_count as int32 with the same bytes is accepted by the
    // integer getter, as float32 it is not.
    b = sample().bytes;
    p = after_record(b, "nanoprime.block_count");
    poke<uint32_t>(b, p, uint32_t(np::gguf::ValueType::FLOAT32));
    expect_rejected(b, "nanoprime.block_count");
    // A key that disagrees with nanoprime.config_json.
    b = sample().bytes;
    p = after_record(b, "nanoprime.embedding_length");
    poke<uint32_t>(b, p + 4, 64);
    expect_rejected(b, "nanoprime.embedding_length");
    b = sample().bytes;
    p = after_record(b, "nanoprime.layer_pattern");
    b[p + 4 + 8] = 'A';  // "MA" -> "AA"
    expect_rejected(b, "nanoprime.layer_pattern");
    b = sample().bytes;
    p = after_record(b, "nanoprime.weights");
    b[p + 4 + 8 + 2] = '1';  // "tq2" -> "tq1": the tensors are TQ2_0
    expect_rejected(b, "expected TQ1_0");
    b = sample().bytes;
    p = after_record(b, "general.alignment");
    poke<uint32_t>(b, p + 4, 48);
    expect_rejected(b, "general.alignment");
    // Tokenizer keys.
    b = sample().bytes;
    p = after_record(b, "tokenizer.ggml.eos_token_id");
    poke<uint32_t>(b, p + 4, 2);
    expect_rejected(b, "eos_token_id");
    b = sample().bytes;
    p = after_record(b, "tokenizer.ggml.token_type");
    poke<int32_t>(b, p + 16, 1);  // <|endoftext|> is control (3)
    expect_rejected(b, "token_type[0]");
    b = sample().bytes;
    p = b.find(length_prefixed("<|im_end|>"), after_record(b, "tokenizer.ggml.tokens"));
    b[p + 8 + 2] = 'X';
    expect_rejected(b, "tokenizer.ggml.tokens[3]");
    b = sample().bytes;
    p = after_record(b, "tokenizer.ggml.model");
    b[p + 4 + 8] = 'l';  // "gpt2" -> "lpt2"
    expect_rejected(b, "tokenizer.ggml.model");
}

TEST(GgufCorrupt, ConfigAgainstTensors) {
    // Same-length edits of config_json plus the matching key, so only the tensors disagree.
    auto edit = [](const std::string& from, const std::string& to, const std::string& key,
                   uint32_t value) {
        std::string b = sample().bytes;
        const size_t cfg = after_record(b, "nanoprime.config_json");
        const size_t p = b.find(from, cfg);
        EXPECT_NE(p, std::string::npos) << from;
        b.replace(p, from.size(), to);
        if (!key.empty()) poke<uint32_t>(b, after_record(b, key) + 4, value);
        return b;
    };
    expect_rejected(edit("\"hidden\": 48", "\"hidden\": 64", "nanoprime.feed_forward_length", 64),
                    "layers.0.ffn.gate.weight");
    expect_rejected(edit("\"vocab_size\": 320", "\"vocab_size\": 330", "nanoprime.vocab_size", 330),
                    "embed.weight");
    expect_rejected(edit("\"kv_rank\": 16", "\"kv_rank\": 24", "", 0), "kv_down.weight");
    expect_rejected(edit("\"tie_embeddings\": false", "\"tie_embeddings\": true ", "", 0),
                    "unexpected tensor lm_head.weight");
    expect_rejected(edit("\"d_state\": 8", "\"d_stat\": 8 ", "", 0), "nanoprime.config_json");
    expect_rejected(edit("\"d_conv\": 4", "\"d_conv\": 3", "", 0), "conv1d.weight");
}

TEST(GgufCorrupt, TensorInfo) {
    const std::string norm = "final_norm.weight";  // F32 {32}
    const size_t info = after_record(sample().bytes, norm);
    // Layout after the name: n_dims u32, ne[0] u64, type u32, offset u64.
    const size_t ne0 = info + 4, type = info + 12, off = info + 16;
    std::string b = sample().bytes;
    poke<uint32_t>(b, info, 0);
    expect_rejected(b, "n_dims");
    b = sample().bytes;
    poke<uint32_t>(b, info, 9);
    expect_rejected(b, "n_dims");
    b = sample().bytes;
    poke<uint64_t>(b, ne0, 0);
    expect_rejected(b, norm);
    b = sample().bytes;
    poke<uint64_t>(b, ne0, uint64_t(1) << 63);
    expect_rejected(b, norm);
    b = sample().bytes;
    poke<uint64_t>(b, ne0, 16);
    expect_rejected(b, "expected {32}");
    b = sample().bytes;
    poke<uint32_t>(b, type, 1);  // F16: fits in bounds, wrong type
    expect_rejected(b, "expected F32");
    b = sample().bytes;
    poke<uint32_t>(b, type, 12);  // Q4_K: unsupported
    expect_rejected(b, "unsupported ggml type");
    b = sample().bytes;
    poke<uint64_t>(b, off, peek<uint64_t>(b, off) + 1);
    expect_rejected(b, "not a multiple of the alignment");
    b = sample().bytes;
    poke<uint64_t>(b, off, uint64_t(1) << 40);
    expect_rejected(b, "past the end");
    b = sample().bytes;
    poke<uint64_t>(b, off, ~uint64_t(0) - 31);
    expect_rejected(b, "");
    b = sample().bytes;
    poke<uint64_t>(b, off, sample().tensors.at("embed.weight").first);
    expect_rejected(b, "overlaps");
    // A ternary tensor declared with the wrong padded width or type.
    const std::string q = "layers.1.mla.q_proj.weight";
    const size_t qi = after_record(sample().bytes, q);
    b = sample().bytes;
    poke<uint64_t>(b, qi + 4 + 8, 8);  // rows 24 -> 8
    expect_rejected(b, q);
    b = sample().bytes;
    poke<uint32_t>(b, qi + 4 + 16, 34);  // TQ2_0 -> TQ1_0 (smaller, in bounds)
    expect_rejected(b, "expected TQ2_0");
    // Renamed tensors: a missing weight, a missing scale.
    b = sample().bytes;
    b[info - 1] = 'x';
    expect_rejected(b, "missing tensor final_norm.weight");
    b = sample().bytes;
    b[after_record(b, q + ".scale") - 1] = 'x';
    expect_rejected(b, "missing tensor " + q + ".scale");
    // A duplicate name (same length, so the rest of the header still parses).
    b = sample().bytes;
    const size_t dup = after_record(b, "layers.0.ffn_norm.weight") - 24;
    b.replace(dup, 24, "layers.2.ffn_norm.weight");
    expect_rejected(b, "duplicate tensor layers.2.ffn_norm.weight");
}

TEST(GgufCorrupt, Payload) {
    const std::string q = "layers.1.mla.q_proj.weight";
    std::string b = sample().bytes;
    for (float bad : {0.f, -1.f, NAN, INFINITY}) {
        b = sample().bytes;
        poke<float>(b, data_pos(q + ".scale"), bad);
        expect_rejected(b, q + ".scale");
    }
    b = sample().bytes;
    poke<float>(b, data_pos(q + ".scale"), peek<float>(b, data_pos(q + ".scale")) * 2.f);
    expect_rejected(b, "expected fp16 of");  // every block's d must be fp16(gamma)
    b = sample().bytes;
    b[data_pos(q) + 66 + 5] = char(0xff);  // code 3 in block 1
    expect_rejected(b, "code 3");
    b = sample().bytes;
    poke<float>(b, data_pos("final_norm.weight") + 8, NAN);
    expect_rejected(b, "final_norm.weight: element 2 is not finite");
    b = sample().bytes;
    poke<uint16_t>(b, data_pos("embed.weight") + 20, 0x7c00);
    expect_rejected(b, "embed.weight: element 10 is not finite");
}

TEST(GgufCorrupt, CraftedContainers) {
    // Hand-built files exercising the generic container checks.
    auto file = [](uint64_t n_tensors, uint64_t n_kv, const std::string& body) {
        std::string b = "GGUF";
        b.append("\x03\0\0\0", 4);
        std::string tail(16, '\0');
        std::memcpy(tail.data(), &n_tensors, 8);
        std::memcpy(tail.data() + 8, &n_kv, 8);
        return b + tail + body;
    };
    auto u32 = [](uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
    auto u64 = [](uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); };
    // Arrays nested 10 deep.
    std::string nested = length_prefixed("a") + u32(9);
    for (int i = 0; i < 10; i++) nested += u32(9) + u64(1);
    expect_rejected(file(0, 1, nested + std::string(64, '\0')), "nested");
    // Duplicate keys.
    const std::string kv = length_prefixed("general.alignment") + u32(4) + u32(32);
    expect_rejected(file(0, 2, kv + kv + std::string(32, '\0')), "duplicate key");
    // An empty but well-formed container is not a NanoPrime model.
    expect_rejected(file(0, 1, kv + std::string(32, '\0')), "general.architecture");
    // A tensor name longer than ggml allows.
    const std::string long_name =
        length_prefixed(std::string(80, 'w')) + u32(1) + u64(32) + u32(0) + u64(0);
    expect_rejected(file(1, 0, long_name + std::string(256, '\0')), "name of 80 bytes");
    // A size that overflows: ne = {2^40, 2^40, 2^40}.
    const std::string huge = length_prefixed("w") + u32(3) + u64(uint64_t(1) << 40) +
                             u64(uint64_t(1) << 40) + u64(uint64_t(1) << 40) + u32(0) + u64(0);
    expect_rejected(file(1, 0, huge + std::string(64, '\0')), "too large");
}

// Tensor sizes whose byte count wraps: ne[0] = 2^62 F32 made ne[0] * 4 == 0, and tensor_bytes
// divided by it (SIGFPE in `info` and `generate`); ne[0] = 2^62 + 8 wrapped to 32 bytes and passed
// the container checks.
TEST(GgufCorrupt, SizesThatWrap) {
    auto u32 = [](uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
    auto u64 = [](uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); };
    for (const uint64_t ne0 : {uint64_t(1) << 62, (uint64_t(1) << 62) + 8, uint64_t(1) << 61}) {
        SCOPED_TRACE(ne0);
        std::string b = "GGUF" + u32(3) + u64(1) + u64(0);
        b += length_prefixed("w") + u32(2) + u64(ne0) + u64(1) + u32(0) + u64(0);
        b.resize(256, '\0');
        expect_rejected(b, "tensor w: shape {" + std::to_string(ne0) + ", 1} is too large");
        const std::vector<int64_t> ne = {int64_t(ne0), 1};
        EXPECT_THROW(np::gguf::tensor_bytes(GgmlType::F32, ne), np::Error);
    }
    EXPECT_THROW(np::gguf::tensor_bytes(GgmlType::F16, std::vector<int64_t>{int64_t(1) << 62}),
                 np::Error);
    EXPECT_EQ(np::gguf::tensor_bytes(GgmlType::F32, std::vector<int64_t>{int64_t(1) << 60}),
              size_t(1) << 62);
    EXPECT_EQ(np::gguf::tensor_bytes(GgmlType::Q8_0, std::vector<int64_t>{64, 3}), 6u * 34);
}

// The config in a file is checked against the file before anything is built from it: n_layers
// beyond the file's tensor count used to build a parameter table of that many layers first (a
// 70 KB file reached 5 GB with n_layers = 2^30, which the config limits now reject on their own).
TEST(GgufCorrupt, ConfigLargerThanTheFile) {
    np::ModelConfig cfg = tiny_config(true);
    cfg.n_layers = 4000;
    np::gguf::Writer w;
    w.set_string("general.architecture", "nanoprime");
    w.set_string("nanoprime.config_json", cfg.to_json().dump());
    w.set_u32("nanoprime.context_length", uint32_t(cfg.max_seq_len));
    w.set_u32("nanoprime.embedding_length", uint32_t(cfg.d_model));
    w.set_u32("nanoprime.block_count", uint32_t(cfg.n_layers));
    w.set_u32("nanoprime.vocab_size", uint32_t(cfg.vocab_size));
    w.set_u32("nanoprime.feed_forward_length", uint32_t(cfg.ffn.hidden));
    w.set_string("nanoprime.layer_pattern", cfg.layer_pattern);
    w.set_string("nanoprime.weights", "tq2");
    w.set_string("nanoprime.embed", "f16");
    w.add_tensor("final_norm.weight", GgmlType::F32, {32}, std::vector<uint8_t>(128));
    TempDir tmp;
    w.write(tmp / "w.gguf");
    expect_rejected(np::read_file(tmp / "w.gguf"),
                    "n_layers = 4000, but the file holds only 1 tensors");
}

// The embedded tokenizer's ids are bounded by the model's vocab_size before its tables are sized
// (an id of 10^8 used to allocate 10^8 entries, then fail the vocab_size comparison).
TEST(GgufCorrupt, TokenizerIdsBeyondVocabSize) {
    std::string b = sample().bytes;
    const size_t hf = after_record(b, "tokenizer.huggingface.json");
    // Same length: the id and the whitespace after its comma become a 9-digit id.
    const std::string from = "\": 38,\n      \"";
    const size_t p = b.find(from, hf);
    ASSERT_NE(p, std::string::npos);
    b.replace(p, from.size(), "\":100000000," + std::string(from.size() - 13, ' ') + "\"");
    ASSERT_EQ(b.size(), sample().bytes.size());
    expect_rejected(b, "key tokenizer.huggingface.json: model.vocab['");
    expect_rejected(b, "must be an integer id in [0, 320), got 100000000");
}

// Random byte flips over the header region: every outcome is a clean open or an np::Error.
TEST(GgufCorrupt, RandomFlipsNeverCrash) {
    const std::string& base = sample().bytes;
    TempDir tmp;
    const std::string path = tmp / "f.gguf";
    std::mt19937 rng(9);
    std::uniform_int_distribution<size_t> pos(0, sample().data_offset - 1);
    std::uniform_int_distribution<int> byte(0, 255), count(1, 4);
    int rejected = 0;
    for (int it = 0; it < 300; it++) {
        std::string b = base;
        const int n = count(rng);
        for (int k = 0; k < n; k++) b[pos(rng)] = char(byte(rng));
        np::write_file_atomic(path, b);
        try {
            GgufFile::open(path);
        } catch (const np::Error&) {
            rejected++;
        } catch (const std::exception& e) {
            ADD_FAILURE() << "non-np::Error exception: " << e.what();
        }
    }
    EXPECT_GT(rejected, 0);
}

}  // namespace

// zlib's CRC-32 is the standard one (the check value of "123456789").
TEST(GgufChecksum, StandardCrc32) {
    const std::string s = "123456789";
    EXPECT_EQ(np::gguf::crc32_of({reinterpret_cast<const uint8_t*>(s.data()), s.size()}),
              0xCBF43926u);
    EXPECT_EQ(np::gguf::crc32_of({}), 0u);
}
