// Re-opening a finished run: its model from the best checkpoint, the exact
// preprocessing it was trained with, evaluation of a split or a folder, and
// prediction of single images. No torch here; the trainer shares the same
// implementation (framework/src/training).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebra/pipeline.h"
#include "cerebra/registry.h"

namespace cerebra {

namespace detail {
struct TrainedRunAccess;
}

// One image's outcome.
struct Prediction {
  std::string file;                 // the sample id (a path, or a generated image's id)
  int label = -1;                   // true class index; -1 when unknown
  int predicted = -1;               // argmax of probabilities; -1 when the image failed
  std::vector<float> probabilities;  // one per class, in class order
  std::string error;                // why the image could not be predicted, or ""
};

struct EvaluationReport {
  double loss = 0;          // mean cross-entropy over the images (0 when none are labelled)
  std::size_t images = 0;   // images evaluated (unreadable ones skipped are not counted)
  nlohmann::json metrics = nlohmann::json::object();  // metric name -> its report
  std::vector<Prediction> predictions;  // per image, when asked for
  std::vector<std::pair<std::string, std::string>> skipped;  // (file, reason) for skipped images
};

// The headline number of a metric report ("value"), or NaN.
double headline(const nlohmann::json& report);

// A confusion matrix's report ("matrix"): its headline repeats the accuracy,
// so progress lines and summaries leave it out.
bool is_matrix(const nlohmann::json& report);

// Counts of labelled, predicted images: counts[true class][predicted class].
std::vector<std::vector<std::size_t>> confusion_counts(const std::vector<Prediction>& predictions,
                                                      std::size_t classes);

struct OpenRunOptions {
  // Where the model runs: "auto", "cpu", "cuda" or "cuda:N". Not the run's own
  // [run] device: a run trained on a GPU is often evaluated on a laptop.
  std::string device = "auto";
  // Test-time augmentation (cerebra/tta.h) instead of the run's own
  // [evaluation] tta; an empty list switches it off.
  std::optional<std::vector<std::string>> tta;
};

// A finished (or stopped) run re-opened from its directory: pipeline.toml
// resolved against the registry, the architecture built for the run's classes
// and checkpoints/best.pt loaded. Throws Error naming the file for a missing
// or unreadable pipeline.toml, summary.json or checkpoint.
class TrainedRun {
 public:
  TrainedRun(const std::string& run_dir, const Registry& registry, const OpenRunOptions& options = {});
  ~TrainedRun();
  TrainedRun(const TrainedRun&) = delete;
  TrainedRun& operator=(const TrainedRun&) = delete;

  const std::string& run_dir() const;
  const Pipeline& pipeline() const;
  const std::vector<std::string>& class_names() const;
  int positive_class() const;
  std::string device() const;
  // The test-time variants its evaluations and predictions average.
  const std::vector<std::string>& tta() const;

  // Evaluates one split of split.csv ("train", "val" or "test") with the
  // run's metrics, the dataset re-created from pipeline.toml. Bootstrap
  // intervals are computed as for the trainer's test evaluation.
  EvaluationReport evaluate_split(const std::string& split);

  // Evaluates a folder laid out like training data: one sub-folder per class,
  // named after the run's classes. A sub-folder that is not one of them is an
  // Error naming it; classes without a folder are simply absent.
  EvaluationReport evaluate_folder(const std::string& folder);

  // Predicts image files, in the order given. A file that cannot be read or
  // preprocessed gets its `error` set; the others are still predicted.
  std::vector<Prediction> predict(const std::vector<std::string>& files);

  // Defined inside the framework library only (its explanations reach it
  // through detail::TrainedRunAccess).
  struct Impl;

 private:
  friend struct detail::TrainedRunAccess;
  std::unique_ptr<Impl> impl_;
};

// Several runs' softmax probabilities averaged on the same images.
struct EnsembleReport {
  EvaluationReport ensemble;              // the first run's metrics on the averaged probabilities
  std::vector<EvaluationReport> members;  // each run alone on the same images, in the order given
};

// Evaluates `runs` (at least one) on the same images: a split ("test", "val"
// or "train") of the first run's split.csv, or, with `folder` set, a folder
// laid out like the training data. Every run must have the first run's
// classes in the same order and, for a split, the same images in that split
// of its own split.csv; an Error names the run and what differs. Each run
// preprocesses the images with its own pipeline (sizes and architectures may
// differ) and applies its own test-time augmentation. An image some run could
// not read is left out of the ensemble and listed in its `skipped`.
EnsembleReport evaluate_ensemble(const std::vector<TrainedRun*>& runs, const std::string& split,
                                 const std::string& folder = "");

// Image files under each path: a file as it is (whatever its extension, so a
// mistyped name still gets an error line), a folder walked recursively for
// image files, sorted. A path that does not exist, and a folder holding no
// image file, are returned as they are; predict() reports them.
std::vector<std::string> expand_image_paths(const std::vector<std::string>& paths);

}  // namespace cerebra
