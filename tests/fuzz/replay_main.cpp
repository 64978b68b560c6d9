// Replays committed fuzz inputs through the harnesses without libFuzzer:
//   fuzz_replay NAME PATH...   runs harness NAME on every file of each PATH (a file or a directory,
//                              recursively, in sorted order); a missing PATH counts as empty.
// A harness failure aborts the process (as under libFuzzer); the last "replay:" line on stderr
// names the input. Exit 0 when every input ran, 2 on bad arguments or no inputs at all.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#define NP_FUZZ_TARGET(name) extern "C" int np_fuzz_##name(const uint8_t* data, size_t size);
#include "fuzz_targets.inc"
#undef NP_FUZZ_TARGET

namespace {

namespace fs = std::filesystem;

struct Target {
    const char* name;
    int (*fn)(const uint8_t*, size_t);
};

const Target kTargets[] = {
#define NP_FUZZ_TARGET(name) {#name, np_fuzz_##name},
#include "fuzz_targets.inc"
#undef NP_FUZZ_TARGET
};

std::vector<char> read_bytes(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
    const Target* target = nullptr;
    if (argc >= 2)
        for (const Target& t : kTargets)
            if (std::strcmp(argv[1], t.name) == 0) target = &t;
    if (!target) {
        std::fprintf(stderr, "usage: fuzz_replay NAME PATH...  (NAME:");
        for (const Target& t : kTargets) std::fprintf(stderr, " %s", t.name);
        std::fprintf(stderr, ")\n");
        return 2;
    }
    std::vector<fs::path> inputs;
    for (int i = 2; i < argc; i++) {
        const fs::path p = argv[i];
        if (fs::is_regular_file(p)) {
            inputs.push_back(p);
        } else if (fs::is_directory(p)) {
            std::vector<fs::path> found;
            for (const auto& e : fs::recursive_directory_iterator(p))
                if (e.is_regular_file() && e.path().filename() != "README.md")
                    found.push_back(e.path());
            std::sort(found.begin(), found.end());
            inputs.insert(inputs.end(), found.begin(), found.end());
        }
    }
    if (inputs.empty()) {
        std::fprintf(stderr, "fuzz_replay %s: no inputs found\n", target->name);
        return 2;
    }
    for (const fs::path& p : inputs) {
        const std::vector<char> bytes = read_bytes(p);
        std::fprintf(stderr, "replay: %s %s (%zu bytes)\n", target->name, p.c_str(), bytes.size());
        // A copy of exactly `size` bytes on the heap, so that ASan sees any read past the end.
        std::vector<uint8_t> data(bytes.begin(), bytes.end());
        target->fn(data.data(), data.size());
    }
    std::fprintf(stderr, "fuzz_replay %s: %zu inputs passed\n", target->name, inputs.size());
    return 0;
}
