#include "server/openai_api.h"

#include <cctype>
#include <cmath>
#include <random>

#include "core/error.h"
#include "tokenizer/role_specials.h"

namespace np::server {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message) {
    throw ApiError{400, message, param};
}

const char* type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::null:
            return "null";
        case json::value_t::boolean:
            return "a boolean";
        case json::value_t::string:
            return "a string";
        case json::value_t::array:
            return "an array";
        case json::value_t::object:
            return "an object";
        default:
            return "a number";
    }
}

// The optional field `name` of `body` as a number in [lo, hi]; integer: whole numbers only.
double number(const json& body, const char* name, double lo, double hi, double fallback,
              bool integer = false) {
    if (!body.contains(name) || body[name].is_null()) return fallback;
    const json& v = body[name];
    if (!v.is_number())
        bad(name, std::string("'") + name + "' must be a number, got " + type_name(v));
    const double x = v.get<double>();
    if (integer && (!v.is_number_integer() && x != std::floor(x)))
        bad(name, std::string("'") + name + "' must be an integer");
    if (!(x >= lo && x <= hi))
        bad(name, std::string("'") + name + "' must be in [" + json(lo).dump() + ", " +
                      json(hi).dump() + "], got " + v.dump());
    return x;
}

bool boolean(const json& body, const char* name, bool fallback) {
    if (!body.contains(name) || body[name].is_null()) return fallback;
    if (!body[name].is_boolean())
        bad(name, std::string("'") + name + "' must be a boolean, got " + type_name(body[name]));
    return body[name].get<bool>();
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts.
std::string content_text(const json& c, const std::string& where) {
    if (c.is_string()) return c.get<std::string>();
    if (c.is_null()) return "";
    if (!c.is_array())
        bad(where,
            "'" + where + "' must be a string or an array of text parts, got " + type_name(c));
    std::string text;
    for (size_t i = 0; i < c.size(); i++) {
        const std::string part = where + "[" + std::to_string(i) + "]";
        if (!c[i].is_object() || !c[i].contains("type") || c[i]["type"] != "text" ||
            !c[i].contains("text") || !c[i]["text"].is_string())
            bad(part, "'" + part + "' must be {\"type\": \"text\", \"text\": \"...\"}" +
                          " (only text parts are supported)");
        text += c[i]["text"].get<std::string>();
    }
    return text;
}

void set_thinking(const json& body, infer::GenerateOptions& o) {
    if (body.contains("reasoning_effort") && !body["reasoning_effort"].is_null()) {
        const json& e = body["reasoning_effort"];
        const std::string v = e.is_string() ? e.get<std::string>() : "";
        if (v == "none" || v == "minimal") {
            o.mode = infer::ThinkMode::Off;
        } else if (v == "low" || v == "medium" || v == "high") {
            o.mode = infer::ThinkMode::On;
            o.think_budget = v == "low" ? 64 : v == "medium" ? 256 : -1;
        } else {
            bad("reasoning_effort",
                "'reasoning_effort' must be one of none, minimal, low, medium, high, got " +
                    e.dump());
        }
    }
    if (body.contains("think") && !body["think"].is_null()) {
        const json& t = body["think"];
        if (t.is_boolean()) {
            o.mode = t.get<bool>() ? infer::ThinkMode::On : infer::ThinkMode::Off;
        } else if (t.is_string() && (t == "on" || t == "off" || t == "auto")) {
            o.mode = infer::parse_think_mode(t.get<std::string>());
        } else {
            bad("think", "'think' must be \"on\", \"off\", \"auto\" or a boolean, got " + t.dump());
        }
    }
    o.think_budget = int(number(body, "think_budget", -1, 1 << 20, o.think_budget, true));
}

}  // namespace

json error_json(const ApiError& e) {
    return {{"error",
             {{"message", e.message},
              {"type", e.type},
              {"param", e.param.empty() ? json(nullptr) : json(e.param)},
              {"code", nullptr}}}};
}

