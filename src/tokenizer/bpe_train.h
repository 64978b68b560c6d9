// Training a NanoPrime byte-level BPE: ids 0..5 the fixed specials, 6..261 the 256 bytes, then one
// token per merge. Pre-tokenization splits every digit on its own (Digits + ByteLevel GPT-2 regex).
// The result depends only on the input texts and options (not on the thread count): word counts
// are exact, and ties between equally frequent pairs go to the smallest (left id, right id).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace np {

struct BpeTrainOptions {
    int32_t vocab_size = 4096;   // including the 6 specials and the 256 bytes
    int threads = 0;             // word counting; 0: OpenMP default
    uint64_t min_frequency = 2;  // stop when the best pair is rarer than this
    // Called now and then with (merges done, merges wanted); null: silent.
    std::function<void(size_t, size_t)> progress;
};

// The tokenizer whose pre-tokenizer training uses: NanoPrime specials, bytes, no merges.
Tokenizer nanoprime_base_tokenizer();

// Counts pre-tokenized words (special tokens' text is a separator, never part of a word). Sorted by
// word, so the result is independent of threads.
std::vector<std::pair<std::string, uint64_t>> count_words(std::span<const std::string> texts,
                                                          int threads);

Tokenizer train_bpe(std::vector<std::pair<std::string, uint64_t>> word_counts,
                    const BpeTrainOptions& opt);
Tokenizer train_bpe_texts(std::span<const std::string> texts, const BpeTrainOptions& opt);
Tokenizer train_bpe_files(const std::vector<std::string>& paths, const BpeTrainOptions& opt);

}  // namespace np
