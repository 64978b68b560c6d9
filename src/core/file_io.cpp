#include "core/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace np {

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(path + ": cannot open for reading (" + std::strerror(errno) + ")");
    std::ostringstream ss;
    ss << f.rdbuf();
    if (f.bad()) fail(path + ": read error");
    return ss.str();
}

std::string read_file_prefix(const std::string& path, size_t n) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(path + ": cannot open for reading (" + std::strerror(errno) + ")");
    std::string s(n, '\0');
    f.read(s.data(), std::streamsize(n));
    s.resize(size_t(f.gcount()));
    return s;
}

void write_file_atomic(const std::string& path, std::span<const char> bytes) {
    write_file_atomic(path, {bytes});
}

void write_file_atomic(const std::string& path, std::span<const std::span<const char>> parts) {
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        fail(path + ": cannot create temporary file " + tmp + " (" + std::strerror(errno) + ")");
    for (std::span<const char> bytes : parts) {
        size_t done = 0;
        while (done < bytes.size()) {
            ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                int e = errno;
                ::close(fd);
                ::unlink(tmp.c_str());
                fail(path + ": write failed (" + std::strerror(e) + ")");
            }
            done += size_t(n);
        }
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        ::unlink(tmp.c_str());
        fail(path + ": fsync/close failed (" + std::strerror(errno) + ")");
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        fail(path + ": rename from " + tmp + " failed (" + std::strerror(e) + ")");
    }
}

}  // namespace np
