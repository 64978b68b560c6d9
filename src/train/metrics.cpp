#include "train/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"

namespace np {

namespace fs = std::filesystem;

std::string MetricRow::to_json_line() const {
    // nlohmann prints the shortest decimal that parses back to the same double.
    nlohmann::json j = {{"step", step},           {"loss", loss},      {"lr", lr},
                        {"grad_norm", grad_norm}, {"tokens", tokens},  {"tok_s", tok_s},
                        {"elapsed", elapsed},     {"skipped", skipped}};
    if (!std::isfinite(loss)) j["loss"] = nullptr;
    if (!std::isfinite(grad_norm)) j["grad_norm"] = nullptr;
    if (val_loss) j["val_loss"] = *val_loss;
    return j.dump();
}

static MetricRow parse_row(const nlohmann::json& j) {
    MetricRow r;
    auto num = [&](const char* k) {
        return j.contains(k) && j[k].is_number() ? j[k].get<double>() : std::nan("");
    };
    r.step = j.at("step").get<int64_t>();
    r.loss = num("loss");
    r.lr = num("lr");
    r.grad_norm = num("grad_norm");
    r.tokens = j.value("tokens", int64_t(0));
    r.tok_s = num("tok_s");
    r.elapsed = num("elapsed");
    r.skipped = j.value("skipped", false);
    if (j.contains("val_loss") && j["val_loss"].is_number())
        r.val_loss = j["val_loss"].get<double>();
    return r;
}

std::vector<MetricRow> read_metrics(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail(path + ": cannot open the metrics file");
    std::vector<MetricRow> rows;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        try {
            rows.push_back(parse_row(nlohmann::json::parse(line)));
        } catch (const nlohmann::json::exception&) {
            if (in.peek() == EOF) break;  // the torn last line of a killed run
            fail(path + ": malformed line " + std::to_string(rows.size() + 1));
        }
    }
    return rows;
}

MetricsLog::MetricsLog(const std::string& path, int64_t keep_upto) : path_(path) {
    std::string kept;
    if (keep_upto > 0 && fs::exists(path))
        for (const MetricRow& r : read_metrics(path))
            if (r.step <= keep_upto) kept += r.to_json_line() + "\n";
    write_file_atomic(path, kept);
    f_ = std::fopen(path.c_str(), "ab");
    if (!f_) fail(path + ": cannot open for appending");
}

MetricsLog::~MetricsLog() {
    if (f_) std::fclose(f_);
}

void MetricsLog::append(const MetricRow& row) {
    const std::string line = row.to_json_line() + "\n";
    if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fflush(f_) != 0)
        fail(path_ + ": write failed");
}

size_t current_rss_bytes() {
    std::ifstream in("/proc/self/statm");
    size_t pages = 0, resident = 0;
    if (!(in >> pages >> resident)) return 0;
    return resident * size_t(sysconf(_SC_PAGESIZE));
}

size_t peak_rss_bytes() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return size_t(u.ru_maxrss) * 1024;  // kilobytes on Linux
}

std::string format_bytes(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) b /= 1024, u++;
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
    return buf;
}

std::string format_duration(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    const long t = long(s + 0.5);
    char buf[32];
    if (t >= 3600)
        std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
    else
        std::snprintf(buf, sizeof buf, "%lds", t);
    return buf;
}

ProgressLine::ProgressLine(int64_t total_steps, int64_t log_every, bool enabled, bool warnings)
    : total_(total_steps),
      every_(log_every),
      enabled_(enabled),
      warnings_(warnings),
      tty_(isatty(STDERR_FILENO) != 0) {}

void ProgressLine::update(const MetricRow& r, double eta_s) {
    if (!enabled_) return;
    const bool line_due = r.step % every_ == 0 || r.step == total_ || r.val_loss || r.skipped;
    if (!tty_ && !line_due) return;
    char buf[256];
    int n = std::snprintf(
        buf, sizeof buf, "step %lld/%lld | loss %.4f | lr %.3g | %.0f tok/s | ETA %s | mem %s",
        (long long)r.step, (long long)total_, r.loss, r.lr, r.tok_s, format_duration(eta_s).c_str(),
        format_bytes(double(current_rss_bytes())).c_str());
    std::string s(buf, size_t(n));
    if (r.val_loss) s += " | val " + std::to_string(*r.val_loss);
    if (r.skipped) s += " | SKIPPED";
    if (tty_) {
        std::fprintf(stderr, "\r\033[K%s", s.c_str());
        drawn_ = true;
        if (line_due && every_ > 0 && (r.val_loss || r.skipped))
            std::fputc('\n', stderr), drawn_ = false;
    } else {
        std::fprintf(stderr, "%s\n", s.c_str());
    }
    std::fflush(stderr);
}

void ProgressLine::message(const std::string& text) {
    if (!enabled_) return;
    if (tty_ && drawn_) std::fputc('\n', stderr), drawn_ = false;
    std::fprintf(stderr, "%s\n", text.c_str());
    std::fflush(stderr);
}

void ProgressLine::warn(const std::string& text) {
    if (enabled_) return message(text);
    if (!warnings_) return;
    std::fprintf(stderr, "%s\n", text.c_str());
    std::fflush(stderr);
}

void ProgressLine::finish() {
    if (enabled_ && tty_ && drawn_) std::fputc('\n', stderr), drawn_ = false;
}

}  // namespace np
