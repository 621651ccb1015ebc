// Interface of `transform` components: one image in, one image out.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/core/matx.hpp>

#include "cerebra/registry.h"

namespace cerebra {

// out = in * scale[c] + offset[c] for every value of channel c of an image as
// OpenCV holds it (B, G, R), giving floats; scale includes the 8- or 16-bit
// step to [0, 1]. Three entries for a one-channel input mean the gray values
// are first replicated into three channels.
struct ChannelMap {
  std::vector<float> scale, offset;
};

class Transform : public Component {
 public:
  ~Transform() override;

  // Random transforms run on training images only, every epoch, drawing from
  // `rng`, which the loader seeds per sample and epoch. Deterministic ones run
  // once per image and are cached; they must ignore `rng`.
  virtual bool is_random() const = 0;
  virtual cv::Mat apply(const cv::Mat& image, std::mt19937_64& rng) const = 0;
  // For a deterministic stage that only shrinks its input to a fixed size (a
  // resize), that size: any input at least this large in both sides gives
  // practically the same output, so a loader may decode images at a reduced
  // scale for it (see LoadHint). Empty, the default, for every other stage.
  virtual cv::Size accepts_reduced_input() const { return {}; }
  // The size of the images this stage gives for inputs of size `input`
  // (empty: the input size is not known), so a pipeline can be checked
  // against its architecture before any image is read. Empty, the default,
  // when it cannot be told without the image (crop_brain); a stage that keeps
  // the size returns `input`, one that makes a fixed size returns that size.
  virtual std::optional<cv::Size> output_size(const std::optional<cv::Size>& input) const {
    (void)input;
    return std::nullopt;
  }
  // Where a deterministic stage puts the pixels of `input`: the affine map
  // from input to output pixel coordinates (pixel centres at integers), so an
  // explanation computed on the model's input can be carried back onto the
  // original image. Empty, the default, when the stage cannot say; a stage
  // that leaves every pixel where it is returns identity_placement().
  virtual std::optional<cv::Matx23d> placement(const cv::Mat& input) const {
    (void)input;
    return std::nullopt;
  }
  // True for a deterministic stage that is nothing but a ChannelMap giving
  // float pixels (normalize). When it is a pipeline's last stage, the loader
  // skips it and applies channel_map() while it writes the batch: one pass
  // over the pixels instead of three (make a float image, read it, write the
  // batch), and a cache of the stage's smaller 8-bit input.
  virtual bool is_channel_map() const { return false; }
  // The map this stage applies to `input` (3 channels, or 1; 8-bit, 16-bit
  // or float). Called only when is_channel_map() is true.
  virtual ChannelMap channel_map(const cv::Mat& input) const;
};

inline cv::Matx23d identity_placement() { return cv::Matx23d(1, 0, 0, 0, 1, 0); }

// Portable draws from the loader's generator. std::mt19937_64 is specified
// bit for bit, but std::uniform_*_distribution and std::normal_distribution
// are not: they give different numbers on different standard libraries, so a
// run would not reproduce elsewhere. Transforms use these instead.
inline double random_uniform(std::mt19937_64& rng, double low, double high) {
  // 53 random bits -> [0, 1)
  return low + (high - low) * static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
}
inline bool random_chance(std::mt19937_64& rng, double probability) {
  return random_uniform(rng, 0.0, 1.0) < probability;
}
// Integer in [low, high], both included.
inline std::int64_t random_int(std::mt19937_64& rng, std::int64_t low, std::int64_t high) {
  if (high <= low) return low;
  auto span = static_cast<std::uint64_t>(high - low) + 1;
  return low + static_cast<std::int64_t>(rng() % span);  // bias negligible for image sizes
}
// Standard normal (Box-Muller; one value per call keeps the stream simple).
inline double random_normal(std::mt19937_64& rng) {
  double u1 = random_uniform(rng, 0.0, 1.0);
  double u2 = random_uniform(rng, 0.0, 1.0);
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace cerebra
