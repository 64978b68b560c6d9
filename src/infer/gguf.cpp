#include "infer/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "core/file_io.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/q8_0.h"
#include "model/params.h"
#include "tokenizer/role_specials.h"

namespace np::gguf {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader maps little-endian files directly");

namespace {

constexpr int kMaxNesting = 4;  // arrays of arrays of ... (NanoPrime writes none)
constexpr size_t kMaxKeyLength = 65535;

std::string shape_str(std::span<const int64_t> ne) {
    std::string s = "{";
    for (size_t i = 0; i < ne.size(); i++) s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "}";
}

size_t value_fixed_size(ValueType t) {
    switch (t) {
        case ValueType::UINT8:
        case ValueType::INT8:
        case ValueType::BOOL:
            return 1;
        case ValueType::UINT16:
        case ValueType::INT16:
            return 2;
        case ValueType::UINT32:
        case ValueType::INT32:
        case ValueType::FLOAT32:
            return 4;
        case ValueType::UINT64:
        case ValueType::INT64:
        case ValueType::FLOAT64:
            return 8;
        default:
            return 0;  // string, array: variable
    }
}

bool value_type_known(uint32_t t) {
    return t <= uint32_t(ValueType::FLOAT64);
}

bool is_integer(ValueType t) {
    switch (t) {
        case ValueType::UINT8:
        case ValueType::INT8:
        case ValueType::UINT16:
        case ValueType::INT16:
        case ValueType::UINT32:
        case ValueType::INT32:
        case ValueType::UINT64:
        case ValueType::INT64:
            return true;
        default:
            return false;
    }
}

template <class T>
T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// Reads an integer element; `neg` is set when a signed value is below zero.
uint64_t load_integer(ValueType t, const uint8_t* p, bool& neg) {
    neg = false;
    int64_t s = 0;
    switch (t) {
        case ValueType::UINT8:
            return load<uint8_t>(p);
        case ValueType::UINT16:
            return load<uint16_t>(p);
        case ValueType::UINT32:
            return load<uint32_t>(p);
        case ValueType::UINT64:
            return load<uint64_t>(p);
        case ValueType::INT8:
            s = load<int8_t>(p);
            break;
        case ValueType::INT16:
            s = load<int16_t>(p);
            break;
        case ValueType::INT32:
            s = load<int32_t>(p);
            break;
        case ValueType::INT64:
            s = load<int64_t>(p);
            break;
        default:
            return 0;
    }
    neg = s < 0;
    return uint64_t(s);
}

// Bounds-checked cursor over the mapped file. `ctx` says what is being read, for messages.
struct Cursor {
    const uint8_t* p;
    size_t size;
    size_t pos;
    const std::string& path;
    std::string ctx;

    [[noreturn]] void truncated(const char* what) const {
        fail(path + ": truncated or corrupt file: " + what + (ctx.empty() ? "" : " of " + ctx) +
             " at byte " + std::to_string(pos) + " runs past the end of the file (" +
             std::to_string(size) + " bytes)");
    }
    void need(uint64_t n, const char* what) const {
        if (n > size - pos) truncated(what);
    }
    template <class T>
    T get(const char* what) {
        need(sizeof(T), what);
        T v = load<T>(p + pos);
        pos += sizeof(T);
        return v;
    }
    std::string_view str(const char* what) {
        const uint64_t n = get<uint64_t>(what);
        if (n > size - pos)
            fail(path + ": " + what + (ctx.empty() ? "" : " of " + ctx) + " has length " +
                 std::to_string(n) + ", more than the " + std::to_string(size - pos) +
                 " bytes left in the file");
        std::string_view s(reinterpret_cast<const char*>(p + pos), size_t(n));
        pos += size_t(n);
        return s;
    }
};

// Validates and steps over one value of type t.
void skip_value(Cursor& c, ValueType t, int depth) {
    if (const size_t n = value_fixed_size(t)) {
        c.need(n, "value");
        if (t == ValueType::BOOL && c.p[c.pos] > 1)
            fail(c.path + ": " + c.ctx + ": bool value " + std::to_string(c.p[c.pos]) +
                 " is neither 0 nor 1");
        c.pos += n;
        return;
    }
    if (t == ValueType::STRING) {
        c.str("string");
        return;
    }
    if (depth >= kMaxNesting)
        fail(c.path + ": " + c.ctx + ": arrays nested more than " + std::to_string(kMaxNesting) +
             " deep");
    const uint32_t et = c.get<uint32_t>("array element type");
    if (!value_type_known(et))
        fail(c.path + ": " + c.ctx + ": unknown array element type " + std::to_string(et));
    const uint64_t n = c.get<uint64_t>("array length");
    const size_t fixed = value_fixed_size(ValueType(et));
    const size_t min_elem = fixed ? fixed : ValueType(et) == ValueType::STRING ? 8 : 12;
    if (n > (c.size - c.pos) / min_elem)
        fail(c.path + ": " + c.ctx + ": array of " + std::to_string(n) + " " +
             value_type_name(ValueType(et)) + " elements does not fit in the " +
             std::to_string(c.size - c.pos) + " bytes left in the file");
    if (fixed && ValueType(et) != ValueType::BOOL) {
        c.pos += size_t(n) * fixed;
        return;
    }
    for (uint64_t i = 0; i < n; i++) skip_value(c, ValueType(et), depth + 1);
}

void unmap(const uint8_t* p, size_t n) {
    if (p) ::munmap(const_cast<uint8_t*>(p), n);
}

}  // namespace

// tokenizer.json -> its merges as "left right" strings in rank order.
std::vector<std::string> hf_merges(std::string_view hf_json, const std::string& where) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(hf_json);
    } catch (const nlohmann::json::exception& e) {
        fail(where + ": invalid JSON: " + e.what());
    }
    std::vector<std::string> out;
    if (!j.contains("model") || !j["model"].is_object() || !j["model"].contains("merges"))
        fail(where + ": no model.merges");
    for (const auto& m : j["model"]["merges"]) {
        if (m.is_string())
            out.push_back(m.get<std::string>());
        else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
            out.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
        else
            fail(where + ": model.merges holds an entry that is neither \"a b\" nor [a, b]");
    }
    return out;
}

