// Whole-file reads and crash-safe writes (temp file in the same directory, fsync, rename).
#pragma once
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

namespace np {

// Reads a whole file; throws np::Error naming the path if it cannot be opened or read.
std::string read_file(const std::string& path);
// The first n bytes (fewer if the file is shorter).
std::string read_file_prefix(const std::string& path, size_t n);

// Writes `bytes` to `path` atomically: a crash leaves either the old file or the new one, never
// half.
void write_file_atomic(const std::string& path, std::span<const char> bytes);
// The same for a file made of several consecutive parts (e.g. a header and a payload).
void write_file_atomic(const std::string& path, std::span<const std::span<const char>> parts);
inline void write_file_atomic(const std::string& path,
                              std::initializer_list<std::span<const char>> parts) {
    write_file_atomic(path, std::span<const std::span<const char>>(parts.begin(), parts.size()));
}
inline void write_file_atomic(const std::string& path, const std::string& s) {
    write_file_atomic(path, std::span<const char>(s.data(), s.size()));
}

}  // namespace np
