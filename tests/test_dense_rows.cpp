// Full-precision matrices of the packed model (embedding rows, head logits): the SIMD product
// against the scalar reference for F32 / F16 / Q8_0, and Q8_0 (activations quantised to Q8_0, as
// ggml's q8_0 x q8_0 dot) against the float product of the dequantised weights.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/dense_rows.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/q8_0.h"
#include "kernels/cpu/q8_0_x8.h"

using namespace np::kern;

namespace {

struct DenseMatrix {
    std::vector<uint8_t> bytes;
    std::vector<float> dequantized;  // what dense_row must return, row-major
    DenseView view;
};

DenseMatrix make_matrix(DenseType type, int rows, int cols, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.f, 0.05f);
    std::vector<float> w(size_t(rows) * cols);
    for (auto& v : w) v = nd(rng);
    DenseMatrix m;
    m.view.type = type;
    m.view.rows = rows;
    m.view.cols = cols;
    m.bytes.resize(m.view.bytes());
    m.dequantized.resize(w.size());
    for (int r = 0; r < rows; r++) {
        const float* src = w.data() + size_t(r) * cols;
        uint8_t* dst = m.bytes.data() + size_t(r) * m.view.row_bytes();
        float* deq = m.dequantized.data() + size_t(r) * cols;
        switch (type) {
            case DenseType::F32:
                std::memcpy(dst, src, size_t(cols) * 4);
                std::copy(src, src + cols, deq);
                break;
            case DenseType::F16:
                for (int c = 0; c < cols; c++) {
                    const uint16_t h = fp32_to_fp16(src[c]);
                    std::memcpy(dst + 2 * c, &h, 2);
                    deq[c] = fp16_to_fp32(h);
                }
                break;
            case DenseType::Q8_0:
                quantize_row_q8_0(reinterpret_cast<BlockQ8_0*>(dst), src, cols);
                dequantize_row_q8_0(deq, reinterpret_cast<const BlockQ8_0*>(dst), cols);
                break;
        }
    }
    m.view.data = m.bytes.data();
    return m;
}

double rel_max_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double d = 0, m = 0;
    for (size_t i = 0; i < a.size(); i++) {
        d = std::max(d, double(std::fabs(a[i] - b[i])));
        m = std::max(m, double(std::fabs(b[i])));
    }
    return d / std::max(m, 1e-30);
}

}  // namespace

TEST(DenseRows, RowsAreTheDequantizedWeights) {
    std::mt19937 rng(1);
    for (DenseType t : {DenseType::F32, DenseType::F16, DenseType::Q8_0}) {
        const DenseMatrix m = make_matrix(t, 9, 96, rng);
        std::vector<float> row(96);
        for (int r = 0; r < 9; r++) {
            dense_row(row.data(), m.view, r);
            for (int c = 0; c < 96; c++)
                ASSERT_EQ(row[c], m.dequantized[size_t(r) * 96 + c]) << dense_type_name(t);
        }
    }
}

TEST(DenseRows, MatvecMatchesReferenceAtOneAndTwoThreads) {
    std::mt19937 rng(2);
    std::normal_distribution<float> nd(0.f, 1.f);
    const int keep = omp_get_max_threads();
    // 40 columns: not a multiple of 32, so F32/F16 take the scalar loop; 64 columns: Q8_0 takes it
    // (its SIMD body works on 4 blocks, multiples of 128); 4096 rows x 768: large enough for the
    // multi-threaded path.
    struct Shape {
        int rows, cols;
    };
    for (Shape s : {Shape{37, 64}, Shape{4096, 768}, Shape{5, 40}})
        for (DenseType t : {DenseType::F32, DenseType::F16, DenseType::Q8_0}) {
            if (t == DenseType::Q8_0 && s.cols % 32 != 0) continue;
            const DenseMatrix m = make_matrix(t, s.rows, s.cols, rng);
            std::vector<float> x(s.cols);
            for (auto& v : x) v = nd(rng);
            std::vector<float> ref(s.rows), y(s.rows);
            dense_matvec_reference(ref.data(), m.view, x.data());
            for (int threads : {1, 2}) {
                omp_set_num_threads(threads);
                dense_matvec(y.data(), m.view, x.data());
                // Same products, different float summation order (SIMD lanes).
                EXPECT_LT(rel_max_diff(y, ref), 2e-6)
                    << dense_type_name(t) << " " << s.rows << "x" << s.cols << " t" << threads;
            }
        }
    omp_set_num_threads(keep);
}

