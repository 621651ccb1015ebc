// Interface of `transform` components: one image in, one image out.
#pragma once

#include <random>

#include <opencv2/core.hpp>

#include "cerebra/registry.h"

namespace cerebra {

class Transform : public Component {
 public:
  ~Transform() override;

  // Random transforms run on training images only, every epoch, drawing from
  // `rng`, which the loader seeds per sample and epoch. Deterministic ones run
  // once per image and are cached; they must ignore `rng`.
  virtual bool is_random() const = 0;
  virtual cv::Mat apply(const cv::Mat& image, std::mt19937_64& rng) const = 0;
};

}  // namespace cerebra
