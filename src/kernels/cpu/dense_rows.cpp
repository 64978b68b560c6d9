#include "kernels/cpu/dense_rows.h"

#include <omp.h>

#include <vector>

#include "core/error.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/prefetch.h"
#include "kernels/cpu/q8_0.h"
#include "kernels/cpu/row_shares.h"

#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#include <immintrin.h>
#define NP_DENSE_AVX2 1
#endif

namespace np::kern {

const char* dense_type_name(DenseType t) {
    switch (t) {
        case DenseType::F32:
            return "f32";
        case DenseType::F16:
            return "f16";
        case DenseType::Q8_0:
            return "q8_0";
    }
    return "?";
}

size_t DenseView::row_bytes() const {
    switch (type) {
        case DenseType::F32:
            return size_t(cols) * 4;
        case DenseType::F16:
            return size_t(cols) * 2;
        case DenseType::Q8_0:
            return size_t(cols / kQ8Block) * sizeof(BlockQ8_0);
    }
    return 0;
}

void dense_row(float* out, const DenseView& W, int row) {
    const uint8_t* p = W.data + size_t(row) * W.row_bytes();
    switch (W.type) {
        case DenseType::F32:
            for (int c = 0; c < W.cols; c++) out[c] = reinterpret_cast<const float*>(p)[c];
            break;
        case DenseType::F16:
            for (int c = 0; c < W.cols; c++)
                out[c] = fp16_to_fp32(reinterpret_cast<const uint16_t*>(p)[c]);
            break;
        case DenseType::Q8_0:
            dequantize_row_q8_0(out, reinterpret_cast<const BlockQ8_0*>(p), W.cols);
            break;
    }
}

namespace {

// xq: x quantised to Q8_0 blocks (used by Q8_0 rows only).
float dot_reference(const DenseView& W, const uint8_t* p, const float* x, const BlockQ8_0* xq) {
    float s = 0;
    switch (W.type) {
        case DenseType::F32:
            for (int c = 0; c < W.cols; c++) s += reinterpret_cast<const float*>(p)[c] * x[c];
            break;
        case DenseType::F16:
            for (int c = 0; c < W.cols; c++)
                s += fp16_to_fp32(reinterpret_cast<const uint16_t*>(p)[c]) * x[c];
            break;
        case DenseType::Q8_0: {
            const auto* b = reinterpret_cast<const BlockQ8_0*>(p);
            for (int k = 0; k < W.cols / kQ8Block; k++) {
                int32_t bs = 0;
                for (int j = 0; j < kQ8Block; j++) bs += int32_t(b[k].qs[j]) * xq[k].qs[j];
                s += fp16_to_fp32(b[k].d) * fp16_to_fp32(xq[k].d) * float(bs);
            }
            break;
        }
    }
    return s;
}

#ifdef NP_DENSE_AVX2
float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// acc + d_w * d_x * (w · x) for one Q8_0 block of weights and one of activations.
inline __m256 q8_block_fma(const BlockQ8_0& w, const BlockQ8_0& x, __m256 acc) {
    const __m256i wq = _mm256_loadu_si256((const __m256i*)w.qs);
    const __m256i xv = _mm256_loadu_si256((const __m256i*)x.qs);
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xv, wq));
    const __m256 dots = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
    return _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(w.d) * _cvtsh_ss(x.d)), dots, acc);
}

// A Q8_0 row whose cols are a multiple of 128 (every preset's d_model).
// ggml's q8_0 x q8_0 dot: |w| (unsigned) times x with w's sign, pair sums in int16 (|w|, |x| <=
// 127: no saturation), widened to int32, one float FMA per block. Four blocks per step, each into
// its own accumulator named at compile time: an index computed at run time (acc[k & 3]) keeps the
// accumulators on the stack and turns the loop into a store-to-load chain (~9 cycles per block
// instead of ~2).
float q8_dot_avx2(const uint8_t* p, int cols, const BlockQ8_0* xq) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    const auto* b = reinterpret_cast<const BlockQ8_0*>(p);
    for (int k = 0; k < cols / kQ8Block; k += 4)
        for (int u = 0; u < 4; u++) acc[u] = q8_block_fma(b[k + u], xq[k + u], acc[u]);
    return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

inline __m256 load8(const DenseView& W, const uint8_t* row, int c) {
    if (W.type == DenseType::F16)
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row) + c / 8));
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + c);
}

