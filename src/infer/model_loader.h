// Opens what `generate`, `chat`, `eval` and `bench` take as MODEL: a checkpoint directory
// (config.json + model.safetensors + tokenizer.json) or a .gguf file (DESIGN §4.1, §4.2).
#pragma once
#include <memory>
#include <string>

#include "infer/decoder.h"
#include "tokenizer/tokenizer.h"

namespace np::infer {

struct LoadOptions {
    // Checkpoint directories: true runs the fp32 reference decoder instead of packing the weights
    // into the ternary engine. Ignored for .gguf files.
    bool reference = false;
    std::string tokenizer_path;  // overrides the model's own tokenizer when not empty
    // .gguf files: recompute every tensor's CRC-32 and refuse a file whose data changed.
    bool check_tensors = true;
};

struct LoadedModel {
    std::unique_ptr<Decoder> decoder;
    Tokenizer tokenizer;
    std::string path;
};

// Throws np::Error naming the path and what is missing or malformed.
LoadedModel load_model(const std::string& path, const LoadOptions& opt = {});

}  // namespace np::infer
