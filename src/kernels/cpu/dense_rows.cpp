#include "kernels/cpu/dense_rows.h"

#include <omp.h>

#include "core/error.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/q8_0.h"

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

float dot_reference(const DenseView& W, const uint8_t* p, const float* x) {
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
                float bs = 0;
                for (int j = 0; j < kQ8Block; j++) bs += float(b[k].qs[j]) * x[k * kQ8Block + j];
                s += fp16_to_fp32(b[k].d) * bs;
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

// Rows whose cols are a multiple of 32 (every preset's d_model); others use the reference loop.
// Four independent accumulators per row: one FMA chain would be latency-bound (4 cycles per FMA)
// far below the memory bandwidth this product is limited by.
float dot_avx2(const DenseView& W, const uint8_t* p, const float* x) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    switch (W.type) {
        case DenseType::F32: {
            const float* w = reinterpret_cast<const float*>(p);
            for (int c = 0; c < W.cols; c += 32)
                for (int j = 0; j < 4; j++)
                    acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(w + c + 8 * j),
                                             _mm256_loadu_ps(x + c + 8 * j), acc[j]);
            break;
        }
        case DenseType::F16: {
            const uint16_t* w = reinterpret_cast<const uint16_t*>(p);
            for (int c = 0; c < W.cols; c += 32)
                for (int j = 0; j < 4; j++) {
                    const __m256 wj =
                        _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(w + c + 8 * j)));
                    acc[j] = _mm256_fmadd_ps(wj, _mm256_loadu_ps(x + c + 8 * j), acc[j]);
                }
            break;
        }
        case DenseType::Q8_0: {
            // The block scale multiplies the weights before the FMA so that the 4 lanes of a
            // block accumulate independently.
            const auto* b = reinterpret_cast<const BlockQ8_0*>(p);
            for (int k = 0; k < W.cols / kQ8Block; k++) {
                const float* xb = x + k * kQ8Block;
                const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[k].d));
                for (int j = 0; j < 4; j++) {
                    const __m256i q8 =
                        _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(b[k].qs + 8 * j)));
                    const __m256 wj = _mm256_mul_ps(_mm256_cvtepi32_ps(q8), d);
                    acc[j] = _mm256_fmadd_ps(wj, _mm256_loadu_ps(xb + 8 * j), acc[j]);
                }
            }
            break;
        }
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}
#endif

}  // namespace

void dense_matvec_reference(float* y, const DenseView& W, const float* x) {
    for (int o = 0; o < W.rows; o++) y[o] = dot_reference(W, W.data + size_t(o) * W.row_bytes(), x);
}

void dense_matvec(float* y, const DenseView& W, const float* x) {
    const size_t rb = W.row_bytes();
#ifdef NP_DENSE_AVX2
    const bool simd = W.cols % 32 == 0;
#else
    const bool simd = false;
#endif
#pragma omp parallel for schedule(static) if (W.bytes() > (size_t(1) << 17))
    for (int o = 0; o < W.rows; o++) {
        const uint8_t* p = W.data + size_t(o) * rb;
#ifdef NP_DENSE_AVX2
        y[o] = simd ? dot_avx2(W, p, x) : dot_reference(W, p, x);
#else
        (void)simd;
        y[o] = dot_reference(W, p, x);
#endif
    }
}

}  // namespace np::kern
