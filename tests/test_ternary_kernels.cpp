// Packed ternary formats (TQ2_0 / TQ1_0), int8 activation quantisation and the int8 x ternary
// kernels on every dispatch path this machine has.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/act_quant.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/q8_0.h"
#include "kernels/cpu/ternary_kernels.h"
#include "kernels/cpu/ternary_pack.h"
#include "kernels/cpu/ternary_x16.h"
#include "model/ops.h"

using namespace np;
using namespace np::kern;

namespace {

std::vector<int8_t> random_ternary(size_t n, std::mt19937& rng) {
    std::uniform_int_distribution<int> d(-1, 1);
    std::vector<int8_t> w(n);
    for (auto& v : w) v = int8_t(d(rng));
    return w;
}

// Activations set directly (bypassing the quantiser) so the full int8 range, -128 included, is hit.
QuantizedActs random_acts(int R, int C, std::mt19937& rng, int lo = -128, int hi = 127) {
    QuantizedActs a;
    a.rows = R;
    a.cols = C;
    a.cols_padded = ternary_padded_cols(C);
    a.q.assign(size_t(R) * a.cols_padded, 0);
    a.scale.resize(R);
    a.inv_scale.resize(R);
    a.qsum.resize(R);
    std::uniform_int_distribution<int> d(lo, hi);
    std::uniform_real_distribution<float> s(1.f, 100.f);
    for (int r = 0; r < R; r++) {
        int32_t sum = 0;
        for (int c = 0; c < C; c++) {
            a.q[size_t(r) * a.cols_padded + c] = int8_t(d(rng));
            sum += a.q[size_t(r) * a.cols_padded + c];
        }
        a.qsum[r] = sum;
        a.scale[r] = s(rng);
        a.inv_scale[r] = 1.f / a.scale[r];
    }
    return a;
}

// ---- ggml's reference (de)quantisers, transcribed from their published loop structure, as an
// independent check that our bytes are what a standard GGUF reader expects. ----
void ggml_quantize_tq2(const float* x, uint8_t* out, int64_t k) {
    for (int64_t i = 0; i < k / 256; i++, out += 66) {
        float amax = 0;
        for (int j = 0; j < 256; j++) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax, id = d ? 1.f / d : 0.f;
        const uint16_t dh = fp32_to_fp16(d);
        std::memcpy(out + 64, &dh, 2);
        for (int j = 0; j < 64; j += 32) {
            for (int m = 0; m < 32; ++m) {
                uint8_t q = 0;
                for (int n = 0; n < 4; ++n) {
                    const int xi = int(std::lround(x[m + n * 32] * id)) + 1;
                    q += (xi & 3) << (2 * n);
                }
                out[j + m] = q;
            }
            x += 128;
        }
    }
}

void ggml_quantize_tq1(const float* x, uint8_t* out, int64_t k) {
    for (int64_t i = 0; i < k / 256; i++, out += 54) {
        float amax = 0;
        for (int j = 0; j < 256; j++) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax, id = d ? 1.f / d : 0.f;
        const uint16_t dh = fp32_to_fp16(d);
        std::memcpy(out + 52, &dh, 2);
        uint8_t* qs = out;
        uint8_t* qh = out + 48;
        for (int j = 0; j < 32; j += 32) {
            for (int m = 0; m < 32; ++m) {
                uint8_t q = 0;
                for (int n = 0; n < 5; ++n)
                    q = uint8_t(q * 3 + int(std::lround(x[m + n * 32] * id)) + 1);
                qs[j + m] = uint8_t((uint16_t(q) * 256 + 242) / 243);
            }
            x += 160;
        }
        for (int j = 32; j < 48; j += 16) {
            for (int m = 0; m < 16; ++m) {
                uint8_t q = 0;
                for (int n = 0; n < 5; ++n)
                    q = uint8_t(q * 3 + int(std::lround(x[m + n * 16] * id)) + 1);
                qs[j + m] = uint8_t((uint16_t(q) * 256 + 242) / 243);
            }
            x += 80;
        }
        for (int j = 0; j < 4; ++j) {
            uint8_t q = 0;
            for (int m = 0; m < 4; ++m)
                q = uint8_t(q * 3 + int(std::lround(x[j + m * 4] * id)) + 1);
            q = uint8_t(q * 3);
            qh[j] = uint8_t((uint16_t(q) * 256 + 242) / 243);
        }
        x += 16;
    }
}

void ggml_dequantize_tq2(const uint8_t* blk, float* y, int64_t k) {
    for (int64_t i = 0; i < k / 256; i++, blk += 66) {
        uint16_t dh;
        std::memcpy(&dh, blk + 64, 2);
        const float d = fp16_to_fp32(dh);
        for (int j = 0; j < 64; j += 32)
            for (int l = 0; l < 4; ++l)
                for (int m = 0; m < 32; ++m) *y++ = float(((blk[j + m] >> (l * 2)) & 3) - 1) * d;
    }
}

void ggml_dequantize_tq1(const uint8_t* blk, float* y, int64_t k) {
    static const uint8_t pow3[6] = {1, 3, 9, 27, 81, 243};
    for (int64_t i = 0; i < k / 256; i++, blk += 54) {
        uint16_t dh;
        std::memcpy(&dh, blk + 52, 2);
        const float d = fp16_to_fp32(dh);
        for (int j = 0; j < 32; j += 32)
            for (int n = 0; n < 5; ++n)
                for (int m = 0; m < 32; ++m) {
                    const uint8_t q = uint8_t(blk[j + m] * pow3[n]);
                    *y++ = float(int16_t((uint16_t(q) * 3) >> 8) - 1) * d;
                }
        for (int j = 32; j < 48; j += 16)
            for (int n = 0; n < 5; ++n)
                for (int m = 0; m < 16; ++m) {
                    const uint8_t q = uint8_t(blk[j + m] * pow3[n]);
                    *y++ = float(int16_t((uint16_t(q) * 3) >> 8) - 1) * d;
                }
        for (int n = 0; n < 4; ++n)
            for (int j = 0; j < 4; ++j) {
                const uint8_t q = uint8_t(blk[48 + j] * pow3[n]);
                *y++ = float(int16_t((uint16_t(q) * 3) >> 8) - 1) * d;
            }
    }
}

struct Shape {
    int rows, cols;
};
const Shape kShapes[] = {{1, 1}, {3, 256}, {7, 300}, {5, 513}, {33, 1024}, {2, 1000}};
const TernaryFormat kFormats[] = {TernaryFormat::TQ2_0, TernaryFormat::TQ1_0};

}  // namespace

