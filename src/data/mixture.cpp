#include "data/mixture.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/file_io.h"
#include "core/rng.h"
#include "data/prepare.h"
#include "data/shard.h"

namespace np::data {

namespace fs = std::filesystem;

namespace {

uint64_t hash3(uint64_t a, uint64_t b, uint64_t c) {
    return splitmix64(splitmix64(splitmix64(a) ^ b) ^ c);
}

}  // namespace

// One source's token stream: shards back to back, read in blocks whose order is reshuffled every
// epoch. The permutation of the epoch being read is cached.
struct MixtureSampler::Source {
    std::vector<ShardReader> shards;
    std::vector<uint64_t> shard_start;  // cumulative, size shards+1
    uint64_t total = 0, block = 0, n_blocks = 0, seed = 0;
    bool shuffle = true;
    uint64_t cached_epoch = UINT64_MAX;
    std::vector<uint64_t> perm;        // epoch order -> physical block
    std::vector<uint64_t> slot_start;  // stream offset where each slot begins, size n_blocks+1

    void ensure_epoch(uint64_t e) {
        if (e == cached_epoch) return;
        perm.resize(n_blocks);
        for (uint64_t i = 0; i < n_blocks; ++i) perm[i] = i;
        if (shuffle)
            for (uint64_t i = n_blocks; i > 1; --i)
                std::swap(perm[i - 1], perm[hash3(seed, e, i) % i]);
        slot_start.assign(n_blocks + 1, 0);
        for (uint64_t i = 0; i < n_blocks; ++i)
            slot_start[i + 1] = slot_start[i] + block_len(perm[i]);
        cached_epoch = e;
    }
    uint64_t block_len(uint64_t b) const { return std::min(block, total - b * block); }
    // Copies n tokens from physical position p (no wrap: p + n <= total).
    void copy_physical(uint64_t p, size_t n, int32_t* ids, uint8_t* mask) const {
        while (n > 0) {
            size_t s = size_t(std::upper_bound(shard_start.begin(), shard_start.end(), p) -
                              shard_start.begin()) -
                       1;
            uint64_t in = p - shard_start[s];
            size_t k = size_t(std::min<uint64_t>(n, shards[s].size() - in));
            shards[s].read(in, {ids, k}, {mask, k});
            ids += k;
            mask += k;
            p += k;
            n -= k;
        }
    }
    // Copies n tokens of the stream starting at (epoch, offset), wrapping into later epochs.
    void read(uint64_t epoch, uint64_t offset, size_t n, int32_t* ids, uint8_t* mask) {
        while (n > 0) {
            ensure_epoch(epoch);
            size_t slot = size_t(std::upper_bound(slot_start.begin(), slot_start.end(), offset) -
                                 slot_start.begin()) -
                          1;
            uint64_t in = offset - slot_start[slot];
            uint64_t b = perm[slot];
            size_t k = size_t(std::min<uint64_t>(n, block_len(b) - in));
            copy_physical(b * block + in, k, ids, mask);
            ids += k;
            mask += k;
            n -= k;
            offset += k;
            if (offset == total) {
                offset = 0;
                ++epoch;
            }
        }
    }
};

DataConfig DataConfig::from_json(const nlohmann::json& j, const std::string& base_dir) {
    DataConfig c;
    try {
        c.seed = j.value("seed", uint64_t(0));
        c.block_tokens = j.value("block_tokens", uint64_t(65536));
        if (c.block_tokens == 0) fail("\"block_tokens\" must be positive");
        if (!j.contains("sources") || !j["sources"].is_array() || j["sources"].empty())
            fail("\"sources\" must be a non-empty array");
        for (const auto& s : j["sources"]) {
            SourceSpec sp;
            sp.name = s.at("name").get<std::string>();
            sp.path = s.at("path").get<std::string>();
            if (!base_dir.empty() && fs::path(sp.path).is_relative())
                sp.path = (fs::path(base_dir) / sp.path).string();
            sp.split = s.value("split", std::string("train"));
            sp.shuffle = s.value("shuffle", true);
            sp.optional = s.value("optional", false);
            for (const auto& o : c.sources)
                if (o.name == sp.name) fail("source name \"" + sp.name + "\" appears twice");
            c.sources.push_back(sp);
        }
        if (!j.contains("phases") || !j["phases"].is_array() || j["phases"].empty())
            fail("\"phases\" must be a non-empty array");
        double total = 0;
        for (const auto& p : j["phases"]) {
            PhaseSpec ph;
            ph.name = p.value("name", std::string("phase") + std::to_string(c.phases.size() + 1));
            ph.fraction = p.value("fraction", 1.0);
            if (!(ph.fraction > 0)) fail("phase \"" + ph.name + "\": \"fraction\" must be > 0");
            total += ph.fraction;
            ph.weights.assign(c.sources.size(), 0.0);
            const auto& w = p.at("weights");
            if (!w.is_object())
                fail("phase \"" + ph.name + "\": \"weights\" must be an object {source: weight}");
            for (auto it = w.begin(); it != w.end(); ++it) {
                auto f = std::find_if(c.sources.begin(), c.sources.end(),
                                      [&](const SourceSpec& s) { return s.name == it.key(); });
                if (f == c.sources.end())
                    fail("phase \"" + ph.name + "\": weight for unknown source \"" + it.key() +
                         "\"");
                double v = it.value().get<double>();
                if (!(v >= 0) || !std::isfinite(v))
                    fail("phase \"" + ph.name + "\": weight of \"" + it.key() + "\" must be >= 0");
                ph.weights[size_t(f - c.sources.begin())] = v;
            }
            c.phases.push_back(ph);
        }
        if (std::abs(total - 1) > 1e-6)
            fail("phase fractions sum to " + std::to_string(total) + ", expected 1");
    } catch (const nlohmann::json::exception& e) {
        fail(std::string("data config: ") + e.what());
    } catch (const Error& e) {
        fail(std::string("data config: ") + e.what());
    }
    return c;
}

DataConfig DataConfig::load(const std::string& path) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
        fail(path + ": invalid JSON (" + e.what() + ")");
    }
    try {
        return from_json(j, fs::path(path).parent_path().string());
    } catch (const Error& e) {
        fail(path + ": " + e.what());
    }
}

