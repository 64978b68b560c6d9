// Error type of the whole library: every user-facing failure is an np::Error whose message names
// the file, field or flag at fault and what was expected. The CLI prints it and exits non-zero.
#pragma once
#include <stdexcept>
#include <string>

namespace np {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] inline void fail(const std::string& msg) {
    throw Error(msg);
}

}  // namespace np
