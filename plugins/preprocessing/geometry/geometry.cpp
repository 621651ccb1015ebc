// Deterministic geometry: resize and crop_brain. Both run once per image,
// before the cache.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "cerebra/plugin_abi.h"
#include "cerebra/transform.h"

namespace {

int interpolation_of(const std::string& name, bool shrinking) {
  if (name == "nearest") return cv::INTER_NEAREST;
  if (name == "linear") return cv::INTER_LINEAR;
  if (name == "cubic") return cv::INTER_CUBIC;
  if (name == "area") return cv::INTER_AREA;
  // auto: area averaging avoids aliasing when shrinking; linear when enlarging.
  return shrinking ? cv::INTER_AREA : cv::INTER_LINEAR;
}

class Resize : public cerebra::Transform {
 public:
  explicit Resize(const cerebra::Parameters& p)
      : width_(static_cast<int>(p.get_int("width") > 0 ? p.get_int("width") : p.get_int("size"))),
        height_(static_cast<int>(p.get_int("height") > 0 ? p.get_int("height") : p.get_int("size"))),
        pad_(p.get_string("mode") == "pad"),
        interpolation_(p.get_string("interpolation")),
        fill_(p.get_float("fill")) {
    if (width_ < 1 || height_ < 1) throw cerebra::Error("resize: width and height must be at least 1");
    const std::string& mode = p.get_string("mode");
    if (mode != "stretch" && mode != "pad") throw cerebra::Error("resize: mode must be stretch or pad, found '" + mode + "'");
  }
  bool is_random() const override { return false; }
  cv::Size accepts_reduced_input() const override { return {width_, height_}; }
  std::optional<cv::Size> output_size(const std::optional<cv::Size>&) const override {
    return cv::Size(width_, height_);  // stretch and pad both give exactly this
  }

  cv::Mat apply(const cv::Mat& image, std::mt19937_64&) const override {
    if (image.empty()) throw cerebra::Error("resize: empty image");
    if (!pad_) {
      if (image.cols == width_ && image.rows == height_) return image;
      bool shrinking = image.cols * image.rows > width_ * height_;
      cv::Mat out;
      cv::resize(image, out, cv::Size(width_, height_), 0, 0, interpolation_of(interpolation_, shrinking));
      return out;
    }
    // Keep the aspect ratio: fit inside the target, centre, fill the rest.
    double scale = std::min(static_cast<double>(width_) / image.cols, static_cast<double>(height_) / image.rows);
    int w = std::clamp(static_cast<int>(std::lround(image.cols * scale)), 1, width_);
    int h = std::clamp(static_cast<int>(std::lround(image.rows * scale)), 1, height_);
    cv::Mat scaled;
    if (w == image.cols && h == image.rows) {
      scaled = image;
    } else {
      cv::resize(image, scaled, cv::Size(w, h), 0, 0, interpolation_of(interpolation_, scale < 1.0));
    }
    cv::Mat out(height_, width_, image.type(), cv::Scalar::all(fill_));
    scaled.copyTo(out(cv::Rect((width_ - w) / 2, (height_ - h) / 2, w, h)));
    return out;
  }

 private:
  int width_, height_;
  bool pad_;
  std::string interpolation_;
  double fill_;
};

// The usual brain-MRI crop: threshold the blurred slice, clean it with an
// opening-like erode/dilate, keep the largest outline and crop its bounding
// box plus a margin. Removes the black frame around scans of varied framing.
class CropBrain : public cerebra::Transform {
 public:
  explicit CropBrain(const cerebra::Parameters& p)
      : threshold_(p.get_float("threshold")),
        blur_(static_cast<int>(p.get_int("blur"))),
        margin_(p.get_float("margin")),
        min_area_(p.get_float("min_area")) {
    if (blur_ > 0 && blur_ % 2 == 0) {
      throw cerebra::Error(fmt::format("crop_brain: blur must be an odd kernel size (or 0), found {}", blur_));
    }
  }
  bool is_random() const override { return false; }