nlohmann::json DataConfig::to_json() const {
    nlohmann::json j = {{"seed", seed}, {"block_tokens", block_tokens}};
    j["sources"] = nlohmann::json::array();
    for (const auto& s : sources)
        j["sources"].push_back({{"name", s.name},
                                {"path", s.path},
                                {"split", s.split},
                                {"shuffle", s.shuffle},
                                {"optional", s.optional}});
    j["phases"] = nlohmann::json::array();
    for (const auto& p : phases) {
        nlohmann::json w = nlohmann::json::object();
        for (size_t i = 0; i < sources.size(); ++i) w[sources[i].name] = p.weights[i];
        j["phases"].push_back({{"name", p.name}, {"fraction", p.fraction}, {"weights", w}});
    }
    return j;
}

DataConfig DataConfig::seed_default(const std::string& en_dir, const std::string& it_dir,
                                    const std::string& instr_dir) {
    DataConfig c;
    c.sources = {{"en", en_dir, "train", true, true},
                 {"it", it_dir, "train", true, true},
                 {"instructions", instr_dir, "train", true, false}};
    c.phases = {{"knowledge", 0.9, {0.55, 0.35, 0.10}}, {"alignment", 0.1, {0.20, 0.25, 0.55}}};
    return c;
}

int DataConfig::phase_at(double progress) const {
    double acc = 0;
    for (size_t i = 0; i < phases.size(); ++i) {
        acc += phases[i].fraction;
        if (progress < acc) return int(i);
    }
    return int(phases.size()) - 1;
}

nlohmann::json SamplerState::to_json() const {
    return {{"row", row}, {"epoch", epoch}, {"offset", offset}};
}

SamplerState SamplerState::from_json(const nlohmann::json& j) {
    SamplerState s;
    try {
        s.row = j.at("row").get<uint64_t>();
        s.epoch = j.at("epoch").get<std::vector<uint64_t>>();
        s.offset = j.at("offset").get<std::vector<uint64_t>>();
    } catch (const nlohmann::json::exception& e) {
        fail(std::string("sampler state: ") + e.what());
    }
    return s;
}

MixtureSampler::MixtureSampler(const DataConfig& cfg, int rank, int world, bool verify)
    : cfg_(cfg), rank_(rank), world_(world) {
    if (world < 1 || rank < 0 || rank >= world)
        fail("sampler: rank " + std::to_string(rank) + " outside world size " +
             std::to_string(world));
    if (cfg.phases.empty() || cfg.sources.empty())
        fail("sampler: data config needs sources and phases");
    std::vector<size_t> keep;
    for (size_t i = 0; i < cfg.sources.size(); ++i) {
        const SourceSpec& sp = cfg.sources[i];
        std::vector<std::string> files;
        if (fs::exists(sp.path)) files = list_shards(sp.path, sp.split);
        if (files.empty()) {
            if (sp.optional) {
                std::fprintf(stderr,
                             "warning: data source \"%s\" has no %s shards in %s; dropped from the "
                             "mixture\n",
                             sp.name.c_str(), sp.split.c_str(), sp.path.c_str());
                continue;
            }
            fail("data source \"" + sp.name + "\": no " + sp.split + "_*.npts shards in " +
                 sp.path);
        }
        auto s = std::make_unique<Source>();
        s->shard_start.push_back(0);
        for (const auto& f : files) {
            s->shards.emplace_back(f, verify);
            s->total += s->shards.back().size();
            s->shard_start.push_back(s->total);
        }
        if (s->total == 0) fail("data source \"" + sp.name + "\": its shards hold no tokens");
        s->block = cfg.block_tokens;
        s->n_blocks = (s->total + s->block - 1) / s->block;
        s->shuffle = sp.shuffle;
        s->seed = hash3(cfg.seed, 0x5eed, i);
        src_.push_back(std::move(s));
        keep.push_back(i);
    }
    if (keep.empty()) fail("sampler: no data source has shards");
    cfg_.sources.clear();
    for (size_t i : keep) cfg_.sources.push_back(cfg.sources[i]);
    for (size_t p = 0; p < cfg.phases.size(); ++p) {
        PhaseSpec& ph = cfg_.phases[p];
        ph.weights.clear();
        double sum = 0;
        for (size_t i : keep) sum += cfg.phases[p].weights[i];
        if (!(sum > 0))
            fail("sampler: phase \"" + ph.name + "\" has no weight on any available source");
        for (size_t i : keep) ph.weights.push_back(cfg.phases[p].weights[i] / sum);
    }
    state_.epoch.assign(src_.size(), 0);
    state_.offset.assign(src_.size(), 0);
}