// The tokenizer.ggml.tokens / token_type entries for id (see the header comment).
std::string token_piece(const Tokenizer& tok, int32_t id) {
    if (id < tok.vocab_size() && !tok.id_to_piece(id).empty()) return tok.id_to_piece(id);
    return "[PAD" + std::to_string(id) + "]";
}
int32_t token_type(const Tokenizer& tok, int32_t id) {
    if (id >= tok.vocab_size() || tok.id_to_piece(id).empty()) return 5;  // unused
    if (tok.is_special(id)) return 3;                                     // control
    for (const auto& a : tok.added_tokens())
        if (a.id == id) return 4;  // user-defined
    return 1;
}

// ---- types -------------------------------------------------------------------------------------

const char* type_name(GgmlType t) {
    switch (t) {
        case GgmlType::F32:
            return "F32";
        case GgmlType::F16:
            return "F16";
        case GgmlType::Q8_0:
            return "Q8_0";
        case GgmlType::TQ1_0:
            return "TQ1_0";
        case GgmlType::TQ2_0:
            return "TQ2_0";
    }
    return "?";
}

bool type_known(uint32_t t) {
    return t == 0 || t == 1 || t == 8 || t == 34 || t == 35;
}

int64_t type_block_elems(GgmlType t) {
    switch (t) {
        case GgmlType::F32:
        case GgmlType::F16:
            return 1;
        case GgmlType::Q8_0:
            return kern::kQ8Block;
        case GgmlType::TQ1_0:
        case GgmlType::TQ2_0:
            return kern::kTernaryBlock;
    }
    return 1;
}

size_t type_block_bytes(GgmlType t) {
    switch (t) {
        case GgmlType::F32:
            return 4;
        case GgmlType::F16:
            return 2;
        case GgmlType::Q8_0:
            return sizeof(kern::BlockQ8_0);
        case GgmlType::TQ1_0:
            return sizeof(kern::BlockTQ1_0);
        case GgmlType::TQ2_0:
            return sizeof(kern::BlockTQ2_0);
    }
    return 0;
}

size_t tensor_bytes(GgmlType t, std::span<const int64_t> ne, const std::string& what) {
    if (ne.empty() || ne.size() > size_t(kMaxDims))
        fail(what + ": " + std::to_string(ne.size()) + " dimensions, expected 1 to " +
             std::to_string(kMaxDims));
    for (int64_t d : ne)
        if (d <= 0) fail(what + ": shape " + shape_str(ne) + " has a dimension that is not > 0");
    const int64_t blk = type_block_elems(t);
    if (ne[0] % blk != 0)
        fail(what + ": ne[0] = " + std::to_string(ne[0]) + " is not a multiple of the " +
             type_name(t) + " block size " + std::to_string(blk));
    // Bounded by 2^62 so that every later offset + size sum stays far from overflow. Each product
    // is checked before it is formed: ne[0] = 2^62 F32 would wrap ne[0] * 4 to 0.
    constexpr uint64_t kLimit = uint64_t(1) << 62;
    const uint64_t blocks = uint64_t(ne[0] / blk);
    if (blocks > kLimit / type_block_bytes(t))
        fail(what + ": shape " + shape_str(ne) + " is too large (ne[0] = " + std::to_string(ne[0]) +
             " " + type_name(t) + " elements do not fit in 2^62 bytes)");
    uint64_t bytes = blocks * type_block_bytes(t);
    for (size_t i = 1; i < ne.size(); i++) {
        if (uint64_t(ne[i]) > kLimit / bytes)
            fail(what + ": shape " + shape_str(ne) + " is too large (size overflows)");
        bytes *= uint64_t(ne[i]);
    }
    if (bytes > kLimit) fail(what + ": shape " + shape_str(ne) + " is too large");
    return size_t(bytes);
}

const char* value_type_name(ValueType t) {
    static const char* names[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                  "int32",  "float32", "bool",   "string", "array",
                                  "uint64", "int64",   "float64"};
    return uint32_t(t) <= 12 ? names[uint32_t(t)] : "unknown";
}

// ---- writer ------------------------------------------------------------------------------------

