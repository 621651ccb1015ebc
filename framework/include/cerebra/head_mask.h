// Where the head is in a brain MRI slice: the mask the `crop_brain` transform
// crops to, shared with explanations (the share of a heat map inside the
// head). No torch here.
#pragma once

#include <opencv2/core.hpp>

#include "cerebra/parameters.h"

namespace cerebra {

struct HeadMaskOptions {
  double threshold = 45;  // gray level (0-255) separating head from background
  int blur = 5;           // odd Gaussian kernel before thresholding; 0 for none
  double min_area = 0.01; // below this fraction of the image the outline is ignored
};

// The options of a `crop_brain` stage's resolved parameters (threshold, blur,
// min_area); an even blur is an Error naming it.
HeadMaskOptions head_mask_options(const Parameters& crop_brain);

struct HeadMask {
  bool found = false;  // false: nothing above the threshold, or the outline was too small
  cv::Mat mask;        // CV_8U at the image's size, 255 inside the head outline (empty when !found)
  cv::Rect box;        // the outline's bounding box (empty when !found)
};

// Threshold of the blurred gray image, cleaned by two erosions and two
// dilations, largest outer outline filled. `image` is 8-bit with 1, 3 (BGR)
// or 4 (BGRA) channels; anything else is an Error naming the problem.
HeadMask head_mask(const cv::Mat& image, const HeadMaskOptions& options = {});

}  // namespace cerebra
