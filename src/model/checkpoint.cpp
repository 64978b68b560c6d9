#include "model/checkpoint.h"

#include <unistd.h>

#include <filesystem>

#include "core/error.h"
#include "core/file_io.h"
#include "core/safetensors.h"

namespace np {

namespace fs = std::filesystem;

void write_directory_atomic(const std::string& dir,
                            const std::function<void(const std::string& tmp_dir)>& fill) {
    fs::path target = fs::path(dir).lexically_normal();
    if (target.filename().empty()) target = target.parent_path();
    fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) fail(dir + ": cannot create parent directory (" + ec.message() + ")");
    const std::string suffix = "." + std::to_string(::getpid());
    fs::path tmp = parent / (target.filename().string() + ".tmp" + suffix);
    fs::remove_all(tmp, ec);
    fs::create_directory(tmp, ec);
    if (ec)
        fail(dir + ": cannot create temporary directory " + tmp.string() + " (" + ec.message() +
             ")");
    try {
        fill(tmp.string());
    } catch (...) {
        fs::remove_all(tmp, ec);  // never leave a half-written checkpoint behind
        throw;
    }
    fs::path old = parent / (target.filename().string() + ".old" + suffix);
    const bool replacing = fs::exists(target);
    if (replacing) {
        fs::rename(target, old, ec);
        if (ec) fail(dir + ": cannot move the previous checkpoint aside (" + ec.message() + ")");
    }
    fs::rename(tmp, target, ec);
    if (ec) fail(dir + ": cannot rename " + tmp.string() + " into place (" + ec.message() + ")");
    if (replacing) fs::remove_all(old, ec);
}

void save_checkpoint(const std::string& dir, const Model<float>& model,
                     const std::map<std::string, std::string>& extra_files) {
    if (const ParamSpec* bad = find_non_finite(model.layout, model.params))
        fail(dir + ": not saved: tensor \"" + bad->name + "\" holds NaN or infinite values");
    std::vector<TensorView> views;
    for (const ParamSpec& s : model.layout.specs)
        views.push_back({s.name, s.shape,
                         std::span<const float>(model.params.data() + s.offset, size_t(s.numel))});
    write_directory_atomic(dir, [&](const std::string& tmp) {
        save_safetensors((fs::path(tmp) / "model.safetensors").string(), views, {{"format", "pt"}});
        write_file_atomic((fs::path(tmp) / "config.json").string(),
                          model.cfg.to_json().dump(2) + "\n");
        for (const auto& [name, bytes] : extra_files)
            write_file_atomic((fs::path(tmp) / name).string(), bytes);
    });
}

Model<float> load_checkpoint(const std::string& dir) {
    const std::string cfg_path = (fs::path(dir) / "config.json").string();
    const std::string st_path = (fs::path(dir) / "model.safetensors").string();
    if (!fs::is_directory(dir))
        fail(dir + ": not a checkpoint directory (expected config.json + model.safetensors)");
    const ModelConfig cfg = ModelConfig::load(cfg_path);
    // The model is allocated from config.json's sizes, so they are checked against the weights
    // file first: it must hold every parameter in 2 bytes at least (F16, BF16). A config claiming
    // a huge model is then an error here instead of an allocation of that size.
    std::error_code ec;
    const uintmax_t st_bytes = fs::file_size(st_path, ec);
    if (ec) fail(st_path + ": cannot open safetensors file for reading (" + ec.message() + ")");
    if (uintmax_t(cfg.n_params()) > st_bytes / 2)
        fail(st_path + ": " + std::to_string(st_bytes) + " bytes cannot hold the " +
             std::to_string(cfg.n_params()) + " parameters that " + cfg_path + " describes");
    Model<float> model(cfg);
    std::vector<NamedTensor> tensors = load_safetensors(st_path);
    std::vector<bool> seen(model.layout.specs.size(), false);
    for (const NamedTensor& t : tensors) {
        const ParamSpec* s = model.layout.try_find(t.name);
        if (!s)
            fail(st_path + ": unexpected tensor \"" + t.name +
                 "\" (not part of the model described by config.json)");
        if (t.shape != s->shape) {
            auto str = [](const std::vector<int64_t>& v) {
                std::string o = "[";
                for (size_t i = 0; i < v.size(); i++) o += (i ? ", " : "") + std::to_string(v[i]);
                return o + "]";
            };
            fail(st_path + ": tensor \"" + t.name + "\" has shape " + str(t.shape) +
                 ", config.json implies " + str(s->shape));
        }
        std::copy(t.data.begin(), t.data.end(), model.params.begin() + s->offset);
        seen[s - model.layout.specs.data()] = true;
    }
    for (size_t i = 0; i < seen.size(); i++)
        if (!seen[i]) fail(st_path + ": missing tensor \"" + model.layout.specs[i].name + "\"");
    if (const ParamSpec* bad = find_non_finite(model.layout, model.params))
        fail(st_path + ": tensor \"" + bad->name +
             "\" holds NaN or infinite values (a diverged training run?)");
    return model;
}

}  // namespace np
