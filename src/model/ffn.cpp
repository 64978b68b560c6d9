#include "model/ffn.h"

#include <algorithm>

namespace np {

template <class T>
void ffn_forward(T* out, const T* h, const FfnWeights<T>& w, int R, int D, int F, FfnAct act,
                 bool quantize, T eps, FfnActs<T>& A) {
    const size_t RF = size_t(R) * F;
    A.a.resize(RF), A.u.resize(RF), A.m.resize(RF), A.mn.resize(RF), A.rstd.resize(R);
    bitlinear_forward(A.a.data(), h, w.gate, R, D, F, quantize, A.gate_c);
    bitlinear_forward(A.u.data(), h, w.up, R, D, F, quantize, A.up_c);
    gated_act_forward(A.m.data(), A.a.data(), A.u.data(), RF, act);
    rmsnorm_forward(A.mn.data(), A.rstd.data(), A.m.data(), w.down_norm, R, F, eps);
    bitlinear_forward(out, A.mn.data(), w.down, R, F, D, quantize, A.down_c);
}

template <class T>
void ffn_backward(T* dh, FfnGrads<T>& g, const T* dout, const T* h, const FfnWeights<T>& w, int R,
                  int D, int F, FfnAct act, FfnActs<T>& A) {
    const size_t RF = size_t(R) * F;
    A.dm.assign(RF, T(0));
    A.da.resize(RF), A.du.assign(RF, T(0));
    // dmn lands in da (reused as scratch), then back through the sub-norm into dm.
    std::fill(A.da.begin(), A.da.end(), T(0));
    bitlinear_backward(A.da.data(), g.down, dout, A.down_c, R, F, D);
    rmsnorm_backward(A.dm.data(), g.down_norm, A.da.data(), A.m.data(), w.down_norm, A.rstd.data(),
                     R, F);
    std::fill(A.da.begin(), A.da.end(), T(0));
    gated_act_backward(A.da.data(), A.du.data(), A.dm.data(), A.a.data(), A.u.data(), RF, act);
    bitlinear_backward(dh, g.gate, A.da.data(), A.gate_c, R, D, F);
    bitlinear_backward(dh, g.up, A.du.data(), A.up_c, R, D, F);
}

template <class T>
void gated_act_forward(T* m, const T* a, const T* u, size_t n, FfnAct act) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const T f = act == FfnAct::SwiGLU ? silu(a[i]) : (a[i] > 0 ? a[i] * a[i] : T(0));
        m[i] = f * u[i];
    }
}

template <class T>
void gated_act_backward(T* da, T* du, const T* dm, const T* a, const T* u, size_t n, FfnAct act) {
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
template void ffn_forward<float>(float*, const float*, const FfnWeights<float>&, int, int, int,
                                 FfnAct, bool, float, FfnActs<float>&);
template void ffn_forward<double>(double*, const double*, const FfnWeights<double>&, int, int, int,
                                  FfnAct, bool, double, FfnActs<double>&);
template void ffn_backward<float>(float*, FfnGrads<float>&, const float*, const float*,
                                  const FfnWeights<float>&, int, int, int, FfnAct, FfnActs<float>&);
template void ffn_backward<double>(double*, FfnGrads<double>&, const double*, const double*,
                                   const FfnWeights<double>&, int, int, int, FfnAct,
                                   FfnActs<double>&);

}  // namespace np
