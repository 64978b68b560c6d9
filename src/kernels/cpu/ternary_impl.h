// Internal interface between the kernel dispatcher (ternary_kernels.cpp) and the per-ISA row
// kernels (ternary_avx2.cpp, ternary_avx512.cpp, ternary_neon.cpp, scalar in ternary_kernels.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/cpu/ternary_kernels.h"

namespace np::kern::detail {

// Where a finished dot product goes: int32 (dots) and/or scaled float (y), element [t, o] at
// t*ld+o.
struct DotOut {
    int32_t* dots = nullptr;
    float* y = nullptr;
    size_t ld = 0;
    float gamma = 1.f;
    const float* inv_scale = nullptr;  // 1/s per token
    void put(int t, int o, int32_t d) const {
        if (dots) dots[size_t(t) * ld + size_t(o)] = d;
        if (y) y[size_t(t) * ld + size_t(o)] = ternary_scale_dot(d, gamma, inv_scale[t]);
    }
};

struct KernelArgs {
    const uint8_t* W = nullptr;  // packed rows
    size_t row_bytes = 0;
    const uint8_t* x16 = nullptr;  // rows [0, 16*x16_groups) repacked (ternary_x16.h), or null
    int x16_groups = 0;
    int nblocks = 0;            // 256-weight blocks per row
    const int8_t* x = nullptr;  // token 0 of ntok, zero-padded rows of nblocks*256
    size_t ldx = 0;
    const int32_t* xsum = nullptr;  // per token sum of x
    int ntok = 1;
    // matmul scratch: kMatmulRowTile rows of nblocks*256 decoded codes, 64-byte aligned.
    uint8_t* codes = nullptr;
};

// Rows a matmul kernel may decode at once into KernelArgs::codes.
inline constexpr int kMatmulRowTile = 4;
// Rows the AVX-512 VNNI kernels take at once from repacked matrices (3 groups of 16).
inline constexpr int kX16TileRows = 48;

// Computes rows [o0, o1) for every token of a (matvec kernels: a.ntok == 1).
using RowsFn = void (*)(const KernelArgs& a, int o0, int o1, const DotOut& out);
struct PathKernels {
    RowsFn matvec[2] = {nullptr, nullptr};  // indexed by TernaryFormat
    RowsFn matmul[2] = {nullptr, nullptr};
};

PathKernels scalar_kernels();
PathKernels avx2_kernels();        // null functions where not compiled (non-x86)
PathKernels avx512vnni_kernels();  // idem
PathKernels neon_kernels();        // idem (non-ARM)

}  // namespace np::kern::detail
