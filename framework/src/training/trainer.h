// The trainer: a short loop over the pipeline's objective, optimizer,
// schedule and callbacks. Internal to the framework library; needs torch.
//
// The seams where precision, data-parallel gradient synchronisation and
// k-fold plug in are marked "Seam:" in trainer.cpp.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "cerebra/batch_dropout.h"
#include "cerebra/callback.h"
#include "cerebra/run.h"
#include "cerebra/run_directory.h"
#include "cerebra/schedule.h"
#include "cerebra/training.h"
#include "model_runtime.h"
#include "precision.h"

namespace cerebra::detail {

// The data and the network a run trains, assembled from the pipeline.
struct Assembly {
  std::shared_ptr<const Dataset> dataset;
  std::vector<std::string> class_names;
  int positive_class = -1;
  SplitResult split;
  std::vector<Stage> preprocess, augment;
  std::unique_ptr<Architecture> architecture;
  ArchitectureInfo info;
};

// Dataset, split (written to split.csv), stages and architecture.
Assembly assemble(const Pipeline& pipeline, const Registry& registry, const RunDirectory& directory);

struct BuiltModel {
  std::shared_ptr<ClassifierModel> model;
  // Batch-norm layers of frozen groups: they stay in eval mode while the rest trains.
  std::vector<std::shared_ptr<torch::nn::Module>> frozen_modules;
};

// The network with its starting weights ([transfer]) and frozen groups, on `device`.
BuiltModel build_model(const Pipeline& pipeline, const Assembly& assembly, const RunDirectory& directory,
                       const torch::Device& device, std::ostream& log);

// Trainable parameters as "backbone" and "head" groups (the architecture's
// last layer group, plus any the objective owns); empty groups left out.
std::vector<ParameterGroup> parameter_groups(ClassifierModel& model, const ArchitectureInfo& info,
                                             Objective& objective);

// Training images per class.
std::vector<std::int64_t> class_counts(const std::vector<Sample>& samples, std::size_t classes);

// A split's name and the loader of its images.
struct SplitImages {
  std::string name;
  ImageLoader* loader;
};

// Decodes every image of `splits` (into each loader's cache) before training.
// A bad file stops here with on_bad_file = "stop"; with "skip", a class left
// without a usable image, or a split left without a class, is an Error naming
// the class and the skipped files. Returns what is used, for the "data:" line
// ("118 train, 20 val, 20 test images (unreadable, skipped: 2 train)").
std::string check_split_images(const std::vector<SplitImages>& splits, const std::vector<std::string>& class_names);

class DataParallel;
struct StepTotals;

class Trainer : public TrainingSession {
 public:
  // `parallel`: this process's part of a data-parallel job (null: the only
  // process). Rank 0 runs the callbacks, which write the run directory; the
  // others train in step with it and write nothing there.
  Trainer(const Pipeline& pipeline, const Registry& registry, RunDirectory directory, std::ostream& log,
          DataParallel* parallel = nullptr);
  ~Trainer() override;
  RunResult run(bool resume);

  const RunState& state() const override { return state_; }
  const RunDirectory& directory() const override { return directory_; }
  std::ostream& log() override { return log_; }
  void save_checkpoint(const std::string& name) override;
  void request_stop(const std::string& status, const std::string& message) override;

 private:
  struct Loaders;
  class Inputs;

  void set_up();
  void make_loaders(Loaders& loaders);
  void create_components();
  ObjectiveContext objective_context() const;
  void load_checkpoint(const std::string& name, bool with_training_state);
  void apply_schedule(std::size_t batch, std::size_t batches);
  bool train_epoch(Loaders& loaders);
  void take_step(Inputs& inputs, const Batch& batch);
  // The step's figures summed over the ranks (this process's alone when
  // single), after backward() and the gradients' synchronisation.
  StepTotals backward_and_reduce(const torch::Tensor& loss, StepTotals local, const Batch& batch);
  BatchSlice step_slice(const Batch& batch) const;
  double correct_predictions(const torch::Tensor& logits, const torch::Tensor& labels) const;
  // The optimizer step (fp16: unscaled, skipped when gradients overflowed).
  void optimizer_step();
  // Whether the epoch stops here: Ctrl-C, agreed by every rank of a job.
  bool stop_now() const;
  // The best checkpoint's weights (rank 0 reads them and sends them out).
  void restore_best();
  // `val` null: a self-supervised run, whose classifier head is never trained.
  nlohmann::json epoch_figures(const EvaluationReport* val, double train_seconds, double seconds) const;
  void end_epoch(nlohmann::json figures);
  nlohmann::json finish(Loaders& loaders, bool evaluate_best);
  // `final_evaluation`: the best checkpoint's, with the pipeline's test-time
  // augmentation ([evaluation] tta), which every epoch's validation skips.
  EvaluationReport evaluate(ImageLoader& loader, bool keep_predictions, FeatureCache* features = nullptr,
                            bool final_evaluation = false);
  nlohmann::json training_state() const;
  void restore_training_state(const nlohmann::json& saved);
  template <class Hook>
  void each_callback(Hook hook);

  const Pipeline& pipeline_;
  const Registry& registry_;
  DataParallel* parallel_;
  bool agreed_stop_ = false;  // a data-parallel step found some rank interrupted
  RunDirectory directory_;
  std::ostream& log_;
  const Parameters& training_;
  torch::Device device_;
  std::string allocator_;  // what [run] allocator put in effect, for the log and summary

  Assembly assembly_;
  BuiltModel built_;
  std::unique_ptr<Loss> loss_;
  std::unique_ptr<Schedule> schedule_;
  std::unique_ptr<Objective> objective_;
  std::vector<std::unique_ptr<Callback>> callbacks_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<double> base_rates_;
  double rate_factor_ = 1.0;
  PrecisionChoice precision_;            // [run] precision as chosen for this device
  std::unique_ptr<LossScaler> scaler_;   // float16 only
  std::vector<torch::Tensor> trained_;   // the optimizer's parameters: unscaled (fp16), synchronised (data-parallel)
  torch::Tensor acceptance_;             // label_acceptance() when the split has coarse labels
  double loss_sum_ = 0;          // of the epoch in progress
  std::size_t correct_ = 0;      // of the epoch in progress
  bool cache_features_ = false;
  FeatureCache train_features_, val_features_;
  void add_probe(Loaders& loaders, nlohmann::json& figures);
  std::string monitored_figure() const;
  RunState state_;
  // [run] seed, read once: each step's dropout seed and each epoch's reseed derive from it.
  std::uint64_t run_seed_ = static_cast<std::uint64_t>(pipeline_.section("run").get_int("seed"));
  RunResult result_;
  bool stop_requested_ = false;
};

}  // namespace cerebra::detail
