// sanity_check(): model randomisation and localisation (explain_sanity.h).
#include "cerebra/explain_sanity.h"

#include <cmath>
#include <random>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "../module_path.h"
#include "cerebra/transform.h"
#include "explainer.h"

namespace cerebra {

namespace {

using detail::CamResult;

// One image of the sample, ready to be explained again and again.
struct SanityImage {
  torch::Tensor input;
  int target = -1;   // the true class where known, else the trained model's prediction: every map is for it
  cv::Mat trained;   // the trained model's map
  cv::Mat lesion;    // CV_8U in the model's view; empty when unknown or none in view
};

struct Source {
  std::shared_ptr<const Dataset> dataset;
  std::vector<Sample> samples;
  std::string name;
};

Source sample_source(TrainedRun::Impl& impl, const SanityOptions& options) {
  if (options.data.empty()) {
    std::vector<Sample> samples = impl.split_samples("test");
    return {impl.dataset, std::move(samples), "test split"};
  }
  std::vector<Sample> samples;
  for (const auto& file : expand_image_paths({options.data})) samples.push_back({file, -1, ""});
  return {std::make_shared<detail::FileDataset>(impl.class_names), std::move(samples), options.data};
}

// At most `count` samples, drawn without replacement (a seeded shuffle, the
// same on every machine).
std::vector<Sample> draw(std::vector<Sample> samples, std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (std::size_t i = samples.size(); i > 1; --i) {
    std::swap(samples[i - 1], samples[static_cast<std::size_t>(random_int(rng, 0, static_cast<std::int64_t>(i) - 1))]);
  }
  if (samples.size() > count) samples.resize(count);
  return samples;
}

cv::Mat lesion_in_view(const Dataset& dataset, const Sample& sample, const detail::PreparedImage& prepared,
                       const cv::Size& view) {
  const cv::Mat mask = dataset.lesion_mask(sample);
  if (mask.empty() || !prepared.placement) return {};
  cv::Mat in_view = detail::mask_in_model_view(mask, *prepared.placement, view);
  return cv::countNonZero(in_view) > 0 ? in_view : cv::Mat();
}

std::vector<SanityImage> prepare_sample(TrainedRun::Impl& impl, const Source& source, const SanityOptions& options,
                                        SanityReport& report) {
  std::vector<SanityImage> images;
  for (const auto& sample : draw(source.samples, options.images, options.seed)) {
    try {
      detail::PreparedImage prepared = detail::prepare_image(*source.dataset, sample, impl.preprocess);
      SanityImage image;
      image.input = detail::image_input(prepared.preprocessed, impl.device);
      CamResult cam = detail::run_cam(impl, image.input, sample.label, options.method);
      image.target = cam.target;
      image.trained = cam.cam;
      image.lesion = lesion_in_view(*source.dataset, sample, prepared, cam.cam.size());
      images.push_back(std::move(image));
    } catch (const GradcamUnsupported&) {
      throw;
    } catch (const std::exception& error) {
      report.skipped.push_back(sample.id + ": " + brief(error));
    }
  }
  return images;
}

bool peak_in(const cv::Mat& map, const cv::Mat& mask) {
  double peak = 0;
  cv::Point where;
  cv::minMaxLoc(map, nullptr, &peak, nullptr, &where);
  return peak > 0 && mask.at<unsigned char>(where) != 0;
}

double area_share(const cv::Mat& mask) {
  return static_cast<double>(cv::countNonZero(mask)) / static_cast<double>(mask.total());
}

// The lesion grown by the pointing game's tolerance.
cv::Mat within_tolerance(const cv::Mat& lesion) {
  const int radius = static_cast<int>(std::lround(kPointingTolerance * std::max(lesion.cols, lesion.rows)));
  if (radius < 1) return lesion;
  cv::Mat grown;
  cv::dilate(lesion, grown, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * radius + 1, 2 * radius + 1)));
  return grown;
}

std::optional<LocalisationScore> localisation(const std::vector<SanityImage>& images, const std::vector<cv::Mat>& maps) {
  LocalisationScore score;
  for (std::size_t i = 0; i < images.size(); ++i) {
    const cv::Mat& lesion = images[i].lesion;
    if (lesion.empty()) continue;
    const cv::Mat near_lesion = within_tolerance(lesion);
    ++score.images;
    score.energy_in_lesion += detail::energy_share(maps[i], lesion);
    score.energy_chance += area_share(lesion);
    score.pointing_hits += peak_in(maps[i], near_lesion) ? 1.0 : 0.0;
    score.pointing_chance += area_share(near_lesion);
  }
  if (score.images == 0) return std::nullopt;
  const double n = static_cast<double>(score.images);
  for (double* mean : {&score.energy_in_lesion, &score.energy_chance, &score.pointing_hits, &score.pointing_chance}) {
    *mean /= n;
  }
  return score;
}

