// Random augmentation, run on training images every epoch. Every draw comes
// from the generator the loader passes in (through the portable helpers in
// transform.h), so a run reproduces on any machine and thread count. Each
// stage draws the same number of values whether or not it fires, so one
// stage's probability never shifts the next stage's numbers.
#include <cmath>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "cerebra/plugin_abi.h"
#include "cerebra/transform.h"

namespace {

using cerebra::random_chance;
using cerebra::random_normal;
using cerebra::random_uniform;

constexpr double kPi = 3.14159265358979323846;

int border_of(const std::string& name) {
  if (name == "reflect") return cv::BORDER_REFLECT_101;
  if (name == "replicate") return cv::BORDER_REPLICATE;
  return cv::BORDER_CONSTANT;
}

void add_border(cerebra::Schema& s) {
  s.add_string("border", "constant", "How pixels outside the image are filled: constant, reflect or replicate")
      .one_of({"constant", "reflect", "replicate"});
  s.add_float("fill", 0, "Value of the constant border (on the image's own scale)").range(-1e6, 1e6);
}

class RandomFlip : public cerebra::Transform {
 public:
  explicit RandomFlip(const cerebra::Parameters& p)
      : horizontal_(p.get_float("horizontal")), vertical_(p.get_float("vertical")) {}
  bool is_random() const override { return true; }
  std::optional<cv::Size> output_size(const std::optional<cv::Size>& input) const override { return input; }
  cv::Mat apply(const cv::Mat& image, std::mt19937_64& rng) const override {
    bool h = random_chance(rng, horizontal_);
    bool v = random_chance(rng, vertical_);
    if (!h && !v) return image;
    cv::Mat out;
    cv::flip(image, out, h && v ? -1 : h ? 1 : 0);
    return out;
  }

 private:
  double horizontal_, vertical_;
};

class RandomAffine : public cerebra::Transform {
 public:
  // random_rotate is the same warp with only the angle drawn.
  RandomAffine(const cerebra::Parameters& p, bool rotate_only)
      : probability_(p.get_float("p")),
        degrees_(p.get_float("degrees")),
        scale_min_(rotate_only ? 1.0 : p.get_float("scale_min")),
        scale_max_(rotate_only ? 1.0 : p.get_float("scale_max")),
        translate_(rotate_only ? 0.0 : p.get_float("translate")),
        shear_(rotate_only ? 0.0 : p.get_float("shear")),
        border_(border_of(p.get_string("border"))),
        fill_(p.get_float("fill")) {
    if (scale_min_ > scale_max_) {
      throw cerebra::Error(fmt::format("random_affine: scale_min ({}) is above scale_max ({})", scale_min_, scale_max_));
    }
  }
  bool is_random() const override { return true; }
  std::optional<cv::Size> output_size(const std::optional<cv::Size>& input) const override { return input; }

  cv::Mat apply(const cv::Mat& image, std::mt19937_64& rng) const override {
    const bool fire = random_chance(rng, probability_);
    const double angle = random_uniform(rng, -degrees_, degrees_) * kPi / 180.0;
    const double scale = random_uniform(rng, scale_min_, scale_max_);
    const double shear = random_uniform(rng, -shear_, shear_) * kPi / 180.0;
    const double tx = random_uniform(rng, -translate_, translate_) * image.cols;
    const double ty = random_uniform(rng, -translate_, translate_) * image.rows;
    if (!fire) return image;
    // Rotation * shear (x along y) * scale, about the image centre, then shift.
    const double cx = (image.cols - 1) * 0.5, cy = (image.rows - 1) * 0.5;
    const double c = std::cos(angle), s = std::sin(angle), k = std::tan(shear);
    const double a = scale * c, b = scale * (c * k - s);
    const double d = scale * s, e = scale * (s * k + c);
    cv::Matx23d m(a, b, cx - a * cx - b * cy + tx, d, e, cy - d * cx - e * cy + ty);
    cv::Mat out;
    cv::warpAffine(image, out, m, image.size(), cv::INTER_LINEAR, border_, cv::Scalar::all(fill_));
    return out;
  }

