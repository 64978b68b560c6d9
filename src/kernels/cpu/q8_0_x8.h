// A Q8_0 matrix repacked eight rows at a time for the decode matrix-vector product (the output
// head): what llama.cpp's CPU "repack" buffers do for its quantised types. In ggml's row layout
// every 32-weight block of every row pays its own sign fix-ups, int16->int32 widening,
// int->float conversion and fp16 scale conversions (~14 AVX2 instructions per 32 weights, ~0.2
// cycles/weight, as slow as the memory bus on a 2-core machine). Interleaving the same block of 8
// rows lets one broadcast 4-byte slice of x meet 8 rows at once, keeps the 8 row sums in the 8
// lanes of one int32 vector, and converts 8 scales with one instruction: about half the
// instructions per weight. Same bytes (34 per 32 weights), same arithmetic as dense_matvec's Q8_0
// path (x quantised to Q8_0, integer block dots, d_w * d_x per block).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cpu/dense_rows.h"

namespace np::kern {

// Block k of rows 8g..8g+7: their 8 fp16 scales, then their 32 int8 weights as 8 slices of 4
// bytes, slice-major: bytes 4c..4c+3 of row r at qs[32c + 4r].
struct BlockQ8_0x8 {
    uint16_t d[8];
    int8_t qs[256];
};
static_assert(sizeof(BlockQ8_0x8) == 272);

class Q8_0x8Matrix {
public:
    // W must be Q8_0; rows past the last 8-row group are zero padding.
    static Q8_0x8Matrix repack(const DenseView& W);
    int rows() const { return rows_; }
    int cols() const { return cols_; }
    int blocks_per_row() const { return cols_ / 32; }
    const BlockQ8_0x8* group(int g) const {
        return blocks_.data() + size_t(g) * size_t(blocks_per_row());
    }
    size_t bytes() const { return blocks_.size() * sizeof(BlockQ8_0x8); }
    // out[cols] = row r dequantised (an embedding lookup in a tied table), equal to dense_row on
    // the original matrix.
    void dequantize_row(float* out, int r) const;

private:
    int rows_ = 0, cols_ = 0;
    std::vector<BlockQ8_0x8> blocks_;  // [ceil(rows/8), cols/32]
};

// Whether q8_0x8_matvec has a SIMD body in this build (AVX2 + F16C + FMA); elsewhere callers keep
// the row layout, whose dense_matvec is multi-threaded (the repacked fallback is the plain loop).
bool q8_0x8_has_simd();

// y[rows] = W · x[cols], multi-threaded over 8-row groups.
void q8_0x8_matvec(float* y, const Q8_0x8Matrix& W, const float* x);
// ys[i][rows] = W · x[i] for the n = ys.size() vectors x [n, cols]: each 8-row group is read from
// memory once for all n (batched decode); ys[i] equals q8_0x8_matvec of x[i] bit for bit.
void q8_0x8_matmat(std::span<float* const> ys, const Q8_0x8Matrix& W, const float* x);
// The same by a plain loop over the repacked layout (the test reference; equals
// dense_matvec_reference on the original Q8_0 matrix up to float rounding).
void q8_0x8_matvec_reference(float* y, const Q8_0x8Matrix& W, const float* x);

}  // namespace np::kern
