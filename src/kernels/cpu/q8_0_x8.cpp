#include "kernels/cpu/q8_0_x8.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "core/error.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/prefetch.h"
#include "kernels/cpu/q8_0.h"
#include "kernels/cpu/row_shares.h"

#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#include <immintrin.h>
#define NP_Q8X8_AVX2 1
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define NP_Q8X8_VNNI 1
#endif
#endif

namespace np::kern {

Q8_0x8Matrix Q8_0x8Matrix::repack(const DenseView& W) {
    if (W.type != DenseType::Q8_0 || W.cols % kQ8Block != 0)
        fail("Q8_0x8Matrix: expected a Q8_0 matrix with a multiple of 32 columns");
    Q8_0x8Matrix m;
    m.rows_ = W.rows;
    m.cols_ = W.cols;
    const int nb = W.cols / kQ8Block, groups = (W.rows + 7) / 8;
    m.blocks_.assign(size_t(groups) * nb, BlockQ8_0x8{});
#pragma omp parallel for schedule(static)
    for (int g = 0; g < groups; g++)
        for (int r = 0; r < 8 && 8 * g + r < W.rows; r++) {
            const auto* src =
                reinterpret_cast<const BlockQ8_0*>(W.data + size_t(8 * g + r) * W.row_bytes());
            for (int k = 0; k < nb; k++) {
                BlockQ8_0x8& b = m.blocks_[size_t(g) * nb + k];
                b.d[r] = src[k].d;
                for (int c = 0; c < 8; c++)
                    std::memcpy(b.qs + 32 * c + 4 * r, src[k].qs + 4 * c, 4);
            }
        }
    return m;
}

void Q8_0x8Matrix::dequantize_row(float* out, int r) const {
    if (r < 0 || r >= rows_) fail("Q8_0x8Matrix: row " + std::to_string(r) + " out of range");
    const BlockQ8_0x8* grp = group(r / 8);
    const int lane = r % 8;
    for (int k = 0; k < blocks_per_row(); k++) {
        const float d = fp16_to_fp32(grp[k].d[lane]);
        for (int c = 0; c < 8; c++)
            for (int j = 0; j < 4; j++)
                out[32 * k + 4 * c + j] = float(grp[k].qs[32 * c + 4 * lane + j]) * d;
    }
}

namespace {

// Row r of group g (r < 8) into y, from x quantised to Q8_0 blocks.
float row_dot_reference(const BlockQ8_0x8* grp, int r, int nb, const BlockQ8_0* xq) {
    float s = 0;
    for (int k = 0; k < nb; k++) {
        int32_t bs = 0;
        for (int c = 0; c < 8; c++)
            for (int j = 0; j < 4; j++)
                bs += int32_t(grp[k].qs[32 * c + 4 * r + j]) * xq[k].qs[4 * c + j];
        s += fp16_to_fp32(grp[k].d[r]) * fp16_to_fp32(xq[k].d) * float(bs);
    }
    return s;
}

std::vector<BlockQ8_0>& quantized_x(const float* x, int cols) {
    thread_local std::vector<BlockQ8_0> xq;  // grows once, then reused
    xq.resize(size_t(cols / kQ8Block));
    quantize_row_q8_0(xq.data(), x, cols);
    return xq;
}

#if defined(NP_Q8X8_AVX2) && !defined(NP_Q8X8_VNNI)
// y[8g..8g+7]: lane r of every vector belongs to row r. Per block: 8 slices of 4 activations,
// each broadcast to the 8 rows; |w| x (x with w's sign) in int16 pairs (no saturation: |w|, |x|
// <= 127), widened to int32 and summed over the block; then one fp16->fp32 conversion of the 8
// scales and one FMA for the block.
void group_dot_avx2(float* y8, const BlockQ8_0x8* grp, int nb, const BlockQ8_0* xq,
                    const float* xd) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int k = 0; k < nb; k++) {
        const BlockQ8_0x8& b = grp[k];
        const char* ahead = reinterpret_cast<const char*>(&b) + kWeightPrefetchBytes;
        for (int l = 0; l < 272; l += 64) prefetch_weights(ahead + l);
        __m256i s = _mm256_setzero_si256();
        for (int c = 0; c < 8; c++) {
            const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * c));
            int32_t x4;
            std::memcpy(&x4, xq[k].qs + 4 * c, 4);
            const __m256i xv = _mm256_set1_epi32(x4);
            const __m256i pairs =
                _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xv, w));
            s = _mm256_add_epi32(s, _mm256_madd_epi16(pairs, ones));
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.d)));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k])), _mm256_cvtepi32_ps(s), acc);
    }
    _mm256_storeu_ps(y8, acc);
}

