// `nanoprime plot`: the metrics of a run as a self-contained SVG (no dependencies): three stacked
// panels against the optimizer step, loss (and validation loss), learning rate, and throughput,
// each with axes, ticks, tick labels and a legend. Every curve is one <polyline> whose class names
// the series (loss, val_loss, lr, tok_s).
#pragma once
#include <string>
#include <vector>

#include "train/metrics.h"

namespace np {

std::string render_metrics_svg(const std::vector<MetricRow>& rows, const std::string& title);

// Any stacked line plot in the same style: panels sharing one x axis, each series one <polyline>
// whose class is its name.
struct PlotSeries {
    std::string name, color;
    std::vector<std::pair<double, double>> pts;
};
struct PlotPanel {
    std::string title, ylabel;
    std::vector<PlotSeries> series;
};
std::string render_panels_svg(const std::string& title, const std::string& xlabel,
                              const std::vector<PlotPanel>& panels);
// Reads RUN_DIR/metrics.jsonl, writes the SVG to out (default RUN_DIR/metrics.svg); returns the
// path.
std::string plot_run(const std::string& run_dir, const std::string& out = "");

}  // namespace np