namespace {
template <class T>
void put(std::string& s, T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void put_str(std::string& s, std::string_view v) {
    put<uint64_t>(s, v.size());
    s.append(v);
}
}  // namespace

void Writer::key(const std::string& k, ValueType t) {
    if (k.empty() || k.size() > kMaxKeyLength) fail("gguf writer: invalid key \"" + k + "\"");
    if (!keys_.insert(k).second) fail("gguf writer: duplicate key " + k);
    put_str(kv_, k);
    put<uint32_t>(kv_, uint32_t(t));
    n_kv_++;
}
void Writer::set_u32(const std::string& k, uint32_t v) {
    key(k, ValueType::UINT32), put(kv_, v);
}
void Writer::set_i32(const std::string& k, int32_t v) {
    key(k, ValueType::INT32), put(kv_, v);
}
void Writer::set_u64(const std::string& k, uint64_t v) {
    key(k, ValueType::UINT64), put(kv_, v);
}
void Writer::set_f32(const std::string& k, float v) {
    key(k, ValueType::FLOAT32), put(kv_, v);
}
void Writer::set_bool(const std::string& k, bool v) {
    key(k, ValueType::BOOL);
    put<uint8_t>(kv_, v ? 1 : 0);
}
void Writer::set_string(const std::string& k, const std::string& v) {
    key(k, ValueType::STRING);
    put_str(kv_, v);
}
void Writer::set_strings(const std::string& k, const std::vector<std::string>& v) {
    key(k, ValueType::ARRAY);
    put<uint32_t>(kv_, uint32_t(ValueType::STRING));
    put<uint64_t>(kv_, v.size());
    for (const auto& s : v) put_str(kv_, s);
}
void Writer::set_i32s(const std::string& k, const std::vector<int32_t>& v) {
    key(k, ValueType::ARRAY);
    put<uint32_t>(kv_, uint32_t(ValueType::INT32));
    put<uint64_t>(kv_, v.size());
    kv_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int32_t));
}

void Writer::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne,
                        std::vector<uint8_t> data) {
    if (name.empty() || name.size() > kMaxNameLength)
        fail("gguf writer: tensor name \"" + name + "\" must have 1 to " +
             std::to_string(kMaxNameLength) + " bytes");
    if (!names_.insert(name).second) fail("gguf writer: duplicate tensor " + name);
    const size_t n = tensor_bytes(type, ne, "gguf writer: tensor " + name);
    if (data.size() != n)
        fail("gguf writer: tensor " + name + " has " + std::to_string(data.size()) +
             " bytes, its type and shape need " + std::to_string(n));
    tensors_.push_back({name, type, std::move(ne), std::move(data)});
}

namespace {
size_t align_up(size_t n, size_t a) {
    return (n + a - 1) / a * a;
}
}  // namespace

size_t Writer::file_bytes() const {
    size_t head = 24 + kv_.size(), data = 0;
    for (const auto& t : tensors_) {
        head += 8 + t.name.size() + 4 + 8 * t.ne.size() + 4 + 8;
        data += align_up(t.data.size(), kAlignment);
    }
    return align_up(head, kAlignment) + data;
}

void Writer::write(const std::string& path) const {
    std::string head;
    put<uint32_t>(head, kMagic);
    put<uint32_t>(head, kVersion);
    put<uint64_t>(head, tensors_.size());
    put<uint64_t>(head, n_kv_);
    head += kv_;
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
        put_str(head, t.name);
        put<uint32_t>(head, uint32_t(t.ne.size()));
        for (int64_t d : t.ne) put<uint64_t>(head, uint64_t(d));
        put<uint32_t>(head, uint32_t(t.type));
        put<uint64_t>(head, offset);
        offset += align_up(t.data.size(), kAlignment);
    }
    head.resize(align_up(head.size(), kAlignment), '\0');
    static const char zeros[kAlignment] = {};
    std::vector<std::span<const char>> parts;
    parts.push_back({head.data(), head.size()});
    for (const auto& t : tensors_) {
        parts.push_back({reinterpret_cast<const char*>(t.data.data()), t.data.size()});
        const size_t pad = align_up(t.data.size(), kAlignment) - t.data.size();
        if (pad) parts.push_back({zeros, pad});
    }
    write_file_atomic(path, std::span<const std::span<const char>>(parts));
}

// ---- reader ------------------------------------------------------------------------------------

GgufFile::GgufFile(GgufFile&& o) noexcept {
    *this = std::move(o);
}

GgufFile& GgufFile::operator=(GgufFile&& o) noexcept {
    if (this != &o) {
        unmap(base_, size_);
        path_ = std::move(o.path_);
        base_ = std::exchange(o.base_, nullptr);
        size_ = std::exchange(o.size_, 0);
        alignment_ = o.alignment_;
        kv_bytes_ = o.kv_bytes_;
        data_offset_ = o.data_offset_;
        keys_ = std::move(o.keys_);
        values_ = std::move(o.values_);
        tensors_ = std::move(o.tensors_);
        by_name_ = std::move(o.by_name_);
        cfg_ = std::move(o.cfg_);
        tok_ = std::move(o.tok_);
        weights_ = std::move(o.weights_);
        embed_ = std::move(o.embed_);
    }
    return *this;
}

GgufFile::~GgufFile() {
    unmap(base_, size_);
}

void GgufFile::error(const std::string& what) const {
    fail(path_ + ": " + what);
}

GgufFile GgufFile::open(const std::string& path) {
    GgufFile f = open_container(path);
    f.validate_model();
    f.validate_tokenizer();
    f.validate_contents();
    return f;
}

GgufFile GgufFile::open_container(const std::string& path) {
    GgufFile f;
    f.path_ = path;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path + ": cannot open (" + std::strerror(errno) + ")");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(path + ": not a regular file");
    }
    if (st.st_size < 24) {
        ::close(fd);
        fail(path + ": truncated file: " + std::to_string(st.st_size) +
             " bytes, shorter than the 24-byte GGUF header");
    }
    void* p = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    if (p == MAP_FAILED) fail(path + ": mmap failed (" + std::strerror(err) + ")");
    f.base_ = static_cast<const uint8_t*>(p);
    f.size_ = size_t(st.st_size);
    f.parse();
    return f;
}