MixtureSampler::~MixtureSampler() = default;
MixtureSampler::MixtureSampler(MixtureSampler&&) noexcept = default;

uint64_t MixtureSampler::source_tokens(int s) const {
    return src_.at(size_t(s))->total;
}

int MixtureSampler::pick_source(uint64_t g, int phase) const {
    double u = double(hash3(cfg_.seed, 0x50u, g) >> 11) * 0x1.0p-53;
    const auto& w = cfg_.phases[size_t(phase)].weights;
    double acc = 0;
    for (size_t i = 0; i < w.size(); ++i) {
        acc += w[i];
        if (u < acc && w[i] > 0) return int(i);
    }
    for (size_t i = w.size(); i-- > 0;)
        if (w[i] > 0) return int(i);
    return 0;
}

void MixtureSampler::next_batch(int n_rows, int len, double progress, std::span<int32_t> ids,
                                std::span<uint8_t> mask, std::vector<int>* row_source) {
    if (n_rows < 1 || len < 1) fail("sampler: rows and row length must be positive");
    size_t need = size_t(n_rows) * size_t(len);
    if (ids.size() != need || mask.size() != need)
        fail("sampler: output buffers hold " + std::to_string(ids.size()) + "/" +
             std::to_string(mask.size()) + " entries, expected " + std::to_string(need));
    int phase = cfg_.phase_at(progress);
    if (row_source) row_source->assign(size_t(n_rows), 0);
    for (int i = 0; i < n_rows * world_; ++i) {
        uint64_t g = state_.row + uint64_t(i);
        int s = pick_source(g, phase);
        Source& src = *src_[size_t(s)];
        if (i % world_ == rank_) {
            size_t r = size_t(i / world_);
            src.read(state_.epoch[size_t(s)], state_.offset[size_t(s)], size_t(len),
                     ids.data() + r * len, mask.data() + r * len);
            if (row_source) (*row_source)[r] = s;
        }
        uint64_t off = state_.offset[size_t(s)] + uint64_t(len);
        state_.epoch[size_t(s)] += off / src.total;
        state_.offset[size_t(s)] = off % src.total;
    }
    state_.row += uint64_t(n_rows) * uint64_t(world_);
}

void MixtureSampler::set_state(const SamplerState& s) {
    if (s.epoch.size() != src_.size() || s.offset.size() != src_.size())
        fail("sampler state has " + std::to_string(s.epoch.size()) + " sources, the config has " +
             std::to_string(src_.size()));
    for (size_t i = 0; i < src_.size(); ++i)
        if (s.offset[i] >= src_[i]->total)
            fail("sampler state: offset of source \"" + cfg_.sources[i].name +
                 "\" is past its end");
    state_ = s;
}

nlohmann::json MixtureSampler::state_json() const {
    nlohmann::json j = state_.to_json();
    nlohmann::json fp = nlohmann::json::array();
    for (size_t i = 0; i < src_.size(); ++i)
        fp.push_back({{"name", cfg_.sources[i].name}, {"tokens", src_[i]->total}});
    j["sources"] = fp;
    j["seed"] = cfg_.seed;
    j["block_tokens"] = cfg_.block_tokens;
    return j;
}

void MixtureSampler::load_state(const nlohmann::json& j) {
    if (j.contains("sources")) {
        const auto& fp = j["sources"];
        bool ok = fp.is_array() && fp.size() == src_.size();
        for (size_t i = 0; ok && i < src_.size(); ++i)
            ok = fp[i].value("name", "") == cfg_.sources[i].name &&
                 fp[i].value("tokens", uint64_t(0)) == src_[i]->total;
        if (!ok)
            fail("sampler state was saved for different data sources: " + fp.dump() + " (now " +
                 state_json()["sources"].dump() + ")");
    }
    if (j.value("seed", cfg_.seed) != cfg_.seed ||
        j.value("block_tokens", cfg_.block_tokens) != cfg_.block_tokens)
        fail("sampler state was saved with a different seed or block_tokens");
    set_state(SamplerState::from_json(j));
}

}  // namespace np::data
