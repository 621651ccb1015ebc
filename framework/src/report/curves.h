// ROC curves and reliability bins computed from a run's test predictions
// (eval/predictions_test.csv holds every image's class probabilities), so the
// report draws them whichever metrics the pipeline listed.
#pragma once

#include <optional>
#include <vector>

#include "cerebra/evaluate.h"

namespace cerebra::report {

struct Point {
  double x = 0, y = 0;
};

struct RocCurve {
  std::vector<Point> points;  // (false positive rate, true positive rate) from (0,0) to (1,1)
  double auc = 0;             // trapezoidal area; ties count half
  std::size_t positives = 0, negatives = 0;
};

// One-vs-rest ROC of class `c` scored by its probability over the labelled
// predictions; none when the class has no positives or no negatives.
std::optional<RocCurve> roc_curve(const std::vector<Prediction>& predictions, int c);

// The report's reliability diagrams use ten bins: enough to show the shape,
// few enough that each holds images on a small test split.
constexpr int kReliabilityBins = 10;

struct ReliabilityBin {
  double lower = 0, upper = 0;
  std::size_t count = 0;
  double confidence = 0, accuracy = 0;  // means over the bin; 0 when empty
};

// Top-label reliability: labelled predictions binned by their largest
// probability into `bins` equal bins of [0, 1] (1.0 in the last).
std::vector<ReliabilityBin> reliability_bins(const std::vector<Prediction>& predictions, int bins);

// Expected calibration error of those bins: sum of n_b/N * |accuracy_b - confidence_b|.
double expected_calibration_error(const std::vector<ReliabilityBin>& bins);

}  // namespace cerebra::report