 private:
  double probability_, degrees_, scale_min_, scale_max_, translate_, shear_;
  int border_;
  double fill_;
};

class RandomRotate : public RandomAffine {
 public:
  explicit RandomRotate(const cerebra::Parameters& p) : RandomAffine(p, true) {}
};
class RandomAffineFull : public RandomAffine {
 public:
  explicit RandomAffineFull(const cerebra::Parameters& p) : RandomAffine(p, false) {}
};

class RandomBrightnessContrast : public cerebra::Transform {
 public:
  explicit RandomBrightnessContrast(const cerebra::Parameters& p)
      : probability_(p.get_float("p")), brightness_(p.get_float("brightness")), contrast_(p.get_float("contrast")) {}
  bool is_random() const override { return true; }
  std::optional<cv::Size> output_size(const std::optional<cv::Size>& input) const override { return input; }

  cv::Mat apply(const cv::Mat& image, std::mt19937_64& rng) const override {
    const bool fire = random_chance(rng, probability_);
    const double alpha = 1.0 + random_uniform(rng, -contrast_, contrast_);
    const double beta = random_uniform(rng, -brightness_, brightness_);
    if (!fire) return image;
    // Brightness is a fraction of full scale: 255 for 8-bit, 1 for float.
    const double full = image.depth() == CV_8U ? 255.0 : image.depth() == CV_16U ? 65535.0 : 1.0;
    cv::Mat out;
    image.convertTo(out, -1, alpha, beta * full);  // saturates 8-bit values
    return out;
  }

 private:
  double probability_, brightness_, contrast_;
};

class GaussianNoise : public cerebra::Transform {
 public:
  explicit GaussianNoise(const cerebra::Parameters& p) : probability_(p.get_float("p")), sigma_(p.get_float("sigma")) {}
  bool is_random() const override { return true; }
  std::optional<cv::Size> output_size(const std::optional<cv::Size>& input) const override { return input; }

  cv::Mat apply(const cv::Mat& image, std::mt19937_64& rng) const override {
    if (!random_chance(rng, probability_)) return image;
    const double full = image.depth() == CV_8U ? 255.0 : image.depth() == CV_16U ? 65535.0 : 1.0;
    const double sigma = sigma_ * full;
    cv::Mat noisy;
    image.convertTo(noisy, CV_32F);
    const int values = noisy.cols * noisy.channels();
    for (int y = 0; y < noisy.rows; ++y) {
      float* row = noisy.ptr<float>(y);
      for (int x = 0; x < values; ++x) row[x] += static_cast<float>(sigma * random_normal(rng));
    }
    cv::Mat out;
    noisy.convertTo(out, image.type());
    return out;
  }

 private:
  double probability_, sigma_;
};

class RandomCrop : public cerebra::Transform {
 public:
  explicit RandomCrop(const cerebra::Parameters& p)
      : width_(static_cast<int>(p.get_int("width") > 0 ? p.get_int("width") : p.get_int("size"))),
        height_(static_cast<int>(p.get_int("height") > 0 ? p.get_int("height") : p.get_int("size"))),
        pad_(p.get_bool("pad_if_needed")),
        fill_(p.get_float("fill")) {}
  bool is_random() const override { return true; }
  std::optional<cv::Size> output_size(const std::optional<cv::Size>&) const override {
    return cv::Size(width_, height_);
  }