TEST(TernaryKernelsFp16, RoundTripAndRounding) {
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // nan
        ASSERT_EQ(fp32_to_fp16(fp16_to_fp32(uint16_t(h))), h) << h;
    }
    EXPECT_EQ(fp32_to_fp16(1.f), 0x3c00);
    EXPECT_EQ(fp32_to_fp16(65504.f), 0x7bff);
    EXPECT_EQ(fp32_to_fp16(1e6f), 0x7c00);
    EXPECT_EQ(fp32_to_fp16(1.f + 1.f / 2048), 0x3c00);                     // tie -> even
    EXPECT_EQ(fp32_to_fp16(1.f + 3.f / 2048), 0x3c02);                     // tie -> even (up)
    EXPECT_EQ(fp16_to_fp32(fp32_to_fp16(1e-5f)), 1.001358032226562e-05f);  // subnormal half
#ifdef __FLT16_MAX__
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> e(-30.f, 17.f);
    for (int i = 0; i < 100000; i++) {
        const float f = std::ldexp(1.f + float(rng() % 8388608) / 8388608.f, int(e(rng)));
        _Float16 ref = _Float16(f);
        uint16_t bits;
        std::memcpy(&bits, &ref, 2);
        ASSERT_EQ(fp32_to_fp16(f), bits) << f;
    }
#endif
}

