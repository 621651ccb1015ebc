// The pieces explanations are built from: map comparisons, where the head
// is, where preprocessing moves pixels, and where synthetic lesions lie.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "cerebra/data.h"
#include "cerebra/dataset.h"
#include "cerebra/explain_sanity.h"
#include "cerebra/head_mask.h"
#include "run_support.h"

using namespace cerebra;

namespace {

Registry& registry() { return cerebra::testing::build_tree_host().registry(); }

// A component's defaults with `changes` applied.
Parameters with_defaults(const char* kind, const char* name, const std::map<std::string, Value>& changes) {
  Parameters parameters = Parameters::defaults(registry().find(kind, name).schema);
  for (const auto& [key, value] : changes) parameters.set(key, value);
  return parameters;
}

// A horizontal ramp, 0 at the left to 1 at the right.
cv::Mat ramp(int width, int height) {
  cv::Mat map(height, width, CV_32F);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) map.at<float>(y, x) = static_cast<float>(x) / static_cast<float>(width - 1);
  return map;
}

cv::Mat blob_at(int x, int y) {
  cv::Mat map = cv::Mat::zeros(32, 32, CV_32F);
  cv::circle(map, {x, y}, 4, cv::Scalar(1.0), cv::FILLED);
  cv::GaussianBlur(map, map, cv::Size(0, 0), 2.0);
  return map;
}

cv::Point2d moved(const cv::Matx23d& m, double x, double y) { return m * cv::Vec3d(x, y, 1.0); }

// A dark frame around a gray elliptic head: the kind of slice crop_brain is for.
cv::Mat head_image() {
  cv::Mat image(90, 120, CV_8UC1, cv::Scalar(5));
  cv::ellipse(image, {70, 40}, {30, 25}, 0, 0, 360, cv::Scalar(140), cv::FILLED);
  return image;
}

}  // namespace

TEST(ExplainMaps, SpearmanRanksAgreementAndDisagreement) {
  const cv::Mat a = ramp(16, 8);
  EXPECT_NEAR(spearman_correlation(a, a), 1.0, 1e-12);
  EXPECT_NEAR(spearman_correlation(a, 1.0 - a), -1.0, 1e-12);
  // A monotonic change of values keeps every rank.
  cv::Mat squared = a.mul(a);
  EXPECT_NEAR(spearman_correlation(a, squared), 1.0, 1e-12);
  EXPECT_EQ(spearman_correlation(a, cv::Mat::zeros(8, 16, CV_32F)), 0.0);
  EXPECT_THROW(spearman_correlation(a, ramp(8, 8)), Error);
}

TEST(ExplainMaps, SsimIsOneForTheSameMapAndLowForAMovedOne) {
  const cv::Mat here = blob_at(8, 8), there = blob_at(24, 24);
  EXPECT_NEAR(structural_similarity(here, here), 1.0, 1e-9);
  EXPECT_LT(structural_similarity(here, there), 0.5);
  EXPECT_GT(structural_similarity(here, blob_at(9, 8)), structural_similarity(here, there));
}

TEST(ExplainMaps, CropBrainCropsToTheHeadMaskAndSaysWhere) {
  const cv::Mat image = head_image();
  const HeadMask head = head_mask(image);
  ASSERT_TRUE(head.found);
  EXPECT_NEAR(head.box.x, 40, 2);
  EXPECT_NEAR(head.box.width, 61, 3);
  EXPECT_EQ(head.mask.at<unsigned char>(40, 70), 255);
  EXPECT_EQ(head.mask.at<unsigned char>(5, 5), 0);

  Parameters no_margin;
  no_margin.set("margin", 0.0);
  const Stage crop = make_stage(registry(), "crop_brain", no_margin);
  std::mt19937_64 unused;
  const cv::Mat cropped = crop.transform->apply(image, unused);
  EXPECT_EQ(cropped.size(), head.box.size());
  const auto placement = crop.transform->placement(image);
  ASSERT_TRUE(placement);
  const cv::Point2d corner = moved(*placement, head.box.x, head.box.y);
  EXPECT_EQ(corner, cv::Point2d(0, 0));
  // Nothing to crop to: the image stays whole and nothing moves.
  const cv::Mat black(40, 40, CV_8UC1, cv::Scalar(0));
  EXPECT_FALSE(head_mask(black).found);
  EXPECT_EQ(moved(*crop.transform->placement(black), 7, 9), cv::Point2d(7, 9));
}

TEST(ExplainMaps, ResizePlacementMapsPixelCentres) {
  Parameters stretch;
  stretch.set("width", std::int64_t{20});
  stretch.set("height", std::int64_t{30});
  const auto enlarged = make_stage(registry(), "resize", stretch).transform->placement(cv::Mat(10, 10, CV_8UC1));
  ASSERT_TRUE(enlarged);
  // Pixel 3 covers [2.5, 3.5]; twice as large it covers [5, 7], centre 6.5.
  EXPECT_EQ(moved(*enlarged, 3, 5), cv::Point2d(6.5, 16));

  Parameters pad;
  pad.set("size", std::int64_t{40});
  pad.set("mode", std::string("pad"));
  const auto padded = make_stage(registry(), "resize", pad).transform->placement(cv::Mat(10, 20, CV_8UC1));
  ASSERT_TRUE(padded);
  // Scaled by 2 to 40x20, centred: 10 rows of fill above.
  EXPECT_EQ(moved(*padded, 3, 5), cv::Point2d(6.5, 20.5));

  Parameters plain;
  const auto normalize = make_stage(registry(), "normalize", plain).transform->placement(cv::Mat(10, 20, CV_8UC1));
  ASSERT_TRUE(normalize);
  EXPECT_EQ(moved(*normalize, 3, 5), cv::Point2d(3, 5));
}

TEST(ExplainMaps, SyntheticLesionMasksMarkTheLesions) {
  const Parameters parameters = with_defaults(
      kinds::dataset, "synthetic", {{"count", std::int64_t{8}}, {"image_size", std::int64_t{64}}, {"faint_fraction", 0.0}});
  auto dataset = registry().create_as<Dataset>(kinds::dataset, "synthetic", parameters);
  for (const Sample& sample : dataset->samples()) {
    SCOPED_TRACE(sample.id);
    const cv::Mat image = dataset->load(sample), mask = dataset->lesion_mask(sample);
    ASSERT_EQ(mask.size(), image.size());
    ASSERT_EQ(mask.type(), CV_8UC1);
    if (dataset->class_names()[static_cast<std::size_t>(sample.label)] == "no") {
      EXPECT_EQ(cv::countNonZero(mask), 0);
      continue;
    }
    ASSERT_GT(cv::countNonZero(mask), 0);
    // The lesion is brighter than the rest of the head around it.
    const HeadMask head = head_mask(image);
    ASSERT_TRUE(head.found);
    cv::Mat rest = head.mask & ~mask;
    EXPECT_GT(cv::mean(image, mask)[0], cv::mean(image, rest)[0] + 10);
  }
}
