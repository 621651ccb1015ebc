#include "cerebra/comparison.h"

#include <cmath>

#include "cerebra/evaluate.h"
#include "cerebra/run_directory.h"

namespace cerebra {

std::string display_model(const std::string& name) {
  if (name == "cnn") return "CNN";
  if (name == "vgg16") return "VGG16";
  if (name == "resnet50") return "ResNet50";
  if (name == "inception_v3") return "InceptionV3";
  return name;
}

ComparisonRow comparison_row(const std::string& run, const RunSummary& summary, const std::string& weights) {
  ComparisonRow row;
  row.run = run;
  row.model = display_model(summary.model);
  row.dataset = summary.dataset;
  row.epochs = summary.epochs_completed;
  row.status = summary.status;
  row.weights = weights;
  row.metrics = summary.test_metrics;
  return row;
}

ComparisonRow comparison_row(const std::string& run_dir) {
  RunDirectory run = RunDirectory::open(run_dir);
  RunSummary summary = run.read_summary();
  return comparison_row(run_dir, summary, weights_origin(run, summary));
}

std::vector<std::pair<std::string, std::string>> comparison_columns(const std::vector<ComparisonRow>& rows) {
  std::vector<std::pair<std::string, std::string>> columns{
      {"Accuracy", "accuracy"}, {"Precision", "precision"}, {"Sensitivity", "sensitivity"}, {"F1-Score", "f1"}};
  for (const auto& [title, key] : std::vector<std::pair<std::string, std::string>>{{"Specificity", "specificity"},
                                                                                    {"ROC-AUC", "roc_auc"}}) {
    for (const auto& row : rows) {
      if (row.metrics.is_object() && row.metrics.contains(key)) {
        columns.emplace_back(title, key);
        break;
      }
    }
  }
  return columns;
}

double comparison_value(const ComparisonRow& row, const std::string& metric) {
  return row.metrics.is_object() && row.metrics.contains(metric) ? headline(row.metrics[metric]) : std::nan("");
}

}  // namespace cerebra
