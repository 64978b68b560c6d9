// Each file cmd_*.cpp adds its subcommands to the `nanoprime` CLI.
#pragma once
#include <CLI/CLI.hpp>

namespace np::cli {
void register_model_commands(CLI::App& app);  // init, params, loss        (cmd_model.cpp)
}  // namespace np::cli