void GgufFile::parse() {
    Cursor c{base_, size_, 0, path_, ""};
    const uint32_t magic = c.get<uint32_t>("magic");
    if (magic != kMagic) error("not a GGUF file (bad magic; expected \"GGUF\")");
    const uint32_t version = c.get<uint32_t>("version");
    if (version != kVersion)
        error("GGUF version " + std::to_string(version) + ", expected " + std::to_string(kVersion));
    const uint64_t n_tensors = c.get<uint64_t>("tensor count");
    const uint64_t n_kv = c.get<uint64_t>("metadata count");
    // Smallest records: key (8 + 1) + type (4) + 1 byte; name (8 + 1) + n_dims + ne + type + off.
    if (n_kv > (size_ - c.pos) / 14)
        error("metadata count " + std::to_string(n_kv) + " is impossible for a file of " +
              std::to_string(size_) + " bytes (truncated or corrupt file)");
    if (n_tensors > (size_ - c.pos) / 33)
        error("tensor count " + std::to_string(n_tensors) + " is impossible for a file of " +
              std::to_string(size_) + " bytes (truncated or corrupt file)");

    const size_t kv_start = c.pos;
    keys_.reserve(size_t(n_kv));
    for (uint64_t i = 0; i < n_kv; i++) {
        c.ctx = "metadata entry " + std::to_string(i);
        const std::string key(c.str("key"));
        if (key.empty() || key.size() > kMaxKeyLength)
            error("metadata entry " + std::to_string(i) + " has an empty or overlong key");
        c.ctx = "key " + key;
        const uint32_t t = c.get<uint32_t>("value type");
        if (!value_type_known(t)) error("key " + key + ": unknown value type " + std::to_string(t));
        Value v;
        v.type = ValueType(t);
        const size_t start = c.pos;
        if (v.type == ValueType::ARRAY) {
            c.need(12, "array header");
            v.elem_type = ValueType(load<uint32_t>(base_ + c.pos));
            v.count = load<uint64_t>(base_ + c.pos + 4);
        }
        skip_value(c, v.type, 0);
        v.data = base_ + start + (v.type == ValueType::ARRAY ? 12 : 0);
        v.nbytes = c.pos - start - (v.type == ValueType::ARRAY ? 12 : 0);
        if (!values_.emplace(key, v).second) error("duplicate key " + key);
        keys_.push_back(key);
    }
    kv_bytes_ = c.pos - kv_start;

    if (const Value* a = find_value("general.alignment")) {
        if (a->type != ValueType::UINT32)
            error("key general.alignment has type " + std::string(value_type_name(a->type)) +
                  ", expected uint32");
        alignment_ = load<uint32_t>(a->data);
        if (alignment_ < 4 || alignment_ > 65536 || !std::has_single_bit(alignment_))
            error("key general.alignment = " + std::to_string(alignment_) +
                  ", expected a power of two from 4 to 65536");
    }

    tensors_.reserve(size_t(n_tensors));
    for (uint64_t i = 0; i < n_tensors; i++) {
        c.ctx = "tensor info " + std::to_string(i);
        Tensor t;
        t.name = std::string(c.str("tensor name"));
        if (t.name.empty() || t.name.size() > kMaxNameLength)
            error("tensor info " + std::to_string(i) + ": name of " +
                  std::to_string(t.name.size()) + " bytes, expected 1 to " +
                  std::to_string(kMaxNameLength));
        c.ctx = "tensor " + t.name;
        const uint32_t n_dims = c.get<uint32_t>("n_dims");
        if (n_dims < 1 || n_dims > uint32_t(kMaxDims))
            error("tensor " + t.name + ": n_dims = " + std::to_string(n_dims) + ", expected 1 to " +
                  std::to_string(kMaxDims));
        for (uint32_t d = 0; d < n_dims; d++) {
            const uint64_t n = c.get<uint64_t>("dimension");
            if (n == 0 || n > uint64_t(std::numeric_limits<int64_t>::max()))
                error("tensor " + t.name + ": dimension " + std::to_string(d) + " = " +
                      std::to_string(n) + " is not a positive int64");
            t.ne.push_back(int64_t(n));
        }
        const uint32_t type = c.get<uint32_t>("type");
        if (!type_known(type))
            error("tensor " + t.name + ": unsupported ggml type " + std::to_string(type) +
                  " (NanoPrime files hold F32, F16, Q8_0, TQ1_0, TQ2_0)");
        t.type = GgmlType(type);
        t.offset = c.get<uint64_t>("offset");
        t.nbytes = tensor_bytes(t.type, t.ne, path_ + ": tensor " + t.name);
        if (t.offset % alignment_ != 0)
            error("tensor " + t.name + ": offset " + std::to_string(t.offset) +
                  " is not a multiple of the alignment " + std::to_string(alignment_));
        if (!by_name_.emplace(t.name, tensors_.size()).second) error("duplicate tensor " + t.name);
        tensors_.push_back(std::move(t));
    }
    c.ctx.clear();
    data_offset_ = align_up(c.pos, alignment_);
    if (data_offset_ > size_)
        error("truncated file: the data section would start at byte " +
              std::to_string(data_offset_) + ", past the end (" + std::to_string(size_) +
              " bytes)");
    const size_t avail = size_ - data_offset_;
    std::vector<const Tensor*> order;
    for (auto& t : tensors_) {
        if (t.offset > avail || t.nbytes > avail - t.offset)
            error("tensor " + t.name + ": bytes [" + std::to_string(t.offset) + ", " +
                  std::to_string(t.offset + t.nbytes) + ") of the data section run past the end " +
                  "of the file (data section holds " + std::to_string(avail) +
                  " bytes; truncated file?)");
        t.data = base_ + data_offset_ + t.offset;
        order.push_back(&t);
    }
    std::sort(order.begin(), order.end(),
              [](const Tensor* a, const Tensor* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < order.size(); i++)
        if (order[i]->offset < order[i - 1]->offset + order[i - 1]->nbytes)
            error("tensor " + order[i]->name + " overlaps tensor " + order[i - 1]->name);
}

// ---- metadata access ---------------------------------------------------------------------------

const Value* GgufFile::find_value(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? nullptr : &it->second;
}

const Value& GgufFile::value(const std::string& key) const {
    const Value* v = find_value(key);
    if (!v) error("missing key " + key);
    return *v;
}

std::string GgufFile::get_string(const std::string& key) const {
    const Value& v = value(key);
    if (v.type != ValueType::STRING)
        error("key " + key + " has type " + value_type_name(v.type) + ", expected string");
    return std::string(reinterpret_cast<const char*>(v.data) + 8, v.nbytes - 8);
}

uint64_t GgufFile::get_uint(const std::string& key) const {
    const Value& v = value(key);
    if (!is_integer(v.type))
        error("key " + key + " has type " + value_type_name(v.type) + ", expected an integer");
    bool neg = false;
    const uint64_t x = load_integer(v.type, v.data, neg);
    if (neg) error("key " + key + " is negative, expected a value >= 0");
    return x;
}

int64_t GgufFile::get_int(const std::string& key) const {
    const Value& v = value(key);
    if (!is_integer(v.type))
        error("key " + key + " has type " + value_type_name(v.type) + ", expected an integer");
    bool neg = false;
    const uint64_t x = load_integer(v.type, v.data, neg);
    if (!neg && x > uint64_t(std::numeric_limits<int64_t>::max()))
        error("key " + key + " = " + std::to_string(x) + " does not fit in int64");
    return int64_t(x);
}

bool GgufFile::get_bool(const std::string& key) const {
    const Value& v = value(key);
    if (v.type != ValueType::BOOL)
        error("key " + key + " has type " + value_type_name(v.type) + ", expected bool");
    return v.data[0] != 0;
}

double GgufFile::get_float(const std::string& key) const {
    const Value& v = value(key);
    if (v.type == ValueType::FLOAT32) return load<float>(v.data);
    if (v.type == ValueType::FLOAT64) return load<double>(v.data);
    error("key " + key + " has type " + value_type_name(v.type) + ", expected a float");
}

std::vector<std::string> GgufFile::get_strings(const std::string& key) const {
    const Value& v = value(key);
    if (v.type != ValueType::ARRAY || v.elem_type != ValueType::STRING)
        error("key " + key + " is not an array of strings");
    std::vector<std::string> out;
    out.reserve(size_t(v.count));
    const uint8_t* p = v.data;
    for (uint64_t i = 0; i < v.count; i++) {  // bounds were checked by parse()
        const uint64_t n = load<uint64_t>(p);
        out.emplace_back(reinterpret_cast<const char*>(p + 8), size_t(n));
        p += 8 + n;
    }
    return out;
}

std::vector<int64_t> GgufFile::get_ints(const std::string& key) const {
    const Value& v = value(key);
    if (v.type != ValueType::ARRAY || !is_integer(v.elem_type))
        error("key " + key + " is not an array of integers");
    const size_t sz = value_fixed_size(v.elem_type);
    std::vector<int64_t> out(size_t(v.count));
    for (size_t i = 0; i < out.size(); i++) {
        bool neg = false;
        const uint64_t x = load_integer(v.elem_type, v.data + i * sz, neg);
        if (!neg && x > uint64_t(std::numeric_limits<int64_t>::max()))
            error("key " + key + "[" + std::to_string(i) + "] does not fit in int64");
        out[i] = int64_t(x);
    }
    return out;
}

nlohmann::json GgufFile::value_json(const std::string& key, size_t max_array) const {
    const Value& v = value(key);
    auto scalar = [](ValueType t, const uint8_t* p) -> nlohmann::json {
        bool neg = false;
        switch (t) {
            case ValueType::BOOL:
                return p[0] != 0;
            case ValueType::FLOAT32:
                return double(load<float>(p));
            case ValueType::FLOAT64:
                return load<double>(p);
            case ValueType::STRING:
                return std::string(reinterpret_cast<const char*>(p + 8), load<uint64_t>(p));
            default: {
                const uint64_t x = load_integer(t, p, neg);
                if (neg) return int64_t(x);
                return x;
            }
        }
    };
    if (v.type != ValueType::ARRAY) return scalar(v.type, v.data);
    nlohmann::json out = nlohmann::json::array();
    if (v.elem_type == ValueType::ARRAY) {
        out.push_back("<" + std::to_string(v.count) + " nested arrays>");
        return out;
    }
    const uint8_t* p = v.data;
    for (uint64_t i = 0; i < v.count; i++) {
        if (i == max_array) {
            out.push_back("... (" + std::to_string(v.count) + " in all)");
            break;
        }
        out.push_back(scalar(v.elem_type, p));
        p += v.elem_type == ValueType::STRING ? 8 + load<uint64_t>(p)
                                              : value_fixed_size(v.elem_type);
    }
    return out;
}

// ---- tensors -----------------------------------------------------------------------------------

const Tensor* GgufFile::find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

const Tensor& GgufFile::tensor(const std::string& name) const {
    const Tensor* t = find(name);
    if (!t) error("missing tensor " + name);
    return *t;
}

kern::TernaryFormat GgufFile::ternary_format() const {
    return weights_ == "tq1" ? kern::TernaryFormat::TQ1_0 : kern::TernaryFormat::TQ2_0;
}

kern::TernaryView GgufFile::ternary(const std::string& name, int rows, int cols) const {
    const Tensor& t = tensor(name);
    if (t.type != GgmlType::TQ2_0 && t.type != GgmlType::TQ1_0)
        error("tensor " + name + " has type " + type_name(t.type) + ", expected TQ2_0 or TQ1_0");
    if (rows <= 0 || cols <= 0)
        error("tensor " + name + ": requested shape [" + std::to_string(rows) + ", " +
              std::to_string(cols) + "] is not positive");
    const std::vector<int64_t> want = {kern::ternary_padded_cols(cols), rows};
    if (t.ne != want)
        error("tensor " + name + " has shape " + shape_str(t.ne) + ", expected " + shape_str(want) +
              " (rows " + std::to_string(rows) + ", cols " + std::to_string(cols) +
              " padded to 256)");
    const std::span<const float> s = f32(name + ".scale", 1);
    const float gamma = s[0];
    if (!std::isfinite(gamma) || !(gamma > 0.f))
        error("tensor " + name + ".scale = " + std::to_string(gamma) +
              ", expected a finite value > 0");
    kern::TernaryView v;
    v.format = t.type == GgmlType::TQ2_0 ? kern::TernaryFormat::TQ2_0 : kern::TernaryFormat::TQ1_0;
    v.rows = rows;
    v.cols = cols;
    v.gamma = gamma;
    v.data = t.data;
    return v;
}

std::span<const float> GgufFile::f32(const std::string& name, int64_t n) const {
    const Tensor& t = tensor(name);
    if (t.type != GgmlType::F32)
        error("tensor " + name + " has type " + type_name(t.type) + ", expected F32");
    int64_t numel = 1;
    for (int64_t d : t.ne) numel *= d;  // bounded by tensor_bytes
    if (numel != n)
        error("tensor " + name + " has " + std::to_string(numel) + " elements (shape " +
              shape_str(t.ne) + "), expected " + std::to_string(n));
    return {reinterpret_cast<const float*>(t.data), size_t(n)};
}

std::string GgufFile::chat_template() const {
    return get_string("tokenizer.chat_template");
}

// ---- NanoPrime validation ----------------------------------------------------------------------

void GgufFile::validate_model() {
    const std::string arch = get_string("general.architecture");
    if (arch != "nanoprime")
        error("key general.architecture = \"" + arch + "\", expected \"nanoprime\"");
    const std::string text = get_string("nanoprime.config_json");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        error(std::string("key nanoprime.config_json is not valid JSON: ") + e.what());
    }
    try {
        cfg_ = ModelConfig::from_json(j, path_ + ": key nanoprime.config_json");
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        error(std::string("key nanoprime.config_json: ") + e.what());
    }
    auto check_u = [&](const char* key, uint64_t want) {
        const uint64_t got = get_uint(key);
        if (got != want)
            error(std::string("key ") + key + " = " + std::to_string(got) +
                  " disagrees with nanoprime.config_json (" + std::to_string(want) + ")");
    };
    check_u("nanoprime.context_length", uint64_t(cfg_.max_seq_len));
    check_u("nanoprime.embedding_length", uint64_t(cfg_.d_model));
    check_u("nanoprime.block_count", uint64_t(cfg_.n_layers));
    check_u("nanoprime.vocab_size", uint64_t(cfg_.vocab_size));
    check_u("nanoprime.feed_forward_length", uint64_t(cfg_.ffn.hidden));
    if (get_string("nanoprime.layer_pattern") != cfg_.layer_pattern)
        error("key nanoprime.layer_pattern = \"" + get_string("nanoprime.layer_pattern") +
              "\" disagrees with nanoprime.config_json (\"" + cfg_.layer_pattern + "\")");
    weights_ = get_string("nanoprime.weights");
    if (weights_ != "tq2" && weights_ != "tq1")
        error("key nanoprime.weights = \"" + weights_ + "\", expected \"tq2\" or \"tq1\"");
    embed_ = get_string("nanoprime.embed");
    if (embed_ != "f16" && embed_ != "q8_0")
        error("key nanoprime.embed = \"" + embed_ + "\", expected \"f16\" or \"q8_0\"");
    const GgmlType tt = weights_ == "tq2" ? GgmlType::TQ2_0 : GgmlType::TQ1_0;
    const GgmlType et = embed_ == "f16" ? GgmlType::F16 : GgmlType::Q8_0;

    // Every layer has tensors in the file: a config claiming more layers than the file has tensors
    // is rejected before its parameter table is built from it.
    if (uint64_t(cfg_.n_layers) > tensors_.size())
        error("key nanoprime.config_json: n_layers = " + std::to_string(cfg_.n_layers) +
              ", but the file holds only " + std::to_string(tensors_.size()) + " tensors");
    const ParamLayout layout = make_param_layout(cfg_);
    size_t expected = 0;
    auto expect = [&](const std::string& name, GgmlType type, const std::vector<int64_t>& ne) {
        const Tensor* t = find(name);
        if (!t) error("missing tensor " + name + " (the model in nanoprime.config_json has it)");
        if (t->type != type)
            error("tensor " + name + " has type " + type_name(t->type) + ", expected " +
                  type_name(type) + " (nanoprime.weights = " + weights_ +
                  ", nanoprime.embed = " + embed_ + ")");
        if (t->ne != ne)
            error("tensor " + name + " has shape " + shape_str(t->ne) + ", expected " +
                  shape_str(ne) + " from nanoprime.config_json");
        expected++;
    };
    for (const ParamSpec& s : layout.specs) {
        std::vector<int64_t> ne(s.shape.rbegin(), s.shape.rend());
        if (s.ternary) {
            ne[0] = kern::ternary_padded_cols(int(s.shape[1]));
            expect(s.name, tt, ne);
            expect(s.name + ".scale", GgmlType::F32, {1});
            ternary(s.name, int(s.shape[0]), int(s.shape[1]));  // checks the scale's value
        } else if (s.name == "embed.weight" || s.name == "lm_head.weight") {
            expect(s.name, et, ne);
        } else {
            expect(s.name, GgmlType::F32, ne);
        }
    }
    if (expected != tensors_.size()) {
        std::set<std::string> known;
        for (const ParamSpec& s : layout.specs) {
            known.insert(s.name);
            if (s.ternary) known.insert(s.name + ".scale");
        }
        for (const Tensor& t : tensors_)
            if (!known.count(t.name))
                error("unexpected tensor " + t.name +
                      " (not part of the model in nanoprime.config_json)");
    }
}

