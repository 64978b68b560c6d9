// Scalar activations shared by the training ops (float and double) and the inference kernels,
// which must compute bit-identical values (the SIMD lanes in kernels/cpu/simd_avx2.h follow
// exp_fast step for step).
#pragma once
#include <cmath>
#include <cstdint>

namespace np {

// exp that the compiler can vectorise (std::exp is an opaque libm call): x = k*ln2 + r with |r| <=
// ln2/2, exp(r) by its degree-7 Taylor polynomial (relative error < 2e-7, about 1 ulp), times 2^k
// built in the exponent bits. Inputs are clamped to [-87, 88] (exp(-87) ~ 1.6e-38).
inline float exp_fast(float x) {
    // Written so that NaN lands on -87 (every comparison with it is false): int32_t(k) of a NaN
    // would be undefined behaviour. The NaN itself is given back at the end. (std::fmin is a libm
    // call.)
    const float xc = x > -87.0f ? (x < 88.0f ? x : 88.0f) : -87.0f;
    const float k = std::floor(xc * 1.44269504f + 0.5f);
    const float r = (xc - k * 0.693145751953125f) - k * 1.428606765330187e-06f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = (int32_t(k) + 127) << 23;
    float scale;
    __builtin_memcpy(&scale, &bits, sizeof scale);
    return x == x ? p * scale : x;
}
inline double exp_fast(double x) {
    return std::exp(x);
}  // the double path is the exact reference

template <class T>
inline T sigmoid(T x) {
    return T(1) / (T(1) + exp_fast(-x));
}
template <class T>
inline T silu(T x) {
    return x * sigmoid(x);
}
template <class T>
inline T silu_grad(T x) {  // d/dx x*sigmoid(x)
    T s = sigmoid(x);
    return s * (T(1) + x * (T(1) - s));
}
// silu(x) and silu_grad(x) from one sigmoid: the same values as the two calls, half the exps.
template <class T>
inline void silu_and_grad(T x, T& f, T& df) {
    const T s = sigmoid(x);
    f = x * s;
    df = s * (T(1) + x * (T(1) - s));
}
template <class T>
inline T softplus(T x) {
    return x > T(20) ? x : std::log1p(std::exp(x));
}  // as torch (threshold 20)

}  // namespace np
