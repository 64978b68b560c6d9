// Token shard reader (data/shard.cpp). First byte: bit 0 set = open without verification (the
// checksum and id scan are skipped, as the trainer does for speed); the rest is the file. Reading
// every token of an accepted shard stays inside the mapping, and a verified shard holds only ids
// in [0, vocab size).
#include <optional>

#include "data/shard.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const bool verify = (data[0] & 1) == 0;
    const std::string path = np::fuzz::Scratch::get().write("in.npts", {data + 1, size - 1});
    std::optional<np::data::ShardReader> r;
    if (!np::fuzz::accepts([&] { r.emplace(path, verify); })) return 0;
    NP_FUZZ_CHECK(r->width() == 2 || r->width() == 4);
    const uint64_t n = r->size();
    NP_FUZZ_CHECK(n <= size);
    std::vector<int32_t> ids(n);
    std::vector<uint8_t> mask(n);
    r->read(0, ids, mask);
    for (uint64_t i = 0; i < n; i++) {
        NP_FUZZ_CHECK(mask[i] <= 1);
        NP_FUZZ_CHECK(ids[i] == r->token(i));
        if (verify) NP_FUZZ_CHECK(ids[i] >= 0);
        if (verify && r->vocab_size()) NP_FUZZ_CHECK(uint32_t(ids[i]) < r->vocab_size());
    }
    // Reads past the end are errors, whatever the start.
    int32_t one = 0;
    uint8_t m = 0;
    NP_FUZZ_CHECK(!np::fuzz::accepts([&] { r->read(n, {&one, 1}, {&m, 1}); }));
    NP_FUZZ_CHECK(!np::fuzz::accepts([&] { r->read(~uint64_t(0), {&one, 1}, {&m, 1}); }));
    return 0;
}
