// int8-activation x packed-ternary products for inference (DESIGN §2.2, §6):
//   y[r, o] = (sum_j xq[r, j] * Wq[o, j]) * gamma / s[r]
// The integer dot product is exact (int32) on every path, so every path gives the same int32 sums
// and, through the same final float expression, the same y bit for bit. Rows of W are split over
// OpenMP threads. matvec is the decode kernel (one token: stream the weights once); matmul is the
// prefill kernel (each weight row is decoded once and reused for all tokens).
//
// Implementation note: the kernels multiply the unsigned codes c = Wq + 1 in {0,1,2} with the
// signed activations (maddubs / dpbusd take u8 x s8) and subtract sum_j xq[j] once per row
// (QuantizedActs
// ::qsum); padding columns are zero in both operands.
#pragma once
#include <cstdint>
#include <span>

#include "kernels/cpu/act_quant.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/ternary_pack.h"

namespace np::kern {

// dots[O] = xq[r, :] · Wq^T (exact), token r of x.          W [O, I], x [R, I]
void ternary_matvec_dots(int32_t* dots, const TernaryView& W, const QuantizedActs& x, int r,
                         KernelPath path);
// dots[R, O] = xq · Wq^T (exact).
void ternary_matmul_dots(int32_t* dots, const TernaryView& W, const QuantizedActs& x,
                         KernelPath path);

// y[O] for token r of x.
void ternary_matvec(float* y, const TernaryView& W, const QuantizedActs& x, int r);
void ternary_matvec(float* y, const TernaryView& W, const QuantizedActs& x, int r, KernelPath path);
// y[R, O]; R == 1 runs the matvec kernel.
void ternary_matmul(float* y, const TernaryView& W, const QuantizedActs& x);
void ternary_matmul(float* y, const TernaryView& W, const QuantizedActs& x, KernelPath path);

// Several products of the same input in one parallel region (gate and up; q_proj and kv_down):
// products[i].y[R, O_i] = ternary_matmul(*products[i].W, x).
struct TernaryOutput {
    float* y;
    const TernaryView* W;
};
void ternary_matmuls(std::span<const TernaryOutput> products, const QuantizedActs& x);

// The BitLinear inference forward: y[R, O] = ternary product of quantised x[R, I]; xq is scratch
// reused across calls.
void ternary_linear_forward(float* y, const TernaryView& W, const float* x, int R,
                            QuantizedActs& xq);

// The final scaling, shared by all paths (and by callers that hold dots): dot * gamma / s, with 1/s
// precomputed per token (QuantizedActs::inv_scale) so the epilogue has no division.
inline float ternary_scale_dot(int32_t dot, float gamma, float inv_s) {
    return float(dot) * gamma * inv_s;
}

}  // namespace np::kern
