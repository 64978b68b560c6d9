// Tiny configurations that hold every module kind, for whole-model tests.
#pragma once
#include <random>
#include <vector>

#include "model/config.h"

namespace np::test {

inline ModelConfig tiny_config(const std::string& pattern, const std::string& act, bool tied) {
    ModelConfig c;
    c.vocab_size = 23;
    c.d_model = 8;
    c.n_layers = int(pattern.size());
    c.layer_pattern = pattern;
    c.tie_embeddings = tied;
    c.max_seq_len = 64;
    c.ffn = {act, 12};
    c.mamba = {8, 2, 4, 3, 1, 4};  // d_inner 16, 4 heads of 4, d_state 3
    c.mla = {8, 2, 3, 4, 3, 5, 100.0};
    c.validate();
    return c;
}

// B rows of T tokens with document boundaries (id 0) inside the rows.
inline std::vector<int32_t> tiny_tokens(int B, int T, int V, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> tok(1, V - 1);
    std::vector<int32_t> t(size_t(B) * T);
    for (auto& x : t) x = tok(rng);
    for (int b = 0; b < B; b++) t[size_t(b) * T + T / 2 - b] = 0;
    return t;
}

}  // namespace np::test
