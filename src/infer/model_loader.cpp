#include "infer/model_loader.h"

#include <filesystem>

#include "core/error.h"
#include "infer/gguf.h"
#include "infer/gguf_checksum.h"
#include "infer/packed_decoder.h"
#include "infer/reference_decoder.h"
#include "model/checkpoint.h"
#include "tokenizer/role_specials.h"

namespace np::infer {

namespace fs = std::filesystem;

namespace {

void check_vocab(const Tokenizer& tok, const ModelConfig& cfg, const std::string& origin) {
    if (tok.vocab_size() > cfg.vocab_size)
        fail("model: tokenizer " + origin + " has " + std::to_string(tok.vocab_size()) +
             " tokens, more than the model's vocab_size " + std::to_string(cfg.vocab_size));
}

}  // namespace

LoadedModel load_model(const std::string& path, const LoadOptions& opt) {
    if (!fs::exists(path)) fail("model: " + path + " does not exist");
    if (!fs::is_directory(path)) {
        auto pm = PackedModel::from_gguf(path);
        if (opt.check_tensors) gguf::require_intact_tensors(*pm->file(), path);
        Tokenizer tok = opt.tokenizer_path.empty() ? pm->file()->tokenizer()
                                                   : load_model_tokenizer(opt.tokenizer_path);
        check_vocab(tok, pm->config(), opt.tokenizer_path.empty() ? path : opt.tokenizer_path);
        return {std::make_unique<PackedDecoder>(std::move(pm)), std::move(tok), path};
    }
    std::string tok_path = opt.tokenizer_path;
    if (tok_path.empty()) {
        tok_path = (fs::path(path) / "tokenizer.json").string();
        if (!fs::exists(tok_path))
            fail("model: no tokenizer: " + tok_path +
                 " does not exist; pass --tokenizer PATH or copy tokenizer.json into the "
                 "checkpoint directory");
    }
    Tokenizer tok = load_model_tokenizer(tok_path);
    auto model = load_checkpoint(path);
    check_vocab(tok, model.cfg, tok_path);
    if (opt.reference)
        return {std::make_unique<ReferenceDecoder>(std::move(model)), std::move(tok), path};
    // Checkpoints run on the packed engine too: packing takes a fraction of a second and decodes
    // many times faster than the reference (which re-quantises every weight per token).
    return {std::make_unique<PackedDecoder>(
                PackedModel::from_checkpoint(model, kern::TernaryFormat::TQ2_0)),
            std::move(tok), path};
}

}  // namespace np::infer
