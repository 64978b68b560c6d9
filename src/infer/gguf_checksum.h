// Integrity of a GGUF's tensor data: export stores the CRC-32 (zlib's) of every tensor's bytes,
// in the file's tensor order, under one metadata key; a reader recomputes them and names the
// tensors whose bytes changed. GGUF itself has no checksum, and a flipped bit inside a weight
// block is otherwise a valid file that runs and answers wrongly.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "infer/gguf.h"

namespace np::gguf {

// An array of int32 holding each tensor's CRC-32 bit pattern, in tensor order.
inline constexpr const char* kTensorChecksumKey = "nanoprime.tensor_crc32";

uint32_t crc32_of(std::span<const uint8_t> bytes);

struct ChecksumCheck {
    bool present = false;  // the file carries checksums (files exported before them do not)
    size_t checked = 0;    // tensors compared
    std::vector<std::string> mismatched;  // tensor names whose bytes changed
};

// Recomputes every tensor's CRC-32 and compares; a key of the wrong length is an np::Error.
ChecksumCheck check_tensor_checksums(const GgufFile& f, const std::string& path);

// check_tensor_checksums, then an np::Error naming the file and the first tensors that changed.
void require_intact_tensors(const GgufFile& f, const std::string& path);

}  // namespace np::gguf