std::string json_text(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

ApiRequest parse_request(const std::string& body_text, bool chat, const RequestDefaults& d) {
    json body;
    try {
        body = json::parse(body_text);
    } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
        bad("", std::string("the request body is not valid JSON: ") + e.what());
    }
    if (!body.is_object())
        bad("", std::string("the request body must be a JSON object, got ") + type_name(body));
    ApiRequest r;
    r.chat = chat;
    r.options = d.options;
    if (body.contains("model") && !body["model"].is_null()) {
        if (!body["model"].is_string()) bad("model", "'model' must be a string");
        r.model = body["model"].get<std::string>();
    }
    if (chat) {
        if (!body.contains("messages")) bad("messages", "'messages' is required");
        const json& m = body["messages"];
        if (!m.is_array())
            bad("messages", std::string("'messages' must be an array, got ") + type_name(m));
        if (m.empty()) bad("messages", "'messages' must not be empty");
        for (size_t i = 0; i < m.size(); i++) {
            const std::string where = "messages[" + std::to_string(i) + "]";
            if (!m[i].is_object()) bad(where, "'" + where + "' must be an object");
            if (!m[i].contains("role") || !m[i]["role"].is_string())
                bad(where + ".role", "'" + where + ".role' must be a string");
            std::string role = m[i]["role"].get<std::string>();
            if (role == "developer") role = "system";
            if (role != "system" && role != "user" && role != "assistant")
                bad(where + ".role", "'" + where + ".role': unknown role '" + role +
                                         "' (expected system, developer, user or assistant)");
            if (!m[i].contains("content"))
                bad(where + ".content", "'" + where + ".content' is required");
            r.messages.push_back({role, content_text(m[i]["content"], where + ".content")});
        }
        if (r.messages.back().role == "assistant")
            bad("messages", "the last message must not be the assistant's (nothing to answer)");
    } else {
        if (!body.contains("prompt")) bad("prompt", "'prompt' is required");
        const json& p = body["prompt"];
        if (p.is_array() && p.size() == 1 && p[0].is_string())
            r.prompt = p[0].get<std::string>();
        else if (p.is_string())
            r.prompt = p.get<std::string>();
        else
            bad("prompt", "'prompt' must be a string (or an array of one string)");
        if (r.prompt.empty()) bad("prompt", "'prompt' must not be empty");
    }
    r.stream = boolean(body, "stream", false);
    r.options.ignore_eos = boolean(body, "ignore_eos", false);
    if (body.contains("stream_options") && !body["stream_options"].is_null() &&
        !body["stream_options"].is_object())
        bad("stream_options", "'stream_options' must be an object");
    r.n = int(number(body, "n", 1, d.max_n, 1, true));
    for (const char* name : {"max_completion_tokens", "max_tokens"})
        if (body.contains(name) && !body[name].is_null()) {
            r.options.max_tokens = int(number(body, name, 1, 1 << 30, 1, true));
            r.max_tokens_field = name;
            break;
        }
    infer::SamplerOptions& s = r.options.sampling;
    s.temperature = float(number(body, "temperature", 0, 2, s.temperature));
    s.top_p = float(number(body, "top_p", 0, 1, s.top_p));
    if (s.top_p == 0) bad("top_p", "'top_p' must be in (0, 1]");
    s.top_k = int(number(body, "top_k", 0, 1 << 30, s.top_k, true));
    s.min_p = float(number(body, "min_p", 0, 0.999999, s.min_p));
    s.presence_penalty = float(number(body, "presence_penalty", -2, 2, s.presence_penalty));
    s.frequency_penalty = float(number(body, "frequency_penalty", -2, 2, s.frequency_penalty));
    s.repetition_penalty = float(number(body, "repeat_penalty", 0.01, 100, s.repetition_penalty));
    if (body.contains("seed") && !body["seed"].is_null()) {
        s.seed = uint64_t(int64_t(number(body, "seed", -9.2e18, 9.2e18, 0, true)));
    } else if (d.random_seed) {
        std::random_device rd;
        s.seed = (uint64_t(rd()) << 32) | rd();
    }
    if (body.contains("stop") && !body["stop"].is_null()) {
        const json& st = body["stop"];
        std::vector<std::string> stop;
        if (st.is_string()) {
            stop.push_back(st.get<std::string>());
        } else if (st.is_array() && st.size() <= 16) {
            for (const json& x : st) {
                if (!x.is_string()) bad("stop", "'stop' must hold strings only");
                stop.push_back(x.get<std::string>());
            }
        } else {
            bad("stop", "'stop' must be a string or an array of at most 16 strings");
        }
        for (const auto& x : stop)
            if (x.empty()) bad("stop", "'stop' strings must not be empty");
        r.options.stop = stop;
    }
    set_thinking(body, r.options);
    if (!chat) r.options.mode = infer::ThinkMode::Auto;  // raw text: no thinking prefill
    return r;
}

void tokenize_request(ApiRequest& r, const Tokenizer& tok, int64_t ctx) {
    if (r.chat) {
        try {
            r.prompt_tokens = infer::render_chat(tok, r.messages, r.options.mode);
        } catch (const Error& e) {
            bad("messages", e.what());
        }
    } else {
        r.prompt_tokens = {special_ids_of(tok).end_of_text};
        tok.encode_into(r.prompt, false, r.prompt_tokens);
    }
    const int64_t n = int64_t(r.prompt_tokens.size());
    if (n >= ctx)
        bad(r.chat ? "messages" : "prompt", "the prompt is " + std::to_string(n) +
                                                " tokens, which leaves no room in the context of " +
                                                std::to_string(ctx) + " tokens");
    const std::string& field = r.max_tokens_field;
    if (!field.empty() && n + r.options.max_tokens > ctx)
        bad(field, "'" + field + "' " + std::to_string(r.options.max_tokens) +
                       " with the prompt's " + std::to_string(n) +
                       " tokens is beyond the context of " + std::to_string(ctx) +
                       " tokens (at most " + std::to_string(ctx - n) + ")");
    if (field.empty()) r.options.max_tokens = int(ctx - n);
}

