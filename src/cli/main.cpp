// nanoprime <command> [options]: the single command-line front end of libnanoprime.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); j++) row[j] = j;
    for (size_t i = 1; i <= a.size(); i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); j++) {
            const size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
            diag = up;
        }
    }
    return row[b.size()];
}

// CLI11 answers an unknown first word with "A subcommand is required"; name it instead, with the
// closest command and the list.
bool report_unknown_command(const CLI::App& app, int argc, char** argv) {
    if (argc < 2 || argv[1][0] == '-') return false;
    const std::string word = argv[1];
    std::string names, closest;
    size_t best = 3;  // suggest only near misses
    for (const CLI::App* c : app.get_subcommands({})) {
        if (c->get_name() == word) return false;
        names += (names.empty() ? "" : ", ") + c->get_name();
        const size_t d = edit_distance(word, c->get_name());
        if (d < best) best = d, closest = c->get_name();
    }
    std::fprintf(
        stderr, "error: unknown command '%s'%s\ncommands: %s (nanoprime --help)\n", word.c_str(),
        closest.empty() ? "" : (" (did you mean '" + closest + "'?)").c_str(), names.c_str());
    return true;
}

// llama.cpp's multi-letter single-dash flags, which CLI11 cannot name: spelled as our long flags.
void translate_llama_flags(std::vector<char*>& args) {
    static const std::pair<const char*, const char*> kAliases[] = {{"-np", "--parallel"}};
    for (char*& a : args)
        for (const auto& [from, to] : kAliases)
            if (std::string(a) == from) a = const_cast<char*>(to);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "NanoPrime: hybrid Mamba-2 + MLA language models with BitNet b1.58 ternary weights"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "Show help for every command");
    app.set_version_flag("--version", "nanoprime " NP_VERSION);
    np::cli::register_model_commands(app);
    np::cli::register_tokenizer_commands(app);
    np::cli::register_data_commands(app);
    np::cli::register_train_commands(app);
    np::cli::register_eval_commands(app);
    np::cli::register_rl_commands(app);
    np::cli::register_plan_commands(app);
    np::cli::register_export_commands(app);
    np::cli::register_generate_commands(app);
    np::cli::register_bench_commands(app);
    np::cli::register_perplexity_commands(app);
    np::cli::register_serve_commands(app);
    if (report_unknown_command(app, argc, argv)) return 2;
    std::vector<char*> args(argv, argv + argc);
    translate_llama_flags(args);
    try {
        app.parse(int(args.size()), args.data());
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const np::cli::ExitCode& e) {
        return e.code;
    } catch (const np::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
