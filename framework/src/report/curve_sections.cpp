// Learning curves from metrics.jsonl: losses, the monitored figure and the
// other validation metrics, and the learning rate, per epoch; for one run or
// several overlaid.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "charts.h"
#include "sections.h"

namespace cerebra::report {

using nlohmann::json;

namespace {

std::optional<double> number(const json& line, const std::string& key) {
  if (!line.contains(key) || !line[key].is_number()) return std::nullopt;
  return line[key].get<double>();
}

// One figure per epoch 1..epochs (a gap where a line lacks it).
std::vector<std::optional<double>> per_epoch(const std::vector<json>& lines, const std::string& key, int epochs) {
  std::vector<std::optional<double>> values(static_cast<std::size_t>(epochs));
  for (const auto& line : lines) {
    const int epoch = line.value("epoch", 0);
    if (epoch >= 1 && epoch <= epochs) values[static_cast<std::size_t>(epoch - 1)] = number(line, key);
  }
  return values;
}

int epochs_of(const std::vector<json>& lines) {
  int epochs = 0;
  for (const auto& line : lines) epochs = std::max(epochs, line.value("epoch", 0));
  return epochs;
}

std::vector<double> epoch_axis(int epochs) {
  std::vector<double> x;
  for (int e = 1; e <= epochs; ++e) x.push_back(e);
  return x;
}

// A logarithmic axis when the rate spans more than a factor of 20 (warm-up,
// decay), where a linear one would flatten everything but the peak.
bool wide_range(const std::vector<Series>& series) {
  double low = INFINITY, high = 0;
  for (const auto& s : series) {
    for (const auto& v : s.values) {
      if (v && *v > 0) low = std::min(low, *v), high = std::max(high, *v);
    }
  }
  return high > 0 && high / low > 20;
}

// From zero on a linear axis, so a constant rate reads as constant rather
// than as a line in a zoomed-in band.
Axes rate_axes(const std::vector<Series>& rate) {
  Axes axes{"epoch", "learning rate (head)", wide_range(rate)};
  if (!axes.log_y) axes.y_min = 0.0;
  return axes;
}

// The validation figures of metrics.jsonl other than the loss, the monitor first.
std::vector<std::string> validation_figures(const std::vector<json>& lines, const std::string& monitor) {
  std::vector<std::string> keys;
  if (monitor.rfind("val_", 0) == 0 && monitor != "val_loss") keys.push_back(monitor);
  for (const auto& line : lines) {
    for (const auto& item : line.items()) {
      const std::string& key = item.key();
      if (key.rfind("val_", 0) == 0 && key != "val_loss" && std::find(keys.begin(), keys.end(), key) == keys.end()) {
        keys.push_back(key);
      }
    }
  }
  return keys;
}

std::string monitor_of(const RunRecord& run) { return run.summary.raw.value("monitor", std::string("val_accuracy")); }

}  // namespace

void curves_section(html::Page& page, const RunRecord& run, const Scope& scope) {
  scope.open(page, "curves", "Learning curves");
  if (!run.problem("metrics").empty()) {
    page.notice("Not available: " + run.problem("metrics"));
    return;
  }
  const int epochs = epochs_of(run.metrics);
  if (epochs == 0) {
    page.notice("No epoch finished, so metrics.jsonl holds no figures to plot.");
    return;
  }
  const auto x = epoch_axis(epochs);
  const std::string monitor = monitor_of(run);
  const std::string best = run.summary.best_epoch > 0 ? fmt::format(" The best epoch by {} was {}.", monitor,
                                                                     run.summary.best_epoch)
                                                       : "";
  page.chart(scope.id("loss-chart"),
             line_chart(x, {{"train loss", per_epoch(run.metrics, "train_loss", epochs), 0, true},
                            {"validation loss", per_epoch(run.metrics, "val_loss", epochs), 1, false}},
                        {"epoch", "loss (cross-entropy)"}),
             "Training and validation loss per epoch. Validation loss rising while training loss falls is "
             "overfitting." + best);
  std::vector<Series> figures;
  for (const auto& key : validation_figures(run.metrics, monitor)) {
    figures.push_back({key + (key == monitor ? " (monitored)" : ""), per_epoch(run.metrics, key, epochs),
                       figures.size(), key != monitor});
  }
  figures.push_back({"train_accuracy", per_epoch(run.metrics, "train_accuracy", epochs), figures.size(), true});
  page.chart(scope.id("metric-chart"), line_chart(x, figures, {"epoch", "figure per epoch", false, 0.0, 1.0}),
             "The monitored figure (" + monitor + ", solid), which picks the checkpoint that is tested, and the "
             "other per-epoch figures (dashed)." + best);
  std::vector<Series> rate{{"learning rate", per_epoch(run.metrics, "learning_rate", epochs), 2, false}};
  page.chart(scope.id("rate-chart"), line_chart(x, rate, rate_axes(rate)),
             "The head's learning rate in each epoch, as the schedule set it.");
}

void overlaid_curves_section(html::Page& page, const std::vector<RunRecord>& runs) {
  page.section("curves", "Learning curves, overlaid");
  int epochs = 0;
  for (const auto& run : runs) epochs = std::max(epochs, epochs_of(run.metrics));
  if (epochs == 0) {
    page.notice("No run has a finished epoch in its metrics.jsonl.");
    return;
  }
  std::vector<Series> loss, monitored, rate;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const auto& lines = runs[r].metrics;
    const std::string monitor = monitor_of(runs[r]);
    loss.push_back({runs[r].label + " validation", per_epoch(lines, "val_loss", epochs), r, false});
    loss.push_back({runs[r].label + " train", per_epoch(lines, "train_loss", epochs), r, true});
    monitored.push_back({runs[r].label + " " + monitor, per_epoch(lines, monitor, epochs), r, false});
    rate.push_back({runs[r].label, per_epoch(lines, "learning_rate", epochs), r, false});
  }
  const auto x = epoch_axis(epochs);
  page.chart("loss-chart", line_chart(x, loss, {"epoch", "loss (cross-entropy)"}),
             "Loss per epoch: validation solid, training dashed, one colour per run.");
  page.chart("metric-chart", line_chart(x, monitored, {"epoch", "monitored figure (validation)"}),
             "Each run's monitored figure per epoch (the one that picked its tested checkpoint).");
  page.chart("rate-chart", line_chart(x, rate, rate_axes(rate)),
             "Each run's head learning rate per epoch.");
}

}  // namespace cerebra::report
