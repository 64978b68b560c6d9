#include "model/ffn.h"

#include <omp.h>

#include <algorithm>
#include <type_traits>

#include "core/error.h"
#include "kernels/cpu/vec_ops.h"

namespace np {

template <class T>
void plan_ffn_acts(Arena& arena, const std::string& prefix, int R, int D, int F, FfnActs<T>& A) {
    const size_t RF = size_t(R) * F, DF = size_t(D) * F;
    A.R = R;
    // gate and up read the same input: one x̂.
    arena.add_shared(prefix + "gate_up.xhat", size_t(R) * D, A.gate_c.xhat);
    arena.add_shared(prefix + "gate_up.xhat", size_t(R) * D, A.up_c.xhat);
    arena.add(prefix + "gate.wq", DF, A.gate_c.wq);
    arena.add(prefix + "up.wq", DF, A.up_c.wq);
    arena.add(prefix + "down.xhat", RF, A.down_c.xhat);
    arena.add(prefix + "down.wq", DF, A.down_c.wq);
    arena.add(prefix + "a", RF, A.a);
    arena.add(prefix + "u", RF, A.u);
    arena.add(prefix + "m", RF, A.m);
    arena.add(prefix + "rstd", size_t(R), A.rstd);
    arena.add(prefix + "mn", RF, A.mn);
    arena.add_shared("ffn.dm", RF, A.dm);
    arena.add_shared("ffn.da", RF, A.da);
    arena.add_shared("ffn.du", RF, A.du);
}

template <class T>
void ffn_forward(Backend<T>& be, T* out, const T* h, const FfnWeights<T>& w, int R, int D, int F,
                 FfnAct act, bool quantize, T eps, FfnActs<T>& A) {
    if (A.R != R) {
        A.own = std::make_unique<Arena>(be);
        plan_ffn_acts(*A.own, "", R, D, F, A);
        A.own->allocate();
    }
    be.bitlinear_forward(A.a, A.gate_c.xhat, A.gate_c.wq, h, w.gate, R, D, F, quantize);
    be.bitlinear_forward_xhat(A.u, A.up_c.wq, A.up_c.xhat, w.up, R, D, F, quantize);
    be.gated_act_forward(A.m, A.a, A.u, size_t(R) * F, act);
    be.rmsnorm_forward(A.mn, A.rstd, A.m, w.down_norm, R, F, eps);
    be.bitlinear_forward(out, A.down_c.xhat, A.down_c.wq, A.mn, w.down, R, F, D, quantize);
}

template <class T>
void ffn_backward(Backend<T>& be, T* dh, FfnGrads<T>& g, const T* dout, const T* h,
                  const FfnWeights<T>& w, int R, int D, int F, FfnAct act, FfnActs<T>& A) {
    if (A.R != R)
        fail("ffn_backward: acts do not come from a forward of " + std::to_string(R) + " rows");
    const size_t RF = size_t(R) * F;
    be.zero(A.dm, RF), be.zero(A.du, RF);
    // dmn lands in da (reused as scratch), then back through the sub-norm into dm.
    be.zero(A.da, RF);
    be.bitlinear_backward(A.da, g.down, dout, A.down_c.xhat, A.down_c.wq, R, F, D);
    be.rmsnorm_backward(A.dm, g.down_norm, A.da, A.m, w.down_norm, A.rstd, R, F);
    be.zero(A.da, RF);
    be.gated_act_backward(A.da, A.du, A.dm, A.a, A.u, RF, act);
    be.bitlinear_backward(dh, g.gate, A.da, A.gate_c.xhat, A.gate_c.wq, R, D, F);
    be.bitlinear_backward(dh, g.up, A.du, A.up_c.xhat, A.up_c.wq, R, D, F);
}

namespace {

// Elements [0, n) in one contiguous piece per thread, through a float kernel of kernels/cpu.
template <class Body>
void split_elements(size_t n, Body body) {
#pragma omp parallel
    {
        const size_t nth = size_t(omp_get_num_threads()), id = size_t(omp_get_thread_num());
        const size_t per = (n + nth - 1) / nth, b = std::min(n, id * per), e = std::min(n, b + per);
        if (b < e) body(b, int(e - b));
    }
}

}  // namespace

// In float: the decode step's kernels (kern::gated_act and its backward, AVX2 bodies).
template <class T>
void gated_act_forward(T* m, const T* a, const T* u, size_t n, FfnAct act) {
    if constexpr (std::is_same_v<T, float>) {
        split_elements(n, [&](size_t b, int len) {
            kern::gated_act(m + b, a + b, u + b, len, act == FfnAct::SwiGLU);
        });
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const T f = act == FfnAct::SwiGLU ? silu(a[i]) : (a[i] > 0 ? a[i] * a[i] : T(0));
        m[i] = f * u[i];
    }
}

template <class T>
void gated_act_backward(T* da, T* du, const T* dm, const T* a, const T* u, size_t n, FfnAct act) {
    if constexpr (std::is_same_v<T, float>) {
        split_elements(n, [&](size_t b, int len) {
            kern::gated_act_backward(da + b, du + b, dm + b, a + b, u + b, len,
                                     act == FfnAct::SwiGLU);
        });
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        T f, df;
        if (act == FfnAct::SwiGLU)
            silu_and_grad(a[i], f, df);
        else
            f = a[i] > 0 ? a[i] * a[i] : T(0), df = a[i] > 0 ? T(2) * a[i] : T(0);
        du[i] += dm[i] * f;
        da[i] += dm[i] * u[i] * df;
    }
}

template void gated_act_forward<float>(float*, const float*, const float*, size_t, FfnAct);
template void gated_act_forward<double>(double*, const double*, const double*, size_t, FfnAct);
template void gated_act_backward<float>(float*, float*, const float*, const float*, const float*,
                                        size_t, FfnAct);
template void gated_act_backward<double>(double*, double*, const double*, const double*,
                                         const double*, size_t, FfnAct);
template void plan_ffn_acts<float>(Arena&, const std::string&, int, int, int, FfnActs<float>&);
template void plan_ffn_acts<double>(Arena&, const std::string&, int, int, int, FfnActs<double>&);
template void ffn_forward<float>(Backend<float>&, float*, const float*, const FfnWeights<float>&,
                                 int, int, int, FfnAct, bool, float, FfnActs<float>&);
template void ffn_forward<double>(Backend<double>&, double*, const double*,
                                  const FfnWeights<double>&, int, int, int, FfnAct, bool, double,
                                  FfnActs<double>&);
template void ffn_backward<float>(Backend<float>&, float*, FfnGrads<float>&, const float*,
                                  const float*, const FfnWeights<float>&, int, int, int, FfnAct,
                                  FfnActs<float>&);
template void ffn_backward<double>(Backend<double>&, double*, FfnGrads<double>&, const double*,
                                   const double*, const FfnWeights<double>&, int, int, int, FfnAct,
                                   FfnActs<double>&);

}  // namespace np
