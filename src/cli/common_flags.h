// Flags shared by the commands that run a model, spelled as llama.cpp spells them (-m, -t, -c,
// -f -) beside NanoPrime's long names, so users' habits carry over.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace np::cli {

// -t,--threads N: OpenMP threads (0: all cores). Range-checked.
CLI::Option* add_threads_flag(CLI::App* c, int& threads);
// Sets the OpenMP thread count when threads > 0.
void apply_threads(int threads);

// -c,--ctx-size N: context length in tokens (0: the model's max_seq_len). Range-checked.
CLI::Option* add_ctx_flag(CLI::App* c, int& ctx);

// The text of a prompt file; "-" reads standard input. A directory or an unreadable file is an
// np::Error naming `flag`.
std::string read_prompt_file(const std::string& path, const std::string& flag);

}  // namespace np::cli
