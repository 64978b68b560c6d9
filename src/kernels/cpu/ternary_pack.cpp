#include "kernels/cpu/ternary_pack.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "kernels/bitnet_quant.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/saturate.h"

namespace np::kern {

namespace {

constexpr uint8_t kPow3[6] = {1, 3, 9, 27, 81, 243};

// 5 (or, for qh, 4 then a zero) codes, most significant first -> one ceil-scaled byte.
uint8_t pack_trits(const uint8_t* c, int n) {
    unsigned v = 0;
    for (int i = 0; i < n; i++) v = v * 3 + c[i];
    for (int i = n; i < 5; i++) v *= 3;
    return uint8_t((v * 256 + 242) / 243);
}
inline uint8_t trit(uint8_t byte, int n) {
    return uint8_t((unsigned(uint8_t(byte * kPow3[n])) * 3) >> 8);
}

// Codes of one padded row (q + 1), 256 per block, the padding code 1 (= weight 0).
void row_codes(uint8_t* codes, const int8_t* wq, int cols, int cols_padded, int row) {
    for (int j = 0; j < cols; j++) {
        const int8_t q = wq[j];
        if (q < -1 || q > 1)
            fail("pack_ternary: weight [" + std::to_string(row) + ", " + std::to_string(j) +
                 "] = " + std::to_string(int(q)) + ", expected -1, 0 or 1");
        codes[j] = uint8_t(q + 1);
    }
    std::memset(codes + cols, 1, size_t(cols_padded - cols));
}

void pack_block_tq2(uint8_t* out, const uint8_t* c, uint16_t d) {
    BlockTQ2_0 b;
    for (int j = 0; j < 2; j++)
        for (int m = 0; m < 32; m++) {
            uint8_t v = 0;
            for (int n = 0; n < 4; n++) v |= uint8_t(c[128 * j + 32 * n + m] << (2 * n));
            b.qs[32 * j + m] = v;
        }
    b.d = d;
    std::memcpy(out, &b, sizeof b);
}

void pack_block_tq1(uint8_t* out, const uint8_t* c, uint16_t d) {
    BlockTQ1_0 b;
    uint8_t t[5];
    for (int m = 0; m < 32; m++) {
        for (int n = 0; n < 5; n++) t[n] = c[32 * n + m];
        b.qs[m] = pack_trits(t, 5);
    }
    for (int m = 0; m < 16; m++) {
        for (int n = 0; n < 5; n++) t[n] = c[160 + 16 * n + m];
        b.qs[32 + m] = pack_trits(t, 5);
    }
    for (int j = 0; j < 4; j++) {
        for (int n = 0; n < 4; n++) t[n] = c[240 + 4 * n + j];
        b.qh[j] = pack_trits(t, 4);
    }
    b.d = d;
    std::memcpy(out, &b, sizeof b);
}

}  // namespace

size_t ternary_block_bytes(TernaryFormat f) {
    return f == TernaryFormat::TQ2_0 ? sizeof(BlockTQ2_0) : sizeof(BlockTQ1_0);
}
size_t ternary_row_bytes(TernaryFormat f, int cols) {
    return size_t(ternary_padded_cols(cols) / kTernaryBlock) * ternary_block_bytes(f);
}

float ternarize_weights(int8_t* wq, const float* W, int64_t n) {
    std::vector<float> tmp(static_cast<size_t>(n));
    const float gamma = quantize_weights_ternary(tmp.data(), W, n);
    // tmp holds clamp(q)*gamma; dividing by gamma gives q back exactly (+-gamma/gamma == 1).
    // Saturating: weights whose |sum| overflows make gamma inf and tmp NaN.
    for (int64_t i = 0; i < n; i++) wq[i] = saturate_int8(tmp[size_t(i)] / gamma);
    return gamma;
}

PackedTernary pack_ternary(TernaryFormat f, const int8_t* Wq, int rows, int cols, float gamma) {
    if (rows <= 0 || cols <= 0)
        fail("pack_ternary: shape [" + std::to_string(rows) + ", " + std::to_string(cols) +
             "] must be positive");
    if (!(gamma > 0.f) || !std::isfinite(gamma))
        fail("pack_ternary: gamma = " + std::to_string(gamma) + ", expected a finite value > 0");
    PackedTernary p;
    p.format = f;
    p.rows = rows;
    p.cols = cols;
    p.gamma = gamma;
    const TernaryView v{f, rows, cols, gamma, nullptr};
    const size_t rb = v.row_bytes(), bb = ternary_block_bytes(f);
    const int cp = ternary_padded_cols(cols), nb = v.nblocks();
    p.data.resize(rb * size_t(rows));
    const uint16_t d = fp32_to_fp16(gamma);
    std::vector<uint8_t> codes(static_cast<size_t>(cp));
    for (int o = 0; o < rows; o++) {
        row_codes(codes.data(), Wq + size_t(o) * cols, cols, cp, o);
        uint8_t* dst = p.data.data() + size_t(o) * rb;
        for (int b = 0; b < nb; b++) {
            if (f == TernaryFormat::TQ2_0)
                pack_block_tq2(dst + b * bb, codes.data() + b * kTernaryBlock, d);
            else
                pack_block_tq1(dst + b * bb, codes.data() + b * kTernaryBlock, d);
        }
    }
    return p;
}

PackedTernary pack_ternary_2bit(const int8_t* Wq, int rows, int cols, float gamma) {
    return pack_ternary(TernaryFormat::TQ2_0, Wq, rows, cols, gamma);
}
PackedTernary pack_ternary_1p6bit(const int8_t* Wq, int rows, int cols, float gamma) {
    return pack_ternary(TernaryFormat::TQ1_0, Wq, rows, cols, gamma);
}

void unpack_block_codes_tq2(uint8_t* codes, const uint8_t* block) {
    for (int j = 0; j < 2; j++)
        for (int n = 0; n < 4; n++)
            for (int m = 0; m < 32; m++)
                codes[128 * j + 32 * n + m] = (block[32 * j + m] >> (2 * n)) & 3;
}

void unpack_block_codes_tq1(uint8_t* codes, const uint8_t* block) {
    const uint8_t* qs = block;
    const uint8_t* qh = block + offsetof(BlockTQ1_0, qh);
    for (int n = 0; n < 5; n++)
        for (int m = 0; m < 32; m++) codes[32 * n + m] = trit(qs[m], n);
    for (int n = 0; n < 5; n++)
        for (int m = 0; m < 16; m++) codes[160 + 16 * n + m] = trit(qs[32 + m], n);
    for (int n = 0; n < 4; n++)
        for (int j = 0; j < 4; j++) codes[240 + 4 * n + j] = trit(qh[j], n);
}

void unpack_ternary(int8_t* Wq, const TernaryView& W) {
    const size_t bb = ternary_block_bytes(W.format);
    uint8_t codes[kTernaryBlock];
    for (int o = 0; o < W.rows; o++) {
        const uint8_t* row = W.row(o);
        for (int b = 0; b < W.nblocks(); b++) {
            if (W.format == TernaryFormat::TQ2_0)
                unpack_block_codes_tq2(codes, row + b * bb);
            else
                unpack_block_codes_tq1(codes, row + b * bb);
            const int j0 = b * kTernaryBlock, n = std::min(kTernaryBlock, W.cols - j0);
            for (int k = 0; k < n; k++) {
                if (codes[k] > 2)
                    fail("unpack_ternary: TQ2_0 row " + std::to_string(o) + " block " +
                         std::to_string(b) + " holds the invalid code 3");
                Wq[size_t(o) * W.cols + j0 + k] = int8_t(codes[k] - 1);
            }
        }
    }
}

}  // namespace np::kern
