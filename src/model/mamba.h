// Mamba-2 mixer (DESIGN §2.3): in_proj -> causal depthwise conv + SiLU -> selective SSM scan -> gated
// RMSNorm -> out_proj. Input is the already-normalised residual stream h[R, D], R = B*T.
#pragma once
#include <vector>

#include "model/config.h"
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
struct MambaActs;

// out[R, D] = Mamba(h[R, D]). Documents (layout.doc_start) restart the conv window and SSM state.
template <class T>
void mamba_forward(T* out, const T* h, const MambaWeights<T>& w, const MambaDims& d,
                   const SeqLayout& layout, bool quantize, T eps, MambaActs<T>& acts);
// dh[R, D] += dL/dh; grads += dL/dθ. Uses acts from the matching forward.
template <class T>
void mamba_backward(T* dh, MambaGrads<T>& g, const T* dout, const T* h, const MambaWeights<T>& w,
                    const MambaDims& d, const SeqLayout& layout, bool quantize, T eps,
                    MambaActs<T>& acts);

// Reference recurrent state for token-by-token decode: constant size per layer.
template <class T>
struct MambaState {
    std::vector<T> conv;  // [K-1, C] last K-1 conv inputs (pre-activation xBC), oldest first
    std::vector<T> ssm;   // [H, P, N]
    void reset(const MambaDims& d);
};
// One token: out[D] from h[D]. doc_start = true resets the state first (token id 0 or sequence start).
template <class T>
void mamba_step(T* out, const T* h, const MambaWeights<T>& w, const MambaDims& d, bool quantize, T eps,
                bool doc_start, MambaState<T>& state);

}  // namespace np
