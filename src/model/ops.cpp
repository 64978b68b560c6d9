#include "model/ops.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/vec_ops.h"

namespace np {

template <>
void gemm<float>(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}
template <>
void gemm<double>(bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda,
                  const double* B, int ldb, double beta, double* C, int ldc) {
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <class T>
void linear_forward(T* y, const T* x, const T* W, int R, int I, int O, bool accumulate) {
    gemm<T>(false, true, R, O, I, T(1), x, I, W, I, accumulate ? T(1) : T(0), y, O);
}

template <class T>
void linear_backward(T* dx, T* dW, const T* dy, const T* x, const T* W, int R, int I, int O) {
    if (dx) gemm<T>(false, false, R, I, O, T(1), dy, O, W, I, T(1), dx, I);  // [R,O]·[O,I]
    if (dW) gemm<T>(true, false, O, I, R, T(1), dy, O, x, I, T(1), dW, I);   // [O,R]·[R,I]
}

template <class T>
void rmsnorm_forward(T* y, T* rstd, const T* x, const T* w, int R, int C, T eps) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        // In float: the decode step's row kernel (AVX2 sum of squares; the plain loop below is a
        // scalar chain GCC may not vectorise without reordering the sum).
        if constexpr (std::is_same_v<T, float>) {
            rstd[r] = kern::rmsnorm_row(y + size_t(r) * C, x + size_t(r) * C, w, C, eps);
            continue;
        }
        const T* xr = x + size_t(r) * C;
        T* yr = y + size_t(r) * C;
        T ss = 0;
        for (int c = 0; c < C; c++) ss += xr[c] * xr[c];
        T rs = T(1) / std::sqrt(ss / T(C) + eps);
        rstd[r] = rs;
        for (int c = 0; c < C; c++) yr[c] = xr[c] * rs * w[c];
    }
}

// y = x*rs*w with rs = (mean(x^2)+eps)^-1/2:
//   dw_c += dy_c * x_c * rs;   dx_c += rs*w_c*dy_c - x_c * rs^3/C * sum_k(dy_k w_k x_k)
template <class T>
void rmsnorm_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int R,
                      int C) {
    // dw partials per thread, summed afterwards in thread order: the result must not depend on
    // which thread finishes first (bit-exact resume at any thread count).
    const int nt = omp_get_max_threads();
    std::vector<T> partial(dw ? size_t(nt) * C : 0, T(0));
#pragma omp parallel num_threads(nt)
    {
        T* dw_local = dw ? partial.data() + size_t(omp_get_thread_num()) * C : nullptr;
#pragma omp for schedule(static)
        for (int r = 0; r < R; r++) {
            const T* xr = x + size_t(r) * C;
            const T* dyr = dy + size_t(r) * C;
            T rs = rstd[r];
            T dot = 0;
            for (int c = 0; c < C; c++) dot += dyr[c] * w[c] * xr[c];
            if (dx) {
                T* dxr = dx + size_t(r) * C;
                T k = dot * rs * rs * rs / T(C);
                for (int c = 0; c < C; c++) dxr[c] += rs * w[c] * dyr[c] - xr[c] * k;
            }
            if (dw)
                for (int c = 0; c < C; c++) dw_local[c] += dyr[c] * xr[c] * rs;
        }
    }
    if (dw)
        for (int t = 0; t < nt; t++)
            for (int c = 0; c < C; c++) dw[c] += partial[size_t(t) * C + c];
}

template <class T>
void bitlinear_forward_xhat(T* y, T* wq, const T* xhat, const T* W, int R, int I, int O,
                            bool quantize) {
    if (quantize)
        quantize_weights_ternary(wq, W, int64_t(O) * I);
    else
        std::memcpy(wq, W, sizeof(T) * size_t(O) * I);
    linear_forward(y, xhat, wq, R, I, O);
}

template <class T>
void bitlinear_forward(T* y, T* xhat, T* wq, const T* x, const T* W, int R, int I, int O,
                       bool quantize) {
    if (quantize)
        quantize_activations_int8(xhat, x, R, I);
    else
        std::memcpy(xhat, x, sizeof(T) * size_t(R) * I);
    bitlinear_forward_xhat(y, wq, xhat, W, R, I, O, quantize);
}