// The model's parameters and buffers as they were, put back on destruction,
// so randomising leaves the run as it was found.
class WeightsSnapshot {
 public:
  explicit WeightsSnapshot(ClassifierModel& model) {
    torch::NoGradGuard no_grad;
    for (const auto& item : model.named_parameters()) saved_.emplace_back(item.value(), item.value().clone());
    for (const auto& item : model.named_buffers()) saved_.emplace_back(item.value(), item.value().clone());
  }
  ~WeightsSnapshot() {
    torch::NoGradGuard no_grad;
    for (auto& [live, copy] : saved_) live.copy_(copy);
  }
  WeightsSnapshot(const WeightsSnapshot&) = delete;
  WeightsSnapshot& operator=(const WeightsSnapshot&) = delete;

 private:
  std::vector<std::pair<torch::Tensor, torch::Tensor>> saved_;
};

// Gives the model's tensors in `group` the values a fresh, untrained model
// has: the architecture's own initialisation.
void reinitialise(ClassifierModel& model, ClassifierModel& fresh, const LayerGroup& group) {
  torch::NoGradGuard no_grad;
  auto fresh_parameters = fresh.named_parameters();
  auto fresh_buffers = fresh.named_buffers();
  for (auto& item : model.named_parameters()) {
    if (detail::in_any_module(item.key(), group.module_prefixes)) item.value().copy_(fresh_parameters[item.key()]);
  }
  for (auto& item : model.named_buffers()) {
    if (detail::in_any_module(item.key(), group.module_prefixes)) item.value().copy_(fresh_buffers[item.key()]);
  }
}

RandomisationStep measure(TrainedRun::Impl& impl, const std::vector<SanityImage>& images, CamMethod method) {
  RandomisationStep step;
  std::vector<cv::Mat> maps;
  for (const auto& image : images) {
    maps.push_back(detail::run_cam(impl, image.input, image.target, method).cam);
    step.spearman += spearman_correlation(image.trained, maps.back());
    step.ssim += structural_similarity(image.trained, maps.back());
  }
  step.spearman /= static_cast<double>(images.size());
  step.ssim /= static_cast<double>(images.size());
  step.localisation = localisation(images, maps);
  return step;
}

std::vector<RandomisationStep> randomise_cascading(TrainedRun::Impl& impl, const std::vector<SanityImage>& images,
                                                   const SanityOptions& options) {
  const ArchitectureInfo info = impl.architecture->info();
  torch::manual_seed(options.seed);
  auto fresh = impl.architecture->build(static_cast<std::int64_t>(impl.class_names.size()));
  fresh->to(impl.device);
  WeightsSnapshot snapshot(*impl.model);
  std::vector<RandomisationStep> steps;
  std::vector<std::string> randomised;
  for (auto group = info.layer_groups.rbegin(); group != info.layer_groups.rend(); ++group) {
    reinitialise(*impl.model, *fresh, *group);
    randomised.push_back(group->name);
    steps.push_back(measure(impl, images, options.method));
    steps.back().groups = randomised;
  }
  return steps;
}

}  // namespace

SanityReport sanity_check(TrainedRun& run, const SanityOptions& options) {
  TrainedRun::Impl& impl = detail::TrainedRunAccess::of(run);
  detail::require_gradcam_layer(impl);
  const Source source = sample_source(impl, options);
  SanityReport report;
  report.source = source.name;
  const std::vector<SanityImage> images = prepare_sample(impl, source, options, report);
  if (images.empty()) {
    throw Error(fmt::format("{}: no image of the {} could be explained{}", impl.run_dir, source.name,
                            report.skipped.empty() ? "" : " (first: " + report.skipped.front() + ")"));
  }
  report.images = images.size();
  std::vector<cv::Mat> trained;
  for (const auto& image : images) trained.push_back(image.trained);
  report.trained = localisation(images, trained);
  report.steps = randomise_cascading(impl, images, options);
  return report;
}

}  // namespace cerebra