  cv::Mat apply(const cv::Mat& image, std::mt19937_64& rng) const override {
    cv::Mat source = image;
    if (source.cols < width_ || source.rows < height_) {
      if (!pad_) {
        throw cerebra::Error(fmt::format(
            "random_crop: image is {}x{} but the crop is {}x{}; resize first or set pad_if_needed = true",
            source.cols, source.rows, width_, height_));
      }
      int pw = std::max(0, width_ - source.cols), ph = std::max(0, height_ - source.rows);
      cv::copyMakeBorder(source, source, ph / 2, ph - ph / 2, pw / 2, pw - pw / 2, cv::BORDER_CONSTANT,
                         cv::Scalar::all(fill_));
    }
    int x = static_cast<int>(cerebra::random_int(rng, 0, source.cols - width_));
    int y = static_cast<int>(cerebra::random_int(rng, 0, source.rows - height_));
    return source(cv::Rect(x, y, width_, height_)).clone();
  }

 private:
  int width_, height_;
  bool pad_;
  double fill_;
};

void register_augment(cerebra::Registry& registry) {
  using cerebra::kinds::transform;
  {
    cerebra::Schema s;
    s.add_float("horizontal", 0.5, "Probability of a left-right flip").range(0, 1);
    s.add_float("vertical", 0.0, "Probability of an up-down flip").range(0, 1);
    registry.add<RandomFlip>(transform, "random_flip", "Flips left-right and/or up-down at random", std::move(s));
  }
  {
    cerebra::Schema s;
    s.add_float("degrees", 15, "Largest rotation either way, in degrees").range(0, 180);
    s.add_float("p", 1.0, "Probability of rotating an image").range(0, 1);
    add_border(s);
    registry.add<RandomRotate>(transform, "random_rotate", "Rotates by a random angle about the centre", std::move(s));
  }
  {
    cerebra::Schema s;
    s.add_float("degrees", 0, "Largest rotation either way, in degrees").range(0, 180);
    s.add_float("scale_min", 0.9, "Smallest zoom factor").range(0.01, 10);
    s.add_float("scale_max", 1.1, "Largest zoom factor").range(0.01, 10);
    s.add_float("translate", 0.1, "Largest shift either way, as a fraction of width and height").range(0, 1);
    s.add_float("shear", 5, "Largest shear either way, in degrees").range(0, 80);
    s.add_float("p", 1.0, "Probability of transforming an image").range(0, 1);
    add_border(s);
    registry.add<RandomAffineFull>(transform, "random_affine", "Random scale, shift, shear (and rotation)",
                                   std::move(s));
  }
  {
    cerebra::Schema s;
    s.add_float("brightness", 0.2, "Largest brightness shift either way, as a fraction of full scale").range(0, 1);
    s.add_float("contrast", 0.2, "Largest contrast change either way (factor 1 +/- this)").range(0, 1);
    s.add_float("p", 1.0, "Probability of changing an image").range(0, 1);
    registry.add<RandomBrightnessContrast>(transform, "random_brightness_contrast",
                                           "Random brightness shift and contrast factor", std::move(s));
  }
  {
    cerebra::Schema s;
    s.add_float("sigma", 0.02, "Noise standard deviation as a fraction of full scale").range(0, 1);
    s.add_float("p", 0.5, "Probability of adding noise to an image").range(0, 1);
    registry.add<GaussianNoise>(transform, "gaussian_noise", "Adds Gaussian pixel noise", std::move(s));
  }
  {
    cerebra::Schema s;
    s.add_int("size", 224, "Crop width and height in pixels, unless width or height is set").range(1, 16384);
    s.add_int("width", 0, "Crop width in pixels; 0 takes size").range(0, 16384);
    s.add_int("height", 0, "Crop height in pixels; 0 takes size").range(0, 16384);
    s.add_bool("pad_if_needed", false, "Pad images smaller than the crop instead of stopping with an error");
    s.add_float("fill", 0, "Value of the padding (on the image's own scale)").range(-1e6, 1e6);
    registry.add<RandomCrop>(transform, "random_crop", "Crops a fixed-size window at a random position", std::move(s));
  }
}

}  // namespace

CEREBRA_PLUGIN("augment", "1.0.0",
               "Random augmentation: flip, rotate, affine, brightness/contrast, noise, crop", register_augment)
