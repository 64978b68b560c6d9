// Feed-forward block (DESIGN §2.5): out = down(RMSNorm(act(gate(h)) * up(h)) * down_norm), act =
// SiLU (swiglu) or squared ReLU (relu2). gate, up, down are BitLinear.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "backend/arena.h"
#include "backend/backend.h"
#include "model/ops.h"

namespace np {

template <class T>
struct FfnWeights {
    const T* gate;       // [F, D]
    const T* up;         // [F, D]
    const T* down_norm;  // [F]
    const T* down;       // [D, F]
};
template <class T>
struct FfnGrads {
    T *gate, *up, *down_norm, *down;
};

// What the forward keeps for the backward, as tensors of an arena laid out by plan_ffn_acts for R
// rows; a forward with no plan for its row count plans them into an arena of their own.
template <class T>
struct FfnActs {
    int R = 0;  // the rows the tensors were planned for (0: none)
    BitLinearActs<T> gate_c, up_c, down_c;
    T *a = nullptr, *u = nullptr;  // [R, F] gate and up outputs
    T* m = nullptr;                // [R, F] act(a) * u
    T* rstd = nullptr;             // [R]
    T* mn = nullptr;               // [R, F] normalised m (down's input)
    // Backward scratch [R, F], shared by every FFN of an arena.
    T *dm = nullptr, *da = nullptr, *du = nullptr;
    std::unique_ptr<Arena> own;  // the arena of an unplanned forward
};
// Adds the acts of an FFN over R rows to `arena`, named prefix + tensor (scratch shared).
template <class T>
void plan_ffn_acts(Arena& arena, const std::string& prefix, int R, int D, int F, FfnActs<T>& acts);

// The CPU kernels of the FFN's gated activation (elementwise):
// m[n] = act(a) * u, act = SiLU (SwiGLU) or ReLU².
template <class T>
void gated_act_forward(T* m, const T* a, const T* u, size_t n, FfnAct act);
// da += dm * u * act'(a);  du += dm * act(a)
template <class T>
void gated_act_backward(T* da, T* du, const T* dm, const T* a, const T* u, size_t n, FfnAct act);

// out[R, D] = FFN(h[R, D])
template <class T>
void ffn_forward(Backend<T>& be, T* out, const T* h, const FfnWeights<T>& w, int R, int D, int F,
                 FfnAct act, bool quantize, T eps, FfnActs<T>& acts);
// dh[R, D] += dL/dh, grads += dL/dθ
template <class T>
void ffn_backward(Backend<T>& be, T* dh, FfnGrads<T>& g, const T* dout, const T* h,
                  const FfnWeights<T>& w, int R, int D, int F, FfnAct act, FfnActs<T>& acts);

}  // namespace np
