#include "train/plot_svg.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/file_io.h"

namespace np {

namespace {

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '<')
            o += "&lt;";
        else if (c == '>')
            o += "&gt;";
        else if (c == '&')
            o += "&amp;";
        else if (c == '"')
            o += "&quot;";
        else
            o += c;
    }
    return o;
}

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about n ticks over [lo, hi].
double nice_step(double lo, double hi, int n) {
    const double raw = (hi - lo) / n;
    const double p = std::pow(10.0, std::floor(std::log10(raw)));
    const double f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

constexpr double kW = 900, kPanelH = 230, kLeft = 80, kRight = 30, kTop = 40, kBottom = 40;

void panel(std::string& svg, int index, const PlotPanel& p, const std::string& xlabel, double x0,
           double x1) {
    const std::string& title = p.title;
    const std::string& ylabel = p.ylabel;
    const std::vector<PlotSeries>& series = p.series;
    const double oy = 40 + index * (kPanelH + 20);
    const double px = kLeft, py = oy + kTop, pw = kW - kLeft - kRight,
                 ph = kPanelH - kTop - kBottom;
    double y0 = INFINITY, y1 = -INFINITY;
    for (const auto& s : series)
        for (auto [x, y] : s.pts) y0 = std::min(y0, y), y1 = std::max(y1, y);
    if (!(y0 <= y1)) y0 = 0, y1 = 1;
    if (y1 - y0 < 1e-12 * std::max(1.0, std::abs(y1)))
        y0 -= 0.5 * std::max(std::abs(y0), 1e-9), y1 += 0.5 * std::max(std::abs(y1), 1e-9);
    const double ys = nice_step(y0, y1, 5);
    y0 = std::floor(y0 / ys) * ys, y1 = std::ceil(y1 / ys) * ys;
    auto X = [&](double x) { return px + (x - x0) / (x1 - x0) * pw; };
    auto Y = [&](double y) { return py + ph - (y - y0) / (y1 - y0) * ph; };

    svg += "<g class=\"panel\">\n";
    svg += "<text x=\"" + num(px) + "\" y=\"" + num(py - 12) +
           "\" font-size=\"15\" font-weight=\"bold\">" + esc(title) + "</text>\n";
    svg += "<rect x=\"" + num(px) + "\" y=\"" + num(py) + "\" width=\"" + num(pw) + "\" height=\"" +
           num(ph) + "\" fill=\"none\" stroke=\"#333\"/>\n";
    for (double t = y0; t <= y1 + ys * 1e-6; t += ys) {
        const double y = Y(t);
        svg += "<line class=\"ytick\" x1=\"" + num(px - 5) + "\" y1=\"" + num(y) + "\" x2=\"" +
               num(px + pw) + "\" y2=\"" + num(y) + "\" stroke=\"#ddd\"/>\n";
        svg += "<text x=\"" + num(px - 8) + "\" y=\"" + num(y + 4) +
               "\" font-size=\"11\" text-anchor=\"end\">" + num(std::abs(t) < ys * 1e-6 ? 0 : t) +
               "</text>\n";
    }
    const double xs = nice_step(x0, x1, 8);
    for (double t = std::ceil(x0 / xs) * xs; t <= x1 + xs * 1e-6; t += xs) {
        const double x = X(t);
        svg += "<line class=\"xtick\" x1=\"" + num(x) + "\" y1=\"" + num(py + ph) + "\" x2=\"" +
               num(x) + "\" y2=\"" + num(py + ph + 5) + "\" stroke=\"#333\"/>\n";
        svg += "<text x=\"" + num(x) + "\" y=\"" + num(py + ph + 18) +
               "\" font-size=\"11\" text-anchor=\"middle\">" + num(t) + "</text>\n";
    }
    svg += "<text x=\"" + num(px + pw / 2) + "\" y=\"" + num(py + ph + 34) +
           "\" font-size=\"12\" text-anchor=\"middle\">" + esc(xlabel) + "</text>\n";
    svg += "<text x=\"" + num(18) + "\" y=\"" + num(py + ph / 2) +
           "\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 18 " +
           num(py + ph / 2) + ")\">" + esc(ylabel) + "</text>\n";
    double lx = px + pw - 10;
    for (auto it = series.rbegin(); it != series.rend(); ++it) {
        const auto& s = *it;
        std::string pts;
        for (auto [x, y] : s.pts) pts += num(X(x)) + "," + num(Y(y)) + " ";
        if (!pts.empty()) pts.pop_back();
        svg += "<polyline class=\"" + esc(s.name) + "\" fill=\"none\" stroke=\"" + s.color +
               "\" stroke-width=\"1.5\" points=\"" + pts + "\"/>\n";
        if (s.pts.size() == 1)  // a lone point draws no line: mark it
            svg += "<circle class=\"" + esc(s.name) + "\" cx=\"" + num(X(s.pts[0].first)) +
                   "\" cy=\"" + num(Y(s.pts[0].second)) + "\" r=\"3\" fill=\"" + s.color + "\"/>\n";
        svg += "<text x=\"" + num(lx) + "\" y=\"" + num(py + 16) + "\" font-size=\"12\" fill=\"" +
               s.color + "\" text-anchor=\"end\">" + esc(s.name) + "</text>\n";
        lx -= 80;
    }
    svg += "</g>\n";
}

}  // namespace

