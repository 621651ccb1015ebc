// Deterministic intensity stages: to_rgb, to_grayscale, normalize, clahe.
//
// Channel order: inside a pipeline every image keeps OpenCV's BGR layout, also
// after normalize; the loader turns it into RGB when it builds the batch.
// normalize's mean and std lists are written in RGB order (as published, e.g.
// ImageNet's mean = [0.485, 0.456, 0.406] is R, G, B) and applied to the
// matching BGR channels.
#include <cmath>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "cerebra/plugin_abi.h"
#include "cerebra/transform.h"

namespace {

cv::Mat three_channels(const cv::Mat& image) {
  if (image.channels() == 3) return image;
  cv::Mat out;
  if (image.channels() == 1) cv::cvtColor(image, out, cv::COLOR_GRAY2BGR);
  else if (image.channels() == 4) cv::cvtColor(image, out, cv::COLOR_BGRA2BGR);
  else throw cerebra::Error(fmt::format("unsupported image with {} channels", image.channels()));
  return out;
}

class ToRgb : public cerebra::Transform {
 public:
  explicit ToRgb(const cerebra::Parameters&) {}
  bool is_random() const override { return false; }
  cv::Mat apply(const cv::Mat& image, std::mt19937_64&) const override { return three_channels(image); }
};

class ToGrayscale : public cerebra::Transform {
 public:
  explicit ToGrayscale(const cerebra::Parameters& p) : keep_channels_(p.get_bool("keep_channels")) {}
  bool is_random() const override { return false; }
  cv::Mat apply(const cv::Mat& image, std::mt19937_64&) const override {
    cv::Mat gray;
    if (image.channels() == 1) gray = image;
    else if (image.channels() == 3) cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
    else if (image.channels() == 4) cv::cvtColor(image, gray, cv::COLOR_BGRA2GRAY);
    else throw cerebra::Error(fmt::format("to_grayscale: unsupported image with {} channels", image.channels()));
    return keep_channels_ ? three_channels(gray) : gray;
  }

 private:
  bool keep_channels_;
};

class Normalize : public cerebra::Transform {
 public:
  explicit Normalize(const cerebra::Parameters& p) : preset_(p.get_string("preset")) {
    std::vector<double> mean = p.get_numbers("mean"), std = p.get_numbers("std");
    if (preset_ == "imagenet") {
      mean_ = {0.485, 0.456, 0.406};
      std_ = {0.229, 0.224, 0.225};
    } else if (preset_ == "unit") {
      mean_ = {0.0};
      std_ = {1.0};
    } else if (preset_ == "custom") {
      if (mean.empty() || std.empty()) {
        throw cerebra::Error("normalize: preset = \"custom\" needs both mean and std lists");
      }
      if (mean.size() != std.size() || (mean.size() != 1 && mean.size() != 3)) {
        throw cerebra::Error(fmt::format(
            "normalize: mean and std must both have 1 or 3 values (R, G, B); found {} and {}", mean.size(),
            std.size()));
      }
      for (double s : std) {
        if (!(s > 0)) throw cerebra::Error(fmt::format("normalize: every std must be > 0, found {}", s));
      }
      mean_ = mean;
      std_ = std;
    } else if (preset_ != "per_image") {
      throw cerebra::Error("normalize: unknown preset '" + preset_ + "'");
    }
    if (preset_ != "custom" && (!mean.empty() || !std.empty())) {
      throw cerebra::Error("normalize: mean and std are only read with preset = \"custom\" (preset is '" +
                           preset_ + "')");
    }
  }
  bool is_random() const override { return false; }

