#include "cerebra/head_mask.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "cerebra/error.h"

namespace cerebra {

namespace {

cv::Mat gray_of(const cv::Mat& image) {
  if (image.depth() != CV_8U) throw Error("head mask: needs an 8-bit image");
  cv::Mat gray;
  if (image.channels() == 1) gray = image;
  else if (image.channels() == 3) cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
  else if (image.channels() == 4) cv::cvtColor(image, gray, cv::COLOR_BGRA2GRAY);
  else throw Error(fmt::format("head mask: unsupported image with {} channels", image.channels()));
  return gray;
}

}  // namespace

HeadMaskOptions head_mask_options(const Parameters& crop_brain) {
  HeadMaskOptions options;
  options.threshold = crop_brain.get_float("threshold");
  options.blur = static_cast<int>(crop_brain.get_int("blur"));
  options.min_area = crop_brain.get_float("min_area");
  if (options.blur > 0 && options.blur % 2 == 0) {
    throw Error(fmt::format("crop_brain: blur must be an odd kernel size (or 0), found {}", options.blur));
  }
  return options;
}

HeadMask head_mask(const cv::Mat& image, const HeadMaskOptions& options) {
  cv::Mat gray = gray_of(image);
  if (options.blur > 0) cv::GaussianBlur(gray, gray, cv::Size(options.blur, options.blur), 0);
  cv::Mat mask;
  cv::threshold(gray, mask, options.threshold, 255, cv::THRESH_BINARY);
  // Two rounds each way drop speckle and thin text overlays without moving
  // the head's outline.
  cv::erode(mask, mask, cv::Mat(), cv::Point(-1, -1), 2);
  cv::dilate(mask, mask, cv::Mat(), cv::Point(-1, -1), 2);
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
  HeadMask head;
  if (contours.empty()) return head;
  auto largest = std::max_element(contours.begin(), contours.end(), [](const auto& a, const auto& b) {
    return cv::contourArea(a) < cv::contourArea(b);
  });
  if (cv::contourArea(*largest) < options.min_area * static_cast<double>(image.total())) return head;
  head.found = true;
  head.box = cv::boundingRect(*largest);
  head.mask = cv::Mat::zeros(image.size(), CV_8U);
  cv::drawContours(head.mask, contours, static_cast<int>(largest - contours.begin()), cv::Scalar(255), cv::FILLED);
  return head;
}

}  // namespace cerebra
