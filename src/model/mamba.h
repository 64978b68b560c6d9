// Mamba-2 mixer (DESIGN §2.3): in_proj -> causal depthwise conv + SiLU -> selective SSM scan ->
// gated RMSNorm -> out_proj. Input is the already-normalised residual stream h[R, D], R = B*T.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/arena.h"
#include "backend/backend.h"
#include "kernels/cpu/vec_ops.h"
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

// Everything the forward keeps for the backward, as tensors of an arena (backend/arena.h) laid
// out by plan_mamba_acts for one batch shape. A forward with no plan for its shape plans the acts
// into an arena of their own (single-module use: tests, tools).
template <class T>
struct MambaActs {
    // The backward recomputes SSM states inside chunks of `chunk` tokens from the state saved at
    // each chunk start, so the forward keeps B*H*ceil(T/chunk)*P*N state values instead of
    // B*T*H*P*N. Tests shrink it to exercise chunk boundaries; it must not change between plan,
    // forward and backward.
    int chunk = 64;
    // Forward scan algorithm: false = sequential recurrence, true = chunked SSD (same chunks). Both
    // produce the same y and chunk states, and the backward works after either.
    bool ssd = false;
    int B = 0, Tn = 0, planned_chunk = 0;  // what the tensors were planned for (0: nothing)
    BitLinearActs<T> in_cache, out_cache;
    int32_t* seg_begin = nullptr;  // [R] row index where the row's document starts
    T* zxbcdt = nullptr;           // [R, in_proj_dim] in_proj output
    T* conv_pre = nullptr;         // [R, C] conv output before SiLU
    T* xbc = nullptr;              // [R, C] SiLU(conv): x | B | C
    T* dt = nullptr;               // [R, H] softplus(dt_raw + dt_bias)
    T* y = nullptr;                // [R, d_inner] SSM output including D*x
    T* g = nullptr;                // [R, d_inner] y * SiLU(z)
    T* rstd = nullptr;             // [R] gated RMSNorm
    T* chunk_state = nullptr;      // [B, H, nchunks, P, N] state S_{t-1} entering each chunk
    // Scratch, shared by every Mamba layer of an arena: the normed g (forward) / dnormed, then dy
    // (backward) [R, d_inner], and the backward's gradients of the intermediate tensors.
    T *tmp = nullptr, *dg = nullptr, *dxbc = nullptr, *dzxbcdt = nullptr, *ddt = nullptr;
    std::vector<int32_t> seg_host;  // seg_begin built on the host, then uploaded
    std::unique_ptr<Arena> own;     // the arena of an unplanned forward
};

// Adds the acts of a Mamba layer at batch B x Tn to `arena`, named prefix + tensor (scratch
// without the prefix, shared).
template <class T>
void plan_mamba_acts(Arena& arena, const std::string& prefix, int B, int Tn, const MambaDims& d,
                     MambaActs<T>& acts);

// out[R, D] = Mamba(h[R, D]). Documents (layout.doc_start) restart the conv window and SSM state.
template <class T>
void mamba_forward(Backend<T>& be, T* out, const T* h, const MambaWeights<T>& w, const MambaDims& d,
                   const SeqLayout& layout, bool quantize, T eps, MambaActs<T>& acts);
// dh[R, D] += dL/dh; grads += dL/dθ. Uses acts from the matching forward.
template <class T>
void mamba_backward(Backend<T>& be, T* dh, MambaGrads<T>& g, const T* dout, const T* h,
                    const MambaWeights<T>& w, const MambaDims& d, const SeqLayout& layout,
                    bool quantize, T eps, MambaActs<T>& acts);

// One head, one token: S[P,N] = decay*S + dt * x ⊗ B, then y[p] = S[p]·C + D*x[p]. In float each
// row is the packed engine's decode kernel (kern::ssm_row_update), so the training scan, the
// reference decode step and the packed engine compute identical states from identical inputs.
template <class T>
inline void ssm_step_head(T* S, T* y, const T* x, const T* Bv, const T* Cv, T dt, T decay, T Dh,
                          int P, int N) {
    for (int p = 0; p < P; p++) {
        T* Sp = S + size_t(p) * N;
        const T dtx = dt * x[p];
        T acc = 0;
        if constexpr (std::is_same_v<T, float>) {
            acc = kern::ssm_row_update(Sp, decay, dtx, Bv, Cv, N);
        } else {
#pragma omp simd reduction(+ : acc)
            for (int n = 0; n < N; n++) {
                Sp[n] = decay * Sp[n] + dtx * Bv[n];
                acc += Sp[n] * Cv[n];
            }
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
void mamba_step(Backend<T>& be, T* out, const T* h, const MambaWeights<T>& w, const MambaDims& d,
                bool quantize, T eps, bool doc_start, MambaState<T>& state);

}  // namespace np
