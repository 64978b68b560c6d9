// Elementary ops shared by every module, templated on the scalar (float for training and inference,
// double for finite-difference gradient checks). Conventions, as in llm.c:
//   * activations are row-major [R, C] with R = B*T rows (batch-major, time inside);
//   * weights follow torch.nn.Linear: W[out, in];
//   * every *_backward ADDS into its gradient outputs (dx, dW, ...); callers zero them first.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/bitnet_quant.h"
#include "kernels/scalar_math.h"

namespace np {

// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major; op(A) is [M,K], op(B) is [K,N].
template <class T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc);

// y[R,O] (+)= x[R,I] · W[O,I]^T        (accumulate: beta = 1)
template <class T>
void linear_forward(T* y, const T* x, const T* W, int R, int I, int O, bool accumulate = false);
// dx[R,I] += dy[R,O] · W[O,I];  dW[O,I] += dy^T · x   (either output may be null)
template <class T>
void linear_backward(T* dx, T* dW, const T* dy, const T* x, const T* W, int R, int I, int O);

// RMSNorm over the last dim: y = x * rstd * w, rstd[R] = 1/sqrt(mean(x^2) + eps). y may alias x
// only in forward-without-backward use.
template <class T>
void rmsnorm_forward(T* y, T* rstd, const T* x, const T* w, int R, int C, T eps);
template <class T>
void rmsnorm_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int R,
                      int C);

// ---- BitLinear (DESIGN §2.2) ------------------------------------------------------------------
// y[R,O] = x̂ · W'^T with x̂ [R,I] the dequantised int8 absmax input and W' [O,I] the dequantised
// ternary absmean weight, both written for the backward. With quantize = false both quantisers
// are the identity (x̂ = x, W' = W): a plain linear layer, which is what finite-difference tests
// differentiate. The backward (straight-through estimator) is linear_backward on x̂ and W':
// dx += dy · W',  dW += dy^T · x̂.
template <class T>
void bitlinear_forward(T* y, T* xhat, T* wq, const T* x, const T* W, int R, int I, int O,
                       bool quantize);
// The same on an already quantised input x̂ [R, I]: quantises W into wq and multiplies.
template <class T>
void bitlinear_forward_xhat(T* y, T* wq, const T* xhat, const T* W, int R, int I, int O,
                            bool quantize);
// Where a module keeps x̂ [R, I] and W' [O, I] between its forward and backward (tensors of its
// arena, see backend/arena.h).
template <class T>
struct BitLinearActs {
    T* xhat = nullptr;
    T* wq = nullptr;
};
// The same in vectors, for the reference decode step.
template <class T>
struct BitLinearCache {
    std::vector<T> xhat;  // [R, I]
    std::vector<T> wq;    // [O, I]
    void resize(int R, int I, int O) {
        xhat.resize(size_t(R) * I);
        wq.resize(size_t(O) * I);
    }
};

// ---- embedding ---------------------------------------------------------------------------------
// x[R, D] = E[tokens[r], :]
template <class T>
void embedding_forward(T* x, const int32_t* tokens, const T* E, int R, int D);
// dE[tokens[r], :] += dx[r, :]
template <class T>
void embedding_backward(T* dE, const T* dx, const int32_t* tokens, int R, int D);

// ---- cross-entropy over rows of logits (the head's second half; llm.c's fused classifier) ------
struct CrossEntropyOptions {
    double label_smoothing = 0;  // eps: per row (1-eps) CE(target) + eps * mean_v(-log p_v)
    double grad_count = 1;       // dL/dlogits divided by this (the target count of a mean loss)
    bool backward = false;       // overwrite each row's logits with dL/dlogits
    // [rows] when set: the loss is Σ weights[r] * CE(r) (no smoothing, no grad_count: the weights
    // carry their own normalisation; a weight may be negative), gradient w * (softmax - onehot).
    const float* weights = nullptr;
    float* logprobs = nullptr;  // [rows] when set: log p(target) of every counted row
};
// logits [rows, V]; target [rows], -1 for a row not counted (its logits are zeroed: no gradient).
// Returns the loss summed over the counted rows.
template <class T>
double cross_entropy_rows(T* logits, const int32_t* target, int rows, int V,
                          const CrossEntropyOptions& o);

// ---- packed documents (DESIGN §2.6) -------------------------------------------------------------
// For a batch of B rows of T tokens: doc_start[b*T+t] = 1 where a document starts (t == 0 or token
// id 0), pos[b*T+t] = position inside its document (restarts at 0 at each start).
struct SeqLayout {
    int B = 0, T = 0;
    std::vector<uint8_t> doc_start;
    std::vector<int32_t> pos;
};
SeqLayout make_seq_layout(const int32_t* tokens, int B, int T);

}  // namespace np
