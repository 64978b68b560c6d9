#include "eval/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace np::eval {

double PerplexityResult::ppl() const {
    return std::exp(mean_nll());
}

double PerplexityResult::ppl_stderr() const {
    if (tokens < 2) return 0.0;
    const double n = double(tokens), mean = mean_nll();
    const double var = std::max(0.0, nll_sq / n - mean * mean) * n / (n - 1);
    return ppl() * std::sqrt(var / n);
}

namespace {

// -ln softmax(logits)[target], in double.
double nll_of(std::span<const float> logits, int32_t target) {
    const float mx = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float l : logits) sum += std::exp(double(l) - double(mx));
    return std::log(sum) + double(mx) - double(logits[size_t(target)]);
}

}  // namespace

PerplexityResult perplexity(
    infer::Decoder& dec, std::span<const int32_t> text, const PerplexityOptions& opt,
    const std::function<void(int64_t, int64_t, const PerplexityResult&)>& progress) {
    const int64_t n = int64_t(text.size());
    if (opt.ctx < 3) fail("--ctx-size: expected >= 3 tokens, got " + std::to_string(opt.ctx));
    // A window holds <|endoftext|> and then at most ctx - 1 tokens of the text.
    const int64_t span = opt.ctx - 1;
    // Consecutive windows share at least one token, which gives the next window's first scored
    // token its context.
    if (opt.stride < 1 || opt.stride > span - 1)
        fail("--stride: expected 1 to " + std::to_string(span - 1) + " (ctx - 2), got " +
             std::to_string(opt.stride));
    if (n < 2)
        fail("perplexity: the text has " + std::to_string(n) + " token(s), at least 2 needed");
    const int32_t V = dec.config().vocab_size;
    for (int32_t t : text)
        if (t < 0 || t >= V)
            fail("perplexity: token id " + std::to_string(t) +
                 " is outside the model's vocabulary (" + std::to_string(V) + ")");

    // Windows start at 0, stride, 2*stride, ... until one reaches the end of the text.
    const int64_t total = n <= span ? 1 : 1 + (n - span + opt.stride - 1) / opt.stride;
    PerplexityResult r;
    std::vector<float> logits(size_t(V), 0.0f);
    std::vector<int32_t> head;
    const auto t0 = std::chrono::steady_clock::now();
    int64_t scored_end = 1;  // text[0] has no context and is never scored
    for (int64_t begin = 0; scored_end < n; begin += opt.stride) {
        const int64_t end = std::min(n, begin + span);
        const int64_t first = std::max(scored_end, begin + 1);  // first target of this window
        // Feed <|endoftext|> and text[begin, first) at once: the logits then predict text[first].
        head.assign(1, Tokenizer::kEndOfText);
        head.insert(head.end(), text.begin() + begin, text.begin() + first);
        dec.reset();
        dec.prefill(head, logits);
        for (int64_t t = first; t < end; ++t) {
            const double nll = nll_of(logits, text[size_t(t)]);
            r.nll_sum += nll;
            r.nll_sq += nll * nll;
            r.tokens++;
            if (t + 1 < end) dec.step(text[size_t(t)], logits);
        }
        scored_end = end;
        r.windows++;
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (progress) progress(r.windows, total, r);
    }
    return r;
}

}  // namespace np::eval
