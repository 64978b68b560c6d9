// The BitLinear quantisers (DESIGN §2.2), the one definition the training ops and the packed
// kernels share: a checkpoint's weights pack to exactly the codes training used, and the decoder's
// int8 activations are the ones training saw. Templated on the scalar (float; double for the
// finite-difference checks).
#pragma once
#include <cstdint>

namespace np {

// Ternary weights: gamma = max(mean|W|, 1e-5); wq = gamma * clamp(round_half_even(W/gamma), -1, 1).
// Returns gamma. n = numel(W).
template <class T>
T quantize_weights_ternary(T* wq, const T* W, int64_t n);
// int8 per-row activations: s = 127 / max(max_j|x_j|, 1e-5); xhat = clamp(round(x*s), -128, 127) /
// s.
template <class T>
void quantize_activations_int8(T* xhat, const T* x, int R, int C);

}  // namespace np
