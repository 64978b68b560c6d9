#include "kernels/cpu/ternary_x16.h"

#include <cstring>
#include <vector>

#include "core/error.h"

namespace np::kern {

TernaryX16 TernaryX16::repack(const TernaryView& W) {
    if (W.format != TernaryFormat::TQ2_0) fail("TernaryX16::repack: the matrix is not TQ2_0");
    TernaryX16 m;
    m.groups_ = W.rows / kRows;
    m.cols_padded_ = W.nblocks() * kTernaryBlock;
    m.bytes_ = size_t(m.groups_) * kRows * size_t(m.cols_padded_) / 4;
    // 64-byte aligned: every vector of the layout is one cache line.
    m.data_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, std::max<size_t>(m.bytes_, 64))));
    if (!m.data_) fail("TernaryX16::repack: out of memory");
    std::memset(m.data_.get(), 0, m.bytes_);
    std::vector<uint8_t> codes(size_t(m.cols_padded_));
    const int chunks = m.cols_padded_ / 16;
    for (int o = 0; o < m.groups_ * kRows; o++) {
        const uint8_t* row = W.row(o);
        for (int b = 0; b < W.nblocks(); b++)
            unpack_block_codes_tq2(codes.data() + size_t(b) * kTernaryBlock,
                                   row + size_t(b) * sizeof(BlockTQ2_0));
        const int g = o / kRows, r = o % kRows;
        uint8_t* dst = m.data_.get() + size_t(g) * size_t(chunks) * 64;
        for (int k = 0; k < m.cols_padded_; k++) {
            const int c = k / 16, s = (k % 16) / 4, j = k % 4;
            dst[size_t(c) * 64 + size_t(4 * r + j)] |= uint8_t(codes[size_t(k)] << (2 * s));
        }
    }
    return m;
}

int TernaryX16::code(int r, int k) const {
    const int g = r / kRows, c = k / 16, s = (k % 16) / 4, j = k % 4;
    const uint8_t byte = data_.get()[(size_t(g) * size_t(cols_padded_ / 16) + size_t(c)) * 64 +
                                     size_t(4 * (r % kRows) + j)];
    return (byte >> (2 * s)) & 3;
}

}  // namespace np::kern
