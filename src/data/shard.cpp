#include "data/shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.h"
#include "core/file_io.h"

static_assert(std::endian::native == std::endian::little,
              "shards are read by direct mapping on LE");

namespace np::data {

uint64_t fnv1a64(const void* data, size_t n, uint64_t h) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

namespace {

template <class T>
void put(std::vector<uint8_t>& b, size_t off, T v) {
    std::memcpy(b.data() + off, &v, sizeof(T));
}
template <class T>
T get(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

}  // namespace

void write_shard(const std::string& path, std::span<const int32_t> ids,
                 std::span<const uint8_t> mask, uint32_t vocab_size, uint32_t width) {
    if (width == 0) width = vocab_size != 0 && vocab_size <= 65536 ? 2 : 4;
    if (width != 2 && width != 4)
        fail(path + ": token width must be 2 or 4, got " + std::to_string(width));
    if (!mask.empty() && mask.size() != ids.size())
        fail(path + ": mask has " + std::to_string(mask.size()) + " entries for " +
             std::to_string(ids.size()) + " tokens");
    const uint64_t limit = width == 2 ? 65536u : (vocab_size ? vocab_size : 0x80000000u);
    std::vector<uint8_t> payload(ids.size() * width + (mask.empty() ? 0 : (ids.size() + 7) / 8));
    for (size_t i = 0; i < ids.size(); ++i) {
        int32_t t = ids[i];
        if (t < 0 || uint64_t(t) >= limit || (vocab_size && uint32_t(t) >= vocab_size))
            fail(path + ": token " + std::to_string(i) + " has id " + std::to_string(t) +
                 " outside the vocabulary of " + std::to_string(vocab_size) + " / width " +
                 std::to_string(width));
        if (width == 2) {
            uint16_t v = uint16_t(t);
            std::memcpy(&payload[i * 2], &v, 2);
        } else {
            std::memcpy(&payload[i * 4], &t, 4);
        }
    }
    if (!mask.empty()) {
        uint8_t* m = payload.data() + ids.size() * width;
        for (size_t i = 0; i < mask.size(); ++i)
            if (mask[i]) m[i >> 3] |= uint8_t(1u << (i & 7));
    }
    std::vector<uint8_t> header(kShardHeaderBytes, 0);
    std::memcpy(header.data(), "NPTS", 4);
    put<uint32_t>(header, 4, kShardVersion);
    put<uint32_t>(header, 8, width);
    put<uint32_t>(header, 12, mask.empty() ? 0u : kShardFlagMask);
    put<uint64_t>(header, 16, ids.size());
    put<uint32_t>(header, 24, vocab_size);
    put<uint64_t>(header, 32, fnv1a64(payload.data(), payload.size()));

    auto chars = [](const std::vector<uint8_t>& v) {
        return std::span<const char>(reinterpret_cast<const char*>(v.data()), v.size());
    };
    write_file_atomic(path, {chars(header), chars(payload)});
}

ShardReader::ShardReader(const std::string& path, bool verify) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) fail(path + ": cannot open shard (" + std::strerror(errno) + ")");
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        ::close(fd);
        fail(path + ": cannot stat shard");
    }
    bytes_ = size_t(st.st_size);
    if (bytes_ < kShardHeaderBytes) {
        ::close(fd);
        fail(path + ": not a token shard (" + std::to_string(bytes_) + " bytes, header needs " +
             std::to_string(kShardHeaderBytes) + ")");
    }
    void* p = ::mmap(nullptr, bytes_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) fail(path + ": mmap failed (" + std::strerror(errno) + ")");
    base_ = static_cast<const uint8_t*>(p);
    try {
        if (std::memcmp(base_, "NPTS", 4) != 0) fail(path + ": bad magic, expected \"NPTS\"");
        uint32_t version = get<uint32_t>(base_ + 4);
        if (version != kShardVersion)
            fail(path + ": unsupported shard version " + std::to_string(version) + " (expected " +
                 std::to_string(kShardVersion) + ")");
        width_ = get<uint32_t>(base_ + 8);
        if (width_ != 2 && width_ != 4)
            fail(path + ": token width " + std::to_string(width_) + ", expected 2 or 4");
        uint32_t flags = get<uint32_t>(base_ + 12);
        if (flags & ~kShardFlagMask) fail(path + ": unknown flag bits " + std::to_string(flags));
        has_mask_ = flags & kShardFlagMask;
        count_ = get<uint64_t>(base_ + 16);
        vocab_ = get<uint32_t>(base_ + 24);
        if (count_ > (uint64_t(1) << 40))
            fail(path + ": implausible token count " + std::to_string(count_));
        uint64_t payload = count_ * width_ + (has_mask_ ? (count_ + 7) / 8 : 0);
        if (kShardHeaderBytes + payload != bytes_)
            fail(path + ": file has " + std::to_string(bytes_) + " bytes but the header (" +
                 std::to_string(count_) + " tokens of " + std::to_string(width_) +
                 " bytes) needs " + std::to_string(kShardHeaderBytes + payload) + " (truncated?)");
        ids_ = base_ + kShardHeaderBytes;
        mask_ = has_mask_ ? ids_ + count_ * width_ : nullptr;
        if (verify) {
            uint64_t sum = fnv1a64(ids_, payload);
            if (sum != get<uint64_t>(base_ + 32))
                fail(path + ": checksum mismatch (corrupt shard)");
            // Ids are signed: a 4-byte id of 2^31 or more reads as negative, which no writer
            // produces and no embedding lookup survives, recorded vocabulary or not.
            for (uint64_t i = 0; i < count_; ++i)
                if (token(i) < 0 || (vocab_ && uint32_t(token(i)) >= vocab_))
                    fail(path + ": token " + std::to_string(i) + " has id " +
                         std::to_string(token(i)) + ", outside [0, " +
                         (vocab_ ? "vocab size " + std::to_string(vocab_) : std::string("2^31")) +
                         ")");
        }
    } catch (...) {
        unmap();
        throw;
    }
}

