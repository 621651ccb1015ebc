// Scan-like pictures and their copies (resized, re-encoded, cropped,
// brightened), and class folders of them on disk: the data tests' own images.
#pragma once

#include <filesystem>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "test_support.h"

namespace cerebra::testing {

// A scan-like picture: a bright skull ring around gray tissue with a few
// blobs, on black. Different seeds give unrelated scans of the same look.
inline cv::Mat scan(unsigned seed, int side = 256) {
  std::mt19937 random(seed);
  auto uniform = [&](int low, int high) { return std::uniform_int_distribution<int>(low, high)(random); };
  cv::Mat image(side, side, CV_8U, cv::Scalar(0));
  const cv::Point centre(side / 2 + uniform(-8, 8), side / 2 + uniform(-8, 8));
  const cv::Size axes(side * uniform(34, 40) / 100, side * uniform(40, 46) / 100);
  cv::ellipse(image, centre, axes, 0, 0, 360, cv::Scalar(200), -1);
  cv::ellipse(image, centre, axes - cv::Size(side / 25, side / 25), 0, 0, 360, cv::Scalar(uniform(70, 90)), -1);
  for (int blob = 0; blob < 6; ++blob) {
    cv::Point at(centre.x + uniform(-side / 4, side / 4), centre.y + uniform(-side / 4, side / 4));
    cv::circle(image, at, uniform(side / 30, side / 10), cv::Scalar(uniform(30, 230)), -1);
  }
  cv::Mat noise(image.size(), CV_8U);
  cv::randn(noise, 0, 6);
  cv::GaussianBlur(image, image, cv::Size(5, 5), 0);
  return image + noise;
}

inline cv::Mat resized(const cv::Mat& image, double factor) {
  cv::Mat out;
  cv::resize(image, out, cv::Size(), factor, factor, cv::INTER_AREA);
  return out;
}

inline cv::Mat jpeg(const cv::Mat& image, int quality) {
  std::vector<unsigned char> bytes;
  cv::imencode(".jpg", image, bytes, {cv::IMWRITE_JPEG_QUALITY, quality});
  return cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
}

// `share` of each side cut off (left and top only when one_sided).
inline cv::Mat cropped(const cv::Mat& image, double share, bool one_sided = false) {
  const int x = static_cast<int>(image.cols * share), y = static_cast<int>(image.rows * share);
  return image(cv::Rect(x, y, image.cols - (one_sided ? 1 : 2) * x, image.rows - (one_sided ? 1 : 2) * y)).clone();
}

inline cv::Mat brighter(const cv::Mat& image, int shift) {
  cv::Mat out;
  image.convertTo(out, -1, 1.0, shift);
  return out;
}

// A class-folder dataset on disk: class -> file name -> image.
inline std::string write_folder(const TempDir& dir, const std::string& name,
                                const std::vector<std::tuple<std::string, std::string, cv::Mat>>& files) {
  for (const auto& [label, file, image] : files) {
    std::filesystem::create_directories(dir.path() / name / label);
    cv::imwrite((dir.path() / name / label / file).string(), image);
  }
  return (dir.path() / name).string();
}

}  // namespace cerebra::testing
