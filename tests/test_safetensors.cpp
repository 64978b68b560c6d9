#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/file_io.h"
#include "core/safetensors.h"

using namespace np;
namespace fs = std::filesystem;

namespace {

class SafetensorsTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("np_st_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }

    // A file from a raw JSON header and raw data bytes (no padding, the header length as given).
    std::string raw(const std::string& name, const std::string& header, const std::string& data) {
        std::string bytes(8, '\0');
        uint64_t n = header.size();
        std::memcpy(bytes.data(), &n, 8);
        bytes += header;
        bytes += data;
        std::string p = path(name);
        write_file_atomic(p, bytes);
        return p;
    }

    // Expects load_safetensors(p) to throw np::Error whose message names `p` and contains `needle`.
    void expect_error(const std::string& p, const std::string& needle) {
        try {
            load_safetensors(p);
            ADD_FAILURE() << "no error for " << p << " (expected '" << needle << "')";
        } catch (const Error& e) {
            std::string msg = e.what();
            EXPECT_NE(msg.find(p), std::string::npos) << "file name missing: " << msg;
            EXPECT_NE(msg.find(needle), std::string::npos) << "'" << needle << "' missing: " << msg;
        }
    }

    fs::path dir_;
};

template <class T>
std::string bytes_of(std::initializer_list<T> v) {
    std::string s(v.size() * sizeof(T), '\0');
    std::memcpy(s.data(), std::data(v), s.size());
    return s;
}

uint32_t bits(float f) {
    return std::bit_cast<uint32_t>(f);
}

}  // namespace

TEST_F(SafetensorsTest, RoundTripIsBitExact) {
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> a = {1.f,
                            -0.f,
                            inf,
                            -inf,
                            std::bit_cast<float>(0x7fc12345u),  // quiet NaN with a payload
                            std::bit_cast<float>(0xff800001u),  // signalling NaN, negative
                            std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::denorm_min() * 1000,
                            std::numeric_limits<float>::max(),
                            3.14159f,
                            -1e-30f,
                            0.f};
    std::vector<float> scalar = {42.5f};
    std::vector<float> empty;
    std::vector<TensorView> views = {
        {"layers.0.weight", {3, 4}, a},
        {"scalar", {}, scalar},
        {"empty", {0, 5}, empty},
        {"empty2", {0}, empty},
    };
    std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "héllo \"q\""}};
    const std::string p = path("rt.safetensors");
    save_safetensors(p, views, meta);

    std::string file = read_file(p);
    uint64_t n;
    std::memcpy(&n, file.data(), 8);
    EXPECT_EQ(n % 8, 0u) << "header not padded to 8 bytes";
    EXPECT_EQ(file.size(), 8 + n + (a.size() + 1) * 4);
    EXPECT_EQ(file[8], '{');

    std::map<std::string, std::string> got_meta;
    auto ts = load_safetensors(p, &got_meta);
    EXPECT_EQ(got_meta, meta);
    ASSERT_EQ(ts.size(), 4u);
    std::map<std::string, const NamedTensor*> by_name;
    for (const auto& t : ts) by_name[t.name] = &t;
    ASSERT_EQ(by_name.size(), 4u);
    const auto& w = *by_name["layers.0.weight"];
    EXPECT_EQ(w.shape, (std::vector<int64_t>{3, 4}));
    ASSERT_EQ(w.data.size(), a.size());
    for (size_t i = 0; i < a.size(); i++) EXPECT_EQ(bits(w.data[i]), bits(a[i])) << i;
    EXPECT_TRUE(by_name["scalar"]->shape.empty());
    ASSERT_EQ(by_name["scalar"]->data.size(), 1u);
    EXPECT_EQ(by_name["scalar"]->data[0], 42.5f);
    EXPECT_EQ(by_name["empty"]->shape, (std::vector<int64_t>{0, 5}));
    EXPECT_TRUE(by_name["empty"]->data.empty());
    EXPECT_TRUE(by_name["empty2"]->data.empty());

    // Tensors come back in offset order (the empty ones sit at the end of the data block).
    EXPECT_EQ(ts[0].name, "layers.0.weight");
    EXPECT_EQ(ts[1].name, "scalar");
}

