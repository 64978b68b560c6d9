// Token shards (DESIGN §4.3). Layout, all little-endian:
//   0  char[4] magic "NPTS"
//   4  u32 version (1)
//   8  u32 token width in bytes (2 or 4)
//   12 u32 flags (bit 0: a loss mask follows the ids)
//   16 u64 token count n
//   24 u32 vocab size (0 = not recorded; otherwise every id is < it)
//   28 u32 reserved (0)
//   32 u64 FNV-1a 64 of the payload (ids then mask bytes)
//   40 ids: n * width bytes
//   .. mask: ceil(n / 8) bytes, bit j%8 of byte j/8 (LSB first) = 1 when token j counts as a
//      target (predicted from position j-1). Without the mask every token counts.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace np::data {

inline constexpr uint32_t kShardVersion = 1;
inline constexpr size_t kShardHeaderBytes = 40;
inline constexpr uint32_t kShardFlagMask = 1u;

// Writes one shard atomically (temp file + fsync + rename). mask is empty (all tokens count) or
// has ids.size() entries of 0/1. width 0 picks 2 bytes when vocab_size <= 65536, else 4.
void write_shard(const std::string& path, std::span<const int32_t> ids,
                 std::span<const uint8_t> mask, uint32_t vocab_size, uint32_t width = 0);

// Read-only, memory-mapped shard. Opening validates the header, the exact file size and (unless
// verify is false) the checksum and the id range; every failure is an np::Error naming the file.
class ShardReader {
public:
    explicit ShardReader(const std::string& path, bool verify = true);
    ~ShardReader();
    ShardReader(ShardReader&& o) noexcept;
    ShardReader& operator=(ShardReader&& o) noexcept;
    ShardReader(const ShardReader&) = delete;
    ShardReader& operator=(const ShardReader&) = delete;

    uint64_t size() const { return count_; }
    uint32_t width() const { return width_; }
    uint32_t vocab_size() const { return vocab_; }
    bool has_mask() const { return has_mask_; }
    const std::string& path() const { return path_; }
    int32_t token(uint64_t i) const;
    uint8_t mask(uint64_t i) const;
    // Copies tokens [start, start + ids.size()) and their mask values (mask may be empty).
    void read(uint64_t start, std::span<int32_t> ids, std::span<uint8_t> mask) const;

private:
    void unmap();
    std::string path_;
    const uint8_t* base_ = nullptr;
    size_t bytes_ = 0;
    uint64_t count_ = 0;
    uint32_t width_ = 0, vocab_ = 0;
    bool has_mask_ = false;
    const uint8_t* ids_ = nullptr;
    const uint8_t* mask_ = nullptr;
};

uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull);

}  // namespace np::data
