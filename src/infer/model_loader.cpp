#include "infer/model_loader.h"

#include <filesystem>

#include "core/error.h"
#include "infer/reference_decoder.h"
#include "model/checkpoint.h"

namespace np::infer {

namespace fs = std::filesystem;

LoadedModel load_model(const std::string& path, const LoadOptions& opt) {
    if (!fs::exists(path)) fail("model: " + path + " does not exist");
    if (!fs::is_directory(path)) fail("model: " + path + " is not a checkpoint directory");
    std::string tok_path = opt.tokenizer_path;
    if (tok_path.empty()) {
        tok_path = (fs::path(path) / "tokenizer.json").string();
        if (!fs::exists(tok_path))
            fail("model: no tokenizer: " + tok_path +
                 " does not exist; pass --tokenizer PATH or copy tokenizer.json into the "
                 "checkpoint directory");
    }
    Tokenizer tok = Tokenizer::load(tok_path);
    auto model = load_checkpoint(path);
    if (tok.vocab_size() > model.cfg.vocab_size)
        fail("model: tokenizer " + tok_path + " has " + std::to_string(tok.vocab_size()) +
             " tokens, more than the model's vocab_size " + std::to_string(model.cfg.vocab_size));
    return {std::make_unique<ReferenceDecoder>(std::move(model)), std::move(tok), path};
}

}  // namespace np::infer
