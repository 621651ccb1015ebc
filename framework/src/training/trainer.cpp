// The training loop. Everything that varies around it is a component: the
// objective computes a step's loss, the optimizer and schedule update the
// weights, callbacks write the run directory and decide when to stop.
#include "trainer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <iterator>
#include <limits>
#include <ostream>

#include <fmt/format.h>

#include "../callbacks/builtin_callbacks.h"
#include "../data/seeding.h"
#include "../distributed/data_parallel.h"
#include "linear_probe.h"
#include "cerebra/memory.h"

namespace cerebra::detail {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) { interrupted.store(true); }

// Restores the previous SIGINT/SIGTERM handlers when training ends.
class InterruptGuard {
 public:
  InterruptGuard() {
    interrupted.store(false);
    previous_int_ = std::signal(SIGINT, on_interrupt);
    previous_term_ = std::signal(SIGTERM, on_interrupt);
  }
  ~InterruptGuard() {
    std::signal(SIGINT, previous_int_);
    std::signal(SIGTERM, previous_term_);
  }

 private:
  void (*previous_int_)(int) = SIG_DFL;
  void (*previous_term_)(int) = SIG_DFL;
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

// One loader per augmented view the objective asks for; they differ only in
// their augmentation stream, so batch k of each holds the same images.
struct Trainer::Loaders {
  std::vector<std::unique_ptr<ImageLoader>> train;
  std::unique_ptr<ImageLoader> val, test;  // test: none when the split has no test images
  std::unique_ptr<ImageLoader> probe;      // labelled training images, unaugmented (self-supervised runs)
  std::unique_ptr<ImageLoader> probe_val;  // data-parallel: the probe's validation images, all on every rank
};

class Trainer::Inputs : public StepInputs {
 public:
  Inputs(Trainer& trainer, const std::vector<Batch>& batches) : trainer_(trainer), batches_(batches) {
    for (const auto& batch : batches) {
      inputs_.push_back(to_input(batch, trainer.device_, trainer.training_.get_bool("channels_last")));
    }
    labels_ = torch::from_blob(const_cast<std::int64_t*>(batches[0].labels.data()), {batches[0].n}, torch::kLong)
                  .to(trainer.device_);
  }
  std::size_t views() const override { return inputs_.size(); }
  const torch::Tensor& input(std::size_t view) const override { return inputs_.at(view); }
  const torch::Tensor& labels() const override { return labels_; }
  ClassifierOutput forward(std::size_t view) override {
    ClassifierModel& model = *trainer_.built_.model;
    if (view == 0 && trainer_.cache_features_) {
      return {model.head(cached_features(model, trainer_.train_features_, batches_[0], inputs_[0])), {}};
    }
    return model.forward_all(inputs_.at(view));
  }
  ClassifierModel& model() override { return *trainer_.built_.model; }
  const Loss& loss() const override { return *trainer_.loss_; }

