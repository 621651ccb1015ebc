// Grad-CAM and Grad-CAM++ on a model cut at its Grad-CAM layer
// (ClassifierModel::forward_to_gradcam_layer). Internal; needs torch.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "cerebra/architecture.h"
#include "cerebra/explain.h"

namespace cerebra::detail {

// The batch of one preprocessed image (from PreparedImage), as the loader
// makes it: three float planes, RGB.
torch::Tensor image_input(const cv::Mat& preprocessed, const torch::Device& device);

struct CamResult {
  std::vector<float> probabilities;  // softmax of the logits, per class
  int predicted = -1;
  int target = -1;  // the class the map is for
  cv::Mat cam;      // CV_32F at the input's size, in [0, 1]: divided by its peak (all zero when it has none)
};

// The map of class `target` (-1: the predicted class) for `input` (1 x C x H x W).
// The model is run in eval mode with gradients on; GradcamUnsupported
// propagates from a model that cannot be cut.
CamResult compute_cam(ClassifierModel& model, const torch::Tensor& input, int target, CamMethod method);

}  // namespace cerebra::detail