  cv::Mat apply(const cv::Mat& image, std::mt19937_64&) const override {
    if (image.depth() != CV_8U) {
      throw cerebra::Error("crop_brain: needs an 8-bit image; place it before normalize");
    }
    cv::Mat gray;
    if (image.channels() == 1) gray = image;
    else if (image.channels() == 3) cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
    else if (image.channels() == 4) cv::cvtColor(image, gray, cv::COLOR_BGRA2GRAY);
    else throw cerebra::Error(fmt::format("crop_brain: unsupported image with {} channels", image.channels()));
    if (blur_ > 0) cv::GaussianBlur(gray, gray, cv::Size(blur_, blur_), 0);
    cv::Mat mask;
    cv::threshold(gray, mask, threshold_, 255, cv::THRESH_BINARY);
    // Two rounds each way drop speckle and thin text overlays without
    // moving the head's outline.
    cv::erode(mask, mask, cv::Mat(), cv::Point(-1, -1), 2);
    cv::dilate(mask, mask, cv::Mat(), cv::Point(-1, -1), 2);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    if (contours.empty()) return image;  // nothing above the threshold: keep it whole
    auto largest = std::max_element(contours.begin(), contours.end(), [](const auto& a, const auto& b) {
      return cv::contourArea(a) < cv::contourArea(b);
    });
    if (cv::contourArea(*largest) < min_area_ * image.total()) return image;
    cv::Rect box = cv::boundingRect(*largest);
    int mx = static_cast<int>(std::lround(box.width * margin_));
    int my = static_cast<int>(std::lround(box.height * margin_));
    box.x -= mx;
    box.y -= my;
    box.width += 2 * mx;
    box.height += 2 * my;
    box &= cv::Rect(0, 0, image.cols, image.rows);
    if (box.width < 1 || box.height < 1) return image;
    return image(box).clone();
  }

 private:
  double threshold_;
  int blur_;
  double margin_, min_area_;
};

void register_geometry(cerebra::Registry& registry) {
  {
    cerebra::Schema s;
    s.add_int("size", 224, "Output width and height in pixels, unless width or height is set").range(1, 16384);
    s.add_int("width", 0, "Output width in pixels; 0 takes size").range(0, 16384);
    s.add_int("height", 0, "Output height in pixels; 0 takes size").range(0, 16384);
    s.add_string("mode", "stretch", "stretch to the target, or pad: keep the aspect ratio and fill the border")
        .one_of({"stretch", "pad"});
    s.add_string("interpolation", "auto", "auto (area when shrinking, linear when enlarging), area, linear, cubic or nearest")
        .one_of({"auto", "area", "linear", "cubic", "nearest"});
    s.add_float("fill", 0, "Value of the border added by mode = pad (on the image's own scale)").range(-1e6, 1e6);
    registry.add<Resize>(cerebra::kinds::transform, "resize", "Resizes to a fixed size (stretch or pad keeping aspect)",
                         std::move(s));
  }
  {
    cerebra::Schema s;
    s.add_float("threshold", 45, "Gray level (0-255) separating head from background").range(0, 255);
    s.add_int("blur", 5, "Gaussian blur kernel (odd) before thresholding; 0 for none").range(0, 51);
    s.add_float("margin", 0.02, "Border kept around the head, as a fraction of its bounding box").range(0, 1);
    s.add_float("min_area", 0.01, "Below this fraction of the image, the outline is ignored and the image kept whole")
        .range(0, 1);
    registry.add<CropBrain>(cerebra::kinds::transform, "crop_brain",
                            "Crops to the head: threshold, largest outline, bounding box plus margin", std::move(s));
  }
}

}  // namespace

CEREBRA_PLUGIN("geometry", "1.0.0", "Deterministic geometry: resize, crop_brain", register_geometry)
