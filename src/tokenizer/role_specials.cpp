#include "tokenizer/role_specials.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace np {

SpecialIds special_ids_of(const Tokenizer& tok) {
    SpecialIds ids;
    for (const SpecialRole& role : kSpecialRoles) {
        ids.*role.id = -1;
        for (std::string_view s : role.spellings) {
            if (s.empty()) break;
            if (const auto id = tok.special_id(s)) {
                ids.*role.id = *id;
                break;
            }
        }
    }
    return ids;
}

Tokenizer with_nanoprime_specials(const Tokenizer& tok, std::string* added) {
    const SpecialIds have = special_ids_of(tok);
    if (have.complete()) return tok;
    nlohmann::json j = nlohmann::json::parse(tok.to_json());
    int32_t next = tok.vocab_size();
    std::string names;
    for (const SpecialRole& role : kSpecialRoles) {
        if (have.*role.id >= 0) continue;
        j["added_tokens"].push_back({{"id", next++},
                                     {"content", std::string(role.spellings[0])},
                                     {"single_word", false},
                                     {"lstrip", false},
                                     {"rstrip", false},
                                     {"normalized", false},
                                     {"special", true}});
        names += (names.empty() ? "" : " ") + std::string(role.spellings[0]);
    }
    if (added) *added = names;
    return Tokenizer::from_json(j.dump(), "tokenizer with NanoPrime's special tokens");
}

Tokenizer load_model_tokenizer(const std::string& path) {
    return with_nanoprime_specials(Tokenizer::load(path));
}

void require_nanoprime_specials(const Tokenizer& tok, const std::string& origin) {
    const SpecialIds ids = special_ids_of(tok);
    std::string missing;
    for (const SpecialRole& role : kSpecialRoles)
        if (ids.*role.id < 0)
            missing += (missing.empty() ? "" : ", ") + std::string(role.spellings[0]) + " (" +
                       std::string(role.name) + ")";
    if (!missing.empty())
        fail(origin + ": the tokenizer has no special token for " + missing +
             "; `nanoprime tokenizer convert --add-specials --in TOKENIZER --out tokenizer.json` "
             "adds them after its last id, keeping every existing id");
    if (ids.end_of_text != 0)
        fail(origin + ": <|endoftext|> is id " + std::to_string(ids.end_of_text) +
             ", but NanoPrime models start a document at id 0 (DESIGN §2.6): a tokenizer whose id "
             "0 is another token cannot be used");
}

}  // namespace np
