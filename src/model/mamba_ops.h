// The Mamba-2 mixer's own ops (DESIGN §2.3), each forward beside its backward, llm.c style: the
// mixer (mamba.cpp) is a script over these, BitLinear and RMSNorm. Every backward ADDS into its
// gradient outputs.
//
// Shapes: R = B*T rows, batch-major. zxbcdt [R, Ip] = [z (Di) | xBC (C) | dt_raw (H)] is in_proj's
// output; xbc [R, C] = [x (Di) | B (G*N) | C (G*N)]; heads h = 0..H-1 of P channels, head h reads
// the B and C of group h / (H/G). seg_begin [R]: the row where each row's document starts (the
// conv window and the SSM state restart there).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/config.h"

namespace np {

struct MambaShape {
    int Dm, Di, H, P, N, G, K, C, Ip;
    int heads_per_group() const { return H / G; }
    size_t PN() const { return size_t(P) * N; }
};
// Validates the dims (np::Error naming `where` and the field) and derives the sizes.
MambaShape mamba_shape(const MambaDims& d, const char* where);

// conv_pre[R, C] = conv_b + Σ_j conv_w[c, j] · xBC[row - (K-1) + j, c] (rows before the
// document's first are zero); xbc[R, C] = SiLU(conv_pre). conv_w [C, K], conv_b [C].
template <class T>
void causal_conv_silu_forward(T* conv_pre, T* xbc, const T* zxbcdt, const T* conv_w,
                              const T* conv_b, const int32_t* seg_begin, int R,
                              const MambaShape& s);
// From dxbc [R, C] = dL/dxbc (overwritten with dL/dconv_pre): dzxbcdt's xBC columns, dconv_w and
// dconv_b +=.
template <class T>
void causal_conv_silu_backward(T* dzxbcdt, T* dconv_w, T* dconv_b, T* dxbc, const T* conv_pre,
                               const T* zxbcdt, const T* conv_w, const int32_t* seg_begin, int R,
                               const MambaShape& s);

// dt[R, H] = softplus(dt_raw + dt_bias)
template <class T>
void dt_softplus_forward(T* dt, const T* zxbcdt, const T* dt_bias, int R, const MambaShape& s);
// From ddt [R, H]: dzxbcdt's dt_raw columns and ddt_bias [H] +=.
template <class T>
void dt_softplus_backward(T* dzxbcdt, T* ddt_bias, const T* ddt, const T* zxbcdt, const T* dt_bias,
                          int R, const MambaShape& s);

// Scratch of the scan, reused across calls (no allocation in steady state).
template <class T>
struct SsmScanScratch {
    std::vector<T> states;        // per thread: [L + 2, P, N] (backward) or one state + 2L
    std::vector<T> dbc_head;      // [R, H, 2N] B and C gradients of each head
    std::vector<T> head_partial;  // [B, H, 2] dA and dD per batch row
};

// The selective scan. Per (batch row b, head h), A = -exp(A_log[h]):
//   S_t = exp(dt_t A) S_{t-1} + dt_t x_t ⊗ B_t   (S = 0 at a document start), S [P, N]
//   y_t = S_t C_t + D[h] x_t                     y [R, Di]
// chunk_state [B, H, ceil(T/L), P, N]: the state entering each chunk of L rows, which the backward
// recomputes the states from. ssd = true: the chunked SSD algorithm (mamba_ssm's ssd_minimal:
// inside a chunk y_i = Σ_{j<=i, same doc} (C_i·B_j) exp(cs_i - cs_j) dt_j x_j + exp(cs_i) C_i·S_in
// + D x_i, cs = cumulative dt*A); false: the sequential recurrence (its reference), same outputs.
template <class T>
void ssm_scan_forward(T* y, T* chunk_state, const T* xbc, const T* dt, const T* A_log, const T* D,
                      const int32_t* seg_begin, int B, int Tn, int L, bool ssd, const MambaShape& s,
                      SsmScanScratch<T>& scratch);
// From dy [R, Di]: dxbc [R, C] (x, B and C columns), ddt [R, H], dA_log [H], dD [H] +=.
template <class T>
void ssm_scan_backward(T* dxbc, T* ddt, T* dA_log, T* dD, const T* dy, const T* xbc, const T* dt,
                       const T* chunk_state, const T* A_log, const T* D, const int32_t* seg_begin,
                       int B, int Tn, int L, const MambaShape& s, SsmScanScratch<T>& scratch);

// g[R, Di] = y * SiLU(z), z = zxbcdt's first Di columns.
template <class T>
void gate_silu_forward(T* g, const T* y, const T* zxbcdt, int R, const MambaShape& s);
// dzxbcdt's z columns += dg * y * SiLU'(z); dy[R, Di] += dg * SiLU(z).
template <class T>
void gate_silu_backward(T* dzxbcdt, T* dy, const T* dg, const T* y, const T* zxbcdt, int R,
                        const MambaShape& s);

}  // namespace np
