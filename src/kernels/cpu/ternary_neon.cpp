// ARM NEON kernels: decode each block to codes in {0,1,2} with NEON (vmulq_u8 wraps mod 256, which
// is exactly the TQ1_0 trit shift), then multiply with the int8 activations (sdot where the CPU has
// the dot-product extension, widening multiplies otherwise). Built only on ARM targets.
#include "kernels/cpu/ternary_impl.h"

#if defined(__ARM_NEON)
#include <arm_neon.h>

#include <cstring>

namespace np::kern::detail {

namespace {

void tq2_decode_block(uint8_t* codes, const uint8_t* blk) {
    const uint8x16_t m3 = vdupq_n_u8(3);
    for (int j = 0; j < 2; j++)
        for (int h = 0; h < 2; h++) {
            const uint8x16_t v = vld1q_u8(blk + 32 * j + 16 * h);
            uint8_t* c = codes + 128 * j + 16 * h;
            vst1q_u8(c + 0, vandq_u8(v, m3));
            vst1q_u8(c + 32, vandq_u8(vshrq_n_u8(v, 2), m3));
            vst1q_u8(c + 64, vandq_u8(vshrq_n_u8(v, 4), m3));
            vst1q_u8(c + 96, vshrq_n_u8(v, 6));
        }
}

// (t * 3) >> 8 per byte.
inline uint8x16_t trit(uint8x16_t t) {
    const uint8x8_t three = vdup_n_u8(3);
    return vcombine_u8(vshrn_n_u16(vmull_u8(vget_low_u8(t), three), 8),
                       vshrn_n_u16(vmull_u8(vget_high_u8(t), three), 8));
}

void tq1_decode_block(uint8_t* codes, const uint8_t* blk) {
    const uint8x16_t three = vdupq_n_u8(3);
    for (int h = 0; h < 2; h++) {
        uint8x16_t t = vld1q_u8(blk + 16 * h);
        for (int n = 0; n < 5; n++) {
            vst1q_u8(codes + 32 * n + 16 * h, trit(t));
            t = vmulq_u8(t, three);
        }
    }
    uint8x16_t t = vld1q_u8(blk + 32);
    for (int n = 0; n < 5; n++) {
        vst1q_u8(codes + 160 + 16 * n, trit(t));
        t = vmulq_u8(t, three);
    }
    uint32_t qh32;
    std::memcpy(&qh32, blk + offsetof(BlockTQ1_0, qh), 4);
    static const uint8_t kPow[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
    const uint8x16_t h = vreinterpretq_u8_u32(vdupq_n_u32(qh32));
    vst1q_u8(codes + 240, trit(vmulq_u8(h, vld1q_u8(kPow))));
}

// sum_k codes[k] * x[k] over n (a multiple of 16) bytes.
inline int32_t codes_dot(const uint8_t* codes, const int8_t* x, int n) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int k = 0; k < n; k += 16) {
        const int8x16_t c = vreinterpretq_s8_u8(vld1q_u8(codes + k));
        const int8x16_t v = vld1q_s8(x + k);
#if defined(__ARM_FEATURE_DOTPROD)
        acc = vdotq_s32(acc, c, v);
#else
        int16x8_t p = vmull_s8(vget_low_s8(c), vget_low_s8(v));
        p = vmlal_s8(p, vget_high_s8(c), vget_high_s8(v));
        acc = vpadalq_s16(acc, p);
#endif
    }
    return vaddvq_s32(acc);
}

template <TernaryFormat F>
inline void decode_block(uint8_t* codes, const uint8_t* blk) {
    if constexpr (F == TernaryFormat::TQ2_0)
        tq2_decode_block(codes, blk);
    else
        tq1_decode_block(codes, blk);
}

template <TernaryFormat F>
void matvec(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    const size_t bb = ternary_block_bytes(F);
    alignas(16) uint8_t codes[kTernaryBlock];
    for (int o = o0; o < o1; o++) {
        const uint8_t* row = a.W + size_t(o) * a.row_bytes;
        int32_t sum = 0;
        for (int b = 0; b < a.nblocks; b++) {
            decode_block<F>(codes, row + b * bb);
            sum += codes_dot(codes, a.x + b * kTernaryBlock, kTernaryBlock);
        }
        out.put(0, o, sum - a.xsum[0]);
    }
}

template <TernaryFormat F>
void matmul(const KernelArgs& a, int o0, int o1, const DotOut& out) {
    const size_t bb = ternary_block_bytes(F);
    const int n = a.nblocks * kTernaryBlock;
    for (int o = o0; o < o1; o++) {
        const uint8_t* row = a.W + size_t(o) * a.row_bytes;
        for (int b = 0; b < a.nblocks; b++)
            decode_block<F>(a.codes + b * kTernaryBlock, row + b * bb);
        for (int t = 0; t < a.ntok; t++)
            out.put(t, o, codes_dot(a.codes, a.x + size_t(t) * a.ldx, n) - a.xsum[t]);
    }
}

}  // namespace

PathKernels neon_kernels() {
    PathKernels k;
    k.matvec[0] = matvec<TernaryFormat::TQ2_0>;
    k.matvec[1] = matvec<TernaryFormat::TQ1_0>;
    k.matmul[0] = matmul<TernaryFormat::TQ2_0>;
    k.matmul[1] = matmul<TernaryFormat::TQ1_0>;
    return k;
}

}  // namespace np::kern::detail

#else
namespace np::kern::detail {
PathKernels neon_kernels() {
    return {};
}
}  // namespace np::kern::detail
#endif
