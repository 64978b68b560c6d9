// NanoPrime's special-token roles on a loaded tokenizer (tokenizer/specials.h): finding them,
// adding the missing ones, and the checks a model's tokenizer must pass.
#pragma once
#include <string>

#include "tokenizer/specials.h"
#include "tokenizer/tokenizer.h"

namespace np {

// Each role's id among the tokenizer's special tokens (-1 when it has none).
SpecialIds special_ids_of(const Tokenizer& tok);

// The tokenizer with every missing role added as a special token after its last id, in role order
// and spelled as NanoPrime spells it (HF's add_special_tokens); every existing id is kept. Returns
// a copy equal to `tok` when nothing is missing. `added` (optional) receives the new tokens' text.
Tokenizer with_nanoprime_specials(const Tokenizer& tok, std::string* added = nullptr);

// Tokenizer::load, then with_nanoprime_specials: how every command that runs or trains a model
// reads a tokenizer file, so a Hugging Face tokenizer gives the same ids everywhere.
Tokenizer load_model_tokenizer(const std::string& path);

// np::Error naming `origin` unless every role is present and <|endoftext|> is id 0, which the model
// treats as the start of a document (DESIGN §2.6).
void require_nanoprime_specials(const Tokenizer& tok, const std::string& origin);

}  // namespace np
