// What the trainer and the evaluation commands (evaluate.h) share, so a run is
// evaluated afterwards exactly as it was during training: device choice,
// preprocessing stages, loader settings, input tensors, checkpoint reading and
// the evaluation loop. Internal to the framework library; needs torch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cerebra/architecture.h"
#include "cerebra/data.h"
#include "cerebra/evaluate.h"
#include "cerebra/metric.h"
#include "cerebra/pipeline.h"
#include "precision.h"

namespace cerebra::detail {

torch::Device choose_device(const std::string& setting);

// [run] threads as the trainer applies it (0: every core).
void set_compute_threads(const Parameters& run);

// The stages of [[preprocess]] (random = false) or [[augment]] (random = true);
// a stage in the wrong section is an Error naming it.
std::vector<Stage> make_stages(const std::vector<ComponentConfig>& configs, const Registry& registry,
                               bool random, const char* section);

// Loader settings of a pipeline: training shuffles and may weight classes;
// evaluation reads in order.
LoaderOptions loader_options(const Pipeline& pipeline, bool training);

// Moves `model` to `device`, its convolution weights channels-last when asked
// (they then meet channels-last inputs without a layout conversion).
void place_model(ClassifierModel& model, const torch::Device& device, bool channels_last);

// Drops every parameter's gradient before a step (PyTorch 2's
// zero_grad(set_to_none=True)): backward then writes fresh gradients instead
// of adding to zeroed ones, one pass over the weights' size less each way.
// A parameter that gets no gradient is skipped by the optimizer, not moved
// by its momentum.
void clear_gradients(torch::optim::Optimizer& optimizer);

torch::Tensor to_input(const Batch& batch, const torch::Device& device, bool channels_last);

// Reads a Cerebra checkpoint (tensors mapped to `device`); Error naming the file.
void read_checkpoint(const std::string& path, const torch::Device& device,
                     torch::serialize::InputArchive& archive);
// Loads the "model" part of a checkpoint into `model`.
void load_model_state(torch::nn::Module& model, torch::serialize::InputArchive& archive,
                      const std::string& path);

struct EvaluationSettings {
  std::vector<std::string> class_names;
  int positive_class = -1;
  std::vector<ComponentConfig> metrics;  // the pipeline's metrics with their parameters
  std::int64_t bootstrap = 0;
  std::uint64_t bootstrap_seed = 7;
  torch::Device device = torch::kCPU;
  bool channels_last = false;
  // Autocast of every forward pass ([run] precision; fp16 asked of a CPU
  // evaluates in fp32); probabilities and metrics are float32 regardless.
  Precision precision = Precision::fp32;
  // Test-time variants (cerebra/tta.h) averaged with each image; empty for
  // the per-epoch validation, the pipeline's [evaluation] tta for the final
  // evaluations and `cerebra eval`.
  std::vector<std::string> tta;
};

// [evaluation] and the parts of [run]/[training] that shape evaluation.
EvaluationSettings evaluation_settings(const Pipeline& pipeline, const torch::Device& device,
                                       std::vector<std::string> class_names, int positive_class);

// The pipeline's metrics reset for one evaluation, fed batch by batch;
// bootstrap intervals only with `intervals`.
class MetricSet {
 public:
  MetricSet(const Registry& registry, const EvaluationSettings& settings, bool intervals);
  ~MetricSet();
  void update(const float* probabilities, const std::int64_t* labels, std::size_t count);
  nlohmann::json compute() const;  // metric name -> its report

 private:
  std::vector<std::pair<std::string, std::unique_ptr<Metric>>> metrics_;
};

// One image's outcome from its row of class probabilities (argmax, the lowest
// index winning a tie, as in the metrics).
Prediction make_prediction(std::string file, int label, const float* row, std::size_t classes);

// Backbone features per loader sample index. With a frozen backbone and no
// random augmentation an image's features never change, so they are computed
// once and the head trains on them (the `feature_extract` transfer mode).
using FeatureCache = std::unordered_map<std::size_t, torch::Tensor>;

// The features of `batch` (whose images are `input`): from the cache, or
// computed in eval mode without gradients and stored.
torch::Tensor cached_features(ClassifierModel& model, FeatureCache& cache, const Batch& batch,
                              const torch::Tensor& input);

// Every evaluated image's outcome, in the order evaluated.
struct EvaluationRows {
  std::size_t classes = 0;
  std::vector<std::size_t> indices;    // positions in the loader's samples
  std::vector<std::int64_t> labels;
  std::vector<float> probabilities;    // `classes` per image
  std::vector<float> losses;           // per image; NaN where its batch was not all labelled
};

// Replaces one process's rows with those of every process of a data-parallel
// job, in sample order (DataParallel::gather); empty for a single process.
using RowGather = std::function<void(EvaluationRows&)>;

// Runs `loader` once through `model` in eval mode, feeding every metric.
// With `keep_predictions`, also bootstrap intervals and one Prediction per image.
// With `feature_cache`, the backbone's features come from (and go to) the cache.
// With `gather`, the loader is this rank's shard and the metrics are those
// of every rank's images, fed in sample order: exactly one process's figures.
EvaluationReport evaluate_model(ClassifierModel& model, const Registry& registry,
                                const EvaluationSettings& settings, ImageLoader& loader,
                                bool keep_predictions, FeatureCache* feature_cache = nullptr,
                                const RowGather& gather = {});

}  // namespace cerebra::detail
