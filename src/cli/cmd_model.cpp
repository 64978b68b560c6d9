#include "cli/commands.h"

namespace np::cli {
void register_model_commands(CLI::App& app) {}
}  // namespace np::cli
