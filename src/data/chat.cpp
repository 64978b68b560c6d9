#include "data/chat.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace np::data {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";

// Accumulates text and special tokens; text between two specials is encoded as one run.
struct Builder {
    const TextEncoder& enc;
    TokenizedDoc out;
    std::string pending;
    uint8_t pending_mask = 0;

    void text(std::string_view s, uint8_t m) {
        if (!pending.empty() && m != pending_mask) flush();
        pending += s;
        pending_mask = m;
    }
    void special(int32_t id, uint8_t m) {
        flush();
        out.ids.push_back(id);
        out.mask.push_back(m);
    }
    void flush() {
        if (pending.empty()) return;
        std::vector<int32_t> ids = enc.encode(pending);
        out.ids.insert(out.ids.end(), ids.begin(), ids.end());
        out.mask.insert(out.mask.end(), ids.size(), pending_mask);
        pending.clear();
    }
};

void check_role(const std::string& role) {
    if (role != "system" && role != "user" && role != "assistant")
        fail("message role \"" + role + "\" (expected system, user or assistant)");
}

const std::string& get_string(const nlohmann::json& r, const char* key) {
    auto it = r.find(key);
    if (it == r.end()) fail(std::string("missing field \"") + key + "\"");
    if (!it->is_string()) fail(std::string("field \"") + key + "\" is not a string");
    return it->get_ref<const std::string&>();
}

}  // namespace

void split_thinking(std::string_view content, std::string& reasoning, std::string& answer) {
    size_t open = content.find(kThinkOpen);
    size_t close = content.find(kThinkClose);
    if (open == std::string_view::npos && close == std::string_view::npos) {
        reasoning.clear();
        answer = std::string(trim(content));
        return;
    }
    if (close == std::string_view::npos) fail("assistant content has <think> without </think>");
    size_t body = 0;
    if (open != std::string_view::npos) {
        if (open > close) fail("assistant content has </think> before <think>");
        if (!trim(content.substr(0, open)).empty())
            fail("assistant content has text before <think>");
        body = open + kThinkOpen.size();
    }
    std::string_view rest = content.substr(close + kThinkClose.size());
    if (rest.find(kThinkOpen) != std::string_view::npos ||
        rest.find(kThinkClose) != std::string_view::npos ||
        content.substr(body, close - body).find(kThinkOpen) != std::string_view::npos)
        fail("assistant content has more than one think block");
    reasoning = std::string(trim(content.substr(body, close - body)));
    answer = std::string(trim(rest));
}

std::string render_chat_text(const std::vector<Message>& messages) {
    std::string s;
    for (const Message& m : messages) {
        check_role(m.role);
        s += "<|im_start|>" + m.role + "\n";
        if (m.role == "assistant") {
            std::string reasoning, answer;
            split_thinking(m.content, reasoning, answer);
            s += "<think>\n" + reasoning + "\n</think>\n\n" + answer;
        } else {
            s += m.content;
        }
        s += "<|im_end|>\n";
    }
    return s;
}

TokenizedDoc tokenize_document(const Document& doc, const TextEncoder& enc) {
    Builder b{enc, {}, {}, 0};
    const SpecialIds sp = enc.specials();
    if (!doc.is_chat) {
        b.special(sp.end_of_text, 1);
        b.text(doc.text, 1);
        b.flush();
        return std::move(b.out);
    }
    if (!enc.has_chat_specials())
        fail(
            "the tokenizer lacks one of <|im_start|> <|im_end|> <think> </think>, which chat data "
            "needs");
    b.special(sp.end_of_text, 0);
    for (const Message& m : doc.messages) {
        check_role(m.role);
        b.special(sp.im_start, 0);
        b.text(m.role, 0);
        b.text("\n", 0);
        if (m.role == "assistant") {
            std::string reasoning, answer;
            split_thinking(m.content, reasoning, answer);
            b.special(sp.think, 1);
            b.text("\n", 1);
            b.text(reasoning, 1);
            b.text("\n", 1);
            b.special(sp.think_end, 1);
            b.text("\n\n", 1);
            b.text(answer, 1);
            b.special(sp.im_end, 1);
        } else {
            b.text(m.content, 0);
            b.special(sp.im_end, 0);
        }
        b.text("\n", 0);
    }
    b.flush();
    return std::move(b.out);
}