#endif

#ifdef NP_Q8X8_VNNI
// The same int32 block sums with vpdpbusd, which multiplies unsigned by signed bytes: w ^ 0x80 is
// w + 128 as an unsigned byte, so the sum is x·w + 128·Σx, and the block's 128·Σx (the same for
// the 8 rows, xsum128) is taken back out by starting the sum at its negative. One instruction
// per 4-byte slice instead of sign, sign, maddubs, madd and add. NT vectors at once: a block's
// weights are loaded once for all of them, and each vector's block sum runs as two chains (even
// and odd slices), so the multiply-adds do not wait on each other's latency. Integer sums are
// exact in any order: every vector gets the bits of its one-vector product.
template <int NT>
void group_dot_vnni(float* const* y8, const BlockQ8_0x8* grp, int nb, const BlockQ8_0* const* xq,
                    const float* const* xd, const int32_t* const* xsum128) {
    const __m256i flip = _mm256_set1_epi8(char(0x80));
    __m256 acc[NT];
    for (auto& a : acc) a = _mm256_setzero_ps();
    for (int k = 0; k < nb; k++) {
        const BlockQ8_0x8& b = grp[k];
        const char* ahead = reinterpret_cast<const char*>(&b) + kWeightPrefetchBytes;
        for (int l = 0; l < 272; l += 64) prefetch_weights(ahead + l);
        __m256i w[8];
        for (int c = 0; c < 8; c++)
            w[c] = _mm256_xor_si256(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * c)), flip);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.d)));
        for (int t = 0; t < NT; t++) {
            __m256i s0 = _mm256_set1_epi32(-xsum128[t][k]), s1 = _mm256_setzero_si256();
            for (int c = 0; c < 8; c += 2) {
                int32_t x0, x1;
                std::memcpy(&x0, xq[t][k].qs + 4 * c, 4);
                std::memcpy(&x1, xq[t][k].qs + 4 * c + 4, 4);
                s0 = _mm256_dpbusd_epi32(s0, w[c], _mm256_set1_epi32(x0));
                s1 = _mm256_dpbusd_epi32(s1, w[c + 1], _mm256_set1_epi32(x1));
            }
            const __m256i s = _mm256_add_epi32(s0, s1);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[t][k])),
                                     _mm256_cvtepi32_ps(s), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) _mm256_storeu_ps(y8[t], acc[t]);
}
#endif

}  // namespace

bool q8_0x8_has_simd() {
#ifdef NP_Q8X8_AVX2
    return true;
#else
    return false;
#endif
}

void q8_0x8_matvec_reference(float* y, const Q8_0x8Matrix& W, const float* x) {
    const std::vector<BlockQ8_0>& xq = quantized_x(x, W.cols());
    for (int o = 0; o < W.rows(); o++)
        y[o] = row_dot_reference(W.group(o / 8), o % 8, W.blocks_per_row(), xq.data());
}

void q8_0x8_matvec(float* y, const Q8_0x8Matrix& W, const float* x) {
    float* const ys[1] = {y};
    q8_0x8_matmat(ys, W, x);
}

