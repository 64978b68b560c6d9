// Safetensors reader (core/safetensors.cpp): header JSON, dtypes, shapes, offsets, conversion to
// fp32. An accepted file must hold numel(shape) values per tensor and survive a save/load round
// trip bit for bit.
#include <cstring>
#include <map>

#include "core/safetensors.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using np::fuzz::accepts;
    const auto& scratch = np::fuzz::Scratch::get();
    const std::string path = scratch.write("in.safetensors", {data, size});
    std::map<std::string, std::string> meta;
    std::vector<np::NamedTensor> tensors;
    if (!accepts([&] { tensors = np::load_safetensors(path, &meta); })) return 0;

    std::vector<np::TensorView> views;
    for (const auto& t : tensors) {
        NP_FUZZ_CHECK(int64_t(t.data.size()) == np::numel(t.shape));
        views.push_back({t.name, t.shape, t.data});
    }
    const std::string out = (scratch.dir() / "out.safetensors").string();
    np::save_safetensors(out, views, meta);
    std::map<std::string, std::string> meta2;
    const std::vector<np::NamedTensor> again = np::load_safetensors(out, &meta2);
    NP_FUZZ_CHECK(meta2 == meta);
    NP_FUZZ_CHECK(again.size() == tensors.size());
    std::map<std::string, const np::NamedTensor*> by_name;
    for (const auto& t : tensors) by_name[t.name] = &t;
    for (const auto& t : again) {
        const np::NamedTensor* o = by_name.at(t.name);
        NP_FUZZ_CHECK(t.shape == o->shape && t.data.size() == o->data.size());
        NP_FUZZ_CHECK(t.data.empty() ||
                      std::memcmp(t.data.data(), o->data.data(), 4 * t.data.size()) == 0);
    }
    return 0;
}