std::string render_panels_svg(const std::string& title, const std::string& xlabel,
                              const std::vector<PlotPanel>& panels) {
    double x0 = INFINITY, x1 = -INFINITY;
    for (const PlotPanel& p : panels)
        for (const PlotSeries& s : p.series)
            for (auto [x, y] : s.pts) x0 = std::min(x0, x), x1 = std::max(x1, x);
    if (!(x0 <= x1)) x0 = 0, x1 = 1;
    if (x1 <= x0) x1 = x0 + 1;
    const double h = 40 + double(panels.size()) * (kPanelH + 20);
    std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kW) + "\" height=\"" +
           num(h) + "\" viewBox=\"0 0 " + num(kW) + " " + num(h) +
           "\" font-family=\"sans-serif\">\n";
    svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    svg += "<text x=\"" + num(kW / 2) + "\" y=\"26\" font-size=\"18\" text-anchor=\"middle\">" +
           esc(title) + "</text>\n";
    for (size_t i = 0; i < panels.size(); ++i) panel(svg, int(i), panels[i], xlabel, x0, x1);
    svg += "</svg>\n";
    return svg;
}

std::string render_metrics_svg(const std::vector<MetricRow>& rows, const std::string& title) {
    PlotSeries loss{"loss", "#1f77b4", {}}, val{"val_loss", "#d62728", {}}, lr{"lr", "#2ca02c", {}},
        tps{"tok_s", "#9467bd", {}};
    for (const MetricRow& r : rows) {
        if (std::isfinite(r.loss) && !r.skipped) loss.pts.push_back({double(r.step), r.loss});
        if (r.val_loss && std::isfinite(*r.val_loss))
            val.pts.push_back({double(r.step), *r.val_loss});
        if (std::isfinite(r.lr)) lr.pts.push_back({double(r.step), r.lr});
        if (std::isfinite(r.tok_s)) tps.pts.push_back({double(r.step), r.tok_s});
    }
    PlotPanel losses{"Loss", "cross-entropy", {loss}};
    if (!val.pts.empty()) losses.series.push_back(val);
    return render_panels_svg(
        title, "step", {losses, {"Learning rate", "lr", {lr}}, {"Throughput", "tokens/s", {tps}}});
}

std::string plot_run(const std::string& run_dir, const std::string& out) {
    namespace fs = std::filesystem;
    const std::string path = (fs::path(run_dir) / "metrics.jsonl").string();
    if (!fs::exists(path))
        fail("plot: " + run_dir + " has no metrics.jsonl (is it a run directory?)");
    const auto rows = read_metrics(path);
    if (rows.empty()) fail("plot: " + path + " holds no rows yet");
    const std::string dst = out.empty() ? (fs::path(run_dir) / "metrics.svg").string() : out;
    write_file_atomic(
        dst, render_metrics_svg(rows, "NanoPrime run " + fs::path(run_dir).filename().string()));
    return dst;
}

}  // namespace np
