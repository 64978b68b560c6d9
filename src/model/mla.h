// Multi-head Latent Attention with decoupled RoPE (DESIGN §2.4). Input is the normalised residual
// stream h[R, D], R = B*T; attention is causal and block-diagonal over documents (layout.doc_start),
// RoPE positions are layout.pos (restart at 0 per document).
#pragma once
#include <vector>

#include "model/config.h"
#include "model/ops.h"

namespace np {

template <class T>
struct MlaWeights {
    const T* q_proj;   // [nh*(dn+dr), D]
    const T* kv_down;  // [r+dr, D]
    const T* kv_norm;  // [r]
    const T* kv_up;    // [nh*(dn+dv), r]
    const T* o_norm;   // [nh*dv]
    const T* o_proj;   // [D, nh*dv]
};

template <class T>
struct MlaGrads {
    T *q_proj, *kv_down, *kv_norm, *kv_up, *o_norm, *o_proj;
};

template <class T>
struct MlaActs;

template <class T>
void mla_forward(T* out, const T* h, const MlaWeights<T>& w, const MlaDims& d, const SeqLayout& layout,
                 bool quantize, T eps, MlaActs<T>& acts);
template <class T>
void mla_backward(T* dh, MlaGrads<T>& g, const T* dout, const T* h, const MlaWeights<T>& w,
                  const MlaDims& d, const SeqLayout& layout, bool quantize, T eps, MlaActs<T>& acts);

// Reference incremental cache (fp32 model): per past token of the current document the normalised
// latent c [r] and the rotated k_rope [dr]. Grows by r + dr values per token.
template <class T>
struct MlaCache {
    std::vector<T> latent;  // [n, r]
    std::vector<T> k_rope;  // [n, dr]
    int n = 0;
    void reset() { latent.clear(), k_rope.clear(), n = 0; }
};
// One token at position pos (within its document). doc_start = true clears the cache first.
template <class T>
void mla_step(T* out, const T* h, const MlaWeights<T>& w, const MlaDims& d, bool quantize, T eps,
              int pos, bool doc_start, MlaCache<T>& cache);

}  // namespace np
