// Deterministic geometry: resize and crop_brain. Both run once per image,
// before the cache.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "cerebra/head_mask.h"
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
    const cv::Rect area = padded_area(image.size());
    cv::Mat scaled;
    if (area.size() == image.size()) {
      scaled = image;
    } else {
      cv::resize(image, scaled, area.size(), 0, 0, interpolation_of(interpolation_, area.area() < image.cols * image.rows));
    }
    cv::Mat out(height_, width_, image.type(), cv::Scalar::all(fill_));
    scaled.copyTo(out(area));
    return out;
  }

  // The input's pixels are scaled into the output's (padded) area; pixel
  // centres map as x' = (x + 0.5) * scale - 0.5 + offset, as cv::resize does.
  std::optional<cv::Matx23d> placement(const cv::Mat& input) const override {
    const cv::Rect area = pad_ ? padded_area(input.size()) : cv::Rect(0, 0, width_, height_);
    const double sx = static_cast<double>(area.width) / input.cols, sy = static_cast<double>(area.height) / input.rows;
    return cv::Matx23d(sx, 0, 0.5 * sx - 0.5 + area.x, 0, sy, 0.5 * sy - 0.5 + area.y);
  }

 private:
  // mode = pad: where the scaled image lies in the output, keeping its aspect
  // ratio, centred.
  cv::Rect padded_area(const cv::Size& input) const {
    double scale = std::min(static_cast<double>(width_) / input.width, static_cast<double>(height_) / input.height);
    int w = std::clamp(static_cast<int>(std::lround(input.width * scale)), 1, width_);
    int h = std::clamp(static_cast<int>(std::lround(input.height * scale)), 1, height_);
    return {(width_ - w) / 2, (height_ - h) / 2, w, h};
  }

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
      : mask_options_(cerebra::head_mask_options(p)), margin_(p.get_float("margin")) {}
  bool is_random() const override { return false; }

  cv::Mat apply(const cv::Mat& image, std::mt19937_64&) const override {
    const std::optional<cv::Rect> box = crop_box(image);
    return box ? image(*box).clone() : image;
  }

  // A crop moves every pixel by the box's corner.
  std::optional<cv::Matx23d> placement(const cv::Mat& input) const override {
    const std::optional<cv::Rect> box = crop_box(input);
    if (!box) return cerebra::identity_placement();
    return cv::Matx23d(1, 0, -box->x, 0, 1, -box->y);
  }

 private:
  // The head's bounding box plus the margin, inside the image; empty when
  // the image is kept whole (no outline, or too small a one).
  std::optional<cv::Rect> crop_box(const cv::Mat& image) const {
    if (image.depth() != CV_8U) {
      throw cerebra::Error("crop_brain: needs an 8-bit image; place it before normalize");
    }
    if (image.channels() != 1 && image.channels() != 3 && image.channels() != 4) {
      throw cerebra::Error(fmt::format("crop_brain: unsupported image with {} channels", image.channels()));
    }
    const cerebra::HeadMask head = cerebra::head_mask(image, mask_options_);
    if (!head.found) return std::nullopt;
    cv::Rect box = head.box;
    int mx = static_cast<int>(std::lround(box.width * margin_));
    int my = static_cast<int>(std::lround(box.height * margin_));
    box.x -= mx;
    box.y -= my;
    box.width += 2 * mx;
    box.height += 2 * my;
    box &= cv::Rect(0, 0, image.cols, image.rows);
    if (box.width < 1 || box.height < 1) return std::nullopt;
    return box;
  }

  cerebra::HeadMaskOptions mask_options_;
  double margin_;
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
