#include "infer/gguf_checksum.h"

#include <zlib.h>

#include <algorithm>

#include "core/error.h"

namespace np::gguf {

uint32_t crc32_of(std::span<const uint8_t> bytes) {
    uLong crc = crc32(0L, Z_NULL, 0);
    // zlib takes uInt lengths: feed at most 1 GiB at a time.
    for (size_t off = 0; off < bytes.size();) {
        const size_t n = std::min<size_t>(bytes.size() - off, size_t(1) << 30);
        crc = crc32(crc, bytes.data() + off, uInt(n));
        off += n;
    }
    return uint32_t(crc);
}

ChecksumCheck check_tensor_checksums(const GgufFile& f, const std::string& path) {
    ChecksumCheck c;
    if (!f.find_value(kTensorChecksumKey)) return c;
    c.present = true;
    const std::vector<int64_t> want = f.get_ints(kTensorChecksumKey);
    const auto& tensors = f.tensors();
    if (want.size() != tensors.size())
        fail(path + ": key " + kTensorChecksumKey + " has " + std::to_string(want.size()) +
             " entries for " + std::to_string(tensors.size()) + " tensors");
    for (size_t i = 0; i < tensors.size(); ++i) {
        const Tensor& t = tensors[i];
        if (crc32_of({t.data, t.nbytes}) != uint32_t(int32_t(want[i])))
            c.mismatched.push_back(t.name);
        c.checked++;
    }
    return c;
}

void require_intact_tensors(const GgufFile& f, const std::string& path) {
    const ChecksumCheck c = check_tensor_checksums(f, path);
    if (c.mismatched.empty()) return;
    std::string names;
    for (size_t i = 0; i < c.mismatched.size() && i < 5; ++i)
        names += (i ? ", " : "") + c.mismatched[i];
    if (c.mismatched.size() > 5) names += ", ...";
    fail(path + ": the data of " + std::to_string(c.mismatched.size()) + " of " +
         std::to_string(c.checked) + " tensors does not match its checksum (" + names +
         "): the file is corrupted; export or copy it again");
}

}  // namespace np::gguf