const char* finish_reason(infer::StopReason r) {
    return r == infer::StopReason::EndOfTurn || r == infer::StopReason::StopString ? "stop"
                                                                                   : "length";
}

ThinkSplitter::Delta ThinkSplitter::push(std::string_view piece, bool thinking) {
    Delta d;
    if (!thinking) {
        std::string_view s = piece;
        if (!content_started_) {
            while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
                s.remove_prefix(1);
            content_started_ = !s.empty();
        }
        d.content = s;
        return d;
    }
    pending_.append(piece);
    for (std::string_view tag : {"<think>", "</think>"})
        for (size_t p; (p = pending_.find(tag)) != std::string::npos;)
            pending_.erase(p, tag.size());
    // Hold back what may still become a tag, and trailing whitespace (dropped if the block ends).
    size_t keep = pending_.size();
    const size_t lt = pending_.rfind('<');
    if (lt != std::string::npos && (std::string_view("</think>").substr(0, pending_.size() - lt) ==
                                        std::string_view(pending_).substr(lt) ||
                                    std::string_view("<think>").substr(0, pending_.size() - lt) ==
                                        std::string_view(pending_).substr(lt)))
        keep = lt;
    while (keep > 0 && std::isspace(static_cast<unsigned char>(pending_[keep - 1]))) keep--;
    std::string_view out = std::string_view(pending_).substr(0, keep);
    if (!reasoning_started_) {
        while (!out.empty() && std::isspace(static_cast<unsigned char>(out.front())))
            out.remove_prefix(1);
        reasoning_started_ = !out.empty();
    }
    d.reasoning = out;
    pending_.erase(0, keep);
    return d;
}

ThinkSplitter::Delta ThinkSplitter::finish() {
    pending_.clear();
    return {};
}

json usage_json(const std::vector<ChoiceResult>& choices, int64_t prompt_tokens,
                int64_t cached_tokens) {
    int64_t completion = 0, reasoning = 0;
    for (const auto& c : choices) {
        completion += int64_t(c.gen.tokens.size());
        reasoning += c.gen.thinking_tokens;
    }
    return {{"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion},
            {"total_tokens", prompt_tokens + completion},
            {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}},
            {"completion_tokens_details", {{"reasoning_tokens", reasoning}}}};
}

json response_json(const ApiRequest& req, const std::string& id, int64_t created,
                   const std::string& model, const std::vector<ChoiceResult>& choices) {
    json out = {{"id", id},
                {"object", req.chat ? "chat.completion" : "text_completion"},
                {"created", created},
                {"model", model}};
    json list = json::array();
    int64_t cached = 0;
    for (size_t i = 0; i < choices.size(); i++) {
        const infer::Generation& g = choices[i].gen;
        cached = int64_t(req.prompt_tokens.size()) - g.prompt_tokens;
        json c = {{"index", i}, {"finish_reason", finish_reason(g.stop_reason)}};
        if (req.chat) {
            const bool has_block = g.text.find("</think>") != std::string::npos ||
                                   g.text.find("<think>") != std::string::npos;
            c["message"] = {{"role", "assistant"},
                            {"content", g.answer},
                            {"reasoning_content", has_block ? json(g.thinking) : json(nullptr)}};
        } else {
            c["text"] = g.text;
            c["logprobs"] = nullptr;
        }
        list.push_back(c);
    }
    out["choices"] = list;
    out["usage"] =
        usage_json(choices, int64_t(req.prompt_tokens.size()), std::max<int64_t>(0, cached));
    return out;
}

json chunk_json(const ApiRequest& req, const std::string& id, int64_t created,
                const std::string& model, int index, const ThinkSplitter::Delta* delta,
                const char* finish, bool first) {
    json c = {{"index", index}, {"finish_reason", finish ? json(finish) : json(nullptr)}};
    if (req.chat) {
        json d = json::object();
        if (first) d["role"] = "assistant";
        if (delta && !delta->reasoning.empty()) d["reasoning_content"] = delta->reasoning;
        if (delta && !delta->content.empty()) d["content"] = delta->content;
        c["delta"] = d;
    } else {
        c["text"] = delta ? delta->reasoning + delta->content : "";
        c["logprobs"] = nullptr;
    }
    return {{"id", id},
            {"object", req.chat ? "chat.completion.chunk" : "text_completion"},
            {"created", created},
            {"model", model},
            {"choices", json::array({c})}};
}

}  // namespace np::server