// Q8_0 quantises the activations too (8 bits per 32-block): logits move by well under 1% of their
// range against the float product of the same (dequantised) weights; F32/F16 are that product.
TEST(DenseRows, Q8ActivationQuantizationErrorIsSmall) {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.f, 1.f);
    const int rows = 2000, cols = 768;
    for (DenseType t : {DenseType::F32, DenseType::F16, DenseType::Q8_0}) {
        const DenseMatrix m = make_matrix(t, rows, cols, rng);
        std::vector<float> x(cols);
        for (auto& v : x) v = nd(rng);
        std::vector<float> exact(rows), y(rows);
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int c = 0; c < cols; c++) s += double(m.dequantized[size_t(r) * cols + c]) * x[c];
            exact[r] = float(s);
        }
        dense_matvec(y.data(), m.view, x.data());
        const double err = rel_max_diff(y, exact);
        if (t == DenseType::Q8_0) {
            EXPECT_LT(err, 1e-2);
            EXPECT_GT(err, 1e-6);  // it does quantise: not the float product
        } else {
            EXPECT_LT(err, 1e-5) << dense_type_name(t);
        }
    }
}

// The 8-row repacked Q8_0 head (kernels/cpu/q8_0_x8.h): its plain loop equals the row-layout
// reference, and its SIMD product matches both at 1 and 2 threads, for row counts with and
// without a partial last group of 8.
TEST(DenseRows, RepackedQ8MatchesRowLayout) {
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0.f, 1.f);
    const int keep = omp_get_max_threads();
    for (auto [rows, cols] : {std::pair{37, 64}, std::pair{4101, 768}, std::pair{8, 32}}) {
        const DenseMatrix m = make_matrix(DenseType::Q8_0, rows, cols, rng);
        const Q8_0x8Matrix p = Q8_0x8Matrix::repack(m.view);
        EXPECT_EQ(p.rows(), rows);
        EXPECT_EQ(p.bytes(), size_t((rows + 7) / 8) * 8 * m.view.row_bytes());
        std::vector<float> x(static_cast<size_t>(cols));
        for (auto& v : x) v = nd(rng);
        std::vector<float> want(static_cast<size_t>(rows)), ref(want.size()), got(want.size());
        dense_matvec_reference(want.data(), m.view, x.data());
        q8_0x8_matvec_reference(ref.data(), p, x.data());
        std::vector<float> row(static_cast<size_t>(cols)), want_row(row.size());
        for (int r : {0, rows / 2, rows - 1}) {
            p.dequantize_row(row.data(), r);
            dense_row(want_row.data(), m.view, r);
            EXPECT_EQ(row, want_row) << rows << "x" << cols << " row " << r;
        }
        EXPECT_THROW(p.dequantize_row(row.data(), rows), np::Error);
        for (int threads : {1, 2}) {
            omp_set_num_threads(threads);
            q8_0x8_matvec(got.data(), p, x.data());
            for (int o = 0; o < rows; o++) {
                const float tol = 1e-5f * (1 + std::fabs(want[size_t(o)]));
                EXPECT_NEAR(ref[size_t(o)], want[size_t(o)], tol)
                    << rows << "x" << cols << " " << o;
                EXPECT_NEAR(got[size_t(o)], want[size_t(o)], tol)
                    << rows << "x" << cols << " t" << threads << " " << o;
            }
        }
    }
    omp_set_num_threads(keep);
    const DenseMatrix f16 = make_matrix(DenseType::F16, 8, 32, rng);
    EXPECT_THROW(Q8_0x8Matrix::repack(f16.view), np::Error);
}

// The batched head products (one per decode step of many sequences): every output row equals the
// one-vector product bit for bit, for each storage type and the repacked Q8_0 layout, at 1 and 2
// threads, with 1, 3 and 9 vectors.
TEST(DenseRows, BatchedHeadEqualsOneVectorAtATime) {
    std::mt19937 rng(9);
    std::normal_distribution<float> nd(0.f, 1.f);
    const int keep = omp_get_max_threads();
    const int rows = 1037, cols = 256;
    for (DenseType t : {DenseType::F32, DenseType::F16, DenseType::Q8_0}) {
        const DenseMatrix m = make_matrix(t, rows, cols, rng);
        const bool repacked = t == DenseType::Q8_0;
        const Q8_0x8Matrix p = repacked ? Q8_0x8Matrix::repack(m.view) : Q8_0x8Matrix{};
        for (int n : {1, 3, 6, 9}) {
            std::vector<float> x(size_t(n) * cols);
            for (auto& v : x) v = nd(rng);
            for (int threads : {1, 2}) {
                omp_set_num_threads(threads);
                std::vector<std::vector<float>> got{size_t(n), std::vector<float>(size_t(rows))};
                std::vector<float*> ys;
                for (auto& g : got) ys.push_back(g.data());
                dense_matmat(ys, m.view, x.data());
                std::vector<float> one(rows);
                for (int i = 0; i < n; i++) {
                    dense_matvec(one.data(), m.view, x.data() + size_t(i) * cols);
                    EXPECT_EQ(got[size_t(i)], one) << dense_type_name(t) << " n" << n << " i" << i;
                }
                if (!repacked) continue;
                q8_0x8_matmat(ys, p, x.data());
                for (int i = 0; i < n; i++) {
                    q8_0x8_matvec(one.data(), p, x.data() + size_t(i) * cols);
                    EXPECT_EQ(got[size_t(i)], one) << "repacked n" << n << " i" << i;
                }
            }
        }
    }
    omp_set_num_threads(keep);
}
