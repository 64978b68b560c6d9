// Flags shared by the commands that run a model, spelled as llama.cpp spells them (-m, -t, -c,
// -f -) beside NanoPrime's long names, so users' habits carry over.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "infer/sampler.h"

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

// llama.cpp's defaults; --temperature 0 gives greedy decoding.
struct SamplingArgs {
    float temperature = 0.8f, top_p = 0.95f, min_p = 0.05f, repeat_penalty = 1.0f;
    float presence_penalty = 0, frequency_penalty = 0;
    int top_k = 40, repeat_last_n = 64;
    int64_t seed = -1;
};
// --temperature/--temp, --top-k, --top-p, --min-p, the penalties, -s/--seed.
void add_sampling_flags(CLI::App* c, SamplingArgs& s);
// The sampler options of the flags (a random seed below 2^63 for -1); np::Error naming the flag.
infer::SamplerOptions sampler_options(const SamplingArgs& s);

}  // namespace np::cli
