#include "cli/commands.h"

namespace np::cli {

void register_bench_commands(CLI::App& app) {}

}  // namespace np::cli