TEST(TernaryKernelsPack, RoundTripBothFormats) {
    std::mt19937 rng(1);
    for (TernaryFormat f : kFormats)
        for (Shape s : kShapes) {
            const auto w = random_ternary(size_t(s.rows) * s.cols, rng);
            const PackedTernary p = pack_ternary(f, w.data(), s.rows, s.cols, 0.0123f);
            const size_t bb = f == TernaryFormat::TQ2_0 ? 66 : 54;
            ASSERT_EQ(p.data.size(), size_t(s.rows) * ((s.cols + 255) / 256) * bb);
            std::vector<int8_t> back(w.size(), 7);
            unpack_ternary(back.data(), p.view());
            EXPECT_EQ(back, w) << "format " << int(f) << " shape " << s.rows << "x" << s.cols;
        }
    // Every TQ1_0 byte value that packing produces decodes to its 5 trits (exhaustive over codes).
    std::vector<int8_t> all(256 * 243);
    for (int c = 0; c < 243; c++)
        for (int k = 0; k < 256; k++) all[size_t(c) * 256 + k] = int8_t((c + k) % 3 - 1);
    const PackedTernary p = pack_ternary_1p6bit(all.data(), 243, 256, 1.f);
    std::vector<int8_t> back(all.size());
    unpack_ternary(back.data(), p.view());
    EXPECT_EQ(back, all);
}

// The 16-row repacking holds every weight of every whole group, and only those; a TQ1_0 matrix
// is refused.
TEST(TernaryKernelsPack, RepackedRowsHoldEveryWeight) {
    std::mt19937 rng(11);
    for (Shape s : kShapes) {
        const auto w = random_ternary(size_t(s.rows) * s.cols, rng);
        const PackedTernary p = pack_ternary_2bit(w.data(), s.rows, s.cols, 0.5f);
        const TernaryX16 x = TernaryX16::repack(p.view());
        ASSERT_EQ(x.groups(), s.rows / 16);
        ASSERT_EQ(x.bytes(), size_t(x.groups()) * 16 * size_t(ternary_padded_cols(s.cols)) / 4);
        for (int r = 0; r < 16 * x.groups(); r++)
            for (int k = 0; k < ternary_padded_cols(s.cols); k++)
                ASSERT_EQ(x.code(r, k), k < s.cols ? w[size_t(r) * s.cols + k] + 1 : 1)
                    << "row " << r << " weight " << k;
    }
    const auto w = random_ternary(32 * 256, rng);
    EXPECT_THROW(TernaryX16::repack(pack_ternary_1p6bit(w.data(), 32, 256, 1.f).view()), Error);
}

TEST(TernaryKernelsPack, BytesMatchGgmlReferenceQuantizer) {
    std::mt19937 rng(2);
    const int rows = 4, cols = 768;
    auto w = random_ternary(size_t(rows) * cols, rng);
    w[5] = 1;  // every block has a nonzero weight, so ggml's d = amax = gamma
    for (int b = 0; b < rows * cols / 256; b++) w[size_t(b) * 256 + 7] = -1;
    const float gamma = 0.0371f;
    std::vector<float> wf(w.size());
    for (size_t i = 0; i < w.size(); i++) wf[i] = float(w[i]) * gamma;
    for (TernaryFormat f : kFormats) {
        const PackedTernary p = pack_ternary(f, w.data(), rows, cols, gamma);
        std::vector<uint8_t> ref(p.data.size());
        if (f == TernaryFormat::TQ2_0)
            ggml_quantize_tq2(wf.data(), ref.data(), int64_t(w.size()));
        else
            ggml_quantize_tq1(wf.data(), ref.data(), int64_t(w.size()));
        EXPECT_EQ(p.data, ref) << "format " << int(f);
        // And ggml's dequantiser reads Wq * fp16(gamma) back.
        std::vector<float> deq(w.size());
        if (f == TernaryFormat::TQ2_0)
            ggml_dequantize_tq2(p.data.data(), deq.data(), int64_t(w.size()));
        else
            ggml_dequantize_tq1(p.data.data(), deq.data(), int64_t(w.size()));
        const float gh = fp16_to_fp32(fp32_to_fp16(gamma));
        for (size_t i = 0; i < w.size(); i++) ASSERT_EQ(deq[i], float(w[i]) * gh) << i;
    }
}