// An F32 / F16 row against vectors i0..i0+NV-1 of x [n, cols] (cols a multiple of 32). Every
// (row, vector) pair sums its products in the same order whatever NV: four 8-lane accumulators
// (the four 8-column chunks of each 32 columns), added pairwise, then summed across lanes; so a
// batch gives each vector what it gets alone, bit for bit. Each weight chunk is converted once and
// meets NV vectors; one row at a time keeps the weights a single sequential stream, and four
// accumulators per pair hide the FMA latency even for one vector.
template <int NV>
void float_row_avx2(float* const* y, int o, size_t i0, const DenseView& W, const float* x) {
    const uint8_t* row = W.data + size_t(o) * W.row_bytes();
    __m256 acc[NV][4];
    for (auto& a : acc)
        for (auto& v : a) v = _mm256_setzero_ps();
    for (int c = 0; c < W.cols; c += 32) {
        __m256 w[4];
        for (int j = 0; j < 4; j++) w[j] = load8(W, row, c + 8 * j);
        for (int v = 0; v < NV; v++) {
            const float* xv = x + (i0 + size_t(v)) * size_t(W.cols) + c;
            for (int j = 0; j < 4; j++)
                acc[v][j] = _mm256_fmadd_ps(w[j], _mm256_loadu_ps(xv + 8 * j), acc[v][j]);
        }
    }
    for (int v = 0; v < NV; v++)
        y[i0 + size_t(v)][o] = hsum(_mm256_add_ps(_mm256_add_ps(acc[v][0], acc[v][1]),
                                                  _mm256_add_ps(acc[v][2], acc[v][3])));
}

// Rows [b, e) against all n vectors, two vectors at a time.
void float_rows_avx2(float* const* y, size_t n, int b, int e, const DenseView& W, const float* x) {
    const size_t rb = W.row_bytes();
    for (int o = b; o < e; o++) {
        const uint8_t* p = W.data + size_t(o) * rb;
        for (size_t c = 0; c < rb; c += 64) prefetch_weights(p + kWeightPrefetchBytes + c);
        size_t i = 0;
        for (; i + 2 <= n; i += 2) float_row_avx2<2>(y, o, i, W, x);
        if (i < n) float_row_avx2<1>(y, o, i, W, x);
    }
}
#endif

// Q8_0 products quantise the n vectors of x to Q8_0 blocks first, once per call, into a buffer
// that grows once: [n, cols/32].
const BlockQ8_0* quantized_x(const DenseView& W, const float* x, size_t n = 1) {
    if (W.type != DenseType::Q8_0) return nullptr;
    thread_local std::vector<BlockQ8_0> xq;
    const size_t nb = size_t(W.cols / kQ8Block);
    xq.resize(n * nb);
    for (size_t i = 0; i < n; i++)
        quantize_row_q8_0(xq.data() + i * nb, x + i * size_t(W.cols), W.cols);
    return xq.data();
}

bool simd_cols(const DenseView& W) {
#ifdef NP_DENSE_AVX2
    return W.cols % (W.type == DenseType::Q8_0 ? 4 * kQ8Block : 32) == 0;
#else
    (void)W;
    return false;
#endif
}

}  // namespace

void dense_matvec_reference(float* y, const DenseView& W, const float* x) {
    const BlockQ8_0* xq = quantized_x(W, x);
    for (int o = 0; o < W.rows; o++)
        y[o] = dot_reference(W, W.data + size_t(o) * W.row_bytes(), x, xq);
}

void dense_matvec(float* y, const DenseView& W, const float* x) {
    float* const ys[1] = {y};
    dense_matmat(ys, W, x);
}

void dense_matmat(std::span<float* const> ys, const DenseView& W, const float* x) {
    const size_t rb = W.row_bytes(), n = ys.size(), nb = size_t(W.cols / kQ8Block);
    if (n == 0) return;
    const BlockQ8_0* xq = quantized_x(W, x, n);
    const bool simd = simd_cols(W);
    const int grain = std::max(1, int(4096 / rb));  // chunks of >= 4 KiB (row_shares.h)
    float* const* y = ys.data();
    parallel_for_shared_rows(W.rows, W.bytes() > (size_t(1) << 17), 1, grain, [&](int b, int e) {
#ifdef NP_DENSE_AVX2
        if (simd && W.type != DenseType::Q8_0) return float_rows_avx2(y, n, b, e, W, x);
#endif
        for (int o = b; o < e; o++) {
            const uint8_t* p = W.data + size_t(o) * rb;
            for (size_t c = 0; c < rb; c += 64) prefetch_weights(p + kWeightPrefetchBytes + c);
            for (size_t i = 0; i < n; i++) {
                const float* xi = x + i * size_t(W.cols);
                const BlockQ8_0* xqi = xq ? xq + i * nb : nullptr;
#ifdef NP_DENSE_AVX2
                y[i][o] = simd ? q8_dot_avx2(p, W.cols, xqi) : dot_reference(W, p, xi, xqi);
#else
                y[i][o] = dot_reference(W, p, xi, xqi);
#endif
            }
        }
    });
}

}  // namespace np::kern
