// Data mixtures with phases and the deterministic, resumable, rank-sharded row sampler.
//
// Config JSON (relative paths are resolved against the config file's directory):
//   {"seed": 0, "block_tokens": 65536,
//    "sources": [{"name": "en", "path": "data/en", "split": "train", "shuffle": true,
//                 "optional": false}, ...],
//    "phases":  [{"name": "knowledge", "fraction": 0.9, "weights": {"en": 0.55, ...}}, ...]}
// A source is the concatenation of its shards "{split}_*.npts" (or one .npts file). Phase
// fractions (of the training run) must sum to 1; weights are normalised per phase. An optional
// source without shards is dropped (its weight is spread over the others) with a warning.
//
// Sampling: global row g picks its source from hash(seed, g) and the weights of the current phase,
// then takes the next `len` tokens of that source's stream. Each source's stream runs through
// its shards in blocks of block_tokens, in a fresh seeded block order every epoch (shuffle) or in
// file order, wrapping around forever. With `world` data-parallel ranks, every call draws
// n_rows * world global rows and rank r keeps rows r, r + world, ...: the ranks never overlap and
// together they see exactly what one rank would see with n_rows * world rows. The whole state is
// a row counter and a cursor per source, identical on all ranks, and round-trips through JSON.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace np::data {

struct SourceSpec {
    std::string name, path, split = "train";
    bool shuffle = true, optional = false;
};

struct PhaseSpec {
    std::string name;
    double fraction = 1;
    std::vector<double> weights;  // one per source, same order as DataConfig::sources
};

struct DataConfig {
    uint64_t seed = 0;
    uint64_t block_tokens = 65536;
    std::vector<SourceSpec> sources;
    std::vector<PhaseSpec> phases;

    static DataConfig from_json(const nlohmann::json& j, const std::string& base_dir = "");
    static DataConfig load(const std::string& path);
    nlohmann::json to_json() const;
    // The seed's recipe: phase "knowledge" 90% (en 55%, it 35%, instructions 10%), phase
    // "alignment" 10% (en 20%, it 25%, instructions 55%); en and it are optional sources.
    static DataConfig seed_default(const std::string& en_dir, const std::string& it_dir,
                                   const std::string& instr_dir);
    // Index of the phase that covers `progress` in [0, 1] (fraction of the run done).
    int phase_at(double progress) const;
};

struct SamplerState {
    uint64_t row = 0;              // global rows drawn so far
    std::vector<uint64_t> epoch;   // per source
    std::vector<uint64_t> offset;  // per source: token offset in the current epoch's stream
    nlohmann::json to_json() const;
    static SamplerState from_json(const nlohmann::json& j);
};

class MixtureSampler {
public:
    // Opens every source's shards (mmap; verify checks checksums on open).
    MixtureSampler(const DataConfig& cfg, int rank = 0, int world = 1, bool verify = true);
    ~MixtureSampler();
    MixtureSampler(MixtureSampler&&) noexcept;

    // Fills this rank's n_rows rows of len tokens each: ids/mask are [n_rows, len] row-major;
    // row_source (optional) receives each row's source index. A trainer wanting T predictions per
    // row asks for len = T + 1. len may change between calls.
    void next_batch(int n_rows, int len, double progress, std::span<int32_t> ids,
                    std::span<uint8_t> mask, std::vector<int>* row_source = nullptr);

    const SamplerState& state() const { return state_; }
    void set_state(const SamplerState& s);
    nlohmann::json state_json() const;         // state plus a fingerprint of the sources
    void load_state(const nlohmann::json& j);  // checks the fingerprint matches

    const DataConfig& config() const { return cfg_; }
    int num_sources() const { return int(cfg_.sources.size()); }
    uint64_t source_tokens(int s) const;

private:
    struct Source;
    int pick_source(uint64_t g, int phase) const;
    DataConfig cfg_;
    int rank_, world_;
    std::vector<std::unique_ptr<Source>> src_;
    SamplerState state_;
};

}  // namespace np::data
