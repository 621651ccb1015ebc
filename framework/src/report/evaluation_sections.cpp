// How the tested checkpoint did on the test split: confusion matrix, ROC
// curves, reliability diagram and the per-class figures with their intervals.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "charts.h"
#include "sections.h"

namespace cerebra::report {

using nlohmann::json;

namespace {

// False (after saying why) when the run has no test predictions to draw from.
bool has_predictions(html::Page& page, const RunRecord& run) {
  if (!run.problem("predictions").empty()) {
    page.notice("Not available: " + run.problem("predictions"));
    return false;
  }
  if (run.predictions.empty()) {
    page.notice("Not available: the run has no test predictions (status " + run.summary.status +
                (run.summary.raw.value("split", json::object()).value("test", 0) == 0 ? "; the test split is empty"
                                                                                      : "") +
                ").");
    return false;
  }
  return true;
}

html::Table matrix_table(const RunRecord& run, bool normalised) {
  const auto& classes = run.summary.classes;
  const auto counts = confusion_counts(run.predictions, classes.size());
  html::Table table;
  table.caption = normalised ? "Share of each true class (rows sum to 100%)"
                             : "Images (rows: true class, columns: predicted)";
  table.header = {"true \\ predicted"};
  table.header.insert(table.header.end(), classes.begin(), classes.end());
  for (std::size_t t = 0; t < classes.size(); ++t) {
    std::size_t row_total = 0;
    for (std::size_t n : counts[t]) row_total += n;
    html::Cell name(classes[t]);
    name.header = true;
    std::vector<html::Cell> line{name};
    for (std::size_t p = 0; p < classes.size(); ++p) {
      const double share = row_total ? static_cast<double>(counts[t][p]) / static_cast<double>(row_total) : 0;
      html::Cell cell(normalised ? (row_total ? fmt::format("{:.1f}%", 100 * share) : "—")
                                 : std::to_string(counts[t][p]));
      cell.shade = row_total ? share : -1;
      cell.title = fmt::format("{} of {} {} images predicted {}", counts[t][p], row_total, classes[t], classes[p]);
      line.push_back(cell);
    }
    table.rows.push_back(std::move(line));
  }
  return table;
}

}  // namespace

void confusion_section(html::Page& page, const RunRecord& run, const Scope& scope) {
  scope.open(page, "confusion", "Confusion matrix (test split)");
  if (!has_predictions(page, run)) return;
  page.paragraph("Each row is a true class, each column what the model predicted; the diagonal holds the correct "
                 "predictions. The row-normalised table shows each class's recall on its diagonal and where its "
                 "errors go.");
  page.table(matrix_table(run, false));
  page.table(matrix_table(run, true));
}

std::vector<int> roc_classes(const RunSummary& summary) {
  if (summary.classes.size() == 2 && summary.positive_class >= 0) return {summary.positive_class};
  std::vector<int> all;
  for (std::size_t c = 0; c < summary.classes.size(); ++c) all.push_back(static_cast<int>(c));
  return all;
}

void roc_section(html::Page& page, const RunRecord& run, const Scope& scope) {
  scope.open(page, "roc", "ROC curves (test split)");
  if (!has_predictions(page, run)) return;
  std::vector<XySeries> series;
  std::vector<std::string> undefined;
  for (int c : roc_classes(run.summary)) {
    const std::string& name = run.summary.classes[static_cast<std::size_t>(c)];
    if (auto curve = roc_curve(run.predictions, c)) {
      series.push_back({fmt::format("{} (AUC {:.3f})", name, curve->auc), curve->points, series.size()});
    } else {
      undefined.push_back(name);
    }
  }
  if (series.empty()) {
    page.notice("No ROC curve: every class lacks positives or negatives in the test split.");
    return;
  }
  page.chart(scope.id("roc-chart"), unit_square_chart(series, {"false positive rate", "true positive rate"}, "chance"),
             "One-vs-rest ROC from each image's class probability (eval/predictions_test.csv): lowering the threshold "
             "moves up and right. A curve hugging the top-left corner separates the class well; the dashed diagonal "
             "is chance. AUC is the area under the curve, exact from the stored probabilities (the roc_auc metric "
             "bins scores by 1/1000, so it can differ a little where scores lie that close).");
  for (const auto& name : undefined) {
    page.paragraph("No curve for " + name + ": the test split has no image of it, or only images of it.");
  }
}

void reliability_section(html::Page& page, const RunRecord& run, const Scope& scope) {
  scope.open(page, "reliability", "Reliability diagram (test split)");
  if (!has_predictions(page, run)) return;
  const auto bins = reliability_bins(run.predictions, kReliabilityBins);
  XySeries points{"accuracy per confidence bin", {}, 0, false, true};
  html::Table table{"Top-label confidence bins", {"confidence", "images", "mean confidence", "accuracy"}, {}};
  for (const auto& bin : bins) {
    if (bin.count == 0) continue;
    points.points.push_back({bin.confidence, bin.accuracy});
    table.rows.push_back({fmt::format("{:.1f}–{:.1f}", bin.lower, bin.upper), std::to_string(bin.count),
                          figure(bin.confidence), figure(bin.accuracy)});
  }
  page.chart(scope.id("reliability-chart"),
             unit_square_chart({points}, {"confidence (largest class probability)", "accuracy"}, "perfect calibration"),
             fmt::format("Images binned by the model's confidence in its prediction. On the diagonal, a prediction "
                         "made with 80% confidence is right 80% of the time; below it the model is overconfident, "
                         "above it underconfident. Expected calibration error over {} bins: {:.3f}.",
                         kReliabilityBins, expected_calibration_error(bins)));
  page.table(table);
}

}  // namespace cerebra::report