void GgufFile::validate_contents() const {
    for (const Tensor& t : tensors_) {
        switch (t.type) {
            case GgmlType::F32: {
                const size_t n = t.nbytes / 4;
                for (size_t i = 0; i < n; i++)
                    if (!std::isfinite(load<float>(t.data + 4 * i)))
                        error("tensor " + t.name + ": element " + std::to_string(i) +
                              " is not finite");
                break;
            }
            case GgmlType::F16: {
                const size_t n = t.nbytes / 2;
                for (size_t i = 0; i < n; i++)
                    if ((load<uint16_t>(t.data + 2 * i) & 0x7c00u) == 0x7c00u)
                        error("tensor " + t.name + ": element " + std::to_string(i) +
                              " is not finite");
                break;
            }
            case GgmlType::Q8_0: {
                const size_t nb = t.nbytes / sizeof(kern::BlockQ8_0);
                for (size_t b = 0; b < nb; b++)
                    if ((load<uint16_t>(t.data + b * sizeof(kern::BlockQ8_0)) & 0x7c00u) == 0x7c00u)
                        error("tensor " + t.name + ": block " + std::to_string(b) +
                              " has a non-finite scale d");
                break;
            }
            case GgmlType::TQ1_0:
            case GgmlType::TQ2_0: {
                // Structure and scale were validated by validate_model().
                const float gamma = load<float>(tensor(t.name + ".scale").data);
                const uint16_t d = kern::fp32_to_fp16(gamma);
                const size_t bb = type_block_bytes(t.type), nb = t.nbytes / bb;
                const size_t d_off = bb - 2;  // d is the last field of both blocks
                for (size_t b = 0; b < nb; b++) {
                    const uint8_t* blk = t.data + b * bb;
                    if (load<uint16_t>(blk + d_off) != d)
                        error("tensor " + t.name + ": block " + std::to_string(b) + " has d = " +
                              std::to_string(kern::fp16_to_fp32(load<uint16_t>(blk + d_off))) +
                              ", expected fp16 of " + t.name + ".scale (" + std::to_string(gamma) +
                              ")");
                    if (t.type == GgmlType::TQ2_0) {
                        uint64_t bad = 0;
                        for (int w = 0; w < 8; w++) {
                            const uint64_t q = load<uint64_t>(blk + 8 * w);
                            bad |= q & (q >> 1) & 0x5555555555555555ull;  // code 3 = both bits
                        }
                        if (bad)
                            error("tensor " + t.name + ": block " + std::to_string(b) +
                                  " holds the invalid TQ2_0 code 3");
                    }
                }
                break;
            }
        }
    }
}

