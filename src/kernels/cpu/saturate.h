// float -> int8 conversion of an already rounded value, saturating at [-128, 127].
#pragma once
#include <cstdint>

namespace np::kern {

// NaN gives -128, as _mm256_max_ps(NaN, -128) does in the SIMD paths. A plain int8_t(x) of NaN or
// of a value outside the range is undefined behaviour, and NaN does reach the quantizers: inf - inf
// in the activations of a model whose (finite, validated) weights are extreme.
inline int8_t saturate_int8(float r) {
    return r >= 127.f ? int8_t(127) : r > -128.f ? int8_t(r) : int8_t(-128);
}

}  // namespace np::kern
