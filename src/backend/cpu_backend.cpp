// The CPU backend: each op of the table calls its CPU kernel (model/ops.cpp, mamba_ops.cpp,
// mla_ops.cpp, ffn.cpp), whose plain references test-backend-ops compares it with. The scratch
// that the scan and attention reuse between calls lives here.
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "backend/backend.h"
#include "model/ffn.h"

namespace np {
namespace {

template <class T>
class CpuBackend final : public Backend<T> {
public:
    const char* name() const override { return "cpu"; }
    size_t scratch_bytes() const override {
        return sizeof(T) *
               (scan_.states.capacity() + scan_.dbc_head.capacity() +
                scan_.head_partial.capacity() + scores_.capacity() + dkr_heads_.capacity());
    }

    void* alloc(size_t bytes) override {
        void* p = std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
        if (!p) throw std::bad_alloc();
        return p;
    }
    void release(void* p) override { std::free(p); }
    void upload(void* dst, const void* src, size_t bytes) override {
        if (bytes) std::memcpy(dst, src, bytes);
    }
    void download(void* dst, const void* src, size_t bytes) override {
        if (bytes) std::memcpy(dst, src, bytes);
    }

    void zero(T* x, size_t n) override { std::memset(x, 0, sizeof(T) * n); }
    void copy(T* dst, const T* src, size_t n) override { std::memcpy(dst, src, sizeof(T) * n); }
    void copy_cols(T* dst, int ldd, const T* src, int lds, int rows, int cols) override {
        for (int r = 0; r < rows; r++)
            std::memcpy(dst + size_t(r) * ldd, src + size_t(r) * lds, sizeof(T) * cols);
    }
    void residual_add(T* out, const T* base, const T* branch, size_t n,
                      const DropoutMask& m) override {
        if (m.p == 0) {
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < n; i++) out[i] = base[i] + branch[i];
            return;
        }
        const DropoutMask::Hash h = m.hash();
        const T scale = T(1.0 / (1.0 - double(m.p)));
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) out[i] = h.keeps(i) ? base[i] + branch[i] * scale : base[i];
    }
    void dropout_backward(T* dbranch, const T* dout, size_t n, const DropoutMask& m) override {
        const DropoutMask::Hash h = m.hash();
        const T scale = T(1.0 / (1.0 - double(m.p)));
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) dbranch[i] = h.keeps(i) ? dout[i] * scale : T(0);
    }

    void embedding_forward(T* x, const int32_t* tokens, const T* E, int R, int D) override {
        np::embedding_forward(x, tokens, E, R, D);
    }
    void embedding_backward(T* dE, const T* dx, const int32_t* tokens, int R, int D) override {
        np::embedding_backward(dE, dx, tokens, R, D);
    }

    void rmsnorm_forward(T* y, T* rstd, const T* x, const T* w, int R, int C, T eps) override {
        np::rmsnorm_forward(y, rstd, x, w, R, C, eps);
    }
    void rmsnorm_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int R,
                          int C) override {
        np::rmsnorm_backward(dx, dw, dy, x, w, rstd, R, C);
    }

    void linear_forward(T* y, const T* x, const T* W, int R, int I, int O,
                        bool accumulate) override {
        np::linear_forward(y, x, W, R, I, O, accumulate);
    }
    void linear_backward(T* dx, T* dW, const T* dy, const T* x, const T* W, int R, int I,
                         int O) override {
        np::linear_backward(dx, dW, dy, x, W, R, I, O);
    }

    void bitlinear_forward(T* y, T* xhat, T* wq, const T* x, const T* W, int R, int I, int O,
                           bool quantize) override {
        np::bitlinear_forward(y, xhat, wq, x, W, R, I, O, quantize);
    }
    void bitlinear_backward(T* dx, T* dW, const T* dy, const T* xhat, const T* wq, int R, int I,
                            int O) override {
        np::linear_backward(dx, dW, dy, xhat, wq, R, I, O);
    }
    void bitlinear_forward_xhat(T* y, T* wq, const T* xhat, const T* W, int R, int I, int O,
                                bool quantize) override {
        np::bitlinear_forward_xhat(y, wq, xhat, W, R, I, O, quantize);
    }

    void gated_act_forward(T* m, const T* a, const T* u, size_t n, FfnAct act) override {
        np::gated_act_forward(m, a, u, n, act);
    }
    void gated_act_backward(T* da, T* du, const T* dm, const T* a, const T* u, size_t n,
                            FfnAct act) override {
        np::gated_act_backward(da, du, dm, a, u, n, act);
    }

    void causal_conv_silu_forward(T* conv_pre, T* xbc, const T* zxbcdt, const T* conv_w,
                                  const T* conv_b, const int32_t* seg_begin, int R,
                                  const MambaShape& s) override {
        np::causal_conv_silu_forward(conv_pre, xbc, zxbcdt, conv_w, conv_b, seg_begin, R, s);
    }
    void causal_conv_silu_backward(T* dzxbcdt, T* dconv_w, T* dconv_b, T* dxbc, const T* conv_pre,
                                   const T* zxbcdt, const T* conv_w, const int32_t* seg_begin,
                                   int R, const MambaShape& s) override {
        np::causal_conv_silu_backward(dzxbcdt, dconv_w, dconv_b, dxbc, conv_pre, zxbcdt, conv_w,
                                      seg_begin, R, s);
    }
    void dt_softplus_forward(T* dt, const T* zxbcdt, const T* dt_bias, int R,
                             const MambaShape& s) override {
        np::dt_softplus_forward(dt, zxbcdt, dt_bias, R, s);
    }
    void dt_softplus_backward(T* dzxbcdt, T* ddt_bias, const T* ddt, const T* zxbcdt,
                              const T* dt_bias, int R, const MambaShape& s) override {
        np::dt_softplus_backward(dzxbcdt, ddt_bias, ddt, zxbcdt, dt_bias, R, s);
    }
    void ssm_scan_forward(T* y, T* chunk_state, const T* xbc, const T* dt, const T* A_log,
                          const T* D, const int32_t* seg_begin, int B, int Tn, int L, bool ssd,
                          const MambaShape& s) override {
        np::ssm_scan_forward(y, chunk_state, xbc, dt, A_log, D, seg_begin, B, Tn, L, ssd, s, scan_);
    }
    void ssm_scan_backward(T* dxbc, T* ddt, T* dA_log, T* dD, const T* dy, const T* xbc,
                           const T* dt, const T* chunk_state, const T* A_log, const T* D,
                           const int32_t* seg_begin, int B, int Tn, int L,
                           const MambaShape& s) override {
        np::ssm_scan_backward(dxbc, ddt, dA_log, dD, dy, xbc, dt, chunk_state, A_log, D, seg_begin,
                              B, Tn, L, s, scan_);
    }
    void gate_silu_forward(T* g, const T* y, const T* zxbcdt, int R, const MambaShape& s) override {
        np::gate_silu_forward(g, y, zxbcdt, R, s);
    }
    void gate_silu_backward(T* dzxbcdt, T* dy, const T* dg, const T* y, const T* zxbcdt, int R,
                            const MambaShape& s) override {
        np::gate_silu_backward(dzxbcdt, dy, dg, y, zxbcdt, R, s);
    }

    void rope_rows_forward(T* q, T* kr, const int32_t* pos, const T* cos, const T* sin, int R,
                           const MlaShape& s) override {
        np::rope_rows_forward(q, kr, pos, cos, sin, R, s);
    }
    void rope_rows_backward(T* dq, T* dkr, const int32_t* pos, const T* cos, const T* sin, int R,
                            const MlaShape& s) override {
        np::rope_rows_backward(dq, dkr, pos, cos, sin, R, s);
    }
    void causal_attention_forward(T* o, T* lse, const T* q, const T* kv, const T* kr,
                                  const int* first, int B, int Tn, const MlaShape& s) override {
        np::causal_attention_forward(o, lse, q, kv, kr, first, B, Tn, s, scores_);
    }
    void causal_attention_backward(T* dq, T* dkv, T* dkr, const T* d_o, const T* q, const T* kv,
                                   const T* kr, const T* lse, const int* first, int B, int Tn,
                                   const MlaShape& s) override {
        np::causal_attention_backward(dq, dkv, dkr, d_o, q, kv, kr, lse, first, B, Tn, s, scores_,
                                      dkr_heads_);
    }

    double cross_entropy_rows(T* logits, const int32_t* target, int rows, int V,
                              const CrossEntropyOptions& o) override {
        return np::cross_entropy_rows(logits, target, rows, V, o);
    }

    void adamw_update(const AdamWUpdate& u) override {
        np::adamw_update(u);
    }
    double sum_squares(const float* x, size_t n) override {
        return np::sum_squares(x, n);
    }
    void scale(float* x, size_t n, float a) override {
        scale_values(x, n, a);
    }

private:
    SsmScanScratch<T> scan_;
    std::vector<T> scores_, dkr_heads_;
};

}  // namespace

template <class T>
std::unique_ptr<Backend<T>> make_cpu_backend() {
    return std::make_unique<CpuBackend<T>>();
}
template std::unique_ptr<Backend<float>> make_cpu_backend<float>();
template std::unique_ptr<Backend<double>> make_cpu_backend<double>();

}  // namespace np
