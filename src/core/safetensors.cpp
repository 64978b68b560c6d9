#include "core/safetensors.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "core/checked.h"
#include "core/error.h"
#include "core/file_io.h"

namespace np {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host needs byte swaps");
static_assert(std::numeric_limits<float>::is_iec559 && std::numeric_limits<double>::is_iec559);

namespace {

// The same cap as the reference Rust implementation: it bounds what a corrupt length can allocate.
constexpr uint64_t kMaxHeaderSize = 100'000'000;

// Every dtype of the safetensors spec; size in bits so the sub-byte float formats fit too.
struct DtypeInfo {
    const char* name;
    int bits;
    bool loadable;  // converted to fp32 by load_safetensors
};
constexpr DtypeInfo kDtypes[] = {
    {"F32", 32, true},     {"F16", 16, true},     {"BF16", 16, true},    {"F64", 64, true},
    {"BOOL", 8, false},    {"U8", 8, false},      {"I8", 8, false},      {"I16", 16, false},
    {"U16", 16, false},    {"I32", 32, false},    {"U32", 32, false},    {"I64", 64, false},
    {"U64", 64, false},    {"F8_E4M3", 8, false}, {"F8_E5M2", 8, false}, {"F8_E8M0", 8, false},
    {"F6_E2M3", 6, false}, {"F6_E3M2", 6, false}, {"F4", 4, false},      {"C64", 64, false},
};

const DtypeInfo* find_dtype(const std::string& s) {
    for (const auto& d : kDtypes)
        if (s == d.name) return &d;
    return nullptr;
}

struct Entry {
    std::string name;
    const DtypeInfo* dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
};

float half_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
        // Zero or subnormal: mant * 2^-24 is exact in fp32.
        float mag = std::ldexp(float(mant), -24);
        return sign ? -mag : mag;
    }
    uint32_t bits = exp == 31 ? sign | 0x7f800000u | (mant << 13)  // inf / NaN keeps its payload
                              : sign | ((exp + 112u) << 23) | (mant << 13);
    return std::bit_cast<float>(bits);
}

std::string describe(const nlohmann::json& j) {
    std::string s = j.dump();
    return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

// A non-negative JSON integer (floats such as 2.0 are rejected: the spec's fields are integers).
bool as_uint(const nlohmann::json& j, uint64_t& out) {
    if (j.is_number_unsigned()) {
        out = j.get<uint64_t>();
        return true;
    }
    if (j.is_number_integer() && j.get<int64_t>() >= 0) {
        out = uint64_t(j.get<int64_t>());
        return true;
    }
    return false;
}

// Parses the JSON header, rejecting duplicate keys at every level (nlohmann would keep the last).
nlohmann::json parse_header(const std::string& path, const std::string& text) {
    std::vector<std::set<std::string>> keys_per_object;
    std::string duplicate;
    auto cb = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
        using E = nlohmann::json::parse_event_t;
        if (ev == E::object_start) {
            keys_per_object.emplace_back();
        } else if (ev == E::object_end) {
            keys_per_object.pop_back();
        } else if (ev == E::key && !keys_per_object.empty()) {
            const auto& k = parsed.get_ref<const std::string&>();
            if (!keys_per_object.back().insert(k).second && duplicate.empty()) duplicate = k;
        }
        return true;
    };
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text, cb);
    } catch (const nlohmann::json::exception& e) {
        fail(path + ": safetensors header is not valid JSON (" + e.what() + ")");
    }
    if (!duplicate.empty())
        fail(path + ": safetensors header has the key '" + duplicate + "' twice");
    if (!j.is_object())
        fail(path + ": safetensors header must be a JSON object, got " + describe(j));
    return j;
}

Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& v) {
    const std::string at = path + ": tensor '" + name + "': ";
    if (!v.is_object()) fail(at + "header entry must be an object, got " + describe(v));
    for (const auto& [k, _] : v.items())
        if (k != "dtype" && k != "shape" && k != "data_offsets")
            fail(at + "unknown field '" + k + "' (expected only dtype, shape, data_offsets)");
    for (const char* k : {"dtype", "shape", "data_offsets"})
        if (!v.contains(k)) fail(at + "missing field '" + k + "'");

    Entry e;
    e.name = name;
    const auto& dt = v["dtype"];
    if (!dt.is_string()) fail(at + "'dtype' must be a string, got " + describe(dt));
    e.dtype = find_dtype(dt.get<std::string>());
    if (!e.dtype) fail(at + "unknown dtype '" + dt.get<std::string>() + "'");

    const auto& sh = v["shape"];
    if (!sh.is_array()) fail(at + "'shape' must be an array of integers, got " + describe(sh));
    // Like the reference implementation, the running product must not overflow even when a
    // later 0 would make it empty: [2^32, 2^32, 0] is rejected, so numel() of any accepted shape
    // is computable. The bound leaves room for the size in bits below.
    constexpr uint64_t kMaxCount = std::numeric_limits<uint64_t>::max() / 64;
    uint64_t count = 1;
    for (const auto& d : sh) {
        uint64_t n;
        if (!as_uint(d, n) || n > uint64_t(std::numeric_limits<int64_t>::max()))
            fail(at + "'shape' entries must be non-negative integers, got " + describe(sh));
        e.shape.push_back(int64_t(n));
        if (n != 0 && count > kMaxCount / n)
            fail(at + "shape " + describe(sh) + " has too many elements (the size overflows)");
        count *= n;
    }

    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !as_uint(off[0], e.begin) || !as_uint(off[1], e.end))
        fail(at + "'data_offsets' must be [begin, end] with non-negative integers, got " +
             describe(off));
    if (e.end < e.begin)
        fail(at + "data_offsets end " + std::to_string(e.end) + " < begin " +
             std::to_string(e.begin));
    const uint64_t bits = count * uint64_t(e.dtype->bits);
    if (bits % 8 != 0)
        fail(at + "shape " + describe(sh) + " of " + e.dtype->name +
             " is not a whole number of bytes");
    if (e.end - e.begin != bits / 8)
        fail(at + "data_offsets span " + std::to_string(e.end - e.begin) + " bytes but shape " +
             describe(sh) + " of " + e.dtype->name + " needs " + std::to_string(bits / 8));
    return e;
}