SeqLayout make_seq_layout(const int32_t* tokens, int B, int T) {
    SeqLayout L;
    L.B = B, L.T = T;
    L.doc_start.resize(size_t(B) * T);
    L.pos.resize(size_t(B) * T);
    for (int b = 0; b < B; b++) {
        int p = 0;
        for (int t = 0; t < T; t++) {
            size_t i = size_t(b) * T + t;
            bool start = (t == 0) || tokens[i] == 0;
            if (start) p = 0;
            L.doc_start[i] = start;
            L.pos[i] = p++;
        }
    }
    return L;
}

template <class T>
void embedding_forward(T* x, const int32_t* tokens, const T* E, int R, int D) {
    for (int r = 0; r < R; r++)
        std::memcpy(x + size_t(r) * D, E + size_t(tokens[r]) * D, sizeof(T) * D);
}

template <class T>
void embedding_backward(T* dE, const T* dx, const int32_t* tokens, int R, int D) {
    // Serial: rows sharing a token add into the same embedding row.
    for (int r = 0; r < R; r++) {
        T* row = dE + size_t(tokens[r]) * D;
        const T* g = dx + size_t(r) * D;
        for (int d = 0; d < D; d++) row[d] += g[d];
    }
}

// Per row: lse = log Σ exp(z) (exp in the model's precision, shifted by the max so in [0, 1];
// sums in double), CE = lse - z_target; smoothed: lse - (1-eps) z_target - eps mean_v(z_v), as
// torch's cross_entropy(label_smoothing = eps). Gradient (softmax - smoothed one-hot) / count.
template <class T>
double cross_entropy_rows(T* logits, const int32_t* target, int rows, int V,
                          const CrossEntropyOptions& o) {
    const double ls = o.label_smoothing, count = o.grad_count;
    double loss = 0;
#pragma omp parallel for reduction(+ : loss) schedule(static)
    for (int i = 0; i < rows; i++) {
        T* row = logits + size_t(i) * V;
        if (target[i] < 0) {
            std::fill(row, row + V, T(0));
            continue;
        }
        T mx = row[0];
        for (int v = 1; v < V; v++) mx = std::max(mx, row[v]);
        double sum = 0;
        for (int v = 0; v < V; v++) sum += double(exp_fast(row[v] - mx));
        const int tg = target[i];
        const double lse = double(mx) + std::log(sum);
        if (o.logprobs) o.logprobs[i] = float(double(row[tg]) - lse);
        if (o.weights) {
            const double wt = double(o.weights[i]);
            loss += wt * (lse - double(row[tg]));
            if (o.backward) {
                const T tw = T(wt), shift = T(lse);
                for (int v = 0; v < V; v++) row[v] = exp_fast(row[v] - shift) * tw;
                row[tg] -= tw;
            }
            continue;
        }
        if (ls == 0) {
            loss += lse - double(row[tg]);
        } else {
            double zsum = 0;
            for (int v = 0; v < V; v++) zsum += double(row[v]);
            loss += lse - (1 - ls) * double(row[tg]) - ls * zsum / V;
        }
        if (o.backward) {
            const T inv = T(1.0 / count), shift = T(lse);
            if (ls == 0) {
                for (int v = 0; v < V; v++) row[v] = exp_fast(row[v] - shift) * inv;
                row[tg] -= inv;
            } else {
                const T uniform = T(ls / V / count);
                for (int v = 0; v < V; v++) row[v] = exp_fast(row[v] - shift) * inv - uniform;
                row[tg] -= T((1 - ls) / count);
            }
        }
    }
    return loss;
}

#define NP_INSTANTIATE(T)                                                                        \
    template void embedding_forward<T>(T*, const int32_t*, const T*, int, int);                  \
    template void embedding_backward<T>(T*, const T*, const int32_t*, int, int);                 \
    template double cross_entropy_rows<T>(T*, const int32_t*, int, int,                          \
                                          const CrossEntropyOptions&);                           \
    template void linear_forward<T>(T*, const T*, const T*, int, int, int, bool);                \
    template void linear_backward<T>(T*, T*, const T*, const T*, const T*, int, int, int);       \
    template void rmsnorm_forward<T>(T*, T*, const T*, const T*, int, int, T);                   \
    template void rmsnorm_backward<T>(T*, T*, const T*, const T*, const T*, const T*, int, int); \
    template void bitlinear_forward<T>(T*, T*, T*, const T*, const T*, int, int, int, bool);     \
    template void bitlinear_forward_xhat<T>(T*, T*, const T*, const T*, int, int, int, bool);
NP_INSTANTIATE(float)
NP_INSTANTIATE(double)
#undef NP_INSTANTIATE

}  // namespace np