TEST_F(SafetensorsTest, SaveWithoutMetadataAndOverwrite) {
    std::vector<float> v = {1, 2};
    const std::string p = path("m.safetensors");
    save_safetensors(p, std::vector<TensorView>{{"x", {2}, v}});
    std::map<std::string, std::string> meta = {{"stale", "1"}};
    auto ts = load_safetensors(p, &meta);
    EXPECT_EQ(meta.size(), 1u);  // nothing added: the file has no __metadata__
    EXPECT_EQ(read_file(p).find("__metadata__"), std::string::npos);
    std::vector<float> w = {7};
    save_safetensors(p, std::vector<TensorView>{{"y", {1, 1}, w}});
    ts = load_safetensors(p);
    ASSERT_EQ(ts.size(), 1u);
    EXPECT_EQ(ts[0].name, "y");
    EXPECT_EQ(ts[0].data[0], 7.f);
    for (const auto& e : fs::directory_iterator(dir_))
        EXPECT_EQ(e.path().filename(), "m.safetensors") << "temporary file left behind";
}

TEST_F(SafetensorsTest, SaveRejectsBadInput) {
    std::vector<float> v = {1, 2, 3};
    auto expect_save_error = [&](std::vector<TensorView> views, const std::string& needle) {
        const std::string p = path("bad.safetensors");
        try {
            save_safetensors(p, views);
            ADD_FAILURE() << "no error, expected " << needle;
        } catch (const Error& e) {
            std::string msg = e.what();
            EXPECT_NE(msg.find(p), std::string::npos) << msg;
            EXPECT_NE(msg.find(needle), std::string::npos) << msg;
        }
        EXPECT_FALSE(fs::exists(p));
    };
    expect_save_error({{"a", {3}, v}, {"a", {3}, v}}, "'a'");
    expect_save_error({{"a", {2}, v}}, "'a'");
    expect_save_error({{"a", {-1, -3}, v}}, "negative");
    expect_save_error({{"__metadata__", {3}, v}}, "reserved");
    expect_save_error({{"", {3}, v}}, "empty name");
}

TEST_F(SafetensorsTest, LoadsF16Exhaustively) {
    std::string data(65536 * 2, '\0');
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t v = uint16_t(h);
        std::memcpy(data.data() + 2 * h, &v, 2);
    }
    auto p = raw("f16.safetensors",
                 R"({"h":{"dtype":"F16","shape":[256,256],"data_offsets":[0,131072]}})", data);
    auto ts = load_safetensors(p);
    ASSERT_EQ(ts.size(), 1u);
    ASSERT_EQ(ts[0].data.size(), 65536u);
    for (uint32_t h = 0; h < 65536; h++) {
        const int exp = (h >> 10) & 31, mant = h & 1023;
        const double sign = (h & 0x8000) ? -1 : 1;
        const float got = ts[0].data[h];
        if (exp == 31 && mant != 0) {
            ASSERT_TRUE(std::isnan(got)) << h;
            ASSERT_EQ(bits(got) & 0x7fffffu, uint32_t(mant) << 13) << "NaN payload lost " << h;
            ASSERT_EQ(std::signbit(got), sign < 0) << h;
            continue;
        }
        double want = exp == 31  ? sign * INFINITY
                      : exp == 0 ? sign * std::ldexp(mant, -24)
                                 : sign * std::ldexp(1024 + mant, exp - 25);
        ASSERT_EQ(got, want) << "half 0x" << std::hex << h;
        ASSERT_EQ(std::signbit(got), sign < 0) << h;
    }
}

