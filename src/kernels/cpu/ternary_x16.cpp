#include "kernels/cpu/ternary_x16.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace np::kern {

// Weight k = 128h + 32s' + m of a TQ2_0 block sits in bits 2s' of qs[32h + m]. The 16 weights
// 16u..16u+15 of a half (m in [16u, 16u+16)) are chunk c = 8h + 2s' + u of the block, and the
// lane of row r in that chunk is sum_i ((dword 4u+i of the half) >> 2s' & 0x03030303) << 2i:
// byte j of dword i holds weight 16c + 4i + j. A code is at most 2, so the shifts stay in
// their bytes.
TernaryX16 TernaryX16::repack(const TernaryView& W) {
    if (W.format != TernaryFormat::TQ2_0) fail("TernaryX16::repack: the matrix is not TQ2_0");
    TernaryX16 m;
    m.groups_ = W.rows / kRows;
    m.cols_padded_ = W.nblocks() * kTernaryBlock;
    m.bytes_ = size_t(m.groups_) * kRows * size_t(m.cols_padded_) / 4;
    // 64-byte aligned: every vector of the layout is one cache line.
    m.data_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, std::max<size_t>(m.bytes_, 64))));
    if (!m.data_) fail("TernaryX16::repack: out of memory");
    const int nb = W.nblocks(), chunks = m.cols_padded_ / 16;
    uint8_t* out = m.data_.get();
#pragma omp parallel for schedule(static) if (m.bytes_ >= (size_t(1) << 20))
    for (int g = 0; g < m.groups_; g++)
        for (int r = 0; r < kRows; r++) {
            const uint8_t* row = W.row(kRows * g + r);
            uint8_t* dst = out + size_t(g) * size_t(chunks) * 64 + 4 * size_t(r);
            for (int b = 0; b < nb; b++)
                for (int h = 0; h < 2; h++) {
                    uint32_t q[8];
                    std::memcpy(q, row + size_t(b) * sizeof(BlockTQ2_0) + 32 * h, 32);
                    for (int sh = 0; sh < 4; sh++)
                        for (int u = 0; u < 2; u++) {
                            uint32_t lane = 0;
                            for (int i = 0; i < 4; i++)
                                lane |= ((q[4 * u + i] >> (2 * sh)) & 0x03030303u) << (2 * i);
                            const int c = 16 * b + 8 * h + 2 * sh + u;
                            std::memcpy(dst + size_t(c) * 64, &lane, 4);
                        }
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
