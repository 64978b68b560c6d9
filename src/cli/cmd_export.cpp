#include "cli/commands.h"

namespace np::cli {

void register_export_commands(CLI::App& app) {}

}  // namespace np::cli