// Widens F16, BF16 or F64 data (`n` values at `src`, any alignment) to fp32.
void convert(const Entry& e, const char* src, float* dst, size_t n) {
    const std::string dt = e.dtype->name;
    if (dt == "F16") {
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            dst[i] = half_to_float(h);
        }
    } else if (dt == "BF16") {
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            dst[i] = std::bit_cast<float>(uint32_t(h) << 16);
        }
    } else if (dt == "F64") {
        for (size_t i = 0; i < n; i++) {
            double d;
            std::memcpy(&d, src + 8 * i, 8);
            dst[i] = float(d);
        }
    } else {
        fail("safetensors: no fp32 conversion for dtype " + dt);
    }
}

}  // namespace

int64_t numel(std::span<const int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
        const auto r = mul_checked(n, d);
        if (!r) {
            std::string s;
            for (int64_t x : shape) s += (s.empty() ? "" : ", ") + std::to_string(x);
            fail("shape [" + s + "] has too many elements (the size overflows)");
        }
        n = *r;
    }
    return n;
}

std::vector<NamedTensor> load_safetensors(const std::string& path,
                                          std::map<std::string, std::string>* metadata) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) fail(path + ": cannot open safetensors file for reading");
    const uint64_t file_size = uint64_t(f.tellg());
    f.seekg(0);
    if (file_size < 8)
        fail(path + ": not a safetensors file: " + std::to_string(file_size) +
             " bytes, shorter than the 8-byte header length");
    char len_bytes[8];
    f.read(len_bytes, 8);
    uint64_t header_size;
    std::memcpy(&header_size, len_bytes, 8);
    if (header_size > kMaxHeaderSize)
        fail(path + ": safetensors header length " + std::to_string(header_size) +
             " exceeds the 100 MB limit (corrupt or not a safetensors file)");
    if (header_size > file_size - 8)
        fail(path + ": safetensors header length " + std::to_string(header_size) +
             " runs past the end of the file (" + std::to_string(file_size) +
             " bytes, truncated?)");
    std::string header_text(header_size, '\0');
    if (!f.read(header_text.data(), std::streamsize(header_size)))
        fail(path + ": read error in the safetensors header");
    const uint64_t data_size = file_size - 8 - header_size;

    nlohmann::json header = parse_header(path, header_text);
    std::vector<Entry> entries;
    for (const auto& [name, v] : header.items()) {
        if (name == "__metadata__") {
            if (!v.is_object())
                fail(path + ": '__metadata__' must be an object of strings, got " + describe(v));
            for (const auto& [k, s] : v.items()) {
                if (!s.is_string())
                    fail(path + ": '__metadata__' value of '" + k + "' must be a string, got " +
                         describe(s));
                if (metadata) (*metadata)[k] = s.get<std::string>();
            }
            continue;
        }
        entries.push_back(parse_entry(path, name, v));
    }

    // The spec (and the Rust reader) requires the offsets to tile the data block exactly: sorted by
    // offset, each tensor starts where the previous one ended and the last ends at the block's end.
    // So holes and trailing bytes are rejected too, not only overlaps.
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t pos = 0;
    const Entry* prev = nullptr;
    for (const auto& e : entries) {
        const std::string at = path + ": tensor '" + e.name + "': ";
        if (e.end > data_size)
            fail(at + "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                 "] run past the data block of " + std::to_string(data_size) +
                 " bytes (truncated file?)");
        if (e.begin < pos)
            fail(at + "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                 "] overlap tensor '" + prev->name + "' ending at " + std::to_string(pos));
        if (e.begin > pos)
            fail(at + "data_offsets begin " + std::to_string(e.begin) + " leaves a hole after " +
                 (prev ? "tensor '" + prev->name + "'" : std::string("the block start")) + " at " +
                 std::to_string(pos) + " (tensors must cover the data block contiguously)");
        pos = e.end;
        prev = &e;
    }
    if (pos != data_size)
        fail(path + ": data block has " + std::to_string(data_size - pos) +
             " trailing bytes not covered by any tensor (expected " + std::to_string(pos) +
             " bytes of data, file has " + std::to_string(data_size) + ")");
    for (const auto& e : entries)
        if (!e.dtype->loadable)
            fail(path + ": tensor '" + e.name + "': dtype " + e.dtype->name +
                 " is not supported (only F32, F16, BF16, F64 load as fp32)");

    std::vector<NamedTensor> out;
    out.reserve(entries.size());
    std::vector<char> buf;
    for (const auto& e : entries) {
        NamedTensor t{e.name, e.shape, {}};
        const size_t n = size_t(numel(e.shape));
        t.data.resize(n);
        const size_t nbytes = size_t(e.end - e.begin);
        if (nbytes == 0) {
            out.push_back(std::move(t));
            continue;
        }
        f.seekg(std::streamoff(8 + header_size + e.begin));
        if (std::string_view(e.dtype->name) == "F32") {
            f.read(reinterpret_cast<char*>(t.data.data()), std::streamsize(nbytes));
        } else {
            buf.resize(nbytes);
            f.read(buf.data(), std::streamsize(nbytes));
            convert(e, buf.data(), t.data.data(), n);
        }
        if (!f) fail(path + ": tensor '" + e.name + "': read error");
        out.push_back(std::move(t));
    }
    return out;
}

