// Images of the tests' own making, shared by the test programs that need
// many distinct pictures.
#pragma once

#include <cstdint>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace cerebra::testing {

// A gray picture of its own: blurred noise from `seed`, stretched to 0-255, so
// no two seeds give near copies of each other (the audit's rule).
inline cv::Mat noise_picture(int seed, int size) {
  cv::Mat image(size, size, CV_8UC1);
  cv::RNG rng(static_cast<std::uint64_t>(seed) * 7919u + 17u);
  rng.fill(image, cv::RNG::UNIFORM, 0, 255);
  cv::GaussianBlur(image, image, cv::Size(7, 7), 2.0);
  cv::normalize(image, image, 0, 255, cv::NORM_MINMAX);
  return image;
}

}  // namespace cerebra::testing
