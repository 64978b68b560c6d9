// The op table under the model: the seam another backend (CUDA) implements. One forward and one
// backward per op, llm.c style, not a graph: the model (model.cpp) and its mixers (mamba.cpp,
// mla.cpp, ffn.cpp) are layer scripts that call these and nothing else for arithmetic on
// activations, parameters and gradients.
//
// Conventions (DESIGN §2): activations are row-major [R, C], R = B*T rows (batch-major, time
// inside); weights are W[out, in] as in torch.nn.Linear; every *_backward ADDS into its gradient
// outputs (parameter gradients accumulate across micro-batches; callers zero activation
// gradients). Pointers are the backend's memory; index arrays (tokens, seg_begin, first, pos) and
// the RoPE tables are inputs the caller builds. Scratch an op needs between its loops (the scan's
// states, attention scores) belongs to the backend object, so one object serves one thread of
// calls. The shapes of every op are in the CPU kernels' headers (model/ops.h, model/mamba_ops.h,
// model/mla_ops.h), which the CPU backend calls and tests/backend_ops checks.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/rng.h"
#include "kernels/adamw.h"
#include "model/mamba_ops.h"
#include "model/mla_ops.h"
#include "model/ops.h"

namespace np {

enum class FfnAct { SwiGLU, ReLU2 };

// The dropout mask of one residual branch, counter-based so that it depends only on its key,
// never on threads or call order (every backend reproduces it, so runs replay): element i
// (row-major in [B*T, D]) of branch `branch` (0 = mixer, 1 = FFN) of `layer` is kept when the top
// 32 bits of splitmix64(key + i) are >= p * 2^32, key = splitmix64(splitmix64(seed) ^
// splitmix64(2*layer + branch)). p = 0 is no dropout.
struct DropoutMask {
    float p = 0;
    uint64_t seed = 0;
    int layer = 0, branch = 0;

    struct Hash {
        uint64_t key, threshold;
        bool keeps(uint64_t i) const { return (splitmix64(key + i) >> 32) >= threshold; }
    };
    Hash hash() const {
        return {splitmix64(splitmix64(seed) ^ splitmix64(uint64_t(2 * int64_t(layer) + branch))),
                uint64_t(std::llround(double(p) * 4294967296.0))};
    }
};

// The backend's memory: where its ops' pointers point (host memory on the CPU backend).
class DeviceMemory {
public:
    virtual ~DeviceMemory() = default;
    // `bytes` of memory aligned to 64 bytes (uninitialised); release(nullptr) does nothing.
    virtual void* alloc(size_t bytes) = 0;
    virtual void release(void* p) = 0;
    // Copies between host memory and the backend's.
    virtual void upload(void* dst, const void* src, size_t bytes) = 0;
    virtual void download(void* dst, const void* src, size_t bytes) = 0;
};

template <class T>
class Backend : public DeviceMemory {
public:
    virtual const char* name() const = 0;
    // Bytes of the scratch the backend holds now (the scan's states, attention scores).
    virtual size_t scratch_bytes() const = 0;

    // ---- elementwise and copies ----------------------------------------------------------------
    virtual void zero(T* x, size_t n) = 0;
    virtual void copy(T* dst, const T* src, size_t n) = 0;
    // dst[r, 0:cols] = src[r, 0:cols] for r < rows, with row strides ldd and lds.
    virtual void copy_cols(T* dst, int ldd, const T* src, int lds, int rows, int cols) = 0;
    // out[n] = base + mask(branch) * 1/(1-p); out may alias base.
    virtual void residual_add(T* out, const T* base, const T* branch, size_t n,
                              const DropoutMask& m) = 0;
    // dbranch[n] = mask(dout) * 1/(1-p) (overwrites).
    virtual void dropout_backward(T* dbranch, const T* dout, size_t n, const DropoutMask& m) = 0;

    // ---- embedding: x[R, D] = E[tokens[r]];  dE[tokens[r]] += dx[r] -----------------------------
    virtual void embedding_forward(T* x, const int32_t* tokens, const T* E, int R, int D) = 0;
    virtual void embedding_backward(T* dE, const T* dx, const int32_t* tokens, int R, int D) = 0;

    // ---- RMSNorm over rows of C: y = x * rstd * w;  dx, dw += (either may be null) --------------
    virtual void rmsnorm_forward(T* y, T* rstd, const T* x, const T* w, int R, int C, T eps) = 0;
    virtual void rmsnorm_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd,
                                  int R, int C) = 0;

    // ---- dense linear: y[R, O] (+)= x[R, I] W[O, I]^T;  dx += dy W, dW += dy^T x ---------------
    virtual void linear_forward(T* y, const T* x, const T* W, int R, int I, int O,
                                bool accumulate) = 0;
    virtual void linear_backward(T* dx, T* dW, const T* dy, const T* x, const T* W, int R, int I,
                                 int O) = 0;