TEST(TernaryKernelsPack, PaddingAndErrors) {
    // A 300-wide row is padded to 512 with zero weights: ggml's dequantiser sees zeros there.
    std::vector<int8_t> w(300, 1);
    const PackedTernary p = pack_ternary_2bit(w.data(), 1, 300, 1.f);
    std::vector<float> deq(512);
    ggml_dequantize_tq2(p.data.data(), deq.data(), 512);
    for (int k = 0; k < 512; k++) EXPECT_EQ(deq[k], k < 300 ? 1.f : 0.f) << k;

    w[17] = 2;
    EXPECT_THROW(pack_ternary_2bit(w.data(), 1, 300, 1.f), np::Error);
    w[17] = 0;
    EXPECT_THROW(pack_ternary_1p6bit(w.data(), 1, 300, 0.f), np::Error);
    PackedTernary bad = pack_ternary_2bit(w.data(), 1, 300, 1.f);
    bad.data[3] = 0xff;  // code 3 in every field
    std::vector<int8_t> back(300);
    EXPECT_THROW(unpack_ternary(back.data(), bad.view()), np::Error);
}

TEST(TernaryKernelsActs, Int8IdenticalToOpsQuantizer) {
    std::mt19937 rng(4);
    const int R = 6, C = 333;
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> x(size_t(R) * C);
    for (auto& v : x) v = nd(rng);
    for (int c = 0; c < C; c++) x[size_t(1) * C + c] *= 1e4f;   // large
    for (int c = 0; c < C; c++) x[size_t(2) * C + c] = 0.f;     // all zero: max clamps at 1e-5
    for (int c = 0; c < C; c++) x[size_t(3) * C + c] *= 1e-7f;  // below the 1e-5 floor
    for (int c = 0; c < C; c++) x[size_t(4) * C + c] = float(c % 9 - 4) * 0.5f;  // many ties
    QuantizedActs q;
    quantize_acts_int8(q, x.data(), R, C);
    std::vector<float> xhat(x.size());
    quantize_activations_int8(xhat.data(), x.data(), R, C);
    ASSERT_EQ(q.cols_padded, 512);
    for (int r = 0; r < R; r++) {
        float m = 0;
        for (int c = 0; c < C; c++) m = std::max(m, std::fabs(x[size_t(r) * C + c]));
        const float s = 127.f / std::max(m, 1e-5f);
        EXPECT_EQ(q.scale[r], s);
        EXPECT_EQ(q.inv_scale[r], 1.f / s);
        int32_t sum = 0;
        for (int c = 0; c < C; c++) {
            // ops keeps xhat = q / s; q / s * s rounds back to the integer q.
            const float ops_q = std::nearbyint(xhat[size_t(r) * C + c] * s);
            ASSERT_EQ(float(q.row(r)[c]), ops_q) << r << "," << c;
            sum += q.row(r)[c];
        }
        EXPECT_EQ(q.qsum[r], sum);
        for (int c = C; c < q.cols_padded; c++) ASSERT_EQ(q.row(r)[c], 0);
    }
}

TEST(TernaryKernelsActs, SimdQuantiserGivesTheReferenceBytes) {
    // Lengths around the 32- and 8-lane bodies and the tails; ties at .5 after scaling, and a
    // row whose maximum sits in the scalar tail.
    std::mt19937 rng(9);
    std::normal_distribution<float> nd(0.f, 2.f);
    for (int C : {1, 7, 8, 31, 32, 33, 63, 100, 256, 333, 768, 1000}) {
        const int R = 3;
        std::vector<float> x(size_t(R) * C);
        for (auto& v : x) v = nd(rng);
        for (int c = 0; c < C; c++) x[size_t(C) + c] = float(c % 7 - 3) * 0.25f;
        x[size_t(2) * C + C - 1] = 50.f;
        QuantizedActs fast, ref;
        quantize_acts_int8(fast, x.data(), R, C);
        quantize_acts_int8_reference(ref, x.data(), R, C);
        ASSERT_EQ(fast.q, ref.q) << "C=" << C;
        EXPECT_EQ(fast.scale, ref.scale) << "C=" << C;
        EXPECT_EQ(fast.inv_scale, ref.inv_scale) << "C=" << C;
        EXPECT_EQ(fast.qsum, ref.qsum) << "C=" << C;
    }
}