void GgufFile::validate_tokenizer() {
    const std::string model = get_string("tokenizer.ggml.model");
    if (model != "gpt2") error("key tokenizer.ggml.model = \"" + model + "\", expected \"gpt2\"");
    const std::string hf = get_string("tokenizer.huggingface.json");
    try {
        // Ids past vocab_size are rejected before the tokenizer sizes its tables by them.
        tok_ =
            Tokenizer::from_json(hf, path_ + ": key tokenizer.huggingface.json", cfg_.vocab_size);
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        error(std::string("key tokenizer.huggingface.json: ") + e.what());
    }
    const int32_t V = cfg_.vocab_size;
    if (tok_.vocab_size() > V)
        error("key tokenizer.huggingface.json: the tokenizer has " +
              std::to_string(tok_.vocab_size()) + " tokens, more than vocab_size " +
              std::to_string(V));
    const Value& tv = value("tokenizer.ggml.tokens");
    if (tv.type != ValueType::ARRAY || tv.elem_type != ValueType::STRING || tv.count != uint64_t(V))
        error("key tokenizer.ggml.tokens must be an array of vocab_size = " + std::to_string(V) +
              " strings");
    const std::vector<std::string> tokens = get_strings("tokenizer.ggml.tokens");
    const std::vector<int64_t> types = get_ints("tokenizer.ggml.token_type");
    if (types.size() != size_t(V))
        error("key tokenizer.ggml.token_type has " + std::to_string(types.size()) +
              " entries, expected vocab_size = " + std::to_string(V));
    for (int32_t id = 0; id < V; id++) {
        if (tokens[size_t(id)] != token_piece(tok_, id))
            error("key tokenizer.ggml.tokens[" + std::to_string(id) + "] = \"" +
                  tokens[size_t(id)] + "\" disagrees with tokenizer.huggingface.json (\"" +
                  token_piece(tok_, id) + "\")");
        if (types[size_t(id)] != token_type(tok_, id))
            error("key tokenizer.ggml.token_type[" + std::to_string(id) +
                  "] = " + std::to_string(types[size_t(id)]) + ", expected " +
                  std::to_string(token_type(tok_, id)));
    }
    if (get_strings("tokenizer.ggml.merges") !=
        hf_merges(hf, path_ + ": key tokenizer.huggingface.json"))
        error("key tokenizer.ggml.merges disagrees with tokenizer.huggingface.json");
    // The ids of the roles, whatever the tokens are called (a Hugging Face tokenizer's pad may
    // be <|padding|>).
    const SpecialIds sp = special_ids_of(tok_);
    auto check_id = [&](const char* key, int32_t want, const char* role) {
        const uint64_t got = get_uint(key);
        if (want < 0 || got != uint64_t(want))
            error(std::string("key ") + key + " = " + std::to_string(got) +
                  ", expected the id of the tokenizer's " + role + " token");
    };
    check_id("tokenizer.ggml.bos_token_id", sp.end_of_text, "<|endoftext|>");
    check_id("tokenizer.ggml.eos_token_id", sp.im_end, "<|im_end|>");
    check_id("tokenizer.ggml.padding_token_id", sp.pad, "padding");
    get_string("tokenizer.chat_template");
}

