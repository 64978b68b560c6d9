#include "cli/common_flags.h"

#include <omp.h>

#include <filesystem>
#include <iostream>
#include <iterator>

#include "core/error.h"
#include "core/file_io.h"

namespace np::cli {

CLI::Option* add_threads_flag(CLI::App* c, int& threads) {
    return c->add_option("-t,--threads", threads, "Threads (0: all cores)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
}

void apply_threads(int threads) {
    if (threads > 0) omp_set_num_threads(threads);
}

CLI::Option* add_ctx_flag(CLI::App* c, int& ctx) {
    return c
        ->add_option("-c,--ctx-size", ctx, "Context length in tokens (0: the model's max_seq_len)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
}

std::string read_prompt_file(const std::string& path, const std::string& flag) {
    if (path == "-") {
        std::string text((std::istreambuf_iterator<char>(std::cin)),
                         std::istreambuf_iterator<char>());
        if (std::cin.bad()) fail(flag + ": cannot read standard input");
        return text;
    }
    if (std::filesystem::is_directory(path))
        fail(flag + ": " + path + " is a directory, expected a text file (or - for stdin)");
    try {
        return read_file(path);
    } catch (const Error& e) {
        fail(flag + ": " + e.what());
    }
}

}  // namespace np::cli
