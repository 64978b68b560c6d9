// GGUF reader (infer/gguf.cpp) and the model loader on top of it (infer/model_loader.cpp,
// infer/packed_model.cpp): the container checks alone, every metadata getter on every key, the
// full NanoPrime validation, and for a file that passes it, loading the model and decoding.
#include <optional>

#include "fuzz_common.h"
#include "infer/gguf.h"
#include "infer/model_loader.h"

namespace {

using np::fuzz::accepts;
using np::gguf::GgufFile;

void exercise_metadata(const GgufFile& f) {
    for (const std::string& key : f.metadata_keys()) {
        // Typed access with the wrong type is an np::Error, never a misread.
        accepts([&] { f.value_json(key, 4); });
        accepts([&] { f.get_string(key); });
        accepts([&] { f.get_uint(key); });
        accepts([&] { f.get_int(key); });
        accepts([&] { f.get_bool(key); });
        accepts([&] { f.get_float(key); });
        accepts([&] { f.get_strings(key); });
        accepts([&] { f.get_ints(key); });
    }
    const size_t data_bytes = f.file_bytes() - f.data_offset();
    for (const auto& t : f.tensors()) {
        NP_FUZZ_CHECK(t.offset <= data_bytes && t.nbytes <= data_bytes - t.offset);
        NP_FUZZ_CHECK(f.find(t.name) == &t);
    }
    f.touch_all();  // reads a byte of every page of every tensor: all inside the mapping
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = np::fuzz::Scratch::get().write("in.gguf", {data, size});
    {
        std::optional<GgufFile> f;
        if (!accepts([&] { f.emplace(GgufFile::open_container(path)); })) return 0;
        exercise_metadata(*f);
    }
    if (!accepts([&] { GgufFile::open(path); })) return 0;

    np::infer::LoadedModel m;
    if (!accepts([&] { m = np::infer::load_model(path); })) return 0;
    const np::ModelConfig& cfg = m.decoder->config();
    std::vector<float> logits(size_t(cfg.vocab_size));
    std::vector<int32_t> prompt = m.tokenizer.encode_with_specials("<|im_start|>user\nhi 12");
    prompt.insert(prompt.begin(), 0);
    m.decoder->prefill(prompt, logits);
    m.decoder->step(int32_t(cfg.vocab_size - 1), logits);
    NP_FUZZ_CHECK(m.decoder->n_past() == int64_t(prompt.size()) + 1);
    return 0;
}
