// Full-precision matrices of the packed model (DESIGN §4.2): the embedding table and the output
// head, stored F32 (packed from a checkpoint), F16 or Q8_0 (from a GGUF file). Read one row
// (embedding lookup), and the head's product with one vector or with the vectors of a batched
// decode step (head logits), multi-threaded over rows and SIMD where the CPU has it (F16C + FMA);
// a scalar loop is the reference.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace np::kern {

enum class DenseType : uint8_t { F32, F16, Q8_0 };
const char* dense_type_name(DenseType t);

// Row-major [rows, cols], rows contiguous; Q8_0 rows are cols/32 blocks.
struct DenseView {
    DenseType type = DenseType::F32;
    int rows = 0, cols = 0;
    const uint8_t* data = nullptr;
    size_t row_bytes() const;
    size_t bytes() const { return row_bytes() * size_t(rows); }
};

// out[cols] = W[row, :] as fp32.
void dense_row(float* out, const DenseView& W, int row);
// y[rows] = W · x[cols]. For Q8_0 weights x is first quantised to Q8_0 blocks too and the
// products are integer block dots scaled by both block scales (ggml's q8_0 x q8_0 dot, what
// llama.cpp computes for a Q8_0 head): ~3x less arithmetic than dequantising every weight, which
// kept the head below the memory bandwidth; logits move by < 1% of their range (tested).
void dense_matvec(float* y, const DenseView& W, const float* x);
// The same product by the plain scalar loop (the reference for tests; the same Q8_0 semantics).
void dense_matvec_reference(float* y, const DenseView& W, const float* x);
// ys[i][rows] = W · x[i] for the n = ys.size() vectors x [n, cols] (batched decode: one head
// product for every sequence of a step). Each weight row is read from memory once and meets all n
// vectors from the cache; ys[i] equals dense_matvec of x[i] bit for bit.
void dense_matmat(std::span<float* const> ys, const DenseView& W, const float* x);

}  // namespace np::kern