void GgufFile::release_pages(const uint8_t* p, size_t n) const {
    const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
    const uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
    const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
    const uintptr_t map_lo = reinterpret_cast<uintptr_t>(base_);
    if (!base_ || hi <= lo || lo < map_lo || hi > map_lo + size_) return;
    ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);  // advisory: errors ignored
}

size_t GgufFile::resident_bytes() const {
    if (!base_) return 0;
    const size_t page = size_t(::sysconf(_SC_PAGESIZE));
    std::ifstream smaps("/proc/self/smaps");
    if (smaps) {
        const uintptr_t start = reinterpret_cast<uintptr_t>(base_);
        std::string line;
        bool in_mapping = false;
        size_t rss_kb = 0;
        bool found = false;
        while (std::getline(smaps, line)) {
            // A mapping header: "start-end perms offset dev inode path".
            unsigned long lo = 0, hi = 0;
            char perms[8];
            if (std::sscanf(line.c_str(), "%lx-%lx %7s", &lo, &hi, perms) == 3) {
                in_mapping = lo >= start && hi <= start + align_up(size_, page);
                continue;
            }
            if (in_mapping && line.rfind("Rss:", 0) == 0) {
                rss_kb += std::stoull(line.substr(4));
                found = true;
            }
        }
        if (found) return rss_kb * 1024;
    }
    std::vector<unsigned char> vec((size_ + page - 1) / page);
    if (::mincore(const_cast<uint8_t*>(base_), size_, vec.data()) != 0) return 0;
    size_t n = 0;
    for (unsigned char v : vec) n += v & 1;
    return std::min(n * page, align_up(size_, page));
}

