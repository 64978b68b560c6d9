#include "cli/common_flags.h"

#include <omp.h>

#include <filesystem>
#include <iostream>
#include <iterator>
#include <random>

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

void add_sampling_flags(CLI::App* c, SamplingArgs& s) {
    c->add_option("--temperature,--temp", s.temperature, "Sampling temperature (0: greedy)")
        ->capture_default_str();
    c->add_option("--top-k", s.top_k, "Keep the k most likely tokens (0: off)")
        ->capture_default_str();
    c->add_option("--top-p", s.top_p, "Nucleus: smallest set with this probability mass (1: off)")
        ->capture_default_str();
    c->add_option("--min-p", s.min_p, "Drop tokens below min-p times the top probability (0: off)")
        ->capture_default_str();
    c->add_option("--repeat-penalty", s.repeat_penalty, "Penalty for recent tokens (1: off)")
        ->capture_default_str();
    c->add_option("--presence-penalty", s.presence_penalty,
                  "Subtract this from recent tokens' logits (OpenAI's; 0: off)")
        ->capture_default_str();
    c->add_option("--frequency-penalty", s.frequency_penalty,
                  "Subtract this times the count from recent tokens' logits (OpenAI's; 0: off)")
        ->capture_default_str();
    c->add_option("--repeat-last-n", s.repeat_last_n, "Recent tokens the penalties look at")
        ->capture_default_str();
    c->add_option("-s,--seed", s.seed, "Sampling seed (-1: random, reported on stderr)")
        ->capture_default_str();
}

infer::SamplerOptions sampler_options(const SamplingArgs& s) {
    if (s.seed < -1) fail("--seed: expected >= 0 or -1 (random), got " + std::to_string(s.seed));
    infer::SamplerOptions o;
    o.temperature = s.temperature;
    o.top_k = s.top_k;
    o.top_p = s.top_p;
    o.min_p = s.min_p;
    o.repetition_penalty = s.repeat_penalty;
    o.presence_penalty = s.presence_penalty;
    o.frequency_penalty = s.frequency_penalty;
    o.repeat_last_n = s.repeat_last_n;
    if (s.seed >= 0) {
        o.seed = uint64_t(s.seed);
    } else {
        std::random_device rd;
        // Kept below 2^63 so that --seed can repeat it.
        o.seed = ((uint64_t(rd()) << 32) | rd()) >> 1;
    }
    infer::validate(o);
    return o;
}

}  // namespace np::cli
