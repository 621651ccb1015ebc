// write_planar's 16-pixel SIMD path against the plain formula, bit for bit,
// for widths that leave no, some and only tail pixels to the scalar loop.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include <opencv2/core.hpp>

#include "../../framework/src/data/planar.h"

namespace cerebra::testing {
namespace {

// value * scale + offset, multiply then add, per BGR channel, into RGB planes.
std::vector<float> expected_planes(const cv::Mat& image, const ChannelMap& map) {
  const std::size_t plane = static_cast<std::size_t>(image.rows) * image.cols;
  std::vector<float> out(3 * plane);
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      for (int c = 0; c < 3; ++c) {
        const int source_channel = image.channels() == 1 ? 0 : c;
        const float value = static_cast<float>(image.ptr<std::uint8_t>(y)[x * image.channels() + source_channel]);
        const float scaled = value * map.scale[static_cast<std::size_t>(c)];
        out[(2 - c) * plane + static_cast<std::size_t>(y) * image.cols + x] =
            scaled + map.offset[static_cast<std::size_t>(c)];
      }
    }
  }
  return out;
}

TEST(WritePlanar, EightBitColourAndGrayMatchTheFormulaBitForBit) {
  // ImageNet's statistics, as normalize folds them.
  const ChannelMap map{{1 / (255 * 0.225f), 1 / (255 * 0.224f), 1 / (255 * 0.229f)},
                       {-0.406f / 0.225f, -0.456f / 0.224f, -0.485f / 0.229f}};
  cv::RNG rng(5);
  for (int type : {CV_8UC3, CV_8UC1}) {
    for (int width : {1, 15, 16, 17, 33, 224}) {
      cv::Mat image(3, width, type);
      rng.fill(image, cv::RNG::UNIFORM, 0, 256);
      std::vector<float> out(3 * static_cast<std::size_t>(image.total()), -1.0f);
      detail::write_planar(image, 3, out.data(), &map);
      const auto expected = expected_planes(image, map);
      EXPECT_EQ(std::memcmp(out.data(), expected.data(), out.size() * sizeof(float)), 0)
          << (type == CV_8UC3 ? "colour" : "gray") << ", width " << width;
    }
  }
}

}  // namespace
}  // namespace cerebra::testing
