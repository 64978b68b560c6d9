// nanoprime <command> [options]: the single command-line front end of libnanoprime.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
    CLI::App app{
        "NanoPrime: hybrid Mamba-2 + MLA language models with BitNet b1.58 ternary weights"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "Show help for every command");
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
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const np::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
