// Model config.json (model/config.cpp) and what is computed from an accepted config before any
// weights exist: the parameter layout and counts, the GGUF size estimate and the inference memory.
// An accepted config round-trips through to_json.
#include "fuzz_common.h"
#include "infer/export.h"
#include "model/config.h"
#include "model/params.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = np::fuzz::Scratch::get().write("config.json", {data, size});
    np::ModelConfig cfg;
    if (!np::fuzz::accepts([&] { cfg = np::ModelConfig::load(path); })) return 0;
    NP_FUZZ_CHECK(np::ModelConfig::from_json(cfg.to_json()).to_json() == cfg.to_json());

    const np::ParamLayout layout = np::make_param_layout(cfg);
    NP_FUZZ_CHECK(int64_t(layout.total) == cfg.n_params());
    const np::ParamCounts counts = np::count_params(cfg);
    NP_FUZZ_CHECK(counts.total == cfg.n_params());
    NP_FUZZ_CHECK(counts.ternary + counts.full_precision == counts.total);
    for (const char* weights : {"tq2", "tq1"})
        for (const char* embed : {"f16", "q8_0"}) {
            const np::infer::ExportOptions opt{weights, embed, ""};
            if (!np::fuzz::accepts([&] { np::infer::check_export_options(opt, cfg); })) continue;
            const np::infer::GgufSizes s = np::infer::estimate_gguf_sizes(cfg, opt);
            NP_FUZZ_CHECK(s.total >= s.ternary + s.embed + s.other);
        }
    np::infer::inference_memory(cfg);
    return 0;
}