void split_gsm8k(std::string_view answer, std::string& reasoning, std::string& final_answer) {
    size_t hash = answer.rfind("####");
    std::string_view body = hash == std::string_view::npos ? answer : answer.substr(0, hash);
    final_answer = hash == std::string_view::npos ? "" : std::string(trim(answer.substr(hash + 4)));
    std::string r;
    for (size_t i = 0; i < body.size();) {
        if (body.compare(i, 2, "<<") == 0) {
            size_t end = body.find(">>", i + 2);
            if (end != std::string_view::npos) {
                i = end + 2;
                continue;
            }
        }
        r += body[i++];
    }
    reasoning = std::string(trim(r));
}

Document record_to_document(const nlohmann::json& r) {
    if (!r.is_object()) fail("record is not a JSON object");
    Document d;
    if (r.contains("text")) {
        d.text = get_string(r, "text");
        return d;
    }
    d.is_chat = true;
    if (r.contains("messages")) {
        const auto& msgs = r["messages"];
        if (!msgs.is_array() || msgs.empty()) fail("field \"messages\" is not a non-empty array");
        bool has_assistant = false;
        for (size_t i = 0; i < msgs.size(); ++i) {
            const auto& m = msgs[i];
            if (!m.is_object()) fail("messages[" + std::to_string(i) + "] is not an object");
            Message msg;
            try {
                msg.role = get_string(m, "role");
                msg.content = get_string(m, "content");
                check_role(msg.role);
                if (msg.role == "assistant") {
                    std::string a, b;
                    split_thinking(msg.content, a, b);
                    has_assistant = true;
                }
            } catch (const Error& e) {
                fail("messages[" + std::to_string(i) + "]: " + e.what());
            }
            d.messages.push_back(std::move(msg));
        }
        if (!has_assistant) fail("\"messages\" has no assistant turn (nothing to learn)");
        return d;
    }
    if (r.contains("system")) d.messages.push_back({"system", get_string(r, "system")});
    if (r.contains("instruction")) {
        std::string user = get_string(r, "instruction");
        if (r.contains("input")) {
            const std::string& in = get_string(r, "input");
            if (!trim(in).empty()) user += "\n\n" + in;
        }
        d.messages.push_back({"user", user});
        d.messages.push_back({"assistant", get_string(r, "output")});
        try {  // a record is accepted only if its conversation can be rendered
            std::string reasoning, answer;
            split_thinking(d.messages.back().content, reasoning, answer);
        } catch (const Error& e) {
            fail(std::string("field \"output\": ") + e.what());
        }
        return d;
    }
    if (r.contains("question")) {
        d.messages.push_back({"user", get_string(r, "question")});
        const std::string& answer = get_string(r, "answer");
        std::string reasoning, final_answer;
        if (r.contains("thinking")) {
            reasoning = std::string(trim(get_string(r, "thinking")));
            final_answer = std::string(trim(answer));
        } else {
            split_gsm8k(answer, reasoning, final_answer);
            if (final_answer.empty()) {  // no "#### N": a direct answer
                final_answer = std::string(trim(answer));
                reasoning.clear();
            }
        }
        if (reasoning.find(kThinkOpen) != std::string::npos ||
            reasoning.find(kThinkClose) != std::string::npos)
            fail("field \"thinking\" contains a think tag");
        // The answer follows </think> in the rendered turn, where a tag would open a second block.
        if (final_answer.find(kThinkOpen) != std::string::npos ||
            final_answer.find(kThinkClose) != std::string::npos)
            fail("field \"answer\" contains a think tag");
        d.messages.push_back({"assistant", "<think>" + reasoning + "</think>" + final_answer});
        return d;
    }
    fail("unknown record shape (expected text, messages, instruction/output or question/answer)");
}

uint64_t count_words(std::string_view s) {
    uint64_t n = 0;
    bool in_word = false;
    for (char c : s) {
        bool sp = is_space(c);
        if (!sp && !in_word) ++n;
        in_word = !sp;
    }
    return n;
}

}  // namespace np::data
