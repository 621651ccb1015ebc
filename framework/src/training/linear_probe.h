// A linear probe: how well a frozen feature extractor's pooled features
// separate the labelled classes, measured by fitting a linear (ridge,
// least-squares) classifier on training images and scoring it on validation
// images. Self-supervised runs
// report it every few epochs, since their own loss says little about how
// useful the features will be for classification. Internal; needs torch.
#pragma once

#include <cstdint>

#include "cerebra/architecture.h"
#include "cerebra/data.h"

namespace cerebra::detail {

struct ProbeResult {
  double accuracy = 0;
  std::size_t train_images = 0, val_images = 0;
};

// Unlabelled images (label -1) are left out of both sides.
ProbeResult linear_probe(ClassifierModel& model, ImageLoader& train, ImageLoader& val, std::int64_t classes,
                         const torch::Device& device, bool channels_last);

}  // namespace cerebra::detail
