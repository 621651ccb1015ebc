#include "prepared_image.h"

#include <random>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "../data/planar.h"
#include "cerebra/error.h"

namespace cerebra::detail {

namespace {

cv::Matx33d homogeneous(const cv::Matx23d& m) {
  return cv::Matx33d(m(0, 0), m(0, 1), m(0, 2), m(1, 0), m(1, 1), m(1, 2), 0, 0, 1);
}

std::string stage_name(const Stage& stage, std::size_t position) {
  return stage.name.empty() ? fmt::format("#{}", position + 1) : "'" + stage.name + "'";
}

}  // namespace

PreparedImage prepare_image(const Dataset& dataset, const Sample& sample, const std::vector<Stage>& stages) {
  PreparedImage prepared;
  prepared.original = dataset.load(sample);
  if (prepared.original.empty()) throw Error("the dataset returned an empty image");
  cv::Mat image = prepared.original;
  cv::Matx33d placement = cv::Matx33d::eye();
  std::mt19937_64 unused;  // deterministic stages ignore it, as in the loader
  for (std::size_t s = 0; s < stages.size(); ++s) {
    const Transform& transform = *stages[s].transform;
    try {
      if (prepared.unplaced_stage.empty()) {
        if (auto step = transform.placement(image)) placement = homogeneous(*step) * placement;
        else prepared.unplaced_stage = stage_name(stages[s], s);
      }
      image = transform.apply(image, unused);
    } catch (const std::exception& error) {
      throw Error(fmt::format("preprocess stage {} failed: {}", stage_name(stages[s], s), error.what()));
    }
    if (image.empty()) throw Error(fmt::format("preprocess stage {} returned an empty image", stage_name(stages[s], s)));
  }
  prepared.preprocessed = batchable(image, sample.id);
  if (prepared.unplaced_stage.empty()) prepared.placement = placement.get_minor<2, 3>(0, 0);
  return prepared;
}

cv::Mat display_image(const cv::Mat& preprocessed) {
  cv::Mat eight_bit;
  if (preprocessed.depth() == CV_8U) {
    eight_bit = preprocessed;
  } else if (preprocessed.depth() == CV_16U) {
    preprocessed.convertTo(eight_bit, CV_8U, 1.0 / 257.0);
  } else {
    // Normalised pixels have no fixed scale: show their full range.
    cv::normalize(preprocessed.reshape(1), eight_bit, 0, 255, cv::NORM_MINMAX, CV_8U);
    eight_bit = eight_bit.reshape(preprocessed.channels());
  }
  if (eight_bit.channels() == 3) return eight_bit.clone();
  cv::Mat bgr;
  cv::cvtColor(eight_bit, bgr, cv::COLOR_GRAY2BGR);
  return bgr;
}

cv::Mat mask_in_model_view(const cv::Mat& mask, const cv::Matx23d& placement, const cv::Size& size) {
  cv::Mat out;
  cv::warpAffine(mask, out, cv::Mat(placement), size, cv::INTER_NEAREST, cv::BORDER_CONSTANT, cv::Scalar(0));
  return out;
}

double energy_share(const cv::Mat& map, const cv::Mat& mask) {
  const double total = cv::sum(map)[0];
  if (total <= 0) return 0.0;
  cv::Mat inside = cv::Mat::zeros(map.size(), map.type());
  map.copyTo(inside, mask);
  return cv::sum(inside)[0] / total;
}

HeadMaskOptions run_head_mask_options(const std::vector<Stage>& stages) {
  for (const auto& stage : stages) {
    if (stage.name == "crop_brain") return head_mask_options(stage.parameters);
  }
  return {};
}

}  // namespace cerebra::detail
