// Multi-head latent attention's own ops (DESIGN §2.4), each forward beside its backward: the mixer
// (mla.cpp) is a script over these, BitLinear and RMSNorm. Every backward ADDS into its gradient
// outputs.
//
// Shapes: R = B*T rows, batch-major; nh heads. q [R, nh, dn + dr] per head [nope | rope];
// kv [R, nh, dn + dv] per head [k_nope | v]; kr [R, dr] the rope key, shared by the heads;
// o [R, nh, dv]; lse [B, nh, T]. first [R]: the position (within its batch row) where each row's
// document starts; a query attends to the keys of its document up to itself.
#pragma once
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/cpu/simd_avx2.h"
#include "model/config.h"

namespace np {

// Vectorised dot product. Forward, backward recomputation and decode step all use it, so their
// scores are bitwise the same function of q and k.
// In float it is the decode kernels' AVX2 dot (one horizontal sum; GCC ends an `omp simd`
// reduction lane by lane, which costs more than a 16- or 64-long product itself).
template <class T>
inline T vdot(const T* a, const T* b, int n) {
#ifdef NP_VEC_AVX2
    if constexpr (std::is_same_v<T, float>) return kern::simd::dot(a, b, n);
#endif
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int k = 0; k < n; k++) s += a[k] * b[k];
    return s;
}

struct MlaShape {
    int nh, dn, dr, dv;
    int qd() const { return dn + dr; }
    int kvw() const { return dn + dv; }
};

// o = softmax(q·k / sqrt(dn + dr)) v per (b, head) over the causal keys of the query's document,
// k = [k_nope | kr]; lse = the softmax's log-sum-exp per query (the backward recomputes the
// probabilities from it, flash-attention style). scores: scratch [B*nh, 2T].
template <class T>
void causal_attention_forward(T* o, T* lse, const T* q, const T* kv, const T* kr, const int* first,
                              int B, int Tn, const MlaShape& s, std::vector<T>& scores);
// From d_o [R, nh, dv]: dq [R, nh, qd], dkv [R, nh, kvw], dkr [R, dr] +=. dkr_heads: scratch
// [nh, R, dr] (each head's share of dkr, summed in head order so threads never race).
template <class T>
void causal_attention_backward(T* dq, T* dkv, T* dkr, const T* d_o, const T* q, const T* kv,
                               const T* kr, const T* lse, const int* first, int B, int Tn,
                               const MlaShape& s, std::vector<T>& scores,
                               std::vector<T>& dkr_heads);

// Rotate-half RoPE in place on every head's rope part of q and on kr, row i at position pos[i];
// cos/sin: tables [n_pos, dr/2].
template <class T>
void rope_rows_forward(T* q, T* kr, const int32_t* pos, const T* cos, const T* sin, int R,
                       const MlaShape& s);
// The transposed rotation, in place on dq's rope parts and dkr.
template <class T>
void rope_rows_backward(T* dq, T* dkr, const int32_t* pos, const T* cos, const T* sin, int R,
                        const MlaShape& s);

}  // namespace np
