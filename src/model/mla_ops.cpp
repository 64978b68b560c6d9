#include "model/mla_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "model/mla.h"

namespace np {
namespace {

// Tiny problems (decode-sized, gradient checks) run serially: a parallel region costs more than
// the work, and far more when the cores are shared with other processes.
bool parallel_worth(size_t flops) {
    return flops > (size_t(1) << 16);
}

// Multiply-adds of the attention core: causal pairs (at most T(T+1)/2 per (b, head)) times widths.
size_t attention_work(int B, int T, const MlaShape& s) {
    return size_t(B) * s.nh * T * (T + 1) / 2 * (s.qd() + s.dv);
}

}  // namespace

template <class T>
void causal_attention_forward(T* o, T* lse, const T* q, const T* kv, const T* kr, const int* first,
                              int B, int Tn, const MlaShape& s, std::vector<T>& scores) {
    const int nh = s.nh, dn = s.dn, dr = s.dr, dv = s.dv, qd = s.qd(), kvw = s.kvw();
    const int QW = nh * qd, KW = nh * kvw, OW = nh * dv;
    scores.resize(size_t(B) * nh * 2 * Tn);
    const T scale = T(1) / std::sqrt(T(qd));
#pragma omp parallel for schedule(dynamic) if (parallel_worth(attention_work(B, Tn, s)))
    for (int task = 0; task < B * nh; task++) {
        const int b = task / nh, hh = task % nh;
        T* sc = scores.data() + size_t(task) * 2 * Tn;
        for (int t = 0; t < Tn; t++) {
            const int i = b * Tn + t, j0 = first[i];
            const T* qn = q + size_t(i) * QW + hh * qd;
            const T* qr = qn + dn;
            T m = -std::numeric_limits<T>::infinity();
            for (int j = j0; j <= t; j++) {
                const T* kn = kv + size_t(b * Tn + j) * KW + hh * kvw;
                const T* krj = kr + size_t(b * Tn + j) * dr;
                const T dot = vdot(qn, kn, dn) + vdot(qr, krj, dr);
                sc[j] = dot * scale;
                m = std::max(m, sc[j]);
            }
            T sum = 0;
            for (int j = j0; j <= t; j++) sum += (sc[j] = std::exp(sc[j] - m));
            T* ot = o + size_t(i) * OW + hh * dv;
            std::fill(ot, ot + dv, T(0));
            for (int j = j0; j <= t; j++) {
                const T p = sc[j] / sum;
                const T* v = kv + size_t(b * Tn + j) * KW + hh * kvw + dn;
                for (int k = 0; k < dv; k++) ot[k] += p * v[k];
            }
            lse[size_t(task) * Tn + t] = m + std::log(sum);
        }
    }
}

// dS = P ∘ (dP - rowsum(P ∘ dP)) / sqrt(qd), dP = d_o · v^T, per (b, head) task; each task owns
// its rows of dq and its head's slices of dkv; k_rope is shared by the heads, so each head adds
// into its own dkr_heads plane and the planes are summed afterwards.
template <class T>
void causal_attention_backward(T* dq, T* dkv, T* dkr, const T* d_o, const T* q, const T* kv,
                               const T* kr, const T* lse, const int* first, int B, int Tn,
                               const MlaShape& s, std::vector<T>& scores,
                               std::vector<T>& dkr_heads) {
    const int nh = s.nh, dn = s.dn, dr = s.dr, dv = s.dv, qd = s.qd(), kvw = s.kvw();
    const int QW = nh * qd, KW = nh * kvw, OW = nh * dv, R = B * Tn;
    scores.resize(size_t(B) * nh * 2 * Tn);
    dkr_heads.assign(size_t(nh) * R * dr, T(0));
    const T scale = T(1) / std::sqrt(T(qd));
#pragma omp parallel for schedule(dynamic) if (parallel_worth(2 * attention_work(B, Tn, s)))
    for (int task = 0; task < B * nh; task++) {
        const int b = task / nh, hh = task % nh;
        T* P = scores.data() + size_t(task) * 2 * Tn;
        T* dP = P + Tn;
        T* dkr_h = dkr_heads.data() + size_t(hh) * R * dr;
        for (int t = 0; t < Tn; t++) {
            const int i = b * Tn + t, j0 = first[i];
            const T* qn = q + size_t(i) * QW + hh * qd;
            const T* qr = qn + dn;
            const T* dot_ = d_o + size_t(i) * OW + hh * dv;
            const T lse_i = lse[size_t(task) * Tn + t];
            T Dt = 0;
            for (int j = j0; j <= t; j++) {
                const T* kn = kv + size_t(b * Tn + j) * KW + hh * kvw;
                const T* krj = kr + size_t(b * Tn + j) * dr;
                const T* v = kn + dn;
                const T dot = vdot(qn, kn, dn) + vdot(qr, krj, dr);
                P[j] = std::exp(dot * scale - lse_i);
                const T dp = vdot(dot_, v, dv);
                dP[j] = dp;
                Dt += P[j] * dp;
            }
            T* dqn = dq + size_t(i) * QW + hh * qd;
            T* dqr = dqn + dn;
            for (int j = j0; j <= t; j++) {
                const size_t jr = size_t(b * Tn + j);
                const T ds = P[j] * (dP[j] - Dt) * scale;
                const T* kn = kv + jr * KW + hh * kvw;
                const T* krj = kr + jr * dr;
                T* dkn = dkv + jr * KW + hh * kvw;
                T* dvj = dkn + dn;
                T* dkrj = dkr_h + jr * dr;
                for (int k = 0; k < dn; k++) {
                    dqn[k] += ds * kn[k];
                    dkn[k] += ds * qn[k];
                }
                for (int k = 0; k < dr; k++) {
                    dqr[k] += ds * krj[k];
                    dkrj[k] += ds * qr[k];
                }
                for (int k = 0; k < dv; k++) dvj[k] += P[j] * dot_[k];
            }
        }
    }
#pragma omp parallel for schedule(static) if (parallel_worth(size_t(R) * nh * dr))
    for (int i = 0; i < R; i++)
        for (int hh = 0; hh < nh; hh++) {
            const T* src = dkr_heads.data() + (size_t(hh) * R + i) * dr;
            for (int k = 0; k < dr; k++) dkr[size_t(i) * dr + k] += src[k];
        }
}

// Applies rotate(x, c, s, dr) to every head's rope part of q and to kr, each row at its position.
template <class T, class Rotate>
void rope_rows(T* q, T* kr, const int32_t* pos, const T* cos, const T* sin, int R,
               const MlaShape& s, Rotate rotate) {
    const int half = s.dr / 2, QW = s.nh * s.qd();
#pragma omp parallel for schedule(static) if (parallel_worth(size_t(R) * (s.nh + 1) * s.dr))
    for (int i = 0; i < R; i++) {
        const T* c = cos + size_t(pos[i]) * half;
        const T* sn = sin + size_t(pos[i]) * half;
        rotate(kr + size_t(i) * s.dr, c, sn, s.dr);
        for (int hh = 0; hh < s.nh; hh++)
            rotate(q + size_t(i) * QW + hh * s.qd() + s.dn, c, sn, s.dr);
    }
}

template <class T>
void rope_rows_forward(T* q, T* kr, const int32_t* pos, const T* cos, const T* sin, int R,
                       const MlaShape& s) {
    rope_rows(q, kr, pos, cos, sin, R, s, rope_apply<T>);
}

template <class T>
void rope_rows_backward(T* dq, T* dkr, const int32_t* pos, const T* cos, const T* sin, int R,
                        const MlaShape& s) {
    rope_rows(dq, dkr, pos, cos, sin, R, s, rope_apply_backward<T>);
}

#define NP_INSTANTIATE_MLA_OPS(T)                                                                  \
    template void causal_attention_forward<T>(T*, T*, const T*, const T*, const T*, const int*,    \
                                              int, int, const MlaShape&, std::vector<T>&);         \
    template void causal_attention_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, \
                                               const T*, const int*, int, int, const MlaShape&,    \
                                               std::vector<T>&, std::vector<T>&);                  \
    template void rope_rows_forward<T>(T*, T*, const int32_t*, const T*, const T*, int,            \
                                       const MlaShape&);                                           \
    template void rope_rows_backward<T>(T*, T*, const int32_t*, const T*, const T*, int,           \
                                        const MlaShape&);
NP_INSTANTIATE_MLA_OPS(float)
NP_INSTANTIATE_MLA_OPS(double)

}  // namespace np
