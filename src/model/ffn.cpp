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
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < RF; i++) {
        T a = A.a[i];
        T f = act == FfnAct::SwiGLU ? silu(a) : (a > 0 ? a * a : T(0));
        A.m[i] = f * A.u[i];
    }
    rmsnorm_forward(A.mn.data(), A.rstd.data(), A.m.data(), w.down_norm, R, F, eps);
    bitlinear_forward(out, A.mn.data(), w.down, R, F, D, quantize, A.down_c);
}

template <class T>
void ffn_backward(T* dh, FfnGrads<T>& g, const T* dout, const T* h, const FfnWeights<T>& w, int R,
                  int D, int F, FfnAct act, FfnActs<T>& A) {
    const size_t RF = size_t(R) * F;
    A.dm.assign(RF, T(0));
    A.da.resize(RF), A.du.resize(RF);
    // dmn lands in da (reused as scratch), then back through the sub-norm into dm.
    std::fill(A.da.begin(), A.da.end(), T(0));
    bitlinear_backward(A.da.data(), g.down, dout, A.down_c, R, F, D);
    rmsnorm_backward(A.dm.data(), g.down_norm, A.da.data(), A.m.data(), w.down_norm, A.rstd.data(),
                     R, F);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < RF; i++) {
        T a = A.a[i], dm = A.dm[i];
        T f, df;
        if (act == FfnAct::SwiGLU)
            f = silu(a), df = silu_grad(a);
        else
            f = a > 0 ? a * a : T(0), df = a > 0 ? T(2) * a : T(0);
        A.du[i] = dm * f;
        A.da[i] = dm * A.u[i] * df;
    }
    bitlinear_backward(dh, g.gate, A.da.data(), A.gate_c, R, D, F);
    bitlinear_backward(dh, g.up, A.du.data(), A.up_c, R, D, F);
}

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
