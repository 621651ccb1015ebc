// The tensor side of test-time augmentation (cerebra/tta.h): each variant is a
// fixed transform of the batch as the model receives it, after the
// [[preprocess]] stages. Flips and rotations commute with the per-pixel
// normalisation those stages end with, so transforming the tensor equals
// transforming the image. Internal to the framework library; needs torch.
#pragma once

#include <string>

#include <torch/torch.h>

namespace cerebra::detail {

// `input` (N, C, H, W; any memory format) seen through the named variant.
// Rotations and the zoom resample bilinearly and repeat the border pixels
// where the rotated image leaves the frame (MRI borders are background).
torch::Tensor tta_variant(const torch::Tensor& input, const std::string& name);

}  // namespace cerebra::detail