TEST_F(SafetensorsTest, LoadsBF16AndF64) {
    // bf16 bit patterns: 1.0, 3.140625, -123.5, smallest denormal, +inf, NaN with payload.
    std::string bf = bytes_of<uint16_t>({0x3F80, 0x4049, 0xC2F7, 0x0001, 0x7F80, 0x7FC1});
    std::string f64 = bytes_of<double>({1.0 / 3.0, -2.5, 1e300, 1e-320, -0.0});
    std::string header = R"({"__metadata__":{"format":"pt"},)"
                         R"("b":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},)"
                         R"("d":{"dtype":"F64","shape":[5],"data_offsets":[12,52]}})";
    auto ts = load_safetensors(raw("mix.safetensors", header, bf + f64));
    ASSERT_EQ(ts.size(), 2u);
    ASSERT_EQ(ts[0].name, "b");
    EXPECT_EQ(ts[0].shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(ts[0].data[0], 1.0f);
    EXPECT_EQ(ts[0].data[1], 3.140625f);
    EXPECT_EQ(ts[0].data[2], -123.5f);
    EXPECT_EQ(ts[0].data[3], std::ldexp(1.0f, -133));
    EXPECT_EQ(ts[0].data[4], INFINITY);
    EXPECT_EQ(bits(ts[0].data[5]), 0x7FC10000u);
    ASSERT_EQ(ts[1].name, "d");
    EXPECT_EQ(ts[1].data[0], float(1.0 / 3.0));
    EXPECT_EQ(ts[1].data[1], -2.5f);
    EXPECT_EQ(ts[1].data[2], INFINITY);
    EXPECT_EQ(ts[1].data[3], 0.0f);
    EXPECT_TRUE(std::signbit(ts[1].data[4]));
}

TEST_F(SafetensorsTest, RejectsShortFileAndBadHeaderLength) {
    expect_error(path("missing.safetensors"), "cannot open");
    std::string p = path("short.safetensors");
    write_file_atomic(p, std::string("\x05\0\0", 3));
    expect_error(p, "shorter than");
    std::string bytes(8, '\0');
    uint64_t n = 100;
    std::memcpy(bytes.data(), &n, 8);
    write_file_atomic(p, bytes + "{}");
    expect_error(p, "past the end of the file");
    n = uint64_t(1) << 62;
    std::memcpy(bytes.data(), &n, 8);
    write_file_atomic(p, bytes + "{}");
    expect_error(p, "limit");
}

TEST_F(SafetensorsTest, RejectsBadJson) {
    expect_error(raw("a.safetensors", "{\"x\": ", ""), "not valid JSON");
    expect_error(raw("b.safetensors", "[1, 2]", ""), "must be a JSON object");
    expect_error(raw("c.safetensors", "", ""), "not valid JSON");
    expect_error(raw("d.safetensors", "{} trailing", ""), "not valid JSON");
    expect_error(raw("e.safetensors", "{\"x\": \"\xff\"}", ""), "not valid JSON");
    // Duplicate names would otherwise silently keep the last entry.
    expect_error(raw("f.safetensors",
                     R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                     R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                     std::string(8, '\0')),
                 "'w' twice");
    expect_error(raw("g.safetensors",
                     R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})",
                     std::string(4, '\0')),
                 "'dtype' twice");
}

TEST_F(SafetensorsTest, RejectsBadFieldsNamingTheTensor) {
    const std::string four(4, '\0');
    struct Case {
        std::string entry, needle;
    };
    const std::vector<Case> cases = {
        {R"("oops")", "must be an object"},
        {R"({"shape":[1],"data_offsets":[0,4]})", "missing field 'dtype'"},
        {R"({"dtype":"F32","data_offsets":[0,4]})", "missing field 'shape'"},
        {R"({"dtype":"F32","shape":[1]})", "missing field 'data_offsets'"},
        {R"({"dtype":32,"shape":[1],"data_offsets":[0,4]})", "'dtype' must be a string"},
        {R"({"dtype":"F33","shape":[1],"data_offsets":[0,4]})", "unknown dtype 'F33'"},
        {R"({"dtype":"f32","shape":[1],"data_offsets":[0,4]})", "unknown dtype 'f32'"},
        {R"({"dtype":"F32","shape":1,"data_offsets":[0,4]})", "'shape' must be an array"},
        {R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})", "non-negative integers"},
        {R"({"dtype":"F32","shape":[1.0],"data_offsets":[0,4]})", "non-negative integers"},
        {R"({"dtype":"F32","shape":["1"],"data_offsets":[0,4]})", "non-negative integers"},
        {R"({"dtype":"F32","shape":[1],"data_offsets":[0]})", "'data_offsets' must be"},
        {R"({"dtype":"F32","shape":[1],"data_offsets":[0,4,8]})", "'data_offsets' must be"},
        {R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})", "'data_offsets' must be"},
        {R"({"dtype":"F32","shape":[1],"data_offsets":[0,4.5]})", "'data_offsets' must be"},
        {R"({"dtype":"F32","shape":[1],"data_offsets":{"b":0}})", "'data_offsets' must be"},
        {R"({"dtype":"F32","shape":[1],"data_offsets":[4,0]})", "end 0 < begin 4"},
        {R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})", "needs 8"},
        {R"({"dtype":"F16","shape":[1],"data_offsets":[0,4]})", "needs 2"},
        {R"({"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1})", "unknown field 'extra'"},
        {R"({"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]})",
         "too many elements"},
    };
    int i = 0;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.entry);
        const std::string name = "case" + std::to_string(i) + ".safetensors";
        expect_error(raw(name, R"({"bad.tensor":)" + c.entry + "}", four), c.needle);
        expect_error(raw(name, R"({"bad.tensor":)" + c.entry + "}", four), "'bad.tensor'");
        i++;
    }
}

