// Random augmentation, run on training images every epoch. Every draw comes
// from the generator the loader passes in (through the portable helpers in
// transform.h), so a run reproduces on any machine and thread count. Each
// stage draws the same number of values whether or not it fires, so one
// stage's probability never shifts the next stage's numbers.
#include <algorithm>
#include <cmath>
#include <vector>

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
  // torchvision's RandomRotation and RandomAffine default to nearest.
  s.add_string("interpolation", "linear", "How warped pixels are sampled: linear or nearest (faster, blockier)")
      .one_of({"linear", "nearest"});
}

int interpolation_of(const std::string& name) {
  if (name == "nearest") return cv::INTER_NEAREST;
  if (name == "linear") return cv::INTER_LINEAR;
  throw cerebra::Error(fmt::format("interpolation must be linear or nearest, found '{}'", name));
}

// The largest value of the image's own scale: 255 for 8-bit, 65535 for
// 16-bit, 1 for float.
double full_scale(const cv::Mat& image) {
  return image.depth() == CV_8U ? 255.0 : image.depth() == CV_16U ? 65535.0 : 1.0;
}

// Runs `change(row, y)` on each row of the image as float values (channels
// interleaved) and converts back to the image's own type, saturating 8- and
// 16-bit values.
template <typename Change>
cv::Mat through_float(const cv::Mat& image, Change change) {
  cv::Mat values;
  image.convertTo(values, CV_MAKETYPE(CV_32F, image.channels()));
  for (int y = 0; y < values.rows; ++y) change(values.ptr<float>(y), y);
  cv::Mat out;
  values.convertTo(out, image.type());
  return out;
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
        fill_(p.get_float("fill")),
        interpolation_(interpolation_of(p.get_string("interpolation"))) {
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
    cv::warpAffine(image, out, m, image.size(), interpolation_, border_, cv::Scalar::all(fill_));
    return out;
  }

 private:
  double probability_, degrees_, scale_min_, scale_max_, translate_, shear_;
  int border_;
  double fill_;
  int interpolation_;
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
    const double full = full_scale(image);
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
    const double full = full_scale(image);
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

// Scanner and collection differences: a different tone curve (gamma), coil
// inhomogeneity (bias field), a softer point-spread function (blur).
class RandomGamma : public cerebra::Transform {
 public:
  explicit RandomGamma(const cerebra::Parameters& p)
      : probability_(p.get_float("p")), log_gamma_(std::log(p.get_float("gamma"))) {}
  bool is_random() const override { return true; }
  std::optional<cv::Size> output_size(const std::optional<cv::Size>& input) const override { return input; }

  cv::Mat apply(const cv::Mat& image, std::mt19937_64& rng) const override {
    const bool fire = random_chance(rng, probability_);
    // Log-uniform, so darkening by g is as likely as brightening by 1/g.
    const double gamma = std::exp(random_uniform(rng, -log_gamma_, log_gamma_));
    if (!fire) return image;
    const double full = full_scale(image);
    // x -> full * (x / full)^gamma keeps 0 and full scale where they are;
    // a negative float value keeps its sign.
    auto curve = [full, gamma](double x) {
      return x < 0 ? -full * std::pow(-x / full, gamma) : full * std::pow(x / full, gamma);
    };
    if (image.depth() == CV_8U) {
      cv::Mat table(1, 256, CV_8U);
      for (int v = 0; v < 256; ++v) table.at<unsigned char>(v) = cv::saturate_cast<unsigned char>(curve(v));
      cv::Mat out;
      cv::LUT(image, table, out);
      return out;
    }
    const int values = image.cols * image.channels();
    return through_float(image, [&](float* row, int) {
      for (int x = 0; x < values; ++x) row[x] = static_cast<float>(curve(row[x]));
    });
  }

 private:
  double probability_, log_gamma_;
};

class RandomBiasField : public cerebra::Transform {
 public:
  explicit RandomBiasField(const cerebra::Parameters& p)
      : probability_(p.get_float("p")),
        strength_(p.get_float("strength")),
        order_(static_cast<int>(p.get_int("order"))) {}
  bool is_random() const override { return true; }
  std::optional<cv::Size> output_size(const std::optional<cv::Size>& input) const override { return input; }

  cv::Mat apply(const cv::Mat& image, std::mt19937_64& rng) const override {
    const bool fire = random_chance(rng, probability_);
    const double amplitude = random_uniform(rng, 0.0, strength_);
    // c[j][i] multiplies x^i y^j, for 0 < i + j <= order; drawn in full
    // whether or not the stage fires.
    std::vector<std::vector<double>> c(order_ + 1, std::vector<double>(order_ + 1, 0.0));
    for (int j = 0; j <= order_; ++j) {
      for (int i = 0; i + j <= order_; ++i) {
        if (i + j > 0) c[j][i] = random_uniform(rng, -1.0, 1.0);
      }
    }
    if (!fire || amplitude == 0 || image.empty()) return image;
    cv::Mat log_field = polynomial(c, image.size());
    double low, high;
    cv::minMaxLoc(log_field, &low, &high);
    const double largest = std::max(std::abs(low), std::abs(high));
    if (largest == 0) return image;
    // Scaled so the field's extreme is exp(+/- amplitude) exactly, whatever
    // the coefficients: strength bounds the field, and its shape is random.
    cv::Mat field;
    cv::exp(log_field * (amplitude / largest), field);
    const int channels = image.channels();
    return through_float(image, [&](float* row, int y) {
      const float* factor = field.ptr<float>(y);
      for (int x = 0; x < image.cols; ++x) {
        for (int k = 0; k < channels; ++k) row[x * channels + k] *= factor[x];
      }
    });
  }

 private:
  // sum of c[j][i] x^i y^j over the image, x and y running over [-1, 1];
  // computed as sum_j y^j (sum_i c[j][i] x^i), the inner sums once per column.
  cv::Mat polynomial(const std::vector<std::vector<double>>& c, cv::Size size) const {
    auto coordinate = [](int index, int count) { return count > 1 ? 2.0 * index / (count - 1) - 1.0 : 0.0; };
    std::vector<std::vector<double>> along_x(order_ + 1, std::vector<double>(size.width));
    for (int x = 0; x < size.width; ++x) {
      const double u = coordinate(x, size.width);
      for (int j = 0; j <= order_; ++j) {
        double sum = 0, power = 1;
        for (int i = 0; i + j <= order_; ++i, power *= u) sum += c[j][i] * power;
        along_x[j][x] = sum;
      }
    }
    cv::Mat out(size, CV_32F);
    for (int y = 0; y < size.height; ++y) {
      const double v = coordinate(y, size.height);
      float* row = out.ptr<float>(y);
      for (int x = 0; x < size.width; ++x) {
        double sum = 0, power = 1;
        for (int j = 0; j <= order_; ++j, power *= v) sum += power * along_x[j][x];
        row[x] = static_cast<float>(sum);
      }
    }
    return out;
  }

  double probability_, strength_;
  int order_;
};

class RandomBlur : public cerebra::Transform {
 public:
  explicit RandomBlur(const cerebra::Parameters& p)
      : probability_(p.get_float("p")), sigma_min_(p.get_float("sigma_min")), sigma_max_(p.get_float("sigma_max")) {
    if (sigma_min_ > sigma_max_) {
      throw cerebra::Error(
          fmt::format("random_blur: sigma_min ({}) is above sigma_max ({})", sigma_min_, sigma_max_));
    }
  }
  bool is_random() const override { return true; }
  std::optional<cv::Size> output_size(const std::optional<cv::Size>& input) const override { return input; }

  cv::Mat apply(const cv::Mat& image, std::mt19937_64& rng) const override {
    const bool fire = random_chance(rng, probability_);
    const double sigma = random_uniform(rng, sigma_min_, sigma_max_);
    if (!fire || sigma <= 0) return image;
    // A kernel of 3 sigma either way holds all but 0.3% of the weight.
    const int half = std::max(1, static_cast<int>(std::ceil(3 * sigma)));
    cv::Mat out;
    cv::GaussianBlur(image, out, cv::Size(2 * half + 1, 2 * half + 1), sigma, sigma, cv::BORDER_REFLECT_101);
    return out;
  }

 private:
  double probability_, sigma_min_, sigma_max_;
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
    s.add_float("gamma", 1.5,
                "Largest gamma: each image gets x^gamma on its own full scale, gamma log-uniform in [1/gamma, gamma]")
        .range(1, 10);
    s.add_float("p", 0.5, "Probability of changing an image").range(0, 1);
    registry.add<RandomGamma>(transform, "random_gamma",
                              "Random gamma curve (another scanner's contrast); keeps black and white", std::move(s));
  }
  {
    cerebra::Schema s;
    s.add_float("strength", 0.3,
                "Largest log of the field, drawn per image in [0, strength]: pixels are multiplied by between "
                "exp(-strength) and exp(strength)")
        .range(0, 3);
    s.add_int("order", 3, "Highest order of the polynomial (in x and y) whose exponential is the field").range(1, 6);
    s.add_float("p", 0.5, "Probability of changing an image").range(0, 1);
    registry.add<RandomBiasField>(transform, "random_bias_field",
                                  "Smooth random multiplicative field, like MRI coil inhomogeneity; black stays black",
                                  std::move(s));
  }
  {
    cerebra::Schema s;
    s.add_float("sigma_min", 0.5, "Smallest Gaussian sigma, in pixels of the stage's input").range(0, 50);
    s.add_float("sigma_max", 1.5, "Largest Gaussian sigma, in pixels of the stage's input").range(0, 50);
    s.add_float("p", 0.5, "Probability of blurring an image").range(0, 1);
    registry.add<RandomBlur>(transform, "random_blur",
                             "Gaussian blur of random sigma (a softer scanner or a lower resolution)", std::move(s));
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
               "Random augmentation: flip, rotate, affine, brightness/contrast, noise, gamma, bias field, blur, crop",
               register_augment)
