// OpenAI request bodies (server/openai_api.cpp): parsed as a chat and as a completions request.
// A body is refused only with an ApiError (4xx) that names a field, or none for the body itself;
// an accepted one gives generation options the generator accepts, at most max_n choices, and,
// rendered with the byte-level tokenizer into a 512-token context, a prompt and max_tokens that
// fit it. Error bodies and the stream splitter never fail on the bytes they carry.
#include <nlohmann/json.hpp>

#include "fuzz_common.h"
#include "server/openai_api.h"
#include "tokenizer/bpe_train.h"

namespace {

const np::Tokenizer& byte_tokenizer() {
    static const np::Tokenizer t = np::nanoprime_base_tokenizer();
    return t;
}

// Runs fn; false when it refused the request with an ApiError, which must be a 4xx.
template <class F>
bool api_accepts(F&& fn) {
    try {
        fn();
        return true;
    } catch (const np::server::ApiError& e) {
        NP_FUZZ_CHECK(e.status >= 400 && e.status < 500 && !e.message.empty());
        NP_FUZZ_CHECK(!np::server::json_text(np::server::error_json(e)).empty());
        return false;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace np::server;
    const std::string body(np::fuzz::as_text(data, size));
    RequestDefaults d;
    const int64_t ctx = 512;
    for (bool chat : {true, false}) {
        ApiRequest r;
        if (!api_accepts([&] { r = parse_request(body, chat, d); })) continue;
        NP_FUZZ_CHECK(r.chat == chat && r.n >= 1 && r.n <= d.max_n);
        np::infer::validate(r.options);  // an np::Error here escapes: the parser let it through
        if (!api_accepts([&] { tokenize_request(r, byte_tokenizer(), ctx); })) continue;
        NP_FUZZ_CHECK(!r.prompt_tokens.empty());
        NP_FUZZ_CHECK(r.options.max_tokens >= 1 &&
                      int64_t(r.prompt_tokens.size()) + r.options.max_tokens <= ctx);
    }
    ThinkSplitter split;
    const size_t half = body.size() / 2;
    const auto a = split.push(std::string_view(body).substr(0, half), true);
    const auto b = split.push(std::string_view(body).substr(half), false);
    NP_FUZZ_CHECK(a.reasoning.size() + b.content.size() <= body.size());
    return 0;
}