void q8_0x8_matmat(std::span<float* const> ys, const Q8_0x8Matrix& W, const float* x) {
    const size_t n = ys.size();
#ifdef NP_Q8X8_AVX2
    const int nb = W.blocks_per_row(), full = W.rows() / 8;
    // x quantised to Q8_0 [n, nb] and its block scales as floats, in buffers that grow once.
    thread_local std::vector<BlockQ8_0> xq_buf;
    thread_local std::vector<float> xd_buf;
    thread_local std::vector<int32_t> xs_buf;  // 128 x the sum of each block (the VNNI body)
    xq_buf.resize(n * size_t(nb));
    xd_buf.resize(n * size_t(nb));
    xs_buf.resize(n * size_t(nb));
    for (size_t i = 0; i < n; i++) {
        quantize_row_q8_0(xq_buf.data() + i * size_t(nb), x + i * size_t(W.cols()), W.cols());
        for (size_t k = i * size_t(nb); k < (i + 1) * size_t(nb); k++) {
            xd_buf[k] = fp16_to_fp32(xq_buf[k].d);
#ifdef NP_Q8X8_VNNI
            int32_t sum = 0;
            for (int8_t q : xq_buf[k].qs) sum += q;
            xs_buf[k] = 128 * sum;
#endif
        }
    }
    // Plain pointers into this thread's buffers: inside the parallel region a thread_local name
    // would denote each worker's own (empty) instance.
    const BlockQ8_0* xqp = xq_buf.data();
    const float* xd = xd_buf.data();
    const int32_t* xs = xs_buf.data();
    float* const* y = ys.data();
    // Rows 8g.. of vectors i..i+m-1 (m <= kPass) into out[0..m): the VNNI body where the CPU has
    // it (the m vectors in one pass over the group), the same sums either way.
    constexpr size_t kPass = 4;
    auto group_dots = [&](float* const* out, int g, size_t i, size_t m) {
#ifdef NP_Q8X8_VNNI
        const BlockQ8_0* xqs[kPass];
        const float* xds[kPass];
        const int32_t* xss[kPass];
        for (size_t t = 0; t < m; t++) {
            const size_t o = (i + t) * size_t(nb);
            xqs[t] = xqp + o, xds[t] = xd + o, xss[t] = xs + o;
        }
        constexpr std::array<decltype(&group_dot_vnni<1>), kPass> pass{
            group_dot_vnni<1>, group_dot_vnni<2>, group_dot_vnni<3>, group_dot_vnni<4>};
        pass[m - 1](out, W.group(g), nb, xqs, xds, xss);
#else
        (void)xs;
        for (size_t t = 0; t < m; t++) {
            const size_t o = (i + t) * size_t(nb);
            group_dot_avx2(out[t], W.group(g), nb, xqp + o, xd + o);
        }
#endif
    };
    // Groups shared out as the ternary products share rows (row_shares.h); a group stays in the
    // cache while it meets the n vectors.
    parallel_for_shared_rows(full, W.bytes() > (size_t(1) << 17), 1, 1, [&](int b, int e) {
        float* out[kPass];
        for (int g = b; g < e; g++)
            for (size_t i = 0; i < n; i += kPass) {
                const size_t m = std::min(kPass, n - i);
                for (size_t t = 0; t < m; t++) out[t] = y[i + t] + 8 * g;
                group_dots(out, g, i, m);
            }
    });
    if (full * 8 < W.rows())  // the last, partial group
        for (size_t i = 0; i < n; i++) {
            float y8[8];
            float* out[1] = {y8};
            group_dots(out, full, i, 1);
            for (int o = full * 8; o < W.rows(); o++) y[i][o] = y8[o - full * 8];
        }
#else
    for (size_t i = 0; i < n; i++) q8_0x8_matvec_reference(ys[i], W, x + i * size_t(W.cols()));
#endif
}

}  // namespace np::kern