// An empty tensor whose running element count overflows before its 0 was accepted, and numel()
// then overflowed int64 on it (undefined behaviour); the reference implementation rejects it.
TEST_F(SafetensorsTest, RejectsShapesWhoseProductOverflowsBeforeAZero) {
    const std::string h =
        R"({"z":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})";
    expect_error(raw("z.safetensors", h, ""), "too many elements");
    // A zero first is a plain empty tensor.
    const auto t = load_safetensors(
        raw("e.safetensors",
            R"({"e":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})", ""));
    ASSERT_EQ(t.size(), 1u);
    EXPECT_TRUE(t[0].data.empty());
    const std::vector<int64_t> wraps = {int64_t(1) << 32, int64_t(1) << 32, 0};
    EXPECT_THROW(numel(wraps), Error);
    EXPECT_EQ(numel(std::vector<int64_t>{0, int64_t(1) << 32, int64_t(1) << 32}), 0);
    EXPECT_EQ(numel(std::vector<int64_t>{3, 5}), 15);
}

TEST_F(SafetensorsTest, RejectsBadMetadata) {
    expect_error(raw("a.safetensors", R"({"__metadata__":[1]})", ""), "'__metadata__' must be");
    expect_error(raw("b.safetensors", R"({"__metadata__":{"k":1}})", ""), "value of 'k'");
}

TEST_F(SafetensorsTest, RejectsUnsupportedDtypeNamingTheTensor) {
    for (std::string dt : {"I8", "U8", "BOOL", "I32", "I64", "F8_E4M3"}) {
        SCOPED_TRACE(dt);
        const int size = (dt == "I32") ? 4 : (dt == "I64") ? 8 : 1;
        auto p = raw(dt + ".safetensors",
                     R"({"tok.ids":{"dtype":")" + dt + R"(","shape":[2],"data_offsets":[0,)" +
                         std::to_string(2 * size) + "]}}",
                     std::string(2 * size, '\0'));
        expect_error(p, "'tok.ids'");
        expect_error(p, "dtype " + dt + " is not supported");
    }
}

TEST_F(SafetensorsTest, RejectsBadLayoutOfTheDataBlock) {
    auto entry = [](const std::string& name, int b, int e) {
        return "\"" + name + R"(":{"dtype":"F32","shape":[)" + std::to_string((e - b) / 4) +
               R"(],"data_offsets":[)" + std::to_string(b) + "," + std::to_string(e) + "]}";
    };
    const std::string z8(8, '\0'), z12(12, '\0');
    // Beyond the data block (truncated data).
    expect_error(raw("a.safetensors", "{" + entry("big", 0, 16) + "}", z8), "'big'");
    expect_error(raw("a.safetensors", "{" + entry("big", 0, 16) + "}", z8), "run past");
    // Overlap: the later-starting tensor is reported together with the one it overlaps.
    auto p =
        raw("b.safetensors", "{" + entry("first", 0, 8) + "," + entry("second", 4, 12) + "}", z12);
    expect_error(p, "'second'");
    expect_error(p, "overlap tensor 'first'");
    // Hole between tensors and at the start.
    p = raw("c.safetensors", "{" + entry("first", 0, 4) + "," + entry("second", 8, 12) + "}", z12);
    expect_error(p, "'second'");
    expect_error(p, "hole after tensor 'first'");
    expect_error(raw("d.safetensors", "{" + entry("only", 4, 8) + "}", z8), "hole");
    // Trailing bytes after the last tensor.
    expect_error(raw("e.safetensors", "{" + entry("only", 0, 4) + "}", z8), "4 trailing bytes");
    // Empty tensors may sit at any boundary; an empty header with no data is a valid empty file.
    auto ok = load_safetensors(
        raw("f.safetensors",
            "{" + entry("a", 0, 4) + "," + entry("e", 4, 4) + "," + entry("b", 4, 8) + "}", z8));
    ASSERT_EQ(ok.size(), 3u);
    EXPECT_EQ(ok[0].name, "a");
    EXPECT_EQ(ok[1].name, "e");
    EXPECT_EQ(ok[2].name, "b");
    EXPECT_TRUE(load_safetensors(raw("g.safetensors", "{}", "")).empty());
    // Tensors listed out of offset order load in offset order.
    ok = load_safetensors(
        raw("h.safetensors", "{" + entry("z", 0, 4) + "," + entry("a", 4, 8) + "}", z8));
    EXPECT_EQ(ok[0].name, "z");
}

TEST_F(SafetensorsTest, ReadsHeaderPaddedWithSpaces) {
    std::vector<float> v = {1.5f};
    const std::string header =
        std::string(R"({"v":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})") + "     ";
    auto ts = load_safetensors(raw("pad.safetensors", header, bytes_of<float>({1.5f})));
    ASSERT_EQ(ts.size(), 1u);
    EXPECT_EQ(ts[0].data[0], 1.5f);
}
