// The per-class figures of the test evaluation, as summary.json holds them,
// with their bootstrap 95% intervals where the run computed them.
#include <fmt/format.h>

#include "sections.h"

namespace cerebra::report {

using nlohmann::json;

namespace {

// The metrics with per-class figures, in the order of the study's tables.
const std::vector<std::pair<std::string, std::string>>& per_class_metrics() {
  static const std::vector<std::pair<std::string, std::string>> metrics{
      {"precision", "Precision"}, {"sensitivity", "Sensitivity"}, {"specificity", "Specificity"},
      {"f1", "F1-Score"},         {"roc_auc", "ROC-AUC"},         {"calibration", "ECE"}};
  return metrics;
}

double number_or_nan(const json& value) { return value.is_number() ? value.get<double>() : std::nan(""); }

// "0.912 (0.850–0.960)", or the figure alone without an interval.
std::string with_interval(const json& value, const json& interval) {
  std::string text = figure(number_or_nan(value));
  if (interval.is_array() && interval.size() == 2) {
    text += fmt::format(" ({}–{})", figure(number_or_nan(interval[0])), figure(number_or_nan(interval[1])));
  }
  return text;
}

bool has_intervals(const json& metrics) {
  for (const auto& [name, report] : metrics.items()) {
    if (report.is_object() && report.contains("per_class_ci95")) return true;
  }
  return false;
}

}  // namespace

void per_class_section(html::Page& page, const RunRecord& run, const Scope& scope) {
  scope.open(page, "per-class", "Per-class figures (test split)");
  const json& metrics = run.summary.test_metrics;
  if (!metrics.is_object()) {
    page.notice("Not available: summary.json has no test metrics (status " + run.summary.status + ").");
    return;
  }
  html::Table table{"Each class one-vs-rest; the last row is each metric's headline (its average)", {"class"}, {}};
  std::vector<std::string> shown;
  for (const auto& [key, title] : per_class_metrics()) {
    if (metrics.contains(key) && metrics[key].contains("per_class")) {
      table.header.push_back(title);
      shown.push_back(key);
    }
  }
  if (shown.empty()) {
    page.notice("The run's [evaluation] metrics include none with per-class figures (precision, sensitivity, "
                "specificity, f1, roc_auc, calibration).");
    return;
  }
  table.header.insert(table.header.begin() + 1, "images");
  for (const auto& name : run.summary.classes) {
    std::vector<html::Cell> line{name, metrics[shown[0]].value("support", json::object()).value(name, json(0)).dump()};
    for (const auto& key : shown) {
      line.emplace_back(with_interval(metrics[key]["per_class"].value(name, json(nullptr)),
                                      metrics[key].value("per_class_ci95", json::object()).value(name, json(nullptr))));
    }
    table.rows.push_back(std::move(line));
  }
  std::vector<html::Cell> headline_row{"headline", std::to_string(metrics[shown[0]].value("count", 0))};
  for (const auto& key : shown) {
    const json& report = metrics[key];
    headline_row.emplace_back(with_interval(report.value("value", json(nullptr)), report.value("ci95", json(nullptr))) +
                              " " + report.value("average", std::string()));
  }
  table.rows.push_back(std::move(headline_row));
  page.table(table);
  page.paragraph(has_intervals(metrics)
                     ? "In brackets: the bootstrap 95% interval ([evaluation] bootstrap resamples of the test split). "
                       "Wide intervals mean the test split is too small to tell close models apart."
                     : "No intervals: the run did not bootstrap. Set [evaluation] bootstrap = 1000 in the pipeline "
                       "(or re-evaluate with cerebra eval) to get 95% intervals.");
}

}  // namespace cerebra::report
