// Multi-head Latent Attention with decoupled RoPE (DESIGN §2.4). Input is the normalised residual
// stream h[R, D], R = B*T; attention is causal and block-diagonal over documents
// (layout.doc_start), RoPE positions are layout.pos (restart at 0 per document).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "backend/arena.h"
#include "backend/backend.h"
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

// What the forward keeps for the backward, as tensors of an arena (backend/arena.h) laid out by
// plan_mla_acts for one batch shape; a forward with no plan for its shape plans them into an arena
// of their own. Attention probabilities are not stored: the backward recomputes them from q, k
// and the per-row log-sum-exp (flash-attention style), so memory is O(R * width) instead of
// O(B * nh * T^2).
template <class T>
struct MlaActs {
    int B = 0, Tn = 0;  // the shape the tensors were planned for (0: none)
    BitLinearActs<T> bl_q, bl_kvd, bl_kvu, bl_o;
    T* q = nullptr;       // [R, nh*(dn+dr)] q_proj output, rope part rotated in place
    T* kvd = nullptr;     // [R, r+dr] kv_down output (raw)
    T* c_raw = nullptr;   // [R, r] latent before kv_norm
    T* c = nullptr;       // [R, r] normalised latent (kv_up input)
    T* rstd_c = nullptr;  // [R]
    T* kr = nullptr;      // [R, dr] rotated k_rope
    T* kv = nullptr;      // [R, nh*(dn+dv)] kv_up output: [k_nope | v] per head
    T* o = nullptr;       // [R, nh*dv] attention output
    T* rstd_o = nullptr;  // [R]
    T* on = nullptr;      // [R, nh*dv] o after o_norm (o_proj input)
    T* lse = nullptr;     // [B, nh, T] softmax log-sum-exp per query
    int32_t* first =
        nullptr;             // [R] row index (within its batch row) of each token's document start
    int32_t* pos = nullptr;  // [R] RoPE position (within its document)
    T *cos = nullptr, *sin = nullptr;  // rope tables [T, dr/2]
    // Backward scratch, shared by every MLA layer of an arena.
    T *d_on = nullptr, *d_o = nullptr, *dq = nullptr, *dkv = nullptr, *dkr = nullptr, *dc = nullptr,
      *dc_raw = nullptr, *dkvd = nullptr;
    // Host staging of first and the rope tables before their upload.
    std::vector<int32_t> first_host;
    std::vector<T> cos_host, sin_host;
    std::unique_ptr<Arena> own;  // the arena of an unplanned forward
};

// Adds the acts of an MLA layer at batch B x Tn to `arena`, named prefix + tensor (scratch
// without the prefix, shared).
template <class T>
void plan_mla_acts(Arena& arena, const std::string& prefix, int B, int Tn, const MlaDims& d,
                   MlaActs<T>& acts);

template <class T>
void mla_forward(Backend<T>& be, T* out, const T* h, const MlaWeights<T>& w, const MlaDims& d,
                 const SeqLayout& layout, bool quantize, T eps, MlaActs<T>& acts);
template <class T>
void mla_backward(Backend<T>& be, T* dh, MlaGrads<T>& g, const T* dout, const T* h,
                  const MlaWeights<T>& w, const MlaDims& d, const SeqLayout& layout, bool quantize,
                  T eps, MlaActs<T>& acts);

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
void mla_step(Backend<T>& be, T* out, const T* h, const MlaWeights<T>& w, const MlaDims& d,
              bool quantize, T eps, int pos, bool doc_start, MlaCache<T>& cache);

}  // namespace np