void save_safetensors(const std::string& path, std::span<const TensorView> tensors,
                      const std::map<std::string, std::string>& metadata) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::set<std::string> names;
    uint64_t offset = 0;
    for (const auto& t : tensors) {
        const std::string at = path + ": tensor '" + t.name + "': ";
        if (t.name.empty()) fail(path + ": cannot save a tensor with an empty name");
        if (t.name == "__metadata__") fail(at + "the name is reserved by the format");
        if (!names.insert(t.name).second) fail(at + "name given twice");
        for (int64_t d : t.shape)
            if (d < 0) fail(at + "negative dimension in shape");
        if (numel(t.shape) != int64_t(t.data.size()))
            fail(at + "shape has " + std::to_string(numel(t.shape)) + " elements but data has " +
                 std::to_string(t.data.size()));
        const uint64_t nbytes = uint64_t(t.data.size()) * 4;
        header[t.name] = {
            {"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + nbytes}}};
        offset += nbytes;
    }
    std::string text = header.dump();
    // Space padding to a multiple of 8 keeps the data block 8-byte aligned for mmap readers.
    text.append((8 - text.size() % 8) % 8, ' ');

    // Written straight from the callers' buffers: no copy of the tensor data is made.
    const uint64_t n = text.size();
    std::vector<std::span<const char>> parts;
    parts.emplace_back(reinterpret_cast<const char*>(&n), 8);
    parts.emplace_back(text.data(), text.size());
    for (const auto& t : tensors)
        if (!t.data.empty())  // an empty span may hold a null pointer
            parts.emplace_back(reinterpret_cast<const char*>(t.data.data()), t.data.size() * 4);
    write_file_atomic(path, std::span<const std::span<const char>>(parts));
}

}  // namespace np
