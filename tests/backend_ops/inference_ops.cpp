// The inference ops of the op table (the packed decoder's kernels), each against its plain
// reference. Ternary products take the SIMD path as an argument and run on every path; the other
// kernels pick their code at build time and run as "cpu".
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>

#include "backend_ops/op_case.h"
#include "kernels/cpu/act_quant.h"
#include "kernels/cpu/dense_rows.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/latent_attention.h"
#include "kernels/cpu/q8_0.h"
#include "kernels/cpu/q8_0_x8.h"
#include "kernels/cpu/ternary_kernels.h"
#include "kernels/cpu/ternary_pack.h"
#include "kernels/cpu/ternary_x16.h"
#include "kernels/cpu/vec_ops.h"

namespace np::backend_ops {
namespace {

using kern::KernelPath;

std::vector<float> normal(size_t n, std::mt19937& rng, float scale) {
    std::normal_distribution<float> nd(0.f, scale);
    std::vector<float> v(n);
    for (float& x : v) x = nd(rng);
    return v;
}

template <class V>
std::vector<double> as_double(const V& v) {
    return std::vector<double>(v.begin(), v.end());
}

std::string dims(std::initializer_list<int> v) {
    std::string s;
    for (int x : v) s += (s.empty() ? "" : "x") + std::to_string(x);
    return s;
}

// dots[R, O] = int8 activations x[R, I] · ternary W[O, I], through the matrix-matrix kernel and
// through one matrix-vector product per row; against the dot products of the unpacked codes.
void ternary_ops(std::vector<InferOp>& ops, kern::TernaryFormat f, int O, int I, int R) {
    struct Data {
        std::vector<int8_t> w;
        kern::PackedTernary packed;
        std::optional<kern::TernaryX16> x16;  // TQ2_0: the rows repacked 16 at a time
        kern::QuantizedActs x;
        kern::TernaryView view(bool repacked) const {
            kern::TernaryView v = packed.view();
            if (repacked) v.x16 = x16->data(), v.x16_groups = x16->groups();
            return v;
        }
    };
    auto d = std::make_shared<Data>();
    std::mt19937 rng{uint32_t(O * 131 + I * 7 + R)};
    std::uniform_int_distribution<int> tern(-1, 1);
    d->w.resize(size_t(O) * I);
    for (int8_t& v : d->w) v = int8_t(tern(rng));
    d->packed = kern::pack_ternary(f, d->w.data(), O, I, 0.0123f);
    if (f == kern::TernaryFormat::TQ2_0) d->x16 = kern::TernaryX16::repack(d->packed.view());
    const std::vector<float> x = normal(size_t(R) * I, rng, 1.f);
    kern::quantize_acts_int8_reference(d->x, x.data(), R, I);
    auto reference = [d, O, I, R] {
        std::vector<double> dots(size_t(R) * O);
        for (int r = 0; r < R; r++)
            for (int o = 0; o < O; o++) {
                int32_t s = 0;
                for (int i = 0; i < I; i++) s += int32_t(d->w[size_t(o) * I + i]) * d->x.row(r)[i];
                dots[size_t(r) * O + o] = s;
            }
        return dots;
    };
    for (bool repacked : {false, true}) {
        if (repacked && !d->x16) continue;
        const std::string fmt = f == kern::TernaryFormat::TQ1_0 ? "tq1_0"
                                : repacked                      ? "tq2_0+x16"
                                                                : "tq2_0";
        const std::string shape = fmt + " " + dims({O, I}) + " R" + std::to_string(R);
        InferOp mm{"ternary_matmat", shape, nullptr, reference, 0, 2.0 * O * I * R, true};
        mm.run = [d, O, R, repacked](KernelPath p) {
            std::vector<int32_t> dots(size_t(R) * O);
            kern::ternary_matmul_dots(dots.data(), d->view(repacked), d->x, p);
            return as_double(dots);
        };
        ops.push_back(mm);
        InferOp mv{"ternary_matvec", shape, nullptr, reference, 0, 2.0 * O * I * R, true};
        mv.run = [d, O, R, repacked](KernelPath p) {
            std::vector<int32_t> dots(size_t(R) * O);
            for (int r = 0; r < R; r++)
                kern::ternary_matvec_dots(dots.data() + size_t(r) * O, d->view(repacked), d->x, r,
                                          p);
            return as_double(dots);
        };
        ops.push_back(mv);
    }
}

// The activation quantiser's bytes, scales and sums against its scalar reference.
InferOp quant_acts_op(int R, int C) {
    std::mt19937 rng{uint32_t(R * 31 + C)};
    auto x = std::make_shared<std::vector<float>>(normal(size_t(R) * C, rng, 2.f));
    (*x)[0] = 0;  // an exact zero and, below, a row of zeros
    if (R > 1) std::fill(x->begin() + C, x->begin() + 2 * C, 0.f);
    auto flat = [](const kern::QuantizedActs& a) {
        std::vector<double> v(a.q.begin(), a.q.end());
        v.insert(v.end(), a.scale.begin(), a.scale.end());
        v.insert(v.end(), a.qsum.begin(), a.qsum.end());
        return v;
    };
    InferOp op{"quant_acts", dims({R, C}), nullptr, nullptr, 0, 3.0 * R * C};
    op.run = [x, R, C, flat](KernelPath) {
        kern::QuantizedActs a;
        kern::quantize_acts_int8(a, x->data(), R, C);
        return flat(a);
    };
    op.reference = [x, R, C, flat] {
        kern::QuantizedActs a;
        kern::quantize_acts_int8_reference(a, x->data(), R, C);
        return flat(a);
    };
    return op;
}

// The head: y[n, rows] = W[rows, cols] (F32, F16 or Q8_0 rows) · x[n, cols] for n vectors at once
// (dense_matmat, the batched decode step's head); the Q8_0 also repacked 8 rows together.
void dense_ops(std::vector<InferOp>& ops, kern::DenseType type, int rows, int cols, int n) {
    struct Data {
        std::vector<uint8_t> bytes;
        kern::DenseView view;
        std::vector<float> x;
        std::unique_ptr<kern::Q8_0x8Matrix> x8;
    };
    auto d = std::make_shared<Data>();
    std::mt19937 rng{uint32_t(rows * 17 + cols + n)};
    const std::vector<float> w = normal(size_t(rows) * cols, rng, 0.05f);
    d->view = {type, rows, cols, nullptr};
    d->bytes.resize(d->view.bytes());
    for (int r = 0; r < rows; r++) {
        const float* src = w.data() + size_t(r) * cols;
        uint8_t* dst = d->bytes.data() + size_t(r) * d->view.row_bytes();
        if (type == kern::DenseType::F32) std::memcpy(dst, src, size_t(cols) * 4);
        if (type == kern::DenseType::F16)
            for (int c = 0; c < cols; c++) {
                const uint16_t h = kern::fp32_to_fp16(src[c]);
                std::memcpy(dst + 2 * c, &h, 2);
            }
        if (type == kern::DenseType::Q8_0)
            kern::quantize_row_q8_0(reinterpret_cast<kern::BlockQ8_0*>(dst), src, cols);
    }
    d->view.data = d->bytes.data();
    d->x = normal(size_t(n) * cols, rng, 1.f);
    auto run = [d, rows, n](bool repacked) {
        std::vector<float> y(size_t(n) * rows);
        std::vector<float*> ys;
        for (int i = 0; i < n; i++) ys.push_back(y.data() + size_t(i) * rows);
        if (repacked)
            kern::q8_0x8_matmat(ys, *d->x8, d->x.data());
        else
            kern::dense_matmat(ys, d->view, d->x.data());
        return as_double(y);
    };
    auto reference = [d, rows, cols, n] {
        std::vector<float> y(size_t(n) * rows);
        for (int i = 0; i < n; i++)
            kern::dense_matvec_reference(y.data() + size_t(i) * rows, d->view,
                                         d->x.data() + size_t(i) * cols);
        return as_double(y);
    };
    const std::string shape = std::string(kern::dense_type_name(type)) + " " + dims({rows, cols}) +
                              " n" + std::to_string(n);
    // Same products, another float summation order (SIMD lanes); Q8_0 also rounds x to 8 bits.
    const double tol = type == kern::DenseType::Q8_0 ? 1e-2 : 2e-6;
    ops.push_back({"dense_matmat", shape, [run](KernelPath) { return run(false); }, reference, tol,
                   2.0 * rows * cols * n});
    if (type == kern::DenseType::Q8_0) {
        d->x8 = std::make_unique<kern::Q8_0x8Matrix>(kern::Q8_0x8Matrix::repack(d->view));
        ops.push_back({"q8_0x8_matmat", shape, [run](KernelPath) { return run(true); }, reference,
                       tol, 2.0 * rows * cols * n});
    }
}

// One Mamba decode step's state row: S[n] = decay*S + dtx*B, returns S·C.
InferOp ssm_row_op(int n) {
    std::mt19937 rng{uint32_t(n)};
    auto v = std::make_shared<std::vector<float>>(normal(size_t(3) * n, rng, 1.f));
    auto go = [v, n](bool ref) {
        std::vector<float> S(v->begin(), v->begin() + n);
        const float* B = v->data() + n;
        const float* C = v->data() + 2 * n;
        const float y = ref ? kern::ssm_row_update_reference(S.data(), 0.9f, 0.3f, B, C, n)
                            : kern::ssm_row_update(S.data(), 0.9f, 0.3f, B, C, n);
        std::vector<double> out = as_double(S);
        out.push_back(y);
        return out;
    };
    return {"ssm_row_update",          dims({n}), [go](KernelPath) { return go(false); },
            [go] { return go(true); }, 1e-6,      4.0 * n};
}

InferOp rmsnorm_row_op(int n) {
    std::mt19937 rng{uint32_t(n + 1)};
    auto v = std::make_shared<std::vector<float>>(normal(size_t(2) * n, rng, 1.f));
    auto go = [v, n](bool ref) {
        std::vector<float> y(n);
        const float* x = v->data();
        const float* w = v->data() + n;
        const float r = ref ? kern::rmsnorm_row_reference(y.data(), x, w, n, 1e-5f)
                            : kern::rmsnorm_row(y.data(), x, w, n, 1e-5f);
        std::vector<double> out = as_double(y);
        out.push_back(r);
        return out;
    };
    return {
        "rmsnorm_row", dims({n}), [go](KernelPath) { return go(false); }, [go] { return go(true); },
        1e-6,          4.0 * n};
}

// out[n] = act(g) * u (SiLU or ReLU²) against the plain formula in double.
InferOp gated_act_op(int n, bool swiglu) {
    std::mt19937 rng{uint32_t(n + 2)};
    auto v = std::make_shared<std::vector<float>>(normal(size_t(2) * n, rng, 3.f));
    InferOp op{swiglu ? "gated_silu" : "gated_relu2", dims({n}), nullptr, nullptr, 1e-6, 6.0 * n};
    op.run = [v, n, swiglu](KernelPath) {
        std::vector<float> out(n);
        kern::gated_act(out.data(), v->data(), v->data() + n, n, swiglu);
        return as_double(out);
    };
    op.reference = [v, n, swiglu] {
        std::vector<double> out(n);
        for (int i = 0; i < n; i++) {
            const double g = (*v)[i], u = (*v)[size_t(n) + i];
            out[i] = (swiglu ? g / (1 + std::exp(-g)) : (g > 0 ? g * g : 0)) * u;
        }
        return out;
    };
    return op;
}

// One decode step of latent attention over a cache of n int8 latents (and k_rope rows).
InferOp latent_attention_op(int n, int nh, int r, int dr, float q_scale) {
    struct Data {
        std::vector<int8_t> c;
        std::vector<float> inv_s, kr, qt, qr;
        kern::LatentAttentionScratch scratch;
    };
    auto d = std::make_shared<Data>();
    std::mt19937 rng{uint32_t(n * 3 + r + dr)};
    std::uniform_int_distribution<int> i8(-127, 127);
    std::uniform_real_distribution<float> us(0.002f, 0.02f);
    d->c.resize(size_t(n) * r);
    for (int8_t& v : d->c) v = int8_t(i8(rng));
    d->inv_s.resize(n);
    for (float& v : d->inv_s) v = us(rng);
    d->kr = normal(size_t(n) * dr, rng, 1.f);
    d->qt = normal(size_t(nh) * r, rng, q_scale);
    d->qr = normal(size_t(nh) * dr, rng, q_scale);
    auto go = [d, n, nh, r, dr](bool ref) {
        std::vector<float> out(size_t(nh) * r);
        const kern::LatentCache cache{d->c.data(), d->inv_s.data(), d->kr.data(), r, dr};
        if (ref)
            kern::latent_attention_reference(out.data(), d->qt.data(), d->qr.data(), nh, n, cache,
                                             0.125f);
        else
            kern::latent_attention(out.data(), d->qt.data(), d->qr.data(), nh, n, cache, 0.125f,
                                   d->scratch);
        return as_double(out);
    };
    // The output is a convex combination of latents |c/s| <= 127 * 0.02: absolute error.
    return {"latent_attention",
            "n" + std::to_string(n) + " heads" + std::to_string(nh) + " r" + std::to_string(r) +
                " dr" + std::to_string(dr) + " q" + std::to_string(q_scale).substr(0, 3),
            [go](KernelPath) { return go(false); },
            [go] { return go(true); },
            1e-4,
            2.0 * n * nh * (2 * r + dr)};
}

}  // namespace

std::vector<InferOp> inference_ops(bool perf) {
    std::vector<InferOp> ops;
    using Shape3 = std::array<int, 3>;
    for (kern::TernaryFormat f : {kern::TernaryFormat::TQ2_0, kern::TernaryFormat::TQ1_0})
        for (auto [O, I, R] :
             perf ? std::vector<Shape3>{{768, 768, 1}, {768, 768, 8}, {2048, 768, 128}}
                  : std::vector<Shape3>{{1, 1, 1},
                                        {7, 300, 1},
                                        {33, 513, 3},
                                        {130, 2000, 5},
                                        {257, 1024, 9},
                                        {211, 768, 40}})
            ternary_ops(ops, f, O, I, R);
    for (auto [R, C] : perf ? std::vector<std::array<int, 2>>{{128, 768}}
                            : std::vector<std::array<int, 2>>{{1, 1}, {3, 37}, {5, 300}, {2, 1024}})
        ops.push_back(quant_acts_op(R, C));
    for (kern::DenseType t : {kern::DenseType::F32, kern::DenseType::F16, kern::DenseType::Q8_0})
        for (auto [rows, cols, n] :
             perf ? std::vector<Shape3>{{32000, 768, 1}, {32000, 768, 8}}
                  : std::vector<Shape3>{{37, 64, 1}, {9, 128, 3}, {300, 256, 8}, {5, 96, 9}})
            dense_ops(ops, t, rows, cols, n);
    for (int n : perf ? std::vector<int>{64} : std::vector<int>{1, 3, 16, 17, 64})
        ops.push_back(ssm_row_op(n));
    for (int n : perf ? std::vector<int>{768} : std::vector<int>{1, 7, 64, 769})
        ops.push_back(rmsnorm_row_op(n));
    for (bool swiglu : {true, false})
        for (int n : perf ? std::vector<int>{2048} : std::vector<int>{1, 15, 64, 1001})
            ops.push_back(gated_act_op(n, swiglu));
    for (int n : perf ? std::vector<int>{1024} : std::vector<int>{1, 5, 63, 64, 65, 300})
        for (auto [r, dr] : perf ? std::vector<std::array<int, 2>>{{128, 32}}
                                 : std::vector<std::array<int, 2>>{{128, 32}, {12, 4}, {72, 0}})
            for (float q : perf ? std::vector<float>{1.f} : std::vector<float>{0.1f, 8.f})
                ops.push_back(latent_attention_op(n, perf ? 8 : 3, r, dr, q));
    return ops;
}

}  // namespace np::backend_ops