// NaN reaches the quantisers (inf - inf in the activations of a model with extreme but finite
// weights); int8_t(NaN) was undefined behaviour, and in practice gave 0 in the scalar code and
// -128 in the SIMD code. Both give -128 now, and inf rows quantise without UB.
TEST(TernaryKernelsActs, NonFiniteInputsSaturate) {
    const float nan = std::nanf(""), inf = std::numeric_limits<float>::infinity();
    const std::vector<float> x = {1.f, nan, -1.f, inf, 1.f, 0.f};
    QuantizedActs fast, ref;
    quantize_acts_int8(fast, x.data(), 2, 3);
    quantize_acts_int8_reference(ref, x.data(), 2, 3);
    for (const QuantizedActs* q : {&fast, &ref}) {
        EXPECT_EQ(q->row(0)[0], 127);
        EXPECT_EQ(q->row(0)[1], -128);
        EXPECT_EQ(q->row(0)[2], -127);
        EXPECT_EQ(q->row(1)[0], -128);  // inf * (127 / inf) = NaN
        EXPECT_EQ(q->row(1)[1], 0);
    }
    std::vector<float> w(64, 1.f);
    w[3] = nan;
    w[40] = inf;
    std::vector<np::kern::BlockQ8_0> b(2);
    np::kern::quantize_row_q8_0(b.data(), w.data(), 64);
    EXPECT_EQ(b[0].qs[3], -128);
    EXPECT_EQ(b[0].qs[4], 127);
    EXPECT_EQ(b[1].qs[8], -128);  // inf * (1 / inf) = NaN
    EXPECT_EQ(b[1].qs[9], 0);
}

TEST(TernaryKernelsDispatch, PathsAndNames) {
    const auto paths = available_kernel_paths();
    ASSERT_FALSE(paths.empty());
    EXPECT_EQ(paths.front(), KernelPath::Scalar);
    EXPECT_EQ(best_kernel_path(), paths.back());
    for (KernelPath p : paths) EXPECT_EQ(parse_kernel_path(kernel_path_name(p)), p);
    EXPECT_THROW(parse_kernel_path("sse9"), np::Error);
    const KernelPath keep = active_kernel_path();
    for (KernelPath p :
         {KernelPath::Scalar, KernelPath::AVX2, KernelPath::AVX512VNNI, KernelPath::NEON}) {
        if (kernel_path_available(p)) {
            set_kernel_path(p);
            EXPECT_EQ(active_kernel_path(), p);
        } else {
            EXPECT_THROW(set_kernel_path(p), np::Error);
        }
    }
    set_kernel_path(keep);
    std::string names;
    for (KernelPath p : paths) names += std::string(kernel_path_name(p)) + " ";
    std::printf("[ kernels  ] paths available here: %s\n", names.c_str());
}

// Integer sums of every path equal the scalar reference's, for matvec and matmul, odd shapes, the
// extreme int8 values, and enough rows to take the multi-threaded branch.
TEST(TernaryKernelsDispatch, EveryPathEqualsScalarExactly) {
    std::mt19937 rng(5);
    const Shape shapes[] = {{1, 1}, {7, 300}, {33, 513}, {130, 2000}, {257, 1024}};
    for (TernaryFormat f : kFormats)
        for (Shape s : shapes)
            for (int R : {1, 3, 5, 9}) {
                const auto w = random_ternary(size_t(s.rows) * s.cols, rng);
                const PackedTernary p = pack_ternary(f, w.data(), s.rows, s.cols, 0.05f);
                const QuantizedActs x = random_acts(R, s.cols, rng);
                // Direct integer reference from the unpacked matrix.
                std::vector<int32_t> ref(size_t(R) * s.rows);
                for (int r = 0; r < R; r++)
                    for (int o = 0; o < s.rows; o++) {
                        int32_t d = 0;
                        for (int c = 0; c < s.cols; c++)
                            d += int32_t(w[size_t(o) * s.cols + c]) * x.row(r)[c];
                        ref[size_t(r) * s.rows + o] = d;
                    }
                for (KernelPath path : available_kernel_paths()) {
                    std::vector<int32_t> mm(ref.size(), -1), mv(ref.size(), -1);
                    ternary_matmul_dots(mm.data(), p.view(), x, path);
                    for (int r = 0; r < R; r++)
                        ternary_matvec_dots(mv.data() + size_t(r) * s.rows, p.view(), x, r, path);
                    EXPECT_EQ(mm, ref) << kernel_path_name(path) << " matmul f" << int(f) << " "
                                       << s.rows << "x" << s.cols << " R" << R;
                    EXPECT_EQ(mv, ref) << kernel_path_name(path) << " matvec f" << int(f) << " "
                                       << s.rows << "x" << s.cols << " R" << R;
                }
            }
}

