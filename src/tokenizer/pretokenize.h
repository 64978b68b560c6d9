// Pre-tokenization: how text between added tokens is cut into words before byte-level BPE.
// Mirrors Hugging Face tokenizers' pre-tokenizers `Digits` and `ByteLevel` (GPT-2 regex
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+), hand-written: no
// regex library, and arbitrary (also invalid UTF-8) bytes are accepted.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace np {

struct PreTokenizerConfig {
    // HF `Digits` pre-tokenizer in front of ByteLevel; individual_digits=true puts every numeric
    // character (Unicode N*) in a word of its own.
    bool split_digits = false;
    bool individual_digits = true;
    // HF `ByteLevel` pre-tokenizer options.
    bool add_prefix_space = false;
    bool use_regex = true;
};

// Appends the GPT-2 regex matches of `s` to `out`, in order; they cover `s` exactly.
void split_gpt2(std::string_view s, std::vector<std::string_view>& out);

// Cuts one text segment into words. Views point into `segment` or into `scratch` (used when a
// prefix space is added); both must outlive `words`. `words` is appended to.
void pre_tokenize(const PreTokenizerConfig& cfg, std::string_view segment, std::string& scratch,
                  std::vector<std::string_view>& words);

}  // namespace np
