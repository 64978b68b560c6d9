// Safetensors (https://huggingface.co/docs/safetensors) reader and writer.
// File: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape,
// data_offsets:[b,e]},
// "__metadata__": {str: str}}, then the data block; offsets are relative to the data block.
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace np {

// One tensor held in fp32 (F16, BF16 and F64 files are converted on load).
struct NamedTensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;  // row-major, numel(shape) values
};

// A borrowed fp32 tensor to be written.
struct TensorView {
    std::string name;
    std::vector<int64_t> shape;
    std::span<const float> data;
};

// Product of the dimensions; np::Error when it overflows int64.
int64_t numel(std::span<const int64_t> shape);

// Loads every tensor, in file order of offsets. Validates the header (JSON, dtypes, shapes, offsets
// in range, non-overlapping, size == numel * dtype size, file not truncated); every failure throws
// np::Error naming the file and, where one is at fault, the tensor.
std::vector<NamedTensor> load_safetensors(const std::string& path,
                                          std::map<std::string, std::string>* metadata = nullptr);

// Writes F32 tensors atomically (temp + rename). Names must be unique.
void save_safetensors(const std::string& path, std::span<const TensorView> tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace np
