#include "kernels/adamw.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/rng.h"

namespace np {
namespace {

// bitsandbytes' create_dynamic_map(signed, max_exponent_bits=7, total_bits=8): for each decade
// 10^-6 .. 10^0, the midpoints of an even split of [0.1, 1] (2^i of them for signed, 2^(i+1) for
// unsigned), plus 0 and 1, sorted.
std::array<float, 256> make_dynamic_code(bool is_signed) {
    std::vector<double> data;
    const int max_exp_bits = 7;
    for (int i = 0; i < max_exp_bits; i++) {
        const int items = is_signed ? (1 << i) + 1 : (1 << (i + 1)) + 1;
        const double scale = std::pow(10.0, -(max_exp_bits - 1) + i);
        for (int k = 0; k + 1 < items; k++) {
            const double lo = 0.1 + 0.9 * k / (items - 1), hi = 0.1 + 0.9 * (k + 1) / (items - 1);
            data.push_back(scale * (lo + hi) / 2);
            if (is_signed) data.push_back(-scale * (lo + hi) / 2);
        }
    }
    data.push_back(0.0);
    data.push_back(1.0);
    std::sort(data.begin(), data.end());
    std::array<float, 256> code{};
    for (size_t i = 0; i < 256; i++) code[i] = float(data.at(i));
    return code;
}

// Index of the code nearest x (code sorted ascending).
inline uint8_t nearest_code(const std::array<float, 256>& code, float x) {
    const float* c = code.data();
    int lo = 0, hi = 255;  // invariant: answer in [lo, hi]
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (c[mid] <= x)
            lo = mid;
        else
            hi = mid;
    }
    return uint8_t(std::fabs(x - c[lo]) <= std::fabs(c[hi] - x) ? lo : hi);
}

// A code book with a lookup table from the top 16 bits of a float (sign, exponent, 7 mantissa bits)
// to the largest code at or below every float with those bits: two neighbouring codes are always
// more than 2^-7 apart relatively, so the bracket of x is found with at most a step or two instead
// of a branchy binary search.
struct CodeIndex {
    const float* c;
    std::vector<uint8_t> lut;
    explicit CodeIndex(const std::array<float, 256>& code) : c(code.data()), lut(65536) {
        for (uint32_t key = 0; key < 65536; key++) {
            const uint32_t bits = key < 0x8000 ? key << 16 : (key << 16) | 0xFFFFu;
            float lowest;
            std::memcpy(&lowest, &bits, 4);
            int j = 0;
            while (j < 255 && c[j + 1] <= lowest) j++;
            lut[key] = uint8_t(j);
        }
    }
    // Rounds x to one of its two neighbouring codes with probability proportional to closeness, so
    // the stored moment is unbiased. Nearest rounding is biased where codes are sparse: a moment
    // that shrinks by less than half a code gap per step (sqrt(v) falls by only 2.5% a step with
    // beta2 0.95) rounds back to the same code forever, v stays too large, the steps too small.
    // u in [0, 1).
    uint8_t stochastic(float x, float u) const {
        if (!(x > c[0])) return 0;  // also NaN
        if (x >= c[255]) return 255;
        uint32_t bits;
        std::memcpy(&bits, &x, 4);
        int lo = lut[bits >> 16];
        while (c[lo + 1] <= x) lo++;
        return uint8_t(u * (c[lo + 1] - c[lo]) < x - c[lo] ? lo + 1 : lo);
    }
};

// Two rounding draws in [0, 1) for element i at a step (step_seed = splitmix64(t)): a hash, so they
// do not depend on threads or on where a run was resumed.
inline void rounding_uniforms(uint64_t step_seed, size_t i, float& u1, float& u2) {
    const uint64_t h = splitmix64(step_seed ^ uint64_t(i));
    u1 = float(h >> 40) * 0x1.0p-24f;
    u2 = float((h >> 16) & 0xFFFFFFu) * 0x1.0p-24f;
}

const CodeIndex& index_signed() {
    static const CodeIndex index(dynamic_code_signed());
    return index;
}
const CodeIndex& index_unsigned() {
    static const CodeIndex index(dynamic_code_unsigned());
    return index;
}

constexpr int kNormChunks = 256;  // fixed partition: the sum's order ignores the thread count

}  // namespace

const std::array<float, 256>& dynamic_code_signed() {
    static const std::array<float, 256> code = make_dynamic_code(true);
    return code;
}

const std::array<float, 256>& dynamic_code_unsigned() {
    static const std::array<float, 256> code = make_dynamic_code(false);
    return code;
}

void quantize_blockwise(const float* x, uint8_t* codes, float* absmax, size_t n, int block,
                        const std::array<float, 256>& code) {
    for (size_t b = 0, k = 0; b < n; b += size_t(block), k++) {
        const size_t e = std::min(n, b + size_t(block));
        float amax = 0;
        for (size_t i = b; i < e; i++) amax = std::max(amax, std::fabs(x[i]));
        absmax[k] = amax;
        const float inv = amax > 0 ? 1.0f / amax : 0.0f;
        for (size_t i = b; i < e; i++) codes[i] = nearest_code(code, x[i] * inv);
    }
}