TEST(TernaryKernelsDispatch, ExtremeValuesDoNotOverflow) {
    // All weights +1 or all -1 against all-(-128) / all-127 activations: the int16 block sums of
    // the AVX2 path reach their bounds exactly.
    const int rows = 4, cols = 4096;
    for (int wv : {-1, 1})
        for (int xv : {-128, 127})
            for (TernaryFormat f : kFormats) {
                std::vector<int8_t> w(size_t(rows) * cols, int8_t(wv));
                const PackedTernary p = pack_ternary(f, w.data(), rows, cols, 1.f);
                std::mt19937 rng(6);
                QuantizedActs x = random_acts(2, cols, rng, xv, xv);
                for (KernelPath path : available_kernel_paths()) {
                    std::vector<int32_t> mm(size_t(2) * rows), mv(rows);
                    ternary_matmul_dots(mm.data(), p.view(), x, path);
                    ternary_matvec_dots(mv.data(), p.view(), x, 0, path);
                    for (int o = 0; o < rows; o++) {
                        EXPECT_EQ(mv[o], wv * xv * cols) << kernel_path_name(path);
                        EXPECT_EQ(mm[o], wv * xv * cols) << kernel_path_name(path);
                        EXPECT_EQ(mm[rows + o], wv * xv * cols) << kernel_path_name(path);
                    }
                }
            }
}

TEST(TernaryKernelsMatmul, EqualsRepeatedMatvecBitwise) {
    std::mt19937 rng(7);
    const int O = 70, I = 777, R = 11;
    for (TernaryFormat f : kFormats) {
        const auto w = random_ternary(size_t(O) * I, rng);
        const PackedTernary p = pack_ternary(f, w.data(), O, I, 0.0137f);
        const QuantizedActs x = random_acts(R, I, rng);
        for (KernelPath path : available_kernel_paths()) {
            std::vector<float> mm(size_t(R) * O), mv(size_t(R) * O);
            ternary_matmul(mm.data(), p.view(), x, path);
            for (int r = 0; r < R; r++)
                ternary_matvec(mv.data() + size_t(r) * O, p.view(), x, r, path);
            EXPECT_EQ(mm, mv) << kernel_path_name(path);
            // The float result is the shared epilogue applied to the exact dot.
            std::vector<int32_t> d(size_t(R) * O);
            ternary_matmul_dots(d.data(), p.view(), x, KernelPath::Scalar);
            for (int r = 0; r < R; r++)
                for (int o = 0; o < O; o++)
                    ASSERT_EQ(mm[size_t(r) * O + o],
                              ternary_scale_dot(d[size_t(r) * O + o], p.gamma, x.inv_scale[r]));
        }
    }
}

TEST(TernaryKernelsMatmul, ThreadCountDoesNotChangeResults) {
    std::mt19937 rng(8);
    const int O = 300, I = 1024, R = 3;
    const auto w = random_ternary(size_t(O) * I, rng);
    const PackedTernary p = pack_ternary_2bit(w.data(), O, I, 0.02f);
    const QuantizedActs x = random_acts(R, I, rng);
    const int keep = omp_get_max_threads();
    std::vector<float> y1(size_t(R) * O), y2(size_t(R) * O);
    omp_set_num_threads(1);
    ternary_matmul(y1.data(), p.view(), x);
    omp_set_num_threads(2);
    ternary_matmul(y2.data(), p.view(), x);
    omp_set_num_threads(keep);
    EXPECT_EQ(y1, y2);
}

