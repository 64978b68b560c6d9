// Training observability: the metrics JSONL (one object per optimizer step) and the live progress
// line on stderr (redrawn with \r on a terminal, plain lines every log_every steps otherwise).
#pragma once
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace np {

struct MetricRow {
    int64_t step = 0;  // optimizer steps completed (1-based)
    double loss = 0, lr = 0, grad_norm = 0;
    int64_t tokens = 0;  // targets trained on so far
    double tok_s = 0, elapsed = 0;
    bool skipped = false;
    std::optional<double> val_loss;

    std::string to_json_line() const;  // doubles printed so that they round-trip bit for bit
};

// Rows of a metrics.jsonl; a torn last line (a killed run) is ignored.
std::vector<MetricRow> read_metrics(const std::string& path);

// Appends rows to RUN_DIR/metrics.jsonl, flushing each line.
class MetricsLog {
public:
    // Keeps only the existing rows with step <= keep_upto (0 starts a fresh file).
    MetricsLog(const std::string& path, int64_t keep_upto);
    ~MetricsLog();
    MetricsLog(const MetricsLog&) = delete;
    MetricsLog& operator=(const MetricsLog&) = delete;
    void append(const MetricRow& row);

private:
    std::FILE* f_ = nullptr;
    std::string path_;
};

size_t current_rss_bytes();
size_t peak_rss_bytes();
std::string format_bytes(double bytes);    // "12.3 MiB"
std::string format_duration(double secs);  // "1h02m", "3m05s", "12s"

class ProgressLine {
public:
    // enabled: draw progress and messages; warnings: print warn() lines even when not enabled
    // (--quiet silences progress, not a skipped step).
    ProgressLine(int64_t total_steps, int64_t log_every, bool enabled = true, bool warnings = true);
    void update(const MetricRow& row, double eta_s);
    void message(const std::string& text);  // a full line that does not break the redrawn one
    void warn(const std::string& text);     // the same, shown also when progress is off
    void finish();

private:
    int64_t total_, every_;
    bool enabled_, warnings_, tty_, drawn_ = false;
};

}  // namespace np