void dequantize_blockwise(const uint8_t* codes, const float* absmax, float* x, size_t n, int block,
                          const std::array<float, 256>& code) {
    for (size_t i = 0; i < n; i++) x[i] = code[codes[i]] * absmax[i / size_t(block)];
}

uint8_t code_of_zero(const std::array<float, 256>& code) {
    return nearest_code(code, 0.0f);
}

void adamw_update(const AdamWUpdate& u) {
    const double bc1 = 1.0 - std::pow(double(u.beta1), double(u.step));
    const double bc2 = 1.0 - std::pow(double(u.beta2), double(u.step));
    const float b1 = u.beta1, b2 = u.beta2, eps = u.eps;
    const float one_b1 = float(1.0 - double(u.beta1)), one_b2 = float(1.0 - double(u.beta2));
    const float bc2_sqrt = float(std::sqrt(bc2));
    const auto& code_m = dynamic_code_signed();
    const auto& code_v = dynamic_code_unsigned();
    const CodeIndex& index_m = index_signed();
    const CodeIndex& index_v = index_unsigned();
    const uint64_t step_seed = splitmix64(uint64_t(u.step));
    float* P = u.params;
    const float* G = u.grads;
    const int64_t nb = int64_t(u.n_blocks);

#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < nb; k++) {
        const AdamWBlock& blk = u.blocks[k];
        const double lr_e = u.lr * (u.spec_lr_mult ? double(u.spec_lr_mult[blk.spec]) : 1.0);
        const float decay = u.spec_decay[blk.spec] ? float(1.0 - lr_e * u.weight_decay) : 1.0f;
        const float step_size = float(lr_e / bc1);
        float* __restrict p = P + blk.begin;
        const float* __restrict g = G + blk.begin;
        const size_t n = blk.len;
        if (!blk.q8) {
            float* __restrict m = u.m32 + blk.state;
            float* __restrict v = u.v32 + blk.state;
            for (size_t i = 0; i < n; i++) {
                const float gi = g[i];
                const float mi = m[i] * b1 + gi * one_b1;
                const float vi = v[i] * b2 + gi * gi * one_b2;
                m[i] = mi;
                v[i] = vi;
                const float denom = std::sqrt(vi) / bc2_sqrt + eps;
                p[i] = p[i] * decay - step_size * (mi / denom);
            }
            continue;
        }
        // 8-bit: dequantise, update in fp32, requantise against the block's new absmax.
        float mbuf[2048], sbuf[2048];
        uint8_t* mq = u.m8 + blk.state;
        uint8_t* vq = u.v8 + blk.state;
        const float am = u.absmax_m[blk.scale], av = u.absmax_v[blk.scale];
        float new_am = 0, new_as = 0;
        for (size_t i = 0; i < n; i++) {
            const float gi = g[i];
            const float s_old = code_v[vq[i]] * av;  // sqrt(v)
            const float mi = (code_m[mq[i]] * am) * b1 + gi * one_b1;
            const float vi = (s_old * s_old) * b2 + gi * gi * one_b2;
            const float si = std::sqrt(vi);
            mbuf[i] = mi;
            sbuf[i] = si;
            new_am = std::max(new_am, std::fabs(mi));
            new_as = std::max(new_as, si);
            const float denom = si / bc2_sqrt + eps;
            p[i] = p[i] * decay - step_size * (mi / denom);
        }
        u.absmax_m[blk.scale] = new_am;
        u.absmax_v[blk.scale] = new_as;
        const float inv_m = new_am > 0 ? 1.0f / new_am : 0.0f;
        const float inv_s = new_as > 0 ? 1.0f / new_as : 0.0f;
        for (size_t i = 0; i < n; i++) {
            float um, uv;
            rounding_uniforms(step_seed, blk.begin + i, um, uv);
            mq[i] = index_m.stochastic(mbuf[i] * inv_m, um);
            vq[i] = index_v.stochastic(sbuf[i] * inv_s, uv);
        }
    }
}

double sum_squares(const float* g, size_t n) {
    double part[kNormChunks];
#pragma omp parallel for schedule(static)
    for (int c = 0; c < kNormChunks; c++) {
        const size_t b = n * size_t(c) / kNormChunks, e = n * size_t(c + 1) / kNormChunks;
        double s = 0;
        for (size_t i = b; i < e; i++) s += double(g[i]) * double(g[i]);
        part[c] = s;
    }
    double total = 0;
    for (int c = 0; c < kNormChunks; c++) total += part[c];
    return total;
}

void scale_values(float* x, size_t n, float a) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < int64_t(n); i++) x[i] *= a;
}

}  // namespace np