uint64_t GgufFile::touch_all() const {
    const size_t page = size_t(::sysconf(_SC_PAGESIZE));
    uint64_t sum = 0;
    for (const Tensor& t : tensors_) {
        for (size_t i = 0; i < t.nbytes; i += page) sum += t.data[i];
        if (t.nbytes) sum += t.data[t.nbytes - 1];
    }
    return sum;
}

// ---- chat template -----------------------------------------------------------------------------

const std::string& nanoprime_chat_template() {
    // ChatML with thinking as DESIGN §3 and Qwen3: an assistant turn is always rendered with its
    // think block (empty for a direct answer), reasoning and answer trimmed as data/chat.cpp does.
    // enable_thinking=false prefills the empty block after the generation prompt.
    static const std::string t =
        "{%- for message in messages -%}\n"
        "{{- '<|im_start|>' + message['role'] + '\\n' -}}\n"
        "{%- if message['role'] == 'assistant' -%}\n"
        "{%- set content = message['content'] -%}\n"
        "{%- if '</think>' in content -%}\n"
        "{%- set reasoning = content.split('</think>')[0].split('<think>')[-1].strip() -%}\n"
        "{%- set answer = content.split('</think>')[-1].strip() -%}\n"
        "{%- else -%}\n"
        "{%- set reasoning = '' -%}\n"
        "{%- set answer = content.strip() -%}\n"
        "{%- endif -%}\n"
        "{{- '<think>\\n' + reasoning + '\\n</think>\\n\\n' + answer -}}\n"
        "{%- else -%}\n"
        "{{- message['content'] -}}\n"
        "{%- endif -%}\n"
        "{{- '<|im_end|>\\n' -}}\n"
        "{%- endfor -%}\n"
        "{%- if add_generation_prompt -%}\n"
        "{{- '<|im_start|>assistant\\n' -}}\n"
        "{%- if enable_thinking is defined and enable_thinking is false -%}\n"
        "{{- '<think>\\n\\n</think>\\n\\n' -}}\n"
        "{%- endif -%}\n"
        "{%- endif -%}\n";
    return t;
}

}  // namespace np::gguf
