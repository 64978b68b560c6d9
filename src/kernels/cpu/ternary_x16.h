// TQ2_0 rows repacked 16 at a time for the AVX-512 VNNI products (what llama.cpp's CPU "repack"
// buffers do for its quantised types). In TQ2_0 a 64-byte load holds 256 weights of one row, so a
// product over many tokens either sums every (row, token) pair horizontally at the end or
// transposes 16 rows' bytes before it can use them; both cost as much as the multiply-adds at a
// handful of tokens. Here a 64-byte vector holds 16 weights of each of 16 rows, arranged so that
// one shift and mask give a vector whose 32-bit lane r holds 4 consecutive codes of row r: one
// vpdpbusd against 4 activation bytes broadcast to every lane adds into 16 row sums at once, and
// the rows of a group are one sequential stream for the prefetchers.
//
// Layout: rows 16g..16g+15, weights 16c..16c+15 (c < cols_padded/16) are the 64 bytes at
// data() + (g * cols_padded/16 + c) * 64; byte 4r + j holds in bits 2s..2s+1 the code (q + 1, in
// {0,1,2}) of weight 16c + 4s + j of row 16g + r. Rows past the last full group are not repacked:
// the kernels read them from the TQ2_0 matrix. 2 bits per weight (TQ2_0's fp16 d is not needed:
// the kernels use the view's exact gamma).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "kernels/cpu/ternary_pack.h"

namespace np::kern {

class TernaryX16 {
public:
    static constexpr int kRows = 16;
    // W must be TQ2_0.
    static TernaryX16 repack(const TernaryView& W);
    int groups() const { return groups_; }  // full 16-row groups
    const uint8_t* data() const { return data_.get(); }
    size_t bytes() const { return bytes_; }
    // The code of weight k of row r (r < 16 * groups()), read back from the layout.
    int code(int r, int k) const;

private:
    struct Free {
        void operator()(uint8_t* p) const { std::free(p); }
    };
    std::unique_ptr<uint8_t, Free> data_;
    size_t bytes_ = 0;
    int groups_ = 0, cols_padded_ = 0;
};

}  // namespace np::kern