 private:
  Trainer& trainer_;
  const std::vector<Batch>& batches_;
  std::vector<torch::Tensor> inputs_;
  torch::Tensor labels_;
};

Trainer::Trainer(const Pipeline& pipeline, const Registry& registry, RunDirectory directory, std::ostream& log,
                 DataParallel* parallel)
    : pipeline_(pipeline), registry_(registry), parallel_(parallel), directory_(std::move(directory)), log_(log),
      training_(pipeline.section("training")), device_(choose_device(pipeline.section("run").get_string("device"))) {}

Trainer::~Trainer() = default;

void Trainer::create_components() {
  auto create = [&](const ComponentConfig& config, auto* type) {
    using T = std::remove_pointer_t<decltype(type)>;
    return registry_.create_as<T>(config.kind, config.name, config.parameters);
  };
  loss_ = create(pipeline_.loss, static_cast<Loss*>(nullptr));
  schedule_ = create(pipeline_.schedule, static_cast<Schedule*>(nullptr));
  objective_ = create(pipeline_.objective, static_cast<Objective*>(nullptr));
  // Callbacks write the run directory and decide when to stop: rank 0's alone.
  if (!parallel_ || parallel_->writer()) callbacks_ = make_callbacks(pipeline_, registry_);
  auto optimizer = create(pipeline_.optimizer, static_cast<Optimizer*>(nullptr));

  if (!assembly_.split.label_sets.empty()) {
    acceptance_ = label_acceptance(assembly_.class_names.size(), assembly_.split.label_sets, device_);
  }
  loss_->prepare({assembly_.class_names, class_counts(assembly_.split.train, assembly_.class_names.size()), device_,
                  assembly_.split.label_sets});
  objective_->prepare(*built_.model, objective_context());
  std::vector<ParameterGroup> groups = parameter_groups(*built_.model, assembly_.info, *objective_);
  optimizer_ = optimizer->build(groups);
  for (const auto& group : groups) {
    base_rates_.push_back(group.learning_rate);
    trained_.insert(trained_.end(), group.parameters.begin(), group.parameters.end());
  }
}

ObjectiveContext Trainer::objective_context() const {
  ObjectiveContext context;
  context.device = device_;
  std::optional<cv::Size> size;
  for (const auto& stage : assembly_.preprocess) size = stage.transform->output_size(size);
  if (size) context.height = size->height, context.width = size->width;
  return context;
}

// Loaders of every split, each image decoded and checked before the first
// epoch (check_split_images), and the "data:" line saying what is used.
void Trainer::make_loaders(Loaders& loaders) {
  const SplitResult& split = assembly_.split;
  for (int view = 0; view < objective_->needs().views; ++view) {
    LoaderOptions options = loader_options(pipeline_, true);
    if (parallel_) options = parallel_->shard(options, true);
    options.view = static_cast<std::uint64_t>(view);
    loaders.train.push_back(std::make_unique<ImageLoader>(assembly_.dataset, split.train, assembly_.preprocess,
                                                          assembly_.augment, options));
  }
  auto plain = [&](const std::vector<Sample>& samples, bool sharded) {
    LoaderOptions options = loader_options(pipeline_, false);
    if (parallel_ && sharded) options = parallel_->shard(options, false);
    return std::make_unique<ImageLoader>(assembly_.dataset, samples, assembly_.preprocess, std::vector<Stage>{},
                                         options);
  };
  loaders.val = plain(split.val, true);
  if (!split.test.empty()) loaders.test = plain(split.test, true);
  const auto unlabelled = static_cast<std::size_t>(std::count_if(
      split.train.begin(), split.train.end(), [](const Sample& s) { return s.label < 0; }));
  if (objective_->needs().labels && unlabelled > 0) {
    throw Error(fmt::format("dataset '{}' gives {} unlabelled training image(s), which the '{}' objective cannot "
                            "learn from; use a self-supervised objective ([objective] type = \"contrastive\") or "
                            "leave the unlabelled folders out",
                            pipeline_.dataset.name, unlabelled, pipeline_.objective.name));
  }
  if (!objective_->needs().labels && training_.get_int("probe_every") > 0) {
    std::vector<Sample> labelled;
    std::copy_if(split.train.begin(), split.train.end(), std::back_inserter(labelled),
                 [](const Sample& s) { return s.label >= 0; });
    // The linear probe fits on one process's features: every rank fits the same.
    if (!labelled.empty()) loaders.probe = plain(labelled, false);
    if (!labelled.empty() && parallel_) loaders.probe_val = plain(split.val, false);
  }
  // Other views read the same files as the first; they decode as they go.
  std::vector<SplitImages> splits{{"train", loaders.train[0].get()}, {"val", loaders.val.get()}};
  if (loaders.test) splits.push_back({"test", loaders.test.get()});
  const std::string used = check_split_images(splits, assembly_.class_names);
  log_ << fmt::format("data: {}; {} classes ({}); {} duplicate group(s) ({} files; group_by = {}) kept within "
                      "one split\n",
                      used, assembly_.class_names.size(), join(assembly_.class_names),
                      split.duplicate_groups, split.duplicate_files, split.group_by);
  if (const std::string held_out = describe_hold_out(split); !held_out.empty()) log_ << "data: " << held_out << "\n";
  if (split.excluded_overlap > 0 && pipeline_.dataset.name == "pool") {
    log_ << fmt::format("data: {} image(s) left out of the pool as copies or near copies of its sources' test "
                        "images; {} unlabelled training image(s)\n",
                        split.excluded_overlap, unlabelled);
  } else if (split.excluded_overlap > 0) {
    log_ << fmt::format("data: {} image(s) left out because [split] exclude_overlap_with holds them or near "
                        "copies of them\n",
                        split.excluded_overlap);
  }
  if (split.extra_training > 0) {
    log_ << fmt::format("data: {} training image(s) from [extra_training] {} ({} coarse label(s)); {} left out as "
                        "copies or near copies of this dataset's images\n",
                        split.extra_training, split.extra_dataset, split.label_sets.size(), split.excluded_extra);
  }
}

// A self-supervised run has no validation metrics, only the training loss
// and, on probe epochs, val_probe_accuracy; the default monitor
// (val_accuracy) becomes train_loss there.
std::string Trainer::monitored_figure() const {
  const std::string monitor = training_.get_string("monitor");
  if (objective_->needs().labels || monitor.rfind("train_", 0) == 0) return monitor;
  if (monitor == "val_probe_accuracy" && training_.get_int("probe_every") == 1) return monitor;
  if (monitor == "val_accuracy") {
    log_ << "note: the '" << pipeline_.objective.name
         << "' objective trains no classifier, so the best checkpoint is the one with the lowest train_loss\n";
    return "train_loss";
  }
  throw Error(fmt::format("[training] monitor = \"{}\": a '{}' run has no such figure each epoch; monitor "
                          "train_loss, or val_probe_accuracy with [training] probe_every = 1",
                          monitor, pipeline_.objective.name));
}

void Trainer::set_up() {
  set_compute_threads(pipeline_.section("run"));
  precision_ = choose_precision(pipeline_.section("run").get_string("precision"), compute_facts(device_));
  if (precision_.precision == Precision::fp16) scaler_ = std::make_unique<LossScaler>(device_, LossScaler::Options{});
  allocator_ = configure_allocator(pipeline_.section("run").get_string("allocator"));
  torch::manual_seed(run_seed_);
  assembly_ = assemble(pipeline_, registry_, directory_);
  built_ = build_model(pipeline_, assembly_, directory_, device_, log_);
  create_components();

  state_.epochs = static_cast<int>(training_.get_int("epochs"));
  state_.class_names = assembly_.class_names;
  state_.monitor = monitored_figure();
  state_.monitor_minimises = state_.monitor.find("loss") != std::string::npos;
  state_.best_value = std::numeric_limits<double>::quiet_NaN();
  // A frozen backbone without random augmentation sees the same images every
  // epoch: its features are computed once and the head trains on them.
  cache_features_ = pipeline_.section("transfer").get_string("mode") == "feature_extract" &&
                    assembly_.augment.empty() && objective_->needs().views == 1;

  log_ << "run: " << directory_.path() << "\n";
  log_ << fmt::format("model: {} on {} with {} thread(s)\n", pipeline_.model.name, device_.str(),
                      torch::get_num_threads());
  log_ << "training: " << pipeline_.objective.name << " objective, " << pipeline_.loss.name << " loss, "
       << pipeline_.optimizer.name << ", " << pipeline_.schedule.name << " schedule\n";
  log_ << "memory: " << allocator_ << "\n";
  log_ << "precision: " << precision_name(precision_.precision) << " (" << precision_.reason << ")\n";
  if (cache_features_) {
    log_ << "feature_extract without augmentation: backbone features are computed once and cached "
            "(auxiliary heads, if any, do not train in this mode)\n";
  }
}

template <class Hook>
void Trainer::each_callback(Hook hook) {
  for (auto& callback : callbacks_) hook(*callback, static_cast<TrainingSession&>(*this));
}

void Trainer::request_stop(const std::string& status, const std::string& message) {
  stop_requested_ = true;
  result_.status = status;
  result_.message = message;
}

void Trainer::apply_schedule(std::size_t batch, std::size_t batches) {
  rate_factor_ = schedule_->factor({state_.epoch, state_.epochs, batch, batches});
  auto& groups = optimizer_->param_groups();
  for (std::size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(base_rates_[i] * rate_factor_);
}

// A coarse label ([extra_training]) is right when it accepts the predicted class.
double Trainer::correct_predictions(const torch::Tensor& logits, const torch::Tensor& labels) const {
  const torch::Tensor predicted = logits.argmax(1);
  if (!acceptance_.defined()) return static_cast<double>(predicted.eq(labels).sum().item<std::int64_t>());
  return acceptance_.index({labels, predicted}).sum().item<double>();
}

// Seam: precision. The objective's forward pass runs under autocast
// ([run] precision); backward, the optimizer and the loss stay float32.
void Trainer::take_step(Inputs& inputs, const Batch& batch) {
  clear_gradients(*optimizer_);
  StepResult step;
  {
    AutocastScope autocast(device_, precision_.precision);
    BatchSliceScope slice(step_slice(batch));
    step = objective_->step(inputs);
  }
  StepTotals local;
  local.images = static_cast<double>(batch.n);
  local.loss_sum = step.loss.item<double>() * local.images;
  if (step.logits.defined() && objective_->needs().labels) {
    local.correct = correct_predictions(step.logits, inputs.labels());
  }
  local.stop = parallel_ && interrupted.load();
  const StepTotals totals = backward_and_reduce(step.loss, local, batch);
  agreed_stop_ = totals.stop;
  if (agreed_stop_) return;  // every rank leaves this step's update undone
  state_.batch_loss = totals.loss_sum / totals.images;
  if (!std::isfinite(state_.batch_loss)) return;
  optimizer_step();
  loss_sum_ += totals.loss_sum;
  state_.images_seen += static_cast<std::size_t>(totals.images);
  state_.epoch_loss = loss_sum_ / static_cast<double>(state_.images_seen);
  correct_ += static_cast<std::size_t>(totals.correct);
}

// Seam: data-parallel. Dropout masks (BatchDropout) are keyed to the run's
// seed, the step and each image's place in the global batch, so a rank with
// half the batch applies the masks one process would to those images.
BatchSlice Trainer::step_slice(const Batch& batch) const {
  BatchSlice slice;
  slice.seed = mix_seed({run_seed_, 0xd209u, static_cast<std::uint64_t>(state_.epoch), state_.batch});
  slice.offset = batch.global_offset;
  slice.global = batch.global_n > 0 ? batch.global_n : batch.n;
  return slice;
}

// Seam: data-parallel gradient synchronisation, between backward() and the
// step, before fp16 unscaling so every rank sees the same overflow. A single
// process skips backward() for a non-finite loss; a rank of a job cannot,
// since the others wait for its gradients (NaN spreads to all, and every rank
// skips the update).
StepTotals Trainer::backward_and_reduce(const torch::Tensor& loss, StepTotals local, const Batch& batch) {
  if (!parallel_ && !std::isfinite(local.loss_sum)) return local;
  (scaler_ ? scaler_->scale(loss) : loss).backward();
  if (!parallel_) return local;
  const double weight = static_cast<double>(batch.n) / static_cast<double>(batch.global_n);
  const std::size_t step = static_cast<std::size_t>(state_.epoch) * state_.batches + state_.batch;
  return parallel_->reduce_step(trained_, weight, local, step);
}

void Trainer::optimizer_step() {
  if (!scaler_) {
    optimizer_->step();
    return;
  }
  if (scaler_->unscale(trained_)) optimizer_->step();
  scaler_->update();
}

bool Trainer::stop_now() const { return parallel_ ? agreed_stop_ : interrupted.load(); }

// Trains one epoch; false when it stopped early (a non-finite loss, Ctrl-C).
bool Trainer::train_epoch(Loaders& loaders) {
  const std::size_t batches = loaders.train[0]->batches_per_epoch();
  const auto epoch_start = Clock::now();
  state_.batch = 0;
  state_.batches = batches;
  state_.images_seen = 0;
  state_.epoch_loss = 0;
  loss_sum_ = 0;
  correct_ = 0;
  apply_schedule(0, batches);
  built_.model->train();
  for (auto& module : built_.frozen_modules) module->eval();
  for (auto& loader : loaders.train) loader->start_epoch(state_.epoch);
  if (parallel_) parallel_->seed_epoch(run_seed_, state_.epoch);

  std::vector<Batch> views(loaders.train.size());
  while (loaders.train[0]->next(views[0])) {
    for (std::size_t v = 1; v < views.size(); ++v) loaders.train[v]->next(views[v]);
    if (schedule_->per_batch()) apply_schedule(state_.batch, batches);
    ++state_.batch;
    each_callback([](Callback& c, TrainingSession& s) { c.on_batch_start(s); });
    Inputs inputs(*this, views);
    take_step(inputs, views[0]);
    if (agreed_stop_) break;
    if (!std::isfinite(state_.batch_loss)) {
      // NaN's sign bit varies with the arithmetic (bf16 gives -nan): say "nan".
      const std::string value = std::isnan(state_.batch_loss) ? "nan" : fmt::format("{}", state_.batch_loss);
      request_stop("failed", fmt::format("non-finite loss ({}) at epoch {}, batch {}; stopped. The last good "
                                         "checkpoint is kept; try a lower learning rate",
                                         value, state_.epoch + 1, state_.batch));
      return false;
    }
    state_.epoch_seconds = seconds_since(epoch_start);
    each_callback([](Callback& c, TrainingSession& s) { c.on_batch_end(s); });
    // A rank of a job goes on to the next step, where the ranks agree to stop.
    if (!parallel_ && interrupted.load()) break;
  }
  if (stop_now()) {
    request_stop("interrupted", fmt::format("interrupted during epoch {}; the run resumes from the end of epoch {} "
                                            "(cerebra run --resume {})",
                                            state_.epoch + 1, state_.epoch, directory_.path()));
    return false;
  }
  return true;
}

EvaluationReport Trainer::evaluate(ImageLoader& loader, bool keep_predictions, FeatureCache* features,
                                   bool final_evaluation) {
  auto settings = evaluation_settings(pipeline_, device_, assembly_.class_names, assembly_.positive_class);
  if (final_evaluation) settings.tta = pipeline_.section("evaluation").get_strings("tta");
  RowGather gather;
  if (parallel_) gather = [this](EvaluationRows& rows) { parallel_->gather(rows); };
  return evaluate_model(*built_.model, registry_, settings, loader, keep_predictions, features, gather);
}

json Trainer::epoch_figures(const EvaluationReport* val, double train_seconds, double seconds) const {
  const double seen = static_cast<double>(state_.images_seen);
  json line;
  line["epoch"] = state_.epoch + 1;
  line["train_loss"] = seen > 0 ? loss_sum_ / seen : 0.0;
  if (val) {
    line["train_accuracy"] = seen > 0 ? static_cast<double>(correct_) / seen : 0.0;
    line["val_loss"] = val->loss;
    for (auto& [name, report] : val->metrics.items()) {
      if (!is_matrix(report)) line["val_" + name] = headline(report);
    }
  }
  line["learning_rate"] = base_rates_.back() * rate_factor_;
  line["images_per_second"] = seen / std::max(train_seconds, 1e-9);
  line["train_seconds"] = train_seconds;
  line["seconds"] = seconds;
  return line;
}

// Records a finished epoch: the best so far, the schedule, then the callbacks
// (metrics log, checkpoints, early stopping, progress, ...).
void Trainer::end_epoch(json figures) {
  const std::string& monitor = state_.monitor;
  if (!figures.contains(monitor) || !figures[monitor].is_number()) {
    std::vector<std::string> keys;
    for (auto& item : figures.items()) keys.push_back(item.key());
    throw Error(fmt::format("[training] monitor = \"{}\" is not among the per-epoch figures: {}", monitor, join(keys)));
  }
  const double value = figures[monitor].get<double>();
  state_.epoch += 1;
  state_.batch = 0;
  state_.is_best = std::isnan(state_.best_value) ||
                   (state_.monitor_minimises ? value < state_.best_value : value > state_.best_value);
  if (state_.is_best) {
    state_.best_value = value;
    state_.best_epoch = state_.epoch;
  }
  schedule_->observe(figures);
  figures["best"] = state_.is_best;
  state_.figures = std::move(figures);
  result_.epochs_completed = state_.epoch;
  each_callback([](Callback& c, TrainingSession& s) { c.on_epoch_end(s); });
}

// Self-supervised runs: a linear probe of the features every probe_every
// epochs and after the last, as val_probe_accuracy (absent on other epochs).
void Trainer::add_probe(Loaders& loaders, json& figures) {
  if (!loaders.probe) return;
  const std::int64_t every = training_.get_int("probe_every");
  const int epoch = state_.epoch + 1;
  if (epoch % every != 0 && epoch != state_.epochs) return;
  const auto start = Clock::now();
  const ProbeResult probe =
      linear_probe(*built_.model, *loaders.probe, loaders.probe_val ? *loaders.probe_val : *loaders.val, static_cast<std::int64_t>(assembly_.class_names.size()),
                   device_, training_.get_bool("channels_last"));
  figures["val_probe_accuracy"] = probe.accuracy;
  figures["probe_seconds"] = seconds_since(start);
  figures["seconds"] = figures["seconds"].get<double>() + seconds_since(start);
}

RunResult Trainer::run(bool resume) {
  const auto run_start = Clock::now();
  result_ = RunResult{};
  result_.run_dir = directory_.path();
  result_.status = "completed";
  set_up();
  Loaders loaders;
  make_loaders(loaders);
  if (resume) {
    load_checkpoint("last", true);
    directory_.reconcile_metrics(state_.epoch, state_.figures);
    log_ << fmt::format("resuming after epoch {} (best {} = {:.4f} at epoch {})\n", state_.epoch, state_.monitor,
                        state_.best_value, state_.best_epoch);
  }
  // Seam: data-parallel. Every rank starts from rank 0's weights (the same
  // seed made them equal already; a transfer file read differently would not).
  if (parallel_) parallel_->broadcast_model(*built_.model);

  InterruptGuard interrupt_guard;
  each_callback([](Callback& c, TrainingSession& s) { c.on_run_start(s); });
  // Seam: k-fold and data-parallel runs drive this loop with their own split and shard.
  bool evaluate_best = objective_->needs().labels;
  const bool supervised = evaluate_best;
  try {
    while (state_.epoch < state_.epochs && !stop_requested_) {
      each_callback([](Callback& c, TrainingSession& s) { c.on_epoch_start(s); });
      const auto epoch_start = Clock::now();
      if (!train_epoch(loaders)) break;
      const double train_seconds = seconds_since(epoch_start);
      if (parallel_) parallel_->broadcast_buffers(*built_.model);
      // A self-supervised run's head never trains: its figures would be noise.
      EvaluationReport val;
      if (supervised) val = evaluate(*loaders.val, false, cache_features_ ? &val_features_ : nullptr);
      json figures = epoch_figures(supervised ? &val : nullptr, train_seconds, seconds_since(epoch_start));
      add_probe(loaders, figures);
      end_epoch(std::move(figures));
      // Rank 0's callbacks may stop the run (early stopping): every rank stops with it.
      if (parallel_) {
        const std::string when = "after epoch " + std::to_string(state_.epoch);
        parallel_->check_identical(*built_.model, when);
        stop_requested_ = parallel_->any(stop_requested_, when);
      }
    }
    if (parallel_ && state_.epoch > 0) {
      log_ << fmt::format("data-parallel: parameters bit-identical on all {} ranks after epoch {}\n",
                          parallel_->size(), state_.epoch);
    }
  } catch (const Error& error) {
    // A failure during training (a full disk, a figure that is not there)
    // ends the run with a summary that says so; the last good checkpoint stays.
    request_stop("failed", brief(error));
    evaluate_best = false;
  }
  result_.epochs_completed = state_.epoch;
  try {
    state_.summary = finish(loaders, evaluate_best);
  } catch (const Error& error) {
    request_stop("failed", brief(error));
    state_.summary = finish(loaders, false);
  }
  state_.summary["seconds"] = seconds_since(run_start);
  state_.status = result_.status;
  state_.message = result_.message;
  try {
    each_callback([](Callback& c, TrainingSession& s) { c.on_run_end(s); });
  } catch (const Error& error) {
    if (result_.status != "failed") result_.message.clear();
    result_.status = "failed";
    result_.message += (result_.message.empty() ? "" : "; then ") + std::string(brief(error));
  }
  if (!result_.message.empty()) log_ << result_.message << "\n";
  log_ << "run directory: " << directory_.path() << "\n";
  return result_;
}

void Trainer::restore_best() {
  if (!parallel_ || parallel_->writer()) load_checkpoint("best", false);
  if (parallel_) parallel_->broadcast_model(*built_.model);
}

// The summary of the run: the best checkpoint evaluated on val and test (the
// test predictions written), and every file the loaders skipped.
json Trainer::finish(Loaders& loaders, bool evaluate_best) {
  const auto& split = assembly_.split;
  const Parameters& transfer = pipeline_.section("transfer");
  json summary;
  summary["status"] = result_.status;
  summary["message"] = result_.message;
  summary["pipeline"] = pipeline_.source_file;
  summary["dataset"] = pipeline_.dataset.name;
  summary["model"] = pipeline_.model.name;
  summary["classes"] = assembly_.class_names;
  summary["positive_class"] = assembly_.positive_class >= 0
                                  ? json(assembly_.class_names[static_cast<std::size_t>(assembly_.positive_class)])
                                  : json(nullptr);
  summary["seed"] = pipeline_.section("run").get_int("seed");
  summary["device"] = device_.str();
  summary["threads"] = torch::get_num_threads();
  summary["allocator"] = allocator_;
  summary["precision"] = precision_name(precision_.precision);
  summary["precision_reason"] = precision_.reason;
  summary["split"] = {{"train", split.train.size()}, {"val", split.val.size()}, {"test", split.test.size()},
                      {"group_by", split.group_by},     {"duplicate_groups", split.duplicate_groups},
                      {"duplicate_files", split.duplicate_files}, {"excluded_overlap", split.excluded_overlap},
                      {"hold_out", split.hold_out}, {"seed", split_seed(pipeline_)}};
  if (split.extra_training > 0) {
    summary["split"]["extra_training"] = {{"dataset", split.extra_dataset},
                                          {"images", split.extra_training},
                                          {"excluded", split.excluded_extra}};
  }
  if (split.hold_out == "source") {
    summary["split"]["source_clusters"] = split.source_clusters;
    json sources = json::object();  // split -> class -> cluster -> files
    for (const auto& [name, classes] : split.sources_in) {
      for (const auto& [class_name, counts] : classes) {
        for (const auto& [cluster, files] : counts) sources[name][class_name][std::to_string(cluster)] = files;
      }
    }
    summary["split"]["sources"] = sources;
  }
  summary["epochs_completed"] = state_.epoch;
  summary["best_epoch"] = state_.best_epoch;
  summary["monitor"] = state_.monitor;
  summary["best_value"] = std::isnan(state_.best_value) ? json(nullptr) : json(state_.best_value);
  summary["weights"] = transfer.get_string("weights");
  summary["transfer_mode"] = transfer.get_string("mode");
  // Variants averaged into the val and test figures below (not the per-epoch ones).
  summary["tta"] = pipeline_.section("evaluation").get_strings("tta");

  // Every view reads the same files, so the first view's list is the list.
  std::vector<SkippedFile> skipped = loaders.train.front()->skipped();
  for (const auto& s : loaders.val->skipped()) skipped.push_back(s);
  if (loaders.test) {
    for (const auto& s : loaders.test->skipped()) skipped.push_back(s);
  }
  if (evaluate_best && state_.best_epoch > 0 && result_.status != "interrupted") {
    restore_best();
    EvaluationReport val = evaluate(*loaders.val, false, nullptr, true);
    summary["val"] = {{"loss", val.loss}, {"metrics", val.metrics}};
    if (loaders.test) {
      EvaluationReport test = evaluate(*loaders.test, true, nullptr, true);
      directory_.write_test_predictions(test.predictions, assembly_.class_names);
      summary["test"] = {{"loss", test.loss}, {"images", test.images}, {"metrics", test.metrics}};
      log_ << fmt::format("test ({} images, best epoch {}):", test.images, state_.best_epoch);
      for (auto& [name, report] : test.metrics.items()) {
        if (!is_matrix(report)) log_ << fmt::format(" {} {:.4f}", name, headline(report));
      }
      log_ << "\n";
    }
  }
  if (state_.figures.contains("val_probe_accuracy")) summary["val_probe_accuracy"] = state_.figures["val_probe_accuracy"];
  summary["skipped_files"] = skipped.size();
  if (!skipped.empty()) {
    directory_.write_skipped(skipped);
    log_ << skipped.size() << " unreadable file(s) skipped; listed in " << directory_.skipped_file() << "\n";
  }
  return summary;
}

}  // namespace cerebra::detail