ShardReader::~ShardReader() {
    unmap();
}

void ShardReader::unmap() {
    if (base_) ::munmap(const_cast<uint8_t*>(base_), bytes_);
    base_ = nullptr;
}

ShardReader::ShardReader(ShardReader&& o) noexcept {
    *this = std::move(o);
}

ShardReader& ShardReader::operator=(ShardReader&& o) noexcept {
    if (this != &o) {
        unmap();
        path_ = std::move(o.path_);
        base_ = std::exchange(o.base_, nullptr);
        bytes_ = o.bytes_;
        count_ = o.count_;
        width_ = o.width_;
        vocab_ = o.vocab_;
        has_mask_ = o.has_mask_;
        ids_ = o.ids_;
        mask_ = o.mask_;
    }
    return *this;
}

int32_t ShardReader::token(uint64_t i) const {
    if (width_ == 2) return int32_t(get<uint16_t>(ids_ + i * 2));
    return get<int32_t>(ids_ + i * 4);
}

uint8_t ShardReader::mask(uint64_t i) const {
    if (!has_mask_) return 1;
    return (mask_[i >> 3] >> (i & 7)) & 1u;
}

void ShardReader::read(uint64_t start, std::span<int32_t> ids, std::span<uint8_t> mask) const {
    if (start > count_ || ids.size() > count_ - start)  // start + size could wrap
        fail(path_ + ": read of " + std::to_string(ids.size()) + " tokens from " +
             std::to_string(start) + " runs past the end (" + std::to_string(count_) + ")");
    for (size_t j = 0; j < ids.size(); ++j) ids[j] = token(start + j);
    if (!mask.empty())
        for (size_t j = 0; j < ids.size(); ++j) mask[j] = this->mask(start + j);
}

}  // namespace np::data
