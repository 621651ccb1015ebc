// Several runs side by side: the study's table layout, and their ROC curves
// and reliability diagrams overlaid (the learning curves are in curve_sections.cpp).
#include <algorithm>

#include <fmt/format.h>

#include "cerebra/comparison.h"
#include "charts.h"
#include "sections.h"

namespace cerebra::report {

void comparison_section(html::Page& page, const std::vector<RunRecord>& runs) {
  page.section("comparison", "Test figures side by side");
  std::vector<ComparisonRow> rows;
  for (const auto& run : runs) rows.push_back(comparison_row(run.path, run.summary, run.weights));
  const auto columns = comparison_columns(rows);
  html::Table table{
      "The layout of the study's Tables 2 and 3 (cerebra compare): each metric's headline on the test split",
      {"Model"}, {}};
  for (const auto& column : columns) table.header.push_back(column.first);
  for (const char* title : {"Dataset", "Epochs", "ImageNet weights", "Run"}) table.header.push_back(title);
  for (const auto& row : rows) {
    std::vector<html::Cell> line{row.model};
    for (const auto& column : columns) line.emplace_back(figure(comparison_value(row, column.second)));
    for (const std::string& text : {row.dataset, std::to_string(row.epochs), row.weights, row.run}) {
      line.emplace_back(text);
    }
    table.rows.push_back(std::move(line));
  }
  page.table(table);
  for (const auto& row : rows) {
    if (row.metrics.is_null()) {
      page.notice(row.run + " has no test metrics (status " + row.status + "); its row is empty.");
    }
  }
}

void overlaid_roc_section(html::Page& page, const std::vector<RunRecord>& runs) {
  page.section("roc", "ROC curves, overlaid (test split)");
  // One chart per class name, each run's curve of that class in its colour.
  std::vector<std::string> names;
  for (const auto& run : runs) {
    for (int c : roc_classes(run.summary)) {
      const std::string& name = run.summary.classes[static_cast<std::size_t>(c)];
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  std::size_t drawn = 0;
  for (std::size_t n = 0; n < names.size(); ++n) {
    std::vector<XySeries> series;
    for (std::size_t r = 0; r < runs.size(); ++r) {
      const auto& classes = runs[r].summary.classes;
      const auto at = std::find(classes.begin(), classes.end(), names[n]);
      if (at == classes.end()) continue;
      if (auto curve = roc_curve(runs[r].predictions, static_cast<int>(at - classes.begin()))) {
        series.push_back({fmt::format("{} (AUC {:.3f})", runs[r].label, curve->auc), curve->points, r});
      }
    }
    if (series.empty()) continue;
    page.chart(fmt::format("roc-chart-{}", n + 1),
               unit_square_chart(series, {"false positive rate", "true positive rate"}, "chance"),
               "ROC of class " + names[n] + " against the rest, one colour per run; closer to the top-left is better.");
    ++drawn;
  }
  if (drawn == 0) page.notice("No run has test predictions with both positives and negatives of a class.");
}

void overlaid_reliability_section(html::Page& page, const std::vector<RunRecord>& runs) {
  page.section("reliability", "Reliability diagrams, overlaid (test split)");
  std::vector<XySeries> series;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    if (runs[r].predictions.empty()) continue;
    const auto bins = reliability_bins(runs[r].predictions, kReliabilityBins);
    XySeries line{fmt::format("{} (ECE {:.3f})", runs[r].label, expected_calibration_error(bins)), {}, r, false, true};
    for (const auto& bin : bins) {
      if (bin.count > 0) line.points.push_back({bin.confidence, bin.accuracy});
    }
    series.push_back(std::move(line));
  }
  if (series.empty()) {
    page.notice("No run has test predictions.");
    return;
  }
  page.chart("reliability-chart",
             unit_square_chart(series, {"confidence (largest class probability)", "accuracy"}, "perfect calibration"),
             "Accuracy against confidence in 10 bins, one colour per run; below the diagonal a run is overconfident. "
             "ECE: expected calibration error.");
}

}  // namespace cerebra::report
