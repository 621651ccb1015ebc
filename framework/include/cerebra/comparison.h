// Runs side by side in the layout of the study's tables (Model, Accuracy,
// Precision, Sensitivity, F1-Score, then Specificity and ROC-AUC where
// measured): what `cerebra compare` prints and the report's comparison table
// shows. No torch here.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace cerebra {

struct ComparisonRow {
  std::string run, model, dataset, weights, status;
  int epochs = 0;
  nlohmann::json metrics;  // summary.json's test metrics; null when the run has none
};

struct RunSummary;

// A row from what a run's summary says; `weights` is weights_origin()'s wording.
ComparisonRow comparison_row(const std::string& run, const RunSummary& summary, const std::string& weights);

// One run's row from its directory; Error naming the folder or file when it
// is not a run directory or has no readable summary.json.
ComparisonRow comparison_row(const std::string& run_dir);

// (title, metric name): the paper's four, then Specificity and ROC-AUC when
// at least one of the rows measured them.
std::vector<std::pair<std::string, std::string>> comparison_columns(const std::vector<ComparisonRow>& rows);

// The metric's headline in a row, or NaN when the run did not measure it.
double comparison_value(const ComparisonRow& row, const std::string& metric);

// The paper's names for the study's architectures (CNN, VGG16, ResNet50,
// InceptionV3); any other name as it is.
std::string display_model(const std::string& name);

}  // namespace cerebra
