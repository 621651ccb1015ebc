// Deterministic intensity stages: to_rgb, to_grayscale, normalize, clahe,
// standardize_histogram.
//
// Channel order: inside a pipeline every image keeps OpenCV's BGR layout, also
// after normalize; the loader turns it into RGB when it builds the batch.
// normalize's mean and std lists are written in RGB order (as published, e.g.
// ImageNet's mean = [0.485, 0.456, 0.406] is R, G, B) and applied to the
// matching BGR channels.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

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

// A deterministic stage that changes pixel values only: same size, every
// pixel where it was.
class PixelStage : public cerebra::Transform {
 public:
  bool is_random() const override { return false; }
  std::optional<cv::Size> output_size(const std::optional<cv::Size>& input) const override { return input; }
  std::optional<cv::Matx23d> placement(const cv::Mat&) const override { return cerebra::identity_placement(); }
};

class ToRgb : public PixelStage {
 public:
  explicit ToRgb(const cerebra::Parameters&) {}
  cv::Mat apply(const cv::Mat& image, std::mt19937_64&) const override { return three_channels(image); }
};

class ToGrayscale : public PixelStage {
 public:
  explicit ToGrayscale(const cerebra::Parameters& p) : keep_channels_(p.get_bool("keep_channels")) {}
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

// out(y, x, c) = in(y, x, c) * a[c] + b[c], as float. The coefficients are
// laid out along a whole row once, so the inner loop is a plain
// multiply-add the compiler vectorises.
template <typename Pixel>
void affine_per_channel(const cv::Mat& in, const std::vector<float>& a, const std::vector<float>& b,
                        cv::Mat& out) {
  const int channels = in.channels();
  const std::size_t row_values = static_cast<std::size_t>(in.cols) * channels;
  std::vector<float> row_a(row_values), row_b(row_values);
  for (std::size_t i = 0; i < row_values; ++i) {
    row_a[i] = a[i % static_cast<std::size_t>(channels)];
    row_b[i] = b[i % static_cast<std::size_t>(channels)];
  }
  const float* ra = row_a.data();
  const float* rb = row_b.data();
  for (int y = 0; y < in.rows; ++y) {
    const Pixel* source = in.ptr<Pixel>(y);
    float* target = out.ptr<float>(y);
    for (std::size_t i = 0; i < row_values; ++i) target[i] = static_cast<float>(source[i]) * ra[i] + rb[i];
  }
}

class Normalize : public PixelStage {
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

  cv::Mat apply(const cv::Mat& image, std::mt19937_64&) const override {
    cv::Mat source = prepared(image);
    const cerebra::ChannelMap map = map_of(source, source.channels());
    cv::Mat out(source.rows, source.cols, CV_MAKETYPE(CV_32F, source.channels()));
    switch (source.depth()) {
      case CV_8U: affine_per_channel<std::uint8_t>(source, map.scale, map.offset, out); break;
      case CV_16U: affine_per_channel<std::uint16_t>(source, map.scale, map.offset, out); break;
      default: affine_per_channel<float>(source, map.scale, map.offset, out); break;
    }
    return out;
  }

  bool is_channel_map() const override { return true; }
  // Same coefficients as apply(); a gray input with three-value statistics
  // gets three entries (the loader replicates the gray values, as apply does).
  // The map reads only the depth and (per_image) the statistics, which
  // replicating a gray image does not change, so no replica is made here.
  cerebra::ChannelMap channel_map(const cv::Mat& image) const override {
    return map_of(image, mean_.size() == 3 ? 3 : image.channels());
  }

 private:
  // The image apply() maps: three channels where the statistics need them,
  // and pixels of a depth the map reads.
  cv::Mat prepared(const cv::Mat& image) const {
    cv::Mat source = image;
    if (source.channels() == 4) source = three_channels(source);
    // Three-value statistics describe a colour image; a gray one is first
    // replicated so each channel gets its own statistic.
    if (source.channels() == 1 && mean_.size() == 3) source = three_channels(source);
    if (source.depth() != CV_8U && source.depth() != CV_16U && source.depth() != CV_32F) {
      source.convertTo(source, CV_32F);
    }
    return source;
  }