  cv::Mat apply(const cv::Mat& image, std::mt19937_64&) const override {
    cv::Mat source = image;
    if (source.channels() == 4) source = three_channels(source);
    // Three-value statistics describe a colour image; a gray one is first
    // replicated so each channel gets its own statistic.
    if (source.channels() == 1 && mean_.size() == 3) source = three_channels(source);
    double scale = 1.0;
    if (source.depth() == CV_8U) scale = 1.0 / 255.0;
    else if (source.depth() == CV_16U) scale = 1.0 / 65535.0;
    cv::Mat unit;
    source.convertTo(unit, CV_32F, scale);
    const int channels = unit.channels();
    std::vector<cv::Mat> planes;
    cv::split(unit, planes);
    for (int c = 0; c < channels; ++c) {
      double mean = 0, std = 1;
      if (preset_ == "per_image") {
        cv::Scalar m, s;
        cv::meanStdDev(planes[c], m, s);
        mean = m[0];
        std = s[0] > 1e-6 ? s[0] : 1.0;  // a flat image stays flat instead of exploding
      } else if (mean_.size() == 1) {
        mean = mean_[0];
        std = std_[0];
      } else {
        // Stats are R, G, B; plane c of a BGR image is colour 2 - c.
        mean = mean_[2 - c];
        std = std_[2 - c];
      }
      planes[c].convertTo(planes[c], CV_32F, 1.0 / std, -mean / std);
    }
    cv::Mat out;
    cv::merge(planes, out);
    return out;
  }

 private:
  std::string preset_;
  std::vector<double> mean_, std_;
};

class Clahe : public cerebra::Transform {
 public:
  explicit Clahe(const cerebra::Parameters& p)
      : clip_(p.get_float("clip_limit")), tiles_(static_cast<int>(p.get_int("tile_grid"))) {}
  bool is_random() const override { return false; }

  cv::Mat apply(const cv::Mat& image, std::mt19937_64&) const override {
    if (image.depth() != CV_8U) throw cerebra::Error("clahe: needs an 8-bit image; place it before normalize");
    // A CLAHE object is not safe to share between loader threads.
    cv::Ptr<cv::CLAHE> clahe = cv::createCLAHE(clip_, cv::Size(tiles_, tiles_));
    cv::Mat out;
    if (image.channels() == 1) {
      clahe->apply(image, out);
      return out;
    }
    // Equalise lightness only, so colours do not shift.
    cv::Mat lab;
    cv::cvtColor(three_channels(image), lab, cv::COLOR_BGR2Lab);
    std::vector<cv::Mat> planes;
    cv::split(lab, planes);
    clahe->apply(planes[0], planes[0]);
    cv::merge(planes, lab);
    cv::cvtColor(lab, out, cv::COLOR_Lab2BGR);
    return out;
  }

 private:
  double clip_;
  int tiles_;
};

void register_intensity(cerebra::Registry& registry) {
  registry.add<ToRgb>(cerebra::kinds::transform, "to_rgb",
                      "Makes every image three-channel colour (gray replicated, alpha dropped)", cerebra::Schema{});
  {
    cerebra::Schema s;
    s.add_bool("keep_channels", false, "Replicate the gray level into three channels instead of one");
    registry.add<ToGrayscale>(cerebra::kinds::transform, "to_grayscale", "Converts to one gray channel",
                              std::move(s));
  }
  {
    cerebra::Schema s;
    s.add_string("preset", "imagenet",
                 "imagenet (ImageNet mean/std), unit (scale to [0, 1] only), per_image (each channel to mean 0, "
                 "std 1 per image), or custom (mean and std below)")
        .one_of({"imagenet", "unit", "per_image", "custom"});
    s.add_numbers("mean", {}, "With preset = custom: 1 or 3 means in R, G, B order, on the [0, 1] scale")
        .range(-1000, 1000);
    s.add_numbers("std", {}, "With preset = custom: 1 or 3 standard deviations in R, G, B order, on the [0, 1] scale")
        .range(1e-9, 1000);
    registry.add<Normalize>(cerebra::kinds::transform, "normalize",
                            "Scales to [0, 1] then (x - mean) / std; float output, stats in RGB order",
                            std::move(s));
  }
  {
    cerebra::Schema s;
    s.add_float("clip_limit", 2.0, "Contrast limit of each tile's histogram").range(0.1, 100);
    s.add_int("tile_grid", 8, "Tiles per side").range(1, 64);
    registry.add<Clahe>(cerebra::kinds::transform, "clahe",
                        "Contrast-limited adaptive histogram equalisation (lightness only for colour)",
                        std::move(s));
  }
}

}  // namespace

CEREBRA_PLUGIN("intensity", "1.0.0", "Deterministic intensity stages: to_rgb, to_grayscale, normalize, clahe",
               register_intensity)
