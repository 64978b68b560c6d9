// MLA decode over the int8 latent cache (DESIGN §2.4). Attention for the heads of one token:
//   s_hj = scale * (q̃_h · c_j / s_j + q_rope_h · k_rope_j),  p_h = softmax_j<n(s_h),
//   c̄_h = sum_j p_hj * c_j / s_j                               (c̄ [nh, r])
// where q̃_h is the query with the K half of kv_up folded in, c_j the int8 latent of token j and
// 1/s_j its scale. The cache is never expanded to keys and values.
//
// The fast kernel walks the cache in blocks of kLatentBlock tokens: each block is dequantised
// once for all the heads (the heads share the latent, which is the point of MLA), scores are
// taken four cache rows at a time, and the softmax is online (running maximum and sum, as in
// flash attention). A head's result depends only on its own inputs and n, not on how many heads
// are passed together or on the thread, so prefill in chunks and token-by-token decode give the
// same bits. The reference is the plain two-pass loop with std::exp.
#pragma once
#include <cstdint>
#include <vector>

namespace np::kern {

inline constexpr int kLatentBlock = 64;

struct LatentCache {
    const int8_t* c = nullptr;      // [n, r]
    const float* inv_s = nullptr;   // [n]
    const float* k_rope = nullptr;  // [n, dr]
    int r = 0, dr = 0;
};

// Per-thread scratch, grown on first use and reused.
struct LatentAttentionScratch {
    std::vector<float> block;   // [kLatentBlock, r] dequantised latents
    std::vector<float> scores;  // [kLatentBlock]
    std::vector<float> m, l;    // [nh] running maximum and sum
};

// cbar[nh, r] for queries qt[nh, r], qr[nh, dr] over cache tokens [0, n), n >= 1.
void latent_attention(float* cbar, const float* qt, const float* qr, int nh, int n,
                      const LatentCache& cache, float scale, LatentAttentionScratch& scratch);
void latent_attention_reference(float* cbar, const float* qt, const float* qr, int nh, int n,
                                const LatentCache& cache, float scale);

// The two halves of kv_up (int8 {-1, 0, 1} rows, scale gamma) around the attention, so the cache is
// never expanded: the K half folded into the query, qt[r] = gamma * sum_i qn[i] * W[i, :] over
// W [n_in, r]; the V half applied after the weighted sum, o[i] = gamma * W[i, :] · cbar over
// W [n_out, r].
void absorb_query(float* qt, const float* qn, const int8_t* W, int n_in, int r, float gamma);
void absorb_output(float* o, const float* cbar, const int8_t* W, int n_out, int r, float gamma);
void absorb_query_reference(float* qt, const float* qn, const int8_t* W, int n_in, int r,
                            float gamma);
void absorb_output_reference(float* o, const float* cbar, const int8_t* W, int n_out, int r,
                             float gamma);

}  // namespace np::kern
