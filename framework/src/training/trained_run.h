// TrainedRun's insides, shared by evaluation (evaluate.cpp) and explanations
// (framework/src/explain). Internal to the framework library; needs torch.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cerebra/dataset.h"
#include "cerebra/run_directory.h"
#include "model_runtime.h"

namespace cerebra {

namespace detail {

// Images named by path, labelled by the caller; read like any folder dataset.
class FileDataset : public Dataset {
 public:
  explicit FileDataset(std::vector<std::string> class_names) : class_names_(std::move(class_names)) {}
  std::vector<std::string> class_names() const override { return class_names_; }
  std::vector<Sample> samples() const override { return {}; }

 private:
  std::vector<std::string> class_names_;
};

}  // namespace detail

struct TrainedRun::Impl {
  const Registry& registry;
  std::string run_dir;
  std::optional<RunDirectory> directory;
  Pipeline pipeline;
  std::vector<std::string> class_names;
  int positive_class = -1;
  torch::Device device = torch::kCPU;
  std::unique_ptr<Architecture> architecture;
  std::shared_ptr<ClassifierModel> model;
  std::vector<Stage> preprocess;
  std::shared_ptr<const Dataset> dataset;  // the run's own, created on first use
  std::vector<std::string> tta;  // test-time variants of every evaluation and prediction

  explicit Impl(const Registry& r) : registry(r) {}

  detail::EvaluationSettings settings(bool with_metrics) const {
    auto s = detail::evaluation_settings(pipeline, device, class_names, positive_class);
    if (!with_metrics) s.metrics.clear();
    s.tta = tta;
    return s;
  }

  const Dataset& run_dataset() {
    if (!dataset) {
      dataset = registry.create_as<Dataset>(kinds::dataset, pipeline.dataset.name, pipeline.dataset.parameters);
      std::vector<std::string> names = dataset->class_names();
      if (names != class_names) {
        throw Error(fmt::format("{}: the dataset now has classes {} but the run was trained on {}", run_dir,
                                join(names), join(class_names)));
      }
    }
    return *dataset;
  }

  // The labelled samples of one split of split.csv, from the run's dataset;
  // an Error names the manifest when images are missing or classes differ.
  std::vector<Sample> split_samples(const std::string& split);

  // The images of a folder with one sub-folder per class (named after the
  // run's classes), labelled by folder; an Error names a stray folder.
  std::vector<Sample> folder_samples(const std::string& folder);

  EvaluationReport evaluate(std::shared_ptr<const Dataset> source, std::vector<Sample> samples, bool with_metrics) {
    ImageLoader loader(std::move(source), std::move(samples), preprocess, {}, detail::loader_options(pipeline, false));
    return detail::evaluate_model(*model, registry, settings(with_metrics), loader, true);
  }
};

namespace detail {

// Why a path from expand_image_paths() cannot be an image ("no such file",
// "looping symbolic link", "dangling symbolic link (to T)",
// "folder holds no image files"), or "" when it is worth decoding.
std::string path_problem(const std::string& path);

// The one way into a TrainedRun's insides (a friend of TrainedRun).
struct TrainedRunAccess {
  static TrainedRun::Impl& of(TrainedRun& run) { return *run.impl_; }
};

}  // namespace detail

}  // namespace cerebra