  // out = pixel * scale[c] + offset[c] for plane c; the statistics are R, G,
  // B, and plane c of a BGR image is colour 2 - c.
  // `channels` entries; a gray source with three gives its one statistic to each.
  cerebra::ChannelMap map_of(const cv::Mat& source, int channels) const {
    double scale = 1.0;
    if (source.depth() == CV_8U) scale = 1.0 / 255.0;
    else if (source.depth() == CV_16U) scale = 1.0 / 65535.0;
    cerebra::ChannelMap map{std::vector<float>(channels), std::vector<float>(channels)};
    cv::Scalar image_mean, image_std;
    if (preset_ == "per_image") cv::meanStdDev(source, image_mean, image_std);
    for (int c = 0; c < channels; ++c) {
      double mean = 0, std = 1;
      if (preset_ == "per_image") {
        const int k = std::min(c, source.channels() - 1);
        mean = image_mean[k] * scale;
        std = image_std[k] * scale > 1e-6 ? image_std[k] * scale : 1.0;  // a flat image stays flat
      } else if (mean_.size() == 1) {
        mean = mean_[0];
        std = std_[0];
      } else {
        mean = mean_[2 - c];
        std = std_[2 - c];
      }
      map.scale[c] = static_cast<float>(scale / std);
      map.offset[c] = static_cast<float>(-mean / std);
    }
    return map;
  }

  std::string preset_;
  std::vector<double> mean_, std_;
};

class Clahe : public PixelStage {
 public:
  explicit Clahe(const cerebra::Parameters& p)
      : clip_(p.get_float("clip_limit")), tiles_(static_cast<int>(p.get_int("tile_grid"))) {}

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

// Simplified Nyul-Udupa standardisation: the head's intensity percentiles
// (pixels above a small background threshold) are moved to fixed gray levels
// by a piecewise-linear curve, so images from collections of different
// brightness meet on one scale. Gray levels up to the threshold are left as
// they are: black stays black, and dark background noise is not amplified
// into the head's range (which a curve from (0, 0) to a landmark just above
// the threshold would do).
class StandardizeHistogram : public PixelStage {
 public:
  explicit StandardizeHistogram(const cerebra::Parameters& p)
      : percentiles_(p.get_numbers("percentiles")),
        targets_(p.get_numbers("targets")),
        threshold_(p.get_float("threshold")) {
    if (percentiles_.empty() || percentiles_.size() != targets_.size()) {
      throw cerebra::Error(fmt::format(
          "standardize_histogram: percentiles and targets need the same number of values (at least one); found {} "
          "and {}",
          percentiles_.size(), targets_.size()));
    }
    check_increasing(percentiles_, "percentiles");
    check_increasing(targets_, "targets");
    if (!(targets_.front() > threshold_)) {
      throw cerebra::Error(fmt::format(
          "standardize_histogram: the first target ({}) must be above the background threshold ({})",
          targets_.front(), threshold_));
    }
  }

  cv::Mat apply(const cv::Mat& image, std::mt19937_64&) const override {
    if (image.depth() != CV_8U) {
      throw cerebra::Error("standardize_histogram: needs an 8-bit image; place it before normalize");
    }
    const std::vector<double> counts = head_histogram(image);
    double head = 0;
    for (double n : counts) head += n;
    if (head == 0) return image;  // no head to measure: nothing to standardise
    // Knots (landmark in, target out), from (threshold, threshold); a
    // landmark that does not rise above the previous one (a head of few gray
    // levels) is dropped.
    const double background = std::floor(threshold_);
    std::vector<std::pair<double, double>> knots{{background, background}};
    for (std::size_t i = 0; i < percentiles_.size(); ++i) {
      const double landmark = percentile(counts, head, percentiles_[i]);
      if (landmark > knots.back().first) knots.emplace_back(landmark, targets_[i]);
    }
    if (knots.size() < 2) return image;
    cv::Mat table(1, 256, CV_8U);
    for (int v = 0; v < 256; ++v) {
      table.at<unsigned char>(v) =
          cv::saturate_cast<unsigned char>(v <= background ? v : curve(knots, v));
    }
    cv::Mat out;
    cv::LUT(image, table, out);  // the same curve on every channel
    return out;
  }