    // ---- BitLinear (DESIGN §2.2): xhat[R, I] = dequant(int8 absmax(x)), wq[O, I] =
    // dequant(ternary absmean(W)) (both the identity when quantize is false), y = xhat wq^T. The
    // backward is the straight-through estimator: dx += dy wq, dW += dy^T xhat.
    virtual void bitlinear_forward(T* y, T* xhat, T* wq, const T* x, const T* W, int R, int I,
                                   int O, bool quantize) = 0;
    virtual void bitlinear_backward(T* dx, T* dW, const T* dy, const T* xhat, const T* wq, int R,
                                    int I, int O) = 0;
    // BitLinear on an input another BitLinear of the same x has quantised: wq = dequant(ternary(W))
    // (W when quantize is false), y = xhat wq^T. (The FFN's gate and up, MLA's q_proj and kv_down.)
    virtual void bitlinear_forward_xhat(T* y, T* wq, const T* xhat, const T* W, int R, int I, int O,
                                        bool quantize) = 0;

    // ---- FFN gated activation: m[n] = act(a) * u;  da, du += ----------------------------------
    virtual void gated_act_forward(T* m, const T* a, const T* u, size_t n, FfnAct act) = 0;
    virtual void gated_act_backward(T* da, T* du, const T* dm, const T* a, const T* u, size_t n,
                                    FfnAct act) = 0;

    // ---- Mamba-2 (model/mamba_ops.h) ------------------------------------------------------------
    virtual void causal_conv_silu_forward(T* conv_pre, T* xbc, const T* zxbcdt, const T* conv_w,
                                          const T* conv_b, const int32_t* seg_begin, int R,
                                          const MambaShape& s) = 0;
    virtual void causal_conv_silu_backward(T* dzxbcdt, T* dconv_w, T* dconv_b, T* dxbc,
                                           const T* conv_pre, const T* zxbcdt, const T* conv_w,
                                           const int32_t* seg_begin, int R,
                                           const MambaShape& s) = 0;
    virtual void dt_softplus_forward(T* dt, const T* zxbcdt, const T* dt_bias, int R,
                                     const MambaShape& s) = 0;
    virtual void dt_softplus_backward(T* dzxbcdt, T* ddt_bias, const T* ddt, const T* zxbcdt,
                                      const T* dt_bias, int R, const MambaShape& s) = 0;
    virtual void ssm_scan_forward(T* y, T* chunk_state, const T* xbc, const T* dt, const T* A_log,
                                  const T* D, const int32_t* seg_begin, int B, int Tn, int L,
                                  bool ssd, const MambaShape& s) = 0;
    virtual void ssm_scan_backward(T* dxbc, T* ddt, T* dA_log, T* dD, const T* dy, const T* xbc,
                                   const T* dt, const T* chunk_state, const T* A_log, const T* D,
                                   const int32_t* seg_begin, int B, int Tn, int L,
                                   const MambaShape& s) = 0;
    virtual void gate_silu_forward(T* g, const T* y, const T* zxbcdt, int R,
                                   const MambaShape& s) = 0;
    virtual void gate_silu_backward(T* dzxbcdt, T* dy, const T* dg, const T* y, const T* zxbcdt,
                                    int R, const MambaShape& s) = 0;

    // ---- multi-head latent attention (model/mla_ops.h) ------------------------------------------
    virtual void rope_rows_forward(T* q, T* kr, const int32_t* pos, const T* cos, const T* sin,
                                   int R, const MlaShape& s) = 0;
    virtual void rope_rows_backward(T* dq, T* dkr, const int32_t* pos, const T* cos, const T* sin,
                                    int R, const MlaShape& s) = 0;
    virtual void causal_attention_forward(T* o, T* lse, const T* q, const T* kv, const T* kr,
                                          const int* first, int B, int Tn, const MlaShape& s) = 0;
    virtual void causal_attention_backward(T* dq, T* dkv, T* dkr, const T* d_o, const T* q,
                                           const T* kv, const T* kr, const T* lse, const int* first,
                                           int B, int Tn, const MlaShape& s) = 0;

    // ---- the head's loss: cross-entropy over rows of logits [rows, V] (model/ops.h) -------------
    virtual double cross_entropy_rows(T* logits, const int32_t* target, int rows, int V,
                                      const CrossEntropyOptions& o) = 0;

    // ---- the update, on fp32 master weights whatever T is (kernels/adamw.h) ---------------------
    virtual void adamw_update(const AdamWUpdate& u) = 0;
    // Σ x² in double, in the same order for any thread count; x[n] *= a (gradient clipping).
    virtual double sum_squares(const float* x, size_t n) = 0;
    virtual void scale(float* x, size_t n, float a) = 0;
};

// The CPU backend: OpenBLAS GEMMs, OpenMP loops, the chunked SSD scan.
template <class T>
std::unique_ptr<Backend<T>> make_cpu_backend();

}  // namespace np
