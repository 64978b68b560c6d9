#include "kernels/cpu/ternary_kernels.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/row_shares.h"
#include "kernels/cpu/ternary_impl.h"

namespace np::kern {

namespace detail {
namespace {

// The reference: decode each block to codes and sum (code - 1) * x directly, no qsum trick.
template <TernaryFormat F>
void decode_block(uint8_t* codes, const uint8_t* blk) {
    if constexpr (F == TernaryFormat::TQ2_0)
        unpack_block_codes_tq2(codes, blk);
    else
        unpack_block_codes_tq1(codes, blk);
}

template <TernaryFormat F>
void scalar_matvec(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    const size_t bb = ternary_block_bytes(F);
    uint8_t codes[kTernaryBlock];
    for (int o = o0; o < o1; o++) {
        const uint8_t* row = a.W + size_t(o) * a.row_bytes;
        int32_t sum = 0;
        for (int b = 0; b < a.nblocks; b++) {
            decode_block<F>(codes, row + b * bb);
            const int8_t* xb = a.x + b * kTernaryBlock;
            for (int k = 0; k < kTernaryBlock; k++) sum += (int32_t(codes[k]) - 1) * xb[k];
        }
        out.put(0, o, sum);
    }
}

template <TernaryFormat F>
void scalar_matmul(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    const size_t bb = ternary_block_bytes(F);
    const int n = a.nblocks * kTernaryBlock;
    for (int o = o0; o < o1; o++) {
        const uint8_t* row = a.W + size_t(o) * a.row_bytes;
        for (int b = 0; b < a.nblocks; b++)
            decode_block<F>(a.codes + b * kTernaryBlock, row + b * bb);
        for (int t = 0; t < a.ntok; t++) {
            const int8_t* x = a.x + size_t(t) * a.ldx;
            int32_t sum = 0;
            for (int k = 0; k < n; k++) sum += (int32_t(a.codes[k]) - 1) * x[k];
            out.put(t, o, sum);
        }
    }
}

}  // namespace

PathKernels scalar_kernels() {
    PathKernels k;
    k.matvec[0] = scalar_matvec<TernaryFormat::TQ2_0>;
    k.matvec[1] = scalar_matvec<TernaryFormat::TQ1_0>;
    k.matmul[0] = scalar_matmul<TernaryFormat::TQ2_0>;
    k.matmul[1] = scalar_matmul<TernaryFormat::TQ1_0>;
    return k;
}

}  // namespace detail

namespace {

using detail::DotOut;
using detail::KernelArgs;
using detail::PathKernels;

const PathKernels& kernels_for(KernelPath p) {
    static const PathKernels table[4] = {detail::scalar_kernels(), detail::avx2_kernels(),
                                         detail::avx512vnni_kernels(), detail::neon_kernels()};
    if (!kernel_path_available(p))
        fail(std::string("ternary kernels: path '") + kernel_path_name(p) +
             "' is not available on this CPU/build");
    return table[int(p)];
}

void check_shapes(const TernaryView& W, const QuantizedActs& x, const char* what) {
    if (!W.data || W.rows <= 0 || W.cols <= 0)
        fail(std::string(what) + ": empty ternary weight view");
    if (x.cols != W.cols || x.cols_padded != ternary_padded_cols(W.cols))
        fail(std::string(what) + ": activations have " + std::to_string(x.cols) +
             " columns, weights expect " + std::to_string(W.cols));
}

// One product of a run: the weights and where their outputs go.
struct Product {
    const TernaryView* W = nullptr;
    DotOut out;
};

// Every product of `products` (same input x, tokens t0..t0+ntok) in one parallel region: products
// that share their input (gate and up, q_proj and kv_down) need one region, not two. Each
// product's rows are split into one share per thread (RowShares): a thread works through its own
// shares in product order, then takes rows off the back of shares that are not done yet, so no
// thread waits at the end of the region while another still has rows. Small runs stay on the
// calling thread: a parallel region costs microseconds.
void run(std::span<const Product> products, const QuantizedActs& x, int t0, int ntok, bool matmul,
         KernelPath path) {
    const PathKernels& k = kernels_for(path);
    int64_t work = 0;
    int max_blocks = 0;
    for (const Product& p : products) {
        work += int64_t(p.W->rows) * p.W->cols * ntok;
        max_blocks = std::max(max_blocks, p.W->nblocks());
    }
    const int nprod = int(products.size());
    const int nth = work >= (int64_t(1) << 18) ? omp_get_max_threads() : 1;
    // The calling thread's share words (a server may run two decoders on two threads); taken by
    // pointer, since inside the region a thread_local name would denote each worker's own copy.
    thread_local std::vector<RowShares> shares_tls;
    if (shares_tls.size() < products.size()) shares_tls.resize(products.size());
    RowShares* shares = shares_tls.data();
    for (int i = 0; i < nprod; i++) {
        const TernaryView& W = *products[size_t(i)].W;
        // Chunks of at least ~4 KiB of weights; rows in multiples of the SIMD row tiles.
        const bool x16 = W.x16 && path == KernelPath::AVX512VNNI;
        const int align = x16 ? detail::kX16TileRows : detail::kMatmulRowTile;
        const int grain = std::max(align, int(4096 / W.row_bytes()));
        shares[i].reset(W.rows, nth, align, grain);
    }
#pragma omp parallel num_threads(nth) if (nth > 1)
    {
        KernelArgs a;
        a.x = x.row(t0);
        a.ldx = size_t(x.cols_padded);
        a.xsum = x.qsum.data() + t0;
        a.ntok = ntok;
        if (matmul) {
            // Scratch for the decoded codes of a row tile; grows once per thread, then is reused.
            thread_local std::vector<uint8_t> codes;
            const size_t need =
                size_t(detail::kMatmulRowTile) * size_t(max_blocks) * kTernaryBlock + 64;
            if (codes.size() < need) codes.resize(need);
            const uintptr_t p = reinterpret_cast<uintptr_t>(codes.data());
            a.codes = codes.data() + ((64 - p % 64) % 64);
        }
        auto product = [&](int i) {
            const TernaryView& W = *products[size_t(i)].W;
            a.W = W.data;
            a.row_bytes = W.row_bytes();
            a.x16 = W.x16;
            a.x16_groups = W.x16 ? W.x16_groups : 0;
            a.nblocks = W.nblocks();
            return matmul ? k.matmul[int(W.format)] : k.matvec[int(W.format)];
        };
        // A team smaller than planned (a nested region) leaves shares without an owner; the
        // stealing pass covers them.
        const int me = omp_get_thread_num();
        int b = 0, e = 0;
        for (int i = 0; i < nprod; i++) {
            const detail::RowsFn fn = product(i);
            while (shares[i].take_front(me, b, e)) fn(a, b, e, products[size_t(i)].out);
        }
        for (int i = 0; i < nprod; i++) {
            const detail::RowsFn fn = product(i);
            while (shares[i].steal(me, b, e)) fn(a, b, e, products[size_t(i)].out);
        }
    }
}

void run(const TernaryView& W, const QuantizedActs& x, int t0, int ntok, bool matmul,
         const DotOut& out, KernelPath path) {
    const Product p{&W, out};
    run(std::span<const Product>(&p, 1), x, t0, ntok, matmul, path);
}

DotOut dots_out(int32_t* dots, const TernaryView& W) {
    DotOut o;
    o.dots = dots;
    o.ld = size_t(W.rows);
    return o;
}
DotOut float_out(float* y, const TernaryView& W, const QuantizedActs& x, int t0) {
    DotOut o;
    o.y = y;
    o.ld = size_t(W.rows);
    o.gamma = W.gamma;
    o.inv_scale = x.inv_scale.data() + t0;
    return o;
}

void check_token(const QuantizedActs& x, int r) {
    if (r < 0 || r >= x.rows)
        fail("ternary_matvec: token " + std::to_string(r) + " out of range [0, " +
             std::to_string(x.rows) + ")");
}

}  // namespace

void ternary_matvec_dots(int32_t* dots, const TernaryView& W, const QuantizedActs& x, int r,
                         KernelPath path) {
    check_shapes(W, x, "ternary_matvec");
    check_token(x, r);
    run(W, x, r, 1, false, dots_out(dots, W), path);
}

void ternary_matmul_dots(int32_t* dots, const TernaryView& W, const QuantizedActs& x,
                         KernelPath path) {
    check_shapes(W, x, "ternary_matmul");
    if (x.rows > 0) run(W, x, 0, x.rows, true, dots_out(dots, W), path);
}

void ternary_matvec(float* y, const TernaryView& W, const QuantizedActs& x, int r,
                    KernelPath path) {
    check_shapes(W, x, "ternary_matvec");
    check_token(x, r);
    run(W, x, r, 1, false, float_out(y, W, x, r), path);
}
void ternary_matvec(float* y, const TernaryView& W, const QuantizedActs& x, int r) {
    ternary_matvec(y, W, x, r, active_kernel_path());
}

void ternary_matmul(float* y, const TernaryView& W, const QuantizedActs& x, KernelPath path) {
    check_shapes(W, x, "ternary_matmul");
    if (x.rows == 0) return;
    run(W, x, 0, x.rows, x.rows > 1, float_out(y, W, x, 0), path);
}
void ternary_matmul(float* y, const TernaryView& W, const QuantizedActs& x) {
    ternary_matmul(y, W, x, active_kernel_path());
}

void ternary_matmuls(std::span<const TernaryOutput> products, const QuantizedActs& x) {
    constexpr size_t kMax = 8;  // a fixed array: decode allocates nothing per token
    if (products.size() > kMax) fail("ternary_matmuls: more than 8 products in one call");
    if (x.rows == 0) return;
    std::array<Product, kMax> ps;
    for (size_t i = 0; i < products.size(); i++) {
        check_shapes(*products[i].W, x, "ternary_matmuls");
        ps[i] = {products[i].W, float_out(products[i].y, *products[i].W, x, 0)};
    }
    run(std::span<const Product>(ps.data(), products.size()), x, 0, x.rows, x.rows > 1,
        active_kernel_path());
}

void ternary_linear_forward(float* y, const TernaryView& W, const float* x, int R,
                            QuantizedActs& xq) {
    quantize_acts_int8(xq, x, R, W.cols);
    ternary_matmul(y, W, xq);
}

}  // namespace np::kern