 private:
  static void check_increasing(const std::vector<double>& values, const char* name) {
    for (std::size_t i = 1; i < values.size(); ++i) {
      if (!(values[i] > values[i - 1])) {
        throw cerebra::Error(fmt::format("standardize_histogram: {} must increase strictly; found {} after {}", name,
                                         values[i], values[i - 1]));
      }
    }
  }

  // Histogram of the gray levels above the threshold (of the gray version of
  // a colour image).
  std::vector<double> head_histogram(const cv::Mat& image) const {
    cv::Mat gray = image;
    if (image.channels() == 3) cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
    else if (image.channels() == 4) cv::cvtColor(image, gray, cv::COLOR_BGRA2GRAY);
    else if (image.channels() != 1) {
      throw cerebra::Error(fmt::format("standardize_histogram: unsupported image with {} channels", image.channels()));
    }
    std::vector<double> counts(256, 0.0);
    for (int y = 0; y < gray.rows; ++y) {
      const unsigned char* row = gray.ptr<unsigned char>(y);
      for (int x = 0; x < gray.cols; ++x) counts[row[x]] += 1;
    }
    for (int v = 0; v <= static_cast<int>(threshold_) && v < 256; ++v) counts[v] = 0;
    return counts;
  }

  // The q-th percentile of the counted values, interpolating linearly between
  // order statistics (numpy's default).
  static double percentile(const std::vector<double>& counts, double total, double q) {
    const double rank = q / 100.0 * (total - 1);
    auto value_at = [&counts](double index) {  // the value of the index-th smallest (0-based)
      double seen = 0;
      for (std::size_t v = 0; v < counts.size(); ++v) {
        seen += counts[v];
        if (seen > index) return static_cast<double>(v);
      }
      return static_cast<double>(counts.size() - 1);
    };
    const double below = std::floor(rank);
    const double low = value_at(below), high = value_at(std::min(below + 1, total - 1));
    return low + (rank - below) * (high - low);
  }

  // Piecewise linear through the knots; past the last one the last segment's
  // slope goes on (the caller saturates at 255).
  static double curve(const std::vector<std::pair<double, double>>& knots, double v) {
    std::size_t i = 1;
    while (i + 1 < knots.size() && v > knots[i].first) ++i;
    const auto& [x0, y0] = knots[i - 1];
    const auto& [x1, y1] = knots[i];
    return y0 + (v - x0) * (y1 - y0) / (x1 - x0);
  }

  std::vector<double> percentiles_, targets_;
  double threshold_;
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
  {
    cerebra::Schema s;
    s.add_numbers("percentiles", {1, 50, 99}, "Percentiles of the head's gray levels that are moved, increasing")
        .range(0, 100);
    s.add_numbers("targets", {20, 100, 230}, "Gray level (0-255) each percentile is moved to, increasing")
        .range(0, 255);
    s.add_float("threshold", 10, "Gray levels up to this (0-255) are background: not measured, left as they are")
        .range(0, 254);
    registry.add<StandardizeHistogram>(
        cerebra::kinds::transform, "standardize_histogram",
        "Moves the head's intensity percentiles to fixed gray levels (piecewise linear; background kept)", std::move(s));
  }
}

}  // namespace

CEREBRA_PLUGIN("intensity", "1.0.0",
               "Deterministic intensity stages: to_rgb, to_grayscale, normalize, clahe, standardize_histogram",
               register_intensity)
