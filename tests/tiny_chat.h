// A tiny trained BPE tokenizer (the six specials + arithmetic chat text) and a two-layer model
// that fits it: for generation, eval and GGUF tests that need real token ids quickly.
#pragma once
#include <string>
#include <vector>

#include "model/model.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/tokenizer.h"

namespace np::test {

inline const Tokenizer& tiny_tokenizer() {
    static const Tokenizer t = [] {
        std::vector<std::string> texts;
        for (int i = 0; i < 40; ++i)
            texts.push_back("user\nWhat is " + std::to_string(i * 37) + " + " +
                            std::to_string(i * 11) + "?\nassistant\nthe answer is here\n\n");
        BpeTrainOptions opt;
        opt.vocab_size = 300;
        opt.threads = 1;
        return train_bpe_texts(texts, opt);
    }();
    return t;
}

inline Model<float> tiny_model(int32_t vocab, uint64_t seed) {
    ModelConfig c;
    c.vocab_size = vocab;
    c.d_model = 8;
    c.n_layers = 2;
    c.layer_pattern = "MA";
    c.tie_embeddings = true;
    c.max_seq_len = 256;
    c.ffn = {"swiglu", 12};
    c.mamba = {8, 2, 4, 3, 1, 4};
    c.mla = {8, 2, 3, 4, 3, 5, 100.0};
    c.validate();
    Model<float> m(c);
    m.init_random(seed);
    return m;
}

}  // namespace np::test
