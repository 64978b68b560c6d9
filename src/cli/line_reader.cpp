#include "cli/line_reader.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#ifdef NP_HAVE_EDITLINE
#include <editline/readline.h>
#endif

namespace np::cli {

LineReader::LineReader(std::string prompt)
    : prompt_(std::move(prompt)), interactive_(isatty(STDIN_FILENO) != 0) {
#ifdef NP_HAVE_EDITLINE
    editing_ = interactive_ && isatty(STDOUT_FILENO) != 0;
    if (editing_) {
        using_history();
        if (const char* home = std::getenv("HOME")) {
            history_path_ = std::string(home) + "/.nanoprime_history";
            read_history(history_path_.c_str());
        }
    }
#endif
}

LineReader::~LineReader() {
#ifdef NP_HAVE_EDITLINE
    if (editing_ && !history_path_.empty()) {
        stifle_history(1000);
        write_history(history_path_.c_str());
    }
#endif
}

bool LineReader::read(std::string& line) {
#ifdef NP_HAVE_EDITLINE
    if (editing_) {
        char* got = readline(prompt_.c_str());
        if (!got) return false;
        line = got;
        std::free(got);  // allocated by libedit with malloc
        if (line.find_first_not_of(" \t") != std::string::npos) add_history(line.c_str());
        return true;
    }
#endif
    if (interactive_) std::fputs(prompt_.c_str(), stderr);
    if (!std::getline(std::cin, line)) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
}

}  // namespace np::cli
