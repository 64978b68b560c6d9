// Runtime choice of the SIMD code path of the inference kernels. The library builds without
// -march=native: each path's functions carry their own target attribute and are only called when
// the running CPU has the instructions. NP_KERNEL=scalar|avx2|avx512vnni|neon forces a path (read
// once, at the first kernel call); set_kernel_path does the same from code (tests, benchmarks).
#pragma once
#include <string>
#include <vector>

namespace np::kern {

enum class KernelPath : unsigned char { Scalar, AVX2, AVX512VNNI, NEON };

const char* kernel_path_name(KernelPath p);
// "scalar", "avx2", "avx512vnni", "neon"; anything else throws np::Error naming the valid values.
KernelPath parse_kernel_path(const std::string& name);
// Compiled into this build and supported by the CPU it runs on.
bool kernel_path_available(KernelPath p);
std::vector<KernelPath> available_kernel_paths();  // scalar first, best last
KernelPath best_kernel_path();
// The path the kernels use when none is passed: NP_KERNEL if set (np::Error if that path is not
// available here), else best_kernel_path().
KernelPath active_kernel_path();
void set_kernel_path(KernelPath p);  // throws np::Error if not available

}  // namespace np::kern
