// Each file cmd_*.cpp adds its subcommands to the `nanoprime` CLI.
#pragma once
#include <CLI/CLI.hpp>

namespace np::cli {
void register_model_commands(CLI::App& app);      // init, params, loss             (cmd_model.cpp)
void register_tokenizer_commands(CLI::App& app);  // tokenizer train, tokenize (cmd_tokenizer.cpp)
void register_data_commands(CLI::App& app);       // data prepare, gym, corpus       (cmd_data.cpp)
void register_train_commands(CLI::App& app);      // train, plot                     (cmd_train.cpp)
void register_eval_commands(CLI::App& app);       // eval                            (cmd_eval.cpp)
void register_plan_commands(CLI::App& app);       // plan                            (cmd_plan.cpp)
}  // namespace np::cli
