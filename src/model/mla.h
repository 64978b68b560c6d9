// Multi-head Latent Attention with decoupled RoPE (DESIGN §2.4). Input is the normalised residual
// stream h[R, D], R = B*T; attention is causal and block-diagonal over documents
// (layout.doc_start), RoPE positions are layout.pos (restart at 0 per document).
#pragma once
#include <vector>

#include "model/config.h"
#include "model/mla_ops.h"
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

// ---- RoPE (rotate-half, HF Llama) --------------------------------------------------------------
// cos/sin[n_pos, d/2]: angle pos * theta^(-2i/d), evaluated in double and rounded once to T.
// One table row: c/s[d/2] for position pos.
template <class T>
void rope_row(T* c, T* s, int pos, int d, double theta);
template <class T>
void rope_table(std::vector<T>& cos, std::vector<T>& sin, int n_pos, int d, double theta);
// x[d] in place: (x_i, x_{i+d/2}) -> (x_i c - x_{i+d/2} s, x_{i+d/2} c + x_i s); c, s = table row.
template <class T>
void rope_apply(T* x, const T* c, const T* s, int d);
// Gradient of rope_apply (the transposed rotation), dx[d] in place.
template <class T>
void rope_apply_backward(T* dx, const T* c, const T* s, int d);

// What the forward keeps for the backward. Attention probabilities are not stored: the backward
// recomputes them from q, k and the per-row log-sum-exp (flash-attention style), so memory is
// O(R * width) instead of O(B * nh * T^2). Buffers are resized on use and reused across calls.
template <class T>
struct MlaActs {
    BitLinearCache<T> bl_q, bl_kvd, bl_kvu, bl_o;
    std::vector<T> q;         // [R, nh*(dn+dr)] q_proj output, rope part rotated in place
    std::vector<T> kvd;       // [R, r+dr] kv_down output (raw)
    std::vector<T> c_raw;     // [R, r] latent before kv_norm
    std::vector<T> c;         // [R, r] normalised latent (kv_up input)
    std::vector<T> rstd_c;    // [R]
    std::vector<T> kr;        // [R, dr] rotated k_rope
    std::vector<T> kv;        // [R, nh*(dn+dv)] kv_up output: [k_nope | v] per head
    std::vector<T> o;         // [R, nh*dv] attention output
    std::vector<T> rstd_o;    // [R]
    std::vector<T> on;        // [R, nh*dv] o after o_norm (o_proj input)
    std::vector<T> lse;       // [B, nh, T] softmax log-sum-exp per query
    std::vector<int> first;   // [R] row index (within its batch row) of each token's document start
    std::vector<T> cos, sin;  // rope tables [max_pos+1, dr/2]
    std::vector<T> scores;    // [B*nh, 2T] scratch, one row per (b, head) task
    // backward scratch
    std::vector<T> d_on, d_o, dq, dkv, dkr, dc, dc_raw, dkvd, dkr_heads;
};

template <class T>
void mla_forward(T* out, const T* h, const MlaWeights<T>& w, const MlaDims& d,
                 const SeqLayout& layout, bool quantize, T eps, MlaActs<T>& acts);
template <class T>
void mla_backward(T* dh, MlaGrads<T>& g, const T* dout, const T* h, const MlaWeights<T>& w,
                  const MlaDims& d, const SeqLayout& layout, bool quantize, T eps,
                  MlaActs<T>& acts);

// Reference incremental cache (fp32 model): per past token of the current document the normalised
// latent c [r] and the rotated k_rope [dr]. Grows by r + dr values per token.
template <class T>
struct MlaCache {
    std::vector<T> latent;  // [n, r]
    std::vector<T> k_rope;  // [n, dr]
    int n = 0;
    void reset() { latent.clear(), k_rope.clear(), n = 0; }
    // Per-step scratch, reused across tokens (not part of the cached state).
    BitLinearCache<T> bl;
    std::vector<T> q, kvd, kv, o, on, p, cos, sin;
};
// One token at position pos (within its document). doc_start = true clears the cache first.
// pos must equal the number of cached tokens (positions restart at 0 per document).
template <class T>
void mla_step(T* out, const T* h, const MlaWeights<T>& w, const MlaDims& d, bool quantize, T eps,
              int pos, bool doc_start, MlaCache<T>& cache);

}  // namespace np
