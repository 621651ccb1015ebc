// Entry point of the classification metrics plugin.
#include "cerebra/plugin_abi.h"
#include "cerebra/registry.h"
#include "common.h"

namespace {
void register_classification_metrics(cerebra::Registry& registry) {
  cerebra::metrics::register_confusion_metrics(registry);
  cerebra::metrics::register_score_metrics(registry);
}
}  // namespace

CEREBRA_PLUGIN("classification_metrics", "0.1.0",
               "Classification metrics: accuracy, precision, sensitivity, specificity, f1, "
               "balanced accuracy, worst-class recall, confusion matrix, ROC AUC, calibration",
               register_classification_metrics)