// Products of one input in one call (gate + up, q_proj + kv_down) give the bits of separate calls,
// for decode (R = 1) and prefill, at 1 and 2 threads.
TEST(TernaryKernelsMatmul, SharedInputProductsEqualSeparateCalls) {
    std::mt19937 rng(10);
    const int I = 700, rows[] = {36, 301, 1029};
    std::vector<PackedTernary> ps;
    for (int O : rows) {
        const auto w = random_ternary(size_t(O) * I, rng);
        ps.push_back(pack_ternary_2bit(w.data(), O, I, 0.01f * float(O % 7 + 1)));
    }
    const int keep = omp_get_max_threads();
    for (int threads : {1, 2})
        for (int R : {1, 4}) {
            omp_set_num_threads(threads);
            const QuantizedActs x = random_acts(R, I, rng);
            std::vector<std::vector<float>> sep(3), joint(3);
            std::vector<TernaryOutput> outs;
            for (int i = 0; i < 3; i++) {
                sep[i].assign(size_t(R) * rows[i], 0.f);
                joint[i].assign(size_t(R) * rows[i], -1.f);
                ternary_matmul(sep[i].data(), ps[i].view(), x);
            }
            const TernaryView views[] = {ps[0].view(), ps[1].view(), ps[2].view()};
            for (int i = 0; i < 3; i++) outs.push_back({joint[i].data(), &views[i]});
            ternary_matmuls(outs, x);
            for (int i = 0; i < 3; i++)
                EXPECT_EQ(joint[i], sep[i]) << "product " << i << " R " << R << " t " << threads;
        }
    omp_set_num_threads(keep);
    const TernaryView v = ps[0].view();
    std::vector<float> y(rows[0]);
    const std::vector<TernaryOutput> nine(9, TernaryOutput{y.data(), &v});
    EXPECT_THROW(ternary_matmuls(nine, random_acts(1, I, rng)), Error);
}

// The packed inference product against the fp32 training forward (BitLinear, quantize = true) on
// the same latent weights.
TEST(TernaryKernelsBitLinear, MatchesFp32Forward) {
    std::mt19937 rng(9);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (Shape s : {Shape{48, 256}, Shape{37, 300}, Shape{64, 1000}})
        for (TernaryFormat f : kFormats) {
            const int R = 5, O = s.rows, I = s.cols;
            std::vector<float> W(size_t(O) * I), x(size_t(R) * I);
            for (auto& v : W) v = 0.02f * nd(rng);
            for (auto& v : x) v = nd(rng);
            std::vector<float> yref(size_t(R) * O), y(size_t(R) * O);
            BitLinearCache<float> cache;
            cache.resize(R, I, O);
            bitlinear_forward(yref.data(), cache.xhat.data(), cache.wq.data(), x.data(), W.data(),
                              R, I, O, true);

            std::vector<int8_t> wq(W.size());
            const float gamma = ternarize_weights(wq.data(), W.data(), int64_t(W.size()));
            for (size_t i = 0; i < W.size(); i++) ASSERT_EQ(float(wq[i]) * gamma, cache.wq[i]);
            const PackedTernary p = pack_ternary(f, wq.data(), O, I, gamma);
            QuantizedActs xq;
            for (KernelPath path : available_kernel_paths()) {
                quantize_acts_int8(xq, x.data(), R, I);
                ternary_matmul(y.data(), p.view(), xq, path);
                for (int r = 0; r < R; r++) {
                    float scale = 0;
                    for (int o = 0; o < O; o++)
                        scale = std::max(scale, std::fabs(yref[size_t(r) * O + o]));
                    for (int o = 0; o < O; o++) {
                        const float a = y[size_t(r) * O + o], b = yref[size_t(r) * O + o];
                        ASSERT_LE(std::fabs(a - b), 1e-5f * std::fabs(b) + 1e-6f * scale)
                            << kernel_path_name(path) << " r" << r << " o" << o;
                    }
                }
            }
            std::vector<float> y2(y.size());
            ternary_linear_forward(y2.data(), p.view(), x.data(), R, xq);
            EXPECT_EQ(y2, y);
        }
}
