// `nanoprime data prepare`: text / JSONL / chat files -> train and validation token shards.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/encoder.h"

namespace np::data {

struct PrepareOptions {
    std::vector<std::string> inputs;
    std::string format = "auto";  // auto (.jsonl/.json -> jsonl, else text) | text | jsonl | chat
    std::string text_docs = "blank";  // plain text documents: blank-line separated | line | file
    std::string out_dir;
    double val_fraction = 0.01;
    uint64_t seed = 0;
    uint64_t shard_tokens = uint64_t(1) << 26;  // a shard is closed once it holds this many tokens
    bool progress = true;                       // progress bar on stderr
    size_t max_warnings = 20;                   // malformed-line warnings printed (all are counted)
    std::string tokenizer_name;                 // recorded in the summary
};

struct PrepareSummary {
    uint64_t documents[2] = {0, 0};  // [train, val]
    uint64_t tokens[2] = {0, 0};
    uint64_t loss_tokens[2] = {0, 0};
    uint64_t chat_documents = 0;
    uint64_t words = 0;
    uint64_t bytes = 0;
    uint64_t malformed = 0;
    std::vector<std::string> malformed_examples;  // "file:line: why", first few
    std::vector<std::string> shards;              // file names written in out_dir
    double seconds = 0;
    nlohmann::json to_json(const PrepareOptions& opt, int32_t vocab_size) const;
};

// Runs the whole preparation; writes out_dir/{train,val}_NNNNN.npts and out_dir/summary.json
// (stale shards of an earlier run in out_dir are removed). Throws np::Error on I/O failures or
// bad options; malformed input lines are warned about on stderr, skipped and counted.
PrepareSummary prepare_data(const PrepareOptions& opt, const TextEncoder& enc);

// Lists "{split}_*.npts" in dir, sorted; dir may also name a single .npts file.
std::vector<std::string> list_shards(const std::string& dir, const std::string& split);

}  // namespace np::data
