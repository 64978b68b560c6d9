// Lines of the interactive chat: on a terminal with libedit, line editing (arrow keys, Ctrl-A/E,
// Ctrl-R) and a history kept across sessions in ~/.nanoprime_history; otherwise plain lines.
#pragma once
#include <string>

namespace np::cli {

class LineReader {
public:
    explicit LineReader(std::string prompt);
    ~LineReader();  // saves the history
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    // The next line without its end-of-line; false at end of input.
    bool read(std::string& line);
    bool interactive() const { return interactive_; }
    bool editing() const { return editing_; }  // libedit is in use

private:
    std::string prompt_, history_path_;
    bool interactive_ = false, editing_ = false;
};

}  // namespace np::cli
