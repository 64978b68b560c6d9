// Mamba-2 mixer (DESIGN §2.3): in_proj -> causal depthwise conv + SiLU -> selective SSM scan ->
// gated RMSNorm -> out_proj. Input is the already-normalised residual stream h[R, D], R = B*T.
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/mamba_ops.h"
#include "model/ops.h"

namespace np {

template <class T>
struct MambaWeights {
    const T* in_proj;   // [in_proj_dim, D]
    const T* conv_w;    // [C, K]
    const T* conv_b;    // [C]
    const T* dt_bias;   // [H]
    const T* A_log;     // [H]
    const T* D;         // [H]
    const T* norm_w;    // [d_inner]
    const T* out_proj;  // [D, d_inner]
};

template <class T>
struct MambaGrads {  // same shapes as MambaWeights; backward adds into them
    T *in_proj, *conv_w, *conv_b, *dt_bias, *A_log, *D, *norm_w, *out_proj;
};

// Everything the forward keeps for the backward; buffers are resized by the forward and reused
// across calls (no allocation in steady state).
template <class T>
struct MambaActs {
    // The backward recomputes SSM states inside chunks of `chunk` tokens from the state saved at
    // each chunk start, so the forward keeps B*H*ceil(T/chunk)*P*N state values instead of
    // B*T*H*P*N. Tests shrink it to exercise chunk boundaries; it must not change between forward
    // and backward.
    int chunk = 64;
    // Forward scan algorithm: false = sequential recurrence, true = chunked SSD (same chunks). Both
    // produce the same y and chunk states, and the backward works after either.
    bool ssd = false;
    BitLinearCache<T> in_cache, out_cache;
    std::vector<int32_t> seg_begin;  // [R] row index where the row's document starts
    std::vector<T> zxbcdt;           // [R, in_proj_dim] in_proj output
    std::vector<T> conv_pre;         // [R, C] conv output before SiLU
    std::vector<T> xbc;              // [R, C] SiLU(conv): x | B | C
    std::vector<T> dt;               // [R, H] softplus(dt_raw + dt_bias)
    std::vector<T> y;                // [R, d_inner] SSM output including D*x
    std::vector<T> g;                // [R, d_inner] y * SiLU(z)
    std::vector<T> rstd;             // [R] gated RMSNorm
    std::vector<T> chunk_state;      // [B, H, nchunks, P, N] state S_{t-1} entering each chunk
    int chunk_used = 0;              // chunk length of the forward that filled chunk_state
    // Scratch reused between calls: normed (forward) / dnormed, then dy (backward) [R, d_inner],
    // and backward-only buffers.
    std::vector<T> tmp, dg, dxbc, dzxbcdt, ddt;
    SsmScanScratch<T> scan;
};

// out[R, D] = Mamba(h[R, D]). Documents (layout.doc_start) restart the conv window and SSM state.
template <class T>
void mamba_forward(T* out, const T* h, const MambaWeights<T>& w, const MambaDims& d,
                   const SeqLayout& layout, bool quantize, T eps, MambaActs<T>& acts);
// dh[R, D] += dL/dh; grads += dL/dθ. Uses acts from the matching forward.
template <class T>
void mamba_backward(T* dh, MambaGrads<T>& g, const T* dout, const T* h, const MambaWeights<T>& w,
                    const MambaDims& d, const SeqLayout& layout, bool quantize, T eps,
                    MambaActs<T>& acts);

// One head, one token: S[P,N] = decay*S + dt * x ⊗ B, then y[p] = S[p]·C + D*x[p]. Shared by the
// training scan, the reference decode step and the packed engine so all compute identical states.
template <class T>
inline void ssm_step_head(T* S, T* y, const T* x, const T* Bv, const T* Cv, T dt, T decay, T Dh,
                          int P, int N) {
    for (int p = 0; p < P; p++) {
        T* Sp = S + size_t(p) * N;
        const T dtx = dt * x[p];
        T acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int n = 0; n < N; n++) {
            Sp[n] = decay * Sp[n] + dtx * Bv[n];
            acc += Sp[n] * Cv[n];
        }
        y[p] = acc + Dh * x[p];
    }
}

// Reference recurrent state for token-by-token decode: constant size per layer.
template <class T>
struct MambaState {
    std::vector<T> conv;  // [K-1, C] last K-1 conv inputs (pre-activation xBC), oldest first
    std::vector<T> ssm;   // [H, P, N]
    // Per-token scratch, kept here so that decoding allocates nothing after the first token.
    std::vector<T> zxbcdt, xbc, y, normed;
    BitLinearCache<T> in_cache, out_cache;
    void reset(const MambaDims& d);
};
// One token: out[D] from h[D]. doc_start = true resets the state first (token id 0 or sequence
// start).
template <class T>
void mamba_step(T* out, const T* h, const MambaWeights<T>& w, const MambaDims& d, bool quantize,
                T eps, bool doc_start, MambaState<T>& state);

}  // namespace np
