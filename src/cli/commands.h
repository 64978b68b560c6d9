// Each file cmd_*.cpp adds its subcommands to the `nanoprime` CLI.
#pragma once
#include <CLI/CLI.hpp>

namespace np::cli {

// Thrown to end the process with a given status after the command has reported why (e.g. 130
// after SIGINT); main() catches it.
struct ExitCode {
    int code;
};

void register_model_commands(CLI::App& app);      // init, params, loss             (cmd_model.cpp)
void register_tokenizer_commands(CLI::App& app);  // tokenizer train, tokenize (cmd_tokenizer.cpp)
void register_data_commands(CLI::App& app);       // data prepare, gym, corpus       (cmd_data.cpp)
void register_train_commands(CLI::App& app);      // train, plot                     (cmd_train.cpp)
void register_eval_commands(CLI::App& app);       // eval                            (cmd_eval.cpp)
void register_plan_commands(CLI::App& app);       // plan                            (cmd_plan.cpp)
void register_export_commands(CLI::App& app);    // export, info                    (cmd_export.cpp)
void register_generate_commands(CLI::App& app);  // generate, chat (cmd_generate.cpp)
void register_rl_commands(CLI::App& app);        // rl                              (cmd_rl.cpp)
void register_bench_commands(CLI::App& app);     // bench                           (cmd_bench.cpp)
void register_perplexity_commands(CLI::App& app);  // perplexity (cmd_perplexity.cpp)
void register_serve_commands(CLI::App& app);       // serve (cmd_serve.cpp)
}  // namespace np::cli
