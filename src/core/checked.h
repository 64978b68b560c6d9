// Overflow-checked integer arithmetic for sizes that come from files (shapes, counts, ids) and the
// limits such sizes are held to before anything is allocated from them. A file can state any
// number; products of two such numbers must be computed so that a wrap-around is an error naming
// the file and field, never a small (or zero) size that passes the checks after it.
#pragma once
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>

#include "core/error.h"

namespace np {

// Sane model limits: far above any model this engine runs, far below what wraps a 64-bit size.
inline constexpr int64_t kMaxVocabSize = int64_t(1) << 21;  // token ids (the largest in use: ~1M)
inline constexpr int64_t kMaxLayers = 4096;
inline constexpr int64_t kMaxDim = int64_t(1) << 30;     // any one dimension, derived ones too
inline constexpr int64_t kMaxParams = int64_t(1) << 37;  // 137e9 parameters

// a * b and a + b, or std::nullopt when the exact result does not fit in T.
template <std::integral T>
constexpr std::optional<T> mul_checked(T a, T b) {
    T r;
    if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
    return r;
}
template <std::integral T>
constexpr std::optional<T> add_checked(T a, T b) {
    T r;
    if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
    return r;
}

// The same, throwing np::Error "`what`: size overflows (a * b)" instead.
template <std::integral T>
T checked_mul(T a, T b, const std::string& what) {
    if (auto r = mul_checked(a, b)) return *r;
    fail(what + ": size overflows (" + std::to_string(a) + " * " + std::to_string(b) + ")");
}
template <std::integral T>
T checked_add(T a, T b, const std::string& what) {
    if (auto r = add_checked(a, b)) return *r;
    fail(what + ": size overflows (" + std::to_string(a) + " + " + std::to_string(b) + ")");
}

}  // namespace np
