// Chat records and rendering (data/chat.cpp): a JSON record -> document -> ChatML tokens. With
// the byte-level encoder every token is a byte or a special, so the tokens must spell exactly
// "<|endoftext|>" + render_chat_text(messages) (or + the text), and the loss mask must cover
// exactly the assistant turns from <think> through <|im_end|>.
#include <nlohmann/json.hpp>

#include "data/chat.h"
#include "fuzz_common.h"

namespace {

using namespace np::data;

std::string spell(const TokenizedDoc& d) {
    static const char* const kSpecial[] = {"<|endoftext|>", "<|pad|>", "<|im_start|>",
                                           "<|im_end|>",    "<think>", "</think>"};
    std::string s;
    for (int32_t id : d.ids) {
        NP_FUZZ_CHECK(id >= 0 && id < kNumSpecial + 256);
        if (id < kNumSpecial)
            s += kSpecial[id];
        else
            s += char(id - kNumSpecial);
    }
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using np::fuzz::accepts;
    const std::string_view text = np::fuzz::as_text(data, size);
    std::string a, b;
    if (accepts([&] { split_thinking(text, a, b); })) {
        NP_FUZZ_CHECK(a.size() + b.size() <= text.size());
        NP_FUZZ_CHECK(a.find("<think>") == std::string::npos);
    }
    split_gsm8k(text, a, b);
    NP_FUZZ_CHECK(a.size() + b.size() <= text.size());
    count_words(text);

    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return 0;
    Document doc;
    if (!accepts([&] { doc = record_to_document(j); })) return 0;
    const ByteEncoder enc;
    const TokenizedDoc t = tokenize_document(doc, enc);
    NP_FUZZ_CHECK(t.ids.size() == t.mask.size());
    size_t ones = 0;
    for (uint8_t m : t.mask) ones += m;
    if (!doc.is_chat) {
        NP_FUZZ_CHECK(spell(t) == "<|endoftext|>" + doc.text);
        NP_FUZZ_CHECK(ones == t.ids.size());
        return 0;
    }
    NP_FUZZ_CHECK(spell(t) == "<|endoftext|>" + render_chat_text(doc.messages));
    size_t want = 0;  // <think> \n R \n </think> \n\n A <|im_end|>
    for (const Message& m : doc.messages) {
        if (m.role != "assistant") continue;
        split_thinking(m.content, a, b);
        want += 7 + a.size() + b.size();
    }
    NP_FUZZ_CHECK(ones == want);
    return 0;
}
