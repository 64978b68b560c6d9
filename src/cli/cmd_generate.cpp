#include "cli/commands.h"

namespace np::cli {

void register_generate_commands(CLI::App& app) {}

}  // namespace np::cli
