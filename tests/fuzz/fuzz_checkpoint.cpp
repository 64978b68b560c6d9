// Checkpoint directories (model/checkpoint.cpp, infer/model_loader.cpp): config.json,
// model.safetensors and an optional tokenizer.json, separated by "\n--8<--\n" lines. The config's
// sizes must be checked against the safetensors file before the model is allocated. A directory
// that loads (with a tokenizer) decodes a few tokens on both decoders.
#include "fuzz_common.h"
#include "infer/model_loader.h"
#include "model/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using np::fuzz::accepts;
    const auto& scratch = np::fuzz::Scratch::get();
    const auto parts = np::fuzz::split_parts(np::fuzz::as_text(data, size), 3);
    const std::string dir = scratch.fresh_dir("ckpt");
    scratch.write("ckpt/config.json", parts[0]);
    scratch.write("ckpt/model.safetensors", parts[1]);
    if (!accepts([&] { np::load_checkpoint(dir); })) return 0;
    if (parts[2].empty()) return 0;
    scratch.write("ckpt/tokenizer.json", parts[2]);
    for (const bool reference : {false, true}) {
        np::infer::LoadedModel m;
        np::infer::LoadOptions opt;
        opt.reference = reference;
        if (!accepts([&] { m = np::infer::load_model(dir, opt); })) return 0;
        std::vector<float> logits(size_t(m.decoder->config().vocab_size));
        const int32_t prompt[] = {0, 1, 2};
        m.decoder->prefill(prompt, logits);
        m.decoder->step(0, logits);
    }
    return 0;
}
