// SIGINT / SIGTERM for long-running commands (train, rl): the first signal only raises a flag that
// the loop checks between steps, so the run ends with a clean checkpoint; the handler then steps
// aside (SA_RESETHAND), so a second Ctrl-C ends the process at once.
#pragma once
#include <atomic>

namespace np::cli {

// Installs the handlers (once) and returns the flag: 0, or the number of the signal received.
const std::atomic<int>& interrupt_flag();

// "SIGINT", "SIGTERM" or "signal N".
const char* signal_name(int sig);

}  // namespace np::cli
