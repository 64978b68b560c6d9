// Shared by the fuzz harnesses (compiled into libFuzzer binaries and into fuzz_replay).
#pragma once
#include <omp.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/error.h"
#include "core/file_io.h"

namespace np::fuzz {

// A harness invariant: on failure print it and abort, which libFuzzer reports as a crash.
#define NP_FUZZ_CHECK(cond)                                                                     \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            std::fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            std::abort();                                                                       \
        }                                                                                       \
    } while (0)

// Runs fn and returns whether it succeeded. A rejected input must be an np::Error; any other
// exception (a std::bad_alloc from a size taken on trust, a JSON type_error, std::out_of_range)
// is deliberately not caught: it escapes the harness and aborts, so the fuzzer reports it.
template <class F>
bool accepts(F&& fn) {
    try {
        fn();
        return true;
    } catch (const np::Error&) {
        return false;
    }
}

// The parsers under test take paths (and mmap some files), so inputs are written to files: in a
// directory of this process, on tmpfs where there is one, removed at exit.
class Scratch {
public:
    static Scratch& get() {
        static Scratch s;
        return s;
    }
    const std::filesystem::path& dir() const { return dir_; }
    // Writes `bytes` to dir()/name (replacing it) and returns the path.
    std::string write(const std::string& name, std::span<const uint8_t> bytes) const {
        const std::string p = (dir_ / name).string();
        std::filesystem::create_directories(std::filesystem::path(p).parent_path());
        std::FILE* f = std::fopen(p.c_str(), "wb");
        if (!f) std::abort();
        if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size())
            std::abort();
        std::fclose(f);
        return p;
    }
    std::string write(const std::string& name, std::string_view s) const {
        return write(name, {reinterpret_cast<const uint8_t*>(s.data()), s.size()});
    }
    // An empty directory dir()/name (its old contents removed).
    std::string fresh_dir(const std::string& name) const {
        const std::filesystem::path p = dir_ / name;
        std::error_code ec;
        std::filesystem::remove_all(p, ec);
        std::filesystem::create_directories(p);
        return p.string();
    }

private:
    Scratch() {
        const char* shm = "/dev/shm";
        const std::filesystem::path base =
            std::filesystem::is_directory(shm) && ::access(shm, W_OK) == 0
                ? std::filesystem::path(shm)
                : std::filesystem::temp_directory_path();
        dir_ = base / ("np_fuzz_" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        // The data pipeline's OpenMP loops: one thread keeps runs reproducible and cheap.
        omp_set_num_threads(1);
    }
    ~Scratch() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::filesystem::path dir_;
};

// Splits a multi-file input at the separator line "\n--8<--\n" into exactly n parts (missing
// parts are empty; separators beyond the (n-1)th stay in the last part).
inline std::vector<std::string_view> split_parts(std::string_view in, size_t n) {
    constexpr std::string_view kSep = "\n--8<--\n";
    std::vector<std::string_view> parts;
    while (parts.size() + 1 < n) {
        const size_t p = in.find(kSep);
        if (p == std::string_view::npos) break;
        parts.push_back(in.substr(0, p));
        in.remove_prefix(p + kSep.size());
    }
    parts.push_back(in);
    parts.resize(n);
    return parts;
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace np::fuzz
