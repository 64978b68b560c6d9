#include "kernels/cpu/dispatch.h"

#include <atomic>
#include <cstdlib>

#include "core/error.h"

namespace np::kern {

namespace {
constexpr int kUnset = -1;
std::atomic<int> g_active{kUnset};
}  // namespace

const char* kernel_path_name(KernelPath p) {
    switch (p) {
        case KernelPath::Scalar:
            return "scalar";
        case KernelPath::AVX2:
            return "avx2";
        case KernelPath::AVX512VNNI:
            return "avx512vnni";
        case KernelPath::NEON:
            return "neon";
    }
    return "?";
}

KernelPath parse_kernel_path(const std::string& name) {
    for (KernelPath p :
         {KernelPath::Scalar, KernelPath::AVX2, KernelPath::AVX512VNNI, KernelPath::NEON})
        if (name == kernel_path_name(p)) return p;
    fail("kernel path '" + name + "' (NP_KERNEL): expected scalar, avx2, avx512vnni or neon");
}

bool kernel_path_available(KernelPath p) {
    switch (p) {
        case KernelPath::Scalar:
            return true;
#if defined(__x86_64__) || defined(__i386__)
        case KernelPath::AVX2:
            return __builtin_cpu_supports("avx2");
        case KernelPath::AVX512VNNI:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
                   __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                   __builtin_cpu_supports("avx512vnni");
#else
        case KernelPath::AVX2:
        case KernelPath::AVX512VNNI:
            return false;
#endif
        case KernelPath::NEON:
#if defined(__ARM_NEON)
            return true;
#else
            return false;
#endif
    }
    return false;
}

std::vector<KernelPath> available_kernel_paths() {
    std::vector<KernelPath> v;
    for (KernelPath p :
         {KernelPath::Scalar, KernelPath::NEON, KernelPath::AVX2, KernelPath::AVX512VNNI})
        if (kernel_path_available(p)) v.push_back(p);
    return v;
}

KernelPath best_kernel_path() {
    return available_kernel_paths().back();
}

void set_kernel_path(KernelPath p) {
    if (!kernel_path_available(p))
        fail(std::string("kernel path '") + kernel_path_name(p) +
             "' is not available on this CPU/build");
    g_active.store(int(p));
}

KernelPath active_kernel_path() {
    const int a = g_active.load();
    if (a != kUnset) return KernelPath(a);
    KernelPath p = best_kernel_path();
    if (const char* env = std::getenv("NP_KERNEL"); env && *env) {
        p = parse_kernel_path(env);
        if (!kernel_path_available(p))
            fail(std::string("NP_KERNEL=") + env +
                 ": that path is not available on this CPU/build");
    }
    g_active.store(int(p));
    return p;
}

}  // namespace np::kern
