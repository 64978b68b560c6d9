// Feed-forward block (DESIGN §2.5): out = down(RMSNorm(act(gate(h)) * up(h)) * down_norm), act =
// SiLU (swiglu) or squared ReLU (relu2). gate, up, down are BitLinear.
#pragma once
#include <vector>

#include "model/ops.h"

namespace np {

enum class FfnAct { SwiGLU, ReLU2 };

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

template <class T>
struct FfnActs {
    BitLinearCache<T> gate_c, up_c, down_c;
    std::vector<T> a, u;    // [R, F] gate and up outputs
    std::vector<T> m;       // [R, F] act(a) * u
    std::vector<T> rstd;    // [R]
    std::vector<T> mn;      // [R, F] normalised m (down's input)
    std::vector<T> dm, da;  // [R, F] backward scratch
    std::vector<T> du;      // [R, F]
};

// m[n] = act(a) * u, act = SiLU (SwiGLU) or ReLU² (the FFN's gated activation, elementwise).
template <class T>
void gated_act_forward(T* m, const T* a, const T* u, size_t n, FfnAct act);
// da += dm * u * act'(a);  du += dm * act(a)
template <class T>
void gated_act_backward(T* da, T* du, const T* dm, const T* a, const T* u, size_t n, FfnAct act);

// out[R, D] = FFN(h[R, D])
template <class T>
void ffn_forward(T* out, const T* h, const FfnWeights<T>& w, int R, int D, int F, FfnAct act,
                 bool quantize, T eps, FfnActs<T>& acts);
// dh[R, D] += dL/dh, grads += dL/dθ
template <class T>
void ffn_backward(T* dh, FfnGrads<T>& g, const T* dout, const T* h, const FfnWeights<T>& w, int R,
                  int D, int F, FfnAct act, FfnActs<T>& acts);

}  // namespace np
