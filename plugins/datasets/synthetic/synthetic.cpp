// Procedural MRI-like axial slices, generated from a seed: no files, so the
// quickstart and the tests run anywhere. Each image is a head (scalp, dark
// skull, CSF rim, textured brain, ventricles) with, per class, a lesion that
// mimics where and how the real tumour types appear. Variation in head shape,
// intensity, bias field, noise and lesion size/contrast, plus faint lesions and
// lesion-like distractors in every class, keep it from being solved at once.
#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "cerebra/dataset.h"
#include "cerebra/plugin_abi.h"
#include "cerebra/transform.h"

namespace {

using cerebra::random_chance;
using cerebra::random_normal;
using cerebra::random_uniform;

constexpr double kPi = 3.14159265358979323846;

enum class Lesion { None, Glioma, Meningioma, Pituitary };

std::uint64_t mix(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed * 0x9e3779b97f4a7c15ull + index + 0x632be59bd9b4e019ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Smooth random field in [-1, 1]: a coarse grid of random values, upsampled.
cv::Mat smooth_field(std::mt19937_64& rng, int size, int grid) {
  cv::Mat coarse(grid, grid, CV_32F);
  for (int y = 0; y < grid; ++y)
    for (int x = 0; x < grid; ++x) coarse.at<float>(y, x) = static_cast<float>(random_uniform(rng, -1, 1));
  cv::Mat field;
  cv::resize(coarse, field, cv::Size(size, size), 0, 0, cv::INTER_CUBIC);
  return field;
}

// An irregular closed outline around `center`: radius modulated by a few
// random harmonics, so masses are lumpy rather than round.
std::vector<cv::Point> blob(std::mt19937_64& rng, cv::Point2d center, double radius,
                            double irregularity, double aspect, double angle) {
  const int vertices = 48;
  double phase[3], amplitude[3];
  for (int h = 0; h < 3; ++h) {
    phase[h] = random_uniform(rng, 0, 2 * kPi);
    amplitude[h] = irregularity * random_uniform(rng, 0.2, 1.0) / (h + 1);
  }
  std::vector<cv::Point> points;
  for (int i = 0; i < vertices; ++i) {
    double t = 2 * kPi * i / vertices;
    double r = radius;
    for (int h = 0; h < 3; ++h) r *= 1.0 + amplitude[h] * std::sin((h + 2) * t + phase[h]);
    double x = r * std::cos(t) * aspect, y = r * std::sin(t);
    double xr = x * std::cos(angle) - y * std::sin(angle), yr = x * std::sin(angle) + y * std::cos(angle);
    points.emplace_back(cvRound(center.x + xr), cvRound(center.y + yr));
  }
  return points;
}

class Synthetic : public cerebra::Dataset {
 public:
  explicit Synthetic(const cerebra::Parameters& p)
      : classes_(static_cast<int>(p.get_int("classes"))),
        count_(p.get_int("count")),
        size_(static_cast<int>(p.get_int("image_size"))),
        seed_(static_cast<std::uint64_t>(p.get_int("seed"))),
        contrast_(p.get_float("lesion_contrast")),
        faint_fraction_(p.get_float("faint_fraction")),
        noise_(p.get_float("noise")),
        lesion_scale_(p.get_float("lesion_scale")) {
    if (classes_ != 2 && classes_ != 4) {
      throw cerebra::Error(fmt::format("synthetic: classes must be 2 or 4, found {}", classes_));
    }
    if (count_ < 1) throw cerebra::Error("synthetic: count must be at least 1");
    if (size_ < 32) throw cerebra::Error(fmt::format("synthetic: image_size must be at least 32, found {}", size_));
    prefix_ = fmt::format("synthetic:{}:", seed_);
  }

  std::vector<std::string> class_names() const override {
    if (classes_ == 2) return {"no", "yes"};
    return {"glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor"};
  }
  int positive_class() const override { return classes_ == 2 ? 1 : -1; }

  std::vector<cerebra::Sample> samples() const override {
    std::vector<cerebra::Sample> samples;
    samples.reserve(static_cast<std::size_t>(count_));
    for (std::int64_t i = 0; i < count_; ++i) {
      samples.push_back({prefix_ + std::to_string(i), static_cast<int>(i % classes_), ""});
    }
    return samples;
  }

  using cerebra::Dataset::load;
  cv::Mat load(const cerebra::Sample& sample, const cerebra::LoadHint&) const override {
    std::int64_t index = index_of(sample);
    return render(index, static_cast<int>(index % classes_), nullptr);
  }

  // The lesion's outline (with a glioma's edema), inside the skull, in the
  // pose of the image: rendered alongside the image, from the same draws.
  cv::Mat lesion_mask(const cerebra::Sample& sample) const override {
    std::int64_t index = index_of(sample);
    cv::Mat mask;
    render(index, static_cast<int>(index % classes_), &mask);
    return mask;
  }

  // Same seed, index and rendering parameters: same pixels.
  std::string fingerprint(const cerebra::Sample& sample) const override {
    return fmt::format("synthetic-v1-{}-{}-{}-{}-{}-{}-{}-{}", seed_, index_of(sample), classes_,
                       size_, contrast_, faint_fraction_, noise_, lesion_scale_);
  }

 private:
  std::int64_t index_of(const cerebra::Sample& sample) const {
    if (sample.id.compare(0, prefix_.size(), prefix_) != 0) {
      throw cerebra::Error(sample.id + ": not a sample of this synthetic dataset (ids start with '" +
                           prefix_ + "')");
    }
    std::string digits = sample.id.substr(prefix_.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) {
      throw cerebra::Error(sample.id + ": the part after '" + prefix_ + "' must be an index");
    }
    std::int64_t index = std::stoll(digits);
    if (index >= count_) {
      throw cerebra::Error(fmt::format("{}: index {} is outside this dataset (count = {})", sample.id,
                                       index, count_));
    }
    return index;
  }

  Lesion lesion_for(int label, std::mt19937_64& rng) const {
    if (classes_ == 2) {
      if (label == 0) return Lesion::None;
      switch (cerebra::random_int(rng, 0, 2)) {
        case 0: return Lesion::Glioma;
        case 1: return Lesion::Meningioma;
        default: return Lesion::Pituitary;
      }
    }
    switch (label) {
      case 0: return Lesion::Glioma;
      case 1: return Lesion::Meningioma;
      case 3: return Lesion::Pituitary;
      default: return Lesion::None;
    }
  }

  // The image; with `truth`, also the lesion mask (lesion_mask()).
  cv::Mat render(std::int64_t index, int label, cv::Mat* truth) const {
    std::mt19937_64 rng(mix(seed_, static_cast<std::uint64_t>(index)));
    const double s = size_;
    const cv::Point2d c(s / 2, s / 2);
    cv::Mat image(size_, size_, CV_32F, cv::Scalar(0));

    // Head drawn upright and centred; rotated and shifted at the end.
    const double ax = s * random_uniform(rng, 0.33, 0.41), ay = s * random_uniform(rng, 0.40, 0.46);
    const double scalp = s * random_uniform(rng, 0.018, 0.03), skull = s * random_uniform(rng, 0.02, 0.035);
    const double csf = s * random_uniform(rng, 0.008, 0.016);
    auto ellipse = [&](double shrink, double value) {
      cv::ellipse(image, cv::Point(cvRound(c.x), cvRound(c.y)),
                  cv::Size(cvRound(ax - shrink), cvRound(ay - shrink)), 0, 0, 360,
                  cv::Scalar(value), cv::FILLED, cv::LINE_AA);
    };
    ellipse(0, random_uniform(rng, 0.55, 0.8));                // scalp and fat: bright
    ellipse(scalp, random_uniform(rng, 0.05, 0.12));           // bone: dark
    ellipse(scalp + skull, random_uniform(rng, 0.18, 0.3));    // CSF rim
    const double brain_level = random_uniform(rng, 0.40, 0.55);
    const double inner = scalp + skull + csf;
    const double bx = ax - inner, by = ay - inner;  // brain half-axes
    cv::Mat brain_mask(size_, size_, CV_8U, cv::Scalar(0));
    cv::ellipse(brain_mask, cv::Point(cvRound(c.x), cvRound(c.y)), cv::Size(cvRound(bx), cvRound(by)), 0, 0,
                360, cv::Scalar(255), cv::FILLED);
    image.setTo(brain_level, brain_mask);

    // Cortex texture (gyri at two scales) and brighter white matter inside.
    cv::Mat texture = 0.07 * smooth_field(rng, size_, 6) + 0.05 * smooth_field(rng, size_, std::max(8, size_ / 6));
    cv::Mat white(size_, size_, CV_32F, cv::Scalar(0));
    cv::ellipse(white, cv::Point(cvRound(c.x), cvRound(c.y)), cv::Size(cvRound(bx * 0.62), cvRound(by * 0.66)), 0,
                0, 360, cv::Scalar(random_uniform(rng, 0.04, 0.1)), cv::FILLED);
    cv::GaussianBlur(white, white, cv::Size(0, 0), s * 0.04);
    cv::Mat brain_add = texture + white;
    brain_add.copyTo(brain_add, brain_mask);
    cv::add(image, brain_add, image, brain_mask);

    // Ventricles: two dark crescents either side of the midline, and the falx.
    const double ventricle = random_uniform(rng, 0.6, 1.4);
    for (int side : {-1, 1}) {
      cv::ellipse(image, cv::Point(cvRound(c.x + side * s * 0.045 * ventricle), cvRound(c.y - s * 0.02)),
                  cv::Size(std::max(1, cvRound(s * 0.022 * ventricle)), std::max(1, cvRound(s * 0.085 * ventricle))),
                  side * random_uniform(rng, 8, 22), 0, 360, cv::Scalar(random_uniform(rng, 0.15, 0.25)),
                  cv::FILLED, cv::LINE_AA);
    }
    cv::line(image, cv::Point(cvRound(c.x), cvRound(c.y - by)), cv::Point(cvRound(c.x), cvRound(c.y - by * 0.35)),
             cv::Scalar(0.3), std::max(1, size_ / 128), cv::LINE_AA);

    // Lesion-like distractors in every class: vessels and small bright spots.
    cv::Mat lesion(size_, size_, CV_32F, cv::Scalar(0));
    cv::Mat outline_mask(size_, size_, CV_8U, cv::Scalar(0));  // the lesion alone, no distractors
    const int distractors = static_cast<int>(cerebra::random_int(rng, 0, 3));
    for (int k = 0; k < distractors; ++k) {
      double t = random_uniform(rng, 0, 2 * kPi), r = random_uniform(rng, 0.1, 0.85);
      cv::circle(lesion, cv::Point(cvRound(c.x + r * bx * std::cos(t)), cvRound(c.y + r * by * std::sin(t))),
                 std::max(1, cvRound(s * random_uniform(rng, 0.006, 0.02))),
                 cv::Scalar(random_uniform(rng, 0.06, 0.18)), cv::FILLED, cv::LINE_AA);
    }

    double contrast = contrast_ * random_uniform(rng, 0.6, 1.25);
    if (random_chance(rng, faint_fraction_)) contrast *= random_uniform(rng, 0.25, 0.5);
    const double scale = lesion_scale_ * s;
    switch (lesion_for(label, rng)) {
      case Lesion::None: break;
      case Lesion::Glioma: {
        // Intra-axial, off the midline, irregular, with edema around it and
        // often a darker necrotic core.
        double radius = scale * random_uniform(rng, 0.045, 0.13);
        double t = random_uniform(rng, 0, 2 * kPi), r = random_uniform(rng, 0.25, 0.6);
        cv::Point2d at(c.x + r * bx * std::cos(t), c.y + r * by * std::sin(t));
        if (std::abs(at.x - c.x) < s * 0.08) at.x += (at.x < c.x ? -1 : 1) * s * 0.08;
        double angle = random_uniform(rng, 0, kPi);
        cv::Mat edema(size_, size_, CV_32F, cv::Scalar(0));
        std::vector<std::vector<cv::Point>> outline = {
            blob(rng, at, radius * random_uniform(rng, 1.5, 2.2), 0.35, random_uniform(rng, 0.7, 1.3), angle)};
        cv::fillPoly(edema, outline, cv::Scalar(contrast * random_uniform(rng, 0.25, 0.5)), cv::LINE_AA);
        cv::fillPoly(outline_mask, outline, cv::Scalar(255));
        cv::GaussianBlur(edema, edema, cv::Size(0, 0), std::max(1.0, radius * 0.35));
        lesion += edema;
        outline = {blob(rng, at, radius, 0.3, random_uniform(rng, 0.7, 1.3), angle)};
        cv::fillPoly(lesion, outline, cv::Scalar(contrast), cv::LINE_AA);
        cv::fillPoly(outline_mask, outline, cv::Scalar(255));
        if (random_chance(rng, 0.6)) {
          outline = {blob(rng, at, radius * random_uniform(rng, 0.35, 0.6), 0.3, 1.0, angle)};
          cv::fillPoly(lesion, outline, cv::Scalar(contrast * random_uniform(rng, -0.4, 0.3)), cv::LINE_AA);
        }
        break;
      }
      case Lesion::Meningioma: {
        // Extra-axial: round, homogeneous, pressed against the inner skull.
        double radius = scale * random_uniform(rng, 0.04, 0.11);
        double t = random_uniform(rng, 0, 2 * kPi);
        cv::Point2d edge(c.x + bx * std::cos(t), c.y + by * std::sin(t));
        cv::Point2d inward = c - edge;
        inward *= 1.0 / std::max(1e-6, std::hypot(inward.x, inward.y));
        cv::Point2d at = edge + inward * (radius * random_uniform(rng, 0.5, 0.9));
        cv::circle(lesion, cv::Point(cvRound(at.x), cvRound(at.y)), std::max(1, cvRound(radius)),
                   cv::Scalar(contrast * random_uniform(rng, 0.9, 1.2)), cv::FILLED, cv::LINE_AA);
        cv::circle(outline_mask, cv::Point(cvRound(at.x), cvRound(at.y)), std::max(1, cvRound(radius)),
                   cv::Scalar(255), cv::FILLED);
        break;
      }
      case Lesion::Pituitary: {
        // Small, on the midline, low in the slice (towards the skull base).
        double radius = scale * random_uniform(rng, 0.02, 0.05);
        cv::Point2d at(c.x + s * random_uniform(rng, -0.015, 0.015), c.y + by * random_uniform(rng, 0.55, 0.75));
        // The two draws stay in one call (their order is the compiler's), so
        // the mask is read from what the call changed.
        const cv::Mat before = lesion.clone();
        cv::ellipse(lesion, cv::Point(cvRound(at.x), cvRound(at.y)),
                    cv::Size(std::max(1, cvRound(radius * random_uniform(rng, 0.9, 1.3))), std::max(1, cvRound(radius))),
                    0, 0, 360, cv::Scalar(contrast * random_uniform(rng, 0.9, 1.3)), cv::FILLED, cv::LINE_AA);
        outline_mask.setTo(255, lesion != before);
        break;
      }
    }
    cv::GaussianBlur(lesion, lesion, cv::Size(0, 0), std::max(0.5, s * 0.004));
    cv::Mat inside_skull(size_, size_, CV_8U, cv::Scalar(0));
    cv::ellipse(inside_skull, cv::Point(cvRound(c.x), cvRound(c.y)),
                cv::Size(cvRound(ax - scalp - skull), cvRound(ay - scalp - skull)), 0, 0, 360, cv::Scalar(255),
                cv::FILLED);
    cv::add(image, lesion, image, inside_skull);

    // Pose: rotation, shift and size of the head.
    cv::Mat pose = cv::getRotationMatrix2D(c, random_uniform(rng, -15, 15), random_uniform(rng, 0.85, 1.08));
    pose.at<double>(0, 2) += s * random_uniform(rng, -0.05, 0.05);
    pose.at<double>(1, 2) += s * random_uniform(rng, -0.05, 0.05);
    cv::warpAffine(image, image, pose, image.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0));
    if (truth) {
      cv::bitwise_and(outline_mask, inside_skull, outline_mask);
      cv::warpAffine(outline_mask, *truth, pose, image.size(), cv::INTER_NEAREST, cv::BORDER_CONSTANT, cv::Scalar(0));
    }

    // Scanner: smooth bias field, gain, and noise (Rician-like: magnitude).
    cv::Mat bias = 1.0 + 0.15 * smooth_field(rng, size_, 3);
    image = image.mul(bias) * random_uniform(rng, 0.75, 1.2);
    const double sigma = noise_ * random_uniform(rng, 0.6, 1.4);
    for (int y = 0; y < size_; ++y) {
      float* row = image.ptr<float>(y);
      for (int x = 0; x < size_; ++x) {
        double real = row[x] + sigma * random_normal(rng), imaginary = sigma * random_normal(rng);
        row[x] = static_cast<float>(std::sqrt(real * real + imaginary * imaginary));
      }
    }
    cv::Mat out;
    image.convertTo(out, CV_8U, 255.0);
    return out;
  }

  int classes_;
  std::int64_t count_;
  int size_;
  std::uint64_t seed_;
  double contrast_, faint_fraction_, noise_, lesion_scale_;
  std::string prefix_;
};

void register_synthetic(cerebra::Registry& registry) {
  cerebra::Schema schema;
  schema.add_int("classes", 2, "2 (no, yes; positive yes) or 4 (glioma, meningioma, no tumor, pituitary)")
      .range(2, 4);
  schema.add_int("count", 400, "Number of images (classes in equal shares)").range(1, 10000000);
  schema.add_int("image_size", 128, "Side of the square images in pixels").range(32, 2048);
  schema.add_int("seed", 1, "Seed of the generator; the same seed gives the same images").range(0, 4294967295.0);
  schema.add_float("lesion_contrast", 0.3, "Typical lesion brightness above the brain (1 = full scale)")
      .range(0, 1);
  schema.add_float("faint_fraction", 0.25, "Share of lesions drawn at a quarter to half the contrast")
      .range(0, 1);
  schema.add_float("noise", 0.05, "Standard deviation of the scanner noise (1 = full scale)").range(0, 0.5);
  schema.add_float("lesion_scale", 1.0, "Multiplies every lesion's size").range(0.2, 4);
  registry.add<Synthetic>(cerebra::kinds::dataset, "synthetic",
                          "Procedural MRI-like slices with class-specific lesions, generated from a seed",
                          std::move(schema));
}

}  // namespace

CEREBRA_PLUGIN("synthetic", "1.0.0", "Procedural brain-MRI-like dataset (no files needed)",
               register_synthetic)
