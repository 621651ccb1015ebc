// An image made ready for an explanation: decoded, run through the run's
// preprocessing exactly as the loader does, with the geometry that took the
// original's pixels to the model's input. Internal; no torch.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "cerebra/data.h"
#include "cerebra/dataset.h"
#include "cerebra/head_mask.h"

namespace cerebra::detail {

struct PreparedImage {
  cv::Mat original;      // as the dataset decodes it (full scale)
  cv::Mat preprocessed;  // after the stages, checked as the loader checks it
  // Original pixel coordinates to model-input ones; empty when a stage cannot
  // say (Transform::placement), and `unplaced_stage` names it.
  std::optional<cv::Matx23d> placement;
  std::string unplaced_stage;
};

// Decodes `sample` and applies `stages`; an Error says which stage failed and why.
PreparedImage prepare_image(const Dataset& dataset, const Sample& sample, const std::vector<Stage>& stages);

// The preprocessed image for display: 8-bit BGR; 16-bit scaled down, float
// pixels (a normalize stage) min-max rescaled.
cv::Mat display_image(const cv::Mat& preprocessed);

// `mask` (CV_8U, original size) in model-input coordinates: `size`, nearest
// neighbour, zero outside the original.
cv::Mat mask_in_model_view(const cv::Mat& mask, const cv::Matx23d& placement, const cv::Size& size);

// The share of the map's sum inside `mask` (CV_8U, the map's size); 0 for an
// all-zero map.
double energy_share(const cv::Mat& map, const cv::Mat& mask);

// The head-mask settings of the run: its crop_brain stage's, else the defaults.
HeadMaskOptions run_head_mask_options(const std::vector<Stage>& stages);

}  // namespace cerebra::detail
