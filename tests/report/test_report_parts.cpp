// The report's computations on hand-made predictions: ROC curves and their
// area, reliability bins, and which test images the gallery chooses.
#include <gtest/gtest.h>

#include "../../framework/src/report/curves.h"
#include "cerebra/report.h"

using namespace cerebra;
using namespace cerebra::report;

namespace {

Prediction prediction(int label, std::vector<float> probabilities, std::string file = "x.png") {
  Prediction p;
  p.file = std::move(file);
  p.label = label;
  p.probabilities = std::move(probabilities);
  p.predicted = static_cast<int>(std::max_element(p.probabilities.begin(), p.probabilities.end()) -
                                 p.probabilities.begin());
  return p;
}

}  // namespace

TEST(ReportRoc, AreaMatchesTheMannWhitneyStatistic) {
  // Positives of class 1 scored 0.9, 0.6, 0.4; negatives 0.7, 0.3, 0.2.
  // Pairs positive > negative: 0.9 beats 3, 0.6 beats 2, 0.4 beats 2: 7 of 9.
  std::vector<Prediction> predictions;
  for (float s : {0.9f, 0.6f, 0.4f}) predictions.push_back(prediction(1, {1 - s, s}));
  for (float s : {0.7f, 0.3f, 0.2f}) predictions.push_back(prediction(0, {1 - s, s}));
  auto curve = roc_curve(predictions, 1);
  ASSERT_TRUE(curve);
  EXPECT_NEAR(curve->auc, 7.0 / 9.0, 1e-12);
  EXPECT_EQ(curve->positives, 3u);
  EXPECT_EQ(curve->negatives, 3u);
  EXPECT_DOUBLE_EQ(curve->points.front().x, 0);
  EXPECT_DOUBLE_EQ(curve->points.back().x, 1);
  EXPECT_DOUBLE_EQ(curve->points.back().y, 1);
  // Class 0's curve is class 1's mirror: the same area.
  EXPECT_NEAR(roc_curve(predictions, 0)->auc, 7.0 / 9.0, 1e-6);
}

TEST(ReportRoc, TiesCountHalfAndStraightRunsCollapse) {
  std::vector<Prediction> tied{prediction(1, {0.5f, 0.5f}), prediction(0, {0.5f, 0.5f})};
  EXPECT_NEAR(roc_curve(tied, 1)->auc, 0.5, 1e-12);
  // A perfect separation of 50 + 50 images is three points: (0,0), (0,1), (1,1).
  std::vector<Prediction> perfect;
  for (int i = 0; i < 50; ++i) perfect.push_back(prediction(1, {0.1f, 0.9f - 0.001f * static_cast<float>(i)}));
  for (int i = 0; i < 50; ++i) perfect.push_back(prediction(0, {0.8f, 0.2f - 0.001f * static_cast<float>(i)}));
  auto curve = roc_curve(perfect, 1);
  EXPECT_DOUBLE_EQ(curve->auc, 1.0);
  EXPECT_EQ(curve->points.size(), 3u);
}

TEST(ReportRoc, UndefinedWithoutPositivesOrNegatives) {
  std::vector<Prediction> only_ones{prediction(1, {0.2f, 0.8f}), prediction(1, {0.4f, 0.6f})};
  EXPECT_FALSE(roc_curve(only_ones, 1));
  EXPECT_FALSE(roc_curve(only_ones, 0));
  only_ones.push_back(prediction(-1, {0.9f, 0.1f}));  // unlabelled rows do not count
  EXPECT_FALSE(roc_curve(only_ones, 0));
}

TEST(ReportReliability, BinsByTopConfidence) {
  // Confidence 0.95 twice (one right), 0.65 once (right), and 1.0 lands in the last bin.
  std::vector<Prediction> predictions{prediction(0, {0.95f, 0.05f}), prediction(1, {0.95f, 0.05f}),
                                      prediction(1, {0.35f, 0.65f}), prediction(1, {0.0f, 1.0f})};
  auto bins = reliability_bins(predictions, 10);
  ASSERT_EQ(bins.size(), 10u);
  EXPECT_EQ(bins[9].count, 3u);
  EXPECT_NEAR(bins[9].confidence, (0.95 + 0.95 + 1.0) / 3, 1e-6);
  EXPECT_NEAR(bins[9].accuracy, 2.0 / 3, 1e-12);
  EXPECT_EQ(bins[6].count, 1u);
  EXPECT_NEAR(bins[6].accuracy, 1.0, 1e-12);
  EXPECT_EQ(bins[0].count, 0u);
  // ECE: 3/4 * |2/3 - 0.9667| + 1/4 * |1 - 0.65|
  EXPECT_NEAR(expected_calibration_error(bins), 0.75 * (2.9 / 3 - 2.0 / 3) + 0.25 * 0.35, 1e-6);
}

TEST(ReportGallery, MostConfidentErrorsFirstThenCorrectPerClass) {
  std::vector<Prediction> predictions{
      prediction(0, {0.4f, 0.6f}, "e1"),  prediction(1, {0.9f, 0.1f}, "e2"),   // errors, p 0.6 and 0.9
      prediction(0, {0.7f, 0.3f}, "c0a"), prediction(0, {0.99f, 0.01f}, "c0b"),
      prediction(0, {0.8f, 0.2f}, "c0c"), prediction(1, {0.2f, 0.8f}, "c1a"),
      prediction(-1, {0.0f, 1.0f}, "unlabelled")};
  auto picks = select_gallery(predictions, 2, 8, 2);
  std::vector<std::string> files;
  for (const auto& pick : picks) files.push_back(pick.file);
  EXPECT_EQ(files, (std::vector<std::string>{"e2", "e1", "c0b", "c0c", "c1a"}));
  EXPECT_TRUE(picks[0].error());
  EXPECT_NEAR(picks[0].confidence, 0.9, 1e-6);
  EXPECT_FALSE(picks[2].error());
  // At most max_errors errors.
  EXPECT_EQ(select_gallery(predictions, 2, 1, 0).size(), 1u);
  EXPECT_EQ(select_gallery(predictions, 2, 1, 0)[0].file, "e2");
}

TEST(ReportGallery, ThisBuildHasNoExplainerYet) {
  // Until cerebra explain's library is part of the build the gallery says so;
  // this test changes when gallery_explainer() is wired.
  Registry registry;
  EXPECT_FALSE(gallery_explainer(registry));
}
