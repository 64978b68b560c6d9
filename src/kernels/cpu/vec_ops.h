// Small vector kernels of the decode step that are not matrix products: the Mamba-2 state update of
// one head row, the SiLU-gated elementwise products, and RMSNorm of one row (the MLA kernels are in
// latent_attention.h). Each has a plain loop (the *_reference
// functions, what the tests compare against) and an AVX2 body where the build targets AVX2
// (-march=native on an AVX2 CPU); elsewhere the plain loop is the implementation.
//
// Why not `#pragma omp simd reduction`: GCC finishes such a reduction by storing the vector
// accumulator and adding its lanes one by one, ~30 scalar adds per call; the decode step makes
// thousands of these short (64-element) reductions per token, where that epilogue cost more than
// the products themselves. The AVX2 bodies keep 2-4 vector accumulators and one shuffle-based
// horizontal sum, so their float sums differ from the references only in summation order.
#pragma once
#include <cstdint>

namespace np::kern {

// One row p of a Mamba-2 head's state S[N] (DESIGN §2.3): S = decay * S + dtx * B, returns S · C.
float ssm_row_update(float* S, float decay, float dtx, const float* B, const float* C, int n);
// out[k] = silu(g[k]) * u[k] (SwiGLU) or relu(g[k])^2 * u[k]; out may alias g or u.
void gated_act(float* out, const float* g, const float* u, int n, bool swiglu);
// The backward of gated_act, adding: du[k] += dm[k] * f(g[k]), dg[k] += dm[k] * u[k] * f'(g[k]).
void gated_act_backward(float* dg, float* du, const float* dm, const float* g, const float* u,
                        int n, bool swiglu);
// out[k] = silu(x[k]); out may alias x.
void silu_rows(float* out, const float* x, int n);
// y[k] = x[k] * rs * w[k] with rs = 1 / sqrt(mean(x^2) + eps), one row (DESIGN §2.1's RMSNorm);
// returns rs. The decode step normalises one row at a time, where np::rmsnorm_forward's parallel
// loop would open a parallel region for a microsecond of work.
float rmsnorm_row(float* y, const float* x, const float* w, int n, float eps);

float ssm_row_update_reference(float* S, float decay, float dtx, const float* B, const float* C,
                               int n);
float rmsnorm_row_reference(float* y, const float* x, const float* w, int n, float eps);

}  // namespace np::kern
