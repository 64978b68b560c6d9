// `nanoprime perplexity`: how well a model predicts a text, on any decoder (a GGUF's packed engine,
// a checkpoint packed or in fp32), as llama-perplexity measures it.
//
// The text's tokens are scored in windows of at most ctx tokens that start stride tokens apart
// (the sliding window of Hugging Face's perplexity guide). Each window is fed as a document of its
// own (<|endoftext|> first) and scores only the tokens no earlier window scored, so every token
// after the first is scored exactly once and, beyond the first window, with at least
// ctx - 1 - stride tokens of context. stride == ctx - 2 gives windows that share one token
// (fastest); smaller strides give more context per scored token at proportionally more compute.
#pragma once
#include <cstdint>
#include <functional>
#include <span>

#include "infer/decoder.h"

namespace np::eval {

struct PerplexityOptions {
    int64_t ctx = 0;     // window length in tokens, <|endoftext|> included; >= 3
    int64_t stride = 0;  // tokens between window starts, in [1, ctx - 2]
};

struct PerplexityResult {
    int64_t tokens = 0;   // scored targets
    int64_t windows = 0;  // decoder passes
    double nll_sum = 0;   // sum of -ln p(target), natural log
    double nll_sq = 0;    // sum of squares, for the standard error
    double seconds = 0;
    double mean_nll() const { return tokens > 0 ? nll_sum / double(tokens) : 0.0; }
    double ppl() const;
    // Standard error of the perplexity, from that of the mean NLL (delta method, as
    // llama-perplexity reports it).
    double ppl_stderr() const;
};

// Throws np::Error naming --ctx-size / --stride when the options are out of range, or when the
// text has fewer than 2 tokens. progress(windows done, windows total, result so far) may be empty.
PerplexityResult perplexity(
    infer::Decoder& dec, std::span<const int32_t> text, const PerplexityOptions& opt,
    const std::function<void(int64_t, int64_t, const PerplexityResult&)>& progress = {});

}  // namespace np::eval
