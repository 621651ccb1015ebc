// The trainer: turns a validated pipeline into a run directory.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cerebra/architecture.h"
#include "cerebra/data.h"
#include "cerebra/evaluate.h"
#include "cerebra/memory.h"
#include "cerebra/metric.h"
#include "cerebra/run.h"
#include "cerebra/weights.h"
#include "model_runtime.h"
#include "../module_path.h"

namespace cerebra {

namespace fs = std::filesystem;
using nlohmann::json;

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::FILE* file = std::fopen(temporary.c_str(), "wb");
    if (!file) throw Error(path + ": cannot write: " + std::strerror(errno));
    bool ok = std::fwrite(text.data(), 1, text.size(), file) == text.size();
    ok = std::fflush(file) == 0 && ok;
    ok = ::fsync(fileno(file)) == 0 && ok;
    int saved_errno = errno;
    ok = std::fclose(file) == 0 && ok;
    if (!ok) {
      std::remove(temporary.c_str());
      throw Error(path + ": write failed (" + std::strerror(saved_errno ? saved_errno : errno) +
                  "); the previous file, if any, is unchanged");
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    int saved_errno = errno;
    std::remove(temporary.c_str());
    throw Error(path + ": cannot replace: " + std::strerror(saved_errno));
  }
}

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

std::string timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y%m%d-%H%M%S", &local);
  return buffer;
}

void append_line(const std::string& path, const std::string& line) {
  std::ofstream out(path, std::ios::app);
  out << line << "\n";
  out.flush();
  if (!out) throw Error(path + ": cannot append (" + std::strerror(errno) + ")");
}

// Shared with the evaluation commands (evaluate.cpp).
using detail::choose_device;
using detail::make_stages;

// Everything a run needs, assembled from the pipeline.
struct Assembly {
  std::shared_ptr<const Dataset> dataset;
  std::vector<std::string> class_names;
  int positive_class = -1;
  SplitResult split;
  std::vector<Stage> preprocess, augment;
  std::unique_ptr<Architecture> architecture;
  ArchitectureInfo info;
};

struct TrainingState {
  int epoch = 0;  // epochs completed
  double best_value = std::numeric_limits<double>::quiet_NaN();
  int best_epoch = 0;
  int epochs_without_improvement = 0;
  double plateau_factor = 1.0;
  int plateau_wait = 0;
  double plateau_best = std::numeric_limits<double>::quiet_NaN();
};

using Evaluation = EvaluationReport;

class Trainer {
 public:
  Trainer(const Pipeline& pipeline, const Registry& registry, std::string run_dir, std::ostream& log)
      : pipeline_(pipeline), registry_(registry), run_dir_(std::move(run_dir)), log_(log),
        run_(pipeline.section("run")), training_(pipeline.section("training")),
        transfer_(pipeline.section("transfer")),
        device_(choose_device(run_.get_string("device"))) {}

  RunResult run(bool resume);

 private:
  void assemble();
  void build_model();
  void build_optimizer();
  LoaderOptions loader_options(bool training) const;
  double learning_rate_factor(int epoch) const;
  void set_learning_rates(double factor);
  Evaluation evaluate(ImageLoader& loader, bool keep_predictions, const std::string& predictions_path,
                      detail::FeatureCache* feature_cache = nullptr);
  void save_checkpoint(const std::string& name);
  void load_checkpoint(const std::string& name, bool with_optimizer);
  bool improved(double value) const;
  torch::Tensor loss_of(const ClassifierOutput& output, const torch::Tensor& labels);
  torch::Tensor to_input(const Batch& batch) const;

  const Pipeline& pipeline_;
  const Registry& registry_;
  std::string run_dir_;
  std::ostream& log_;
  const Parameters& run_;
  const Parameters& training_;
  const Parameters& transfer_;
  torch::Device device_;

  Assembly assembly_;
  std::shared_ptr<ClassifierModel> model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<double> base_learning_rates_;
  std::vector<std::shared_ptr<torch::nn::Module>> frozen_modules_;
  torch::Tensor class_weights_;
  TrainingState state_;
  bool monitor_minimises_ = false;
  std::string monitor_;
  std::string allocator_;  // what [run] allocator put in effect, for the log and summary
};

void Trainer::assemble() {
  const auto& dataset_config = pipeline_.dataset;
  assembly_.dataset = registry_.create_as<Dataset>(kinds::dataset, dataset_config.name, dataset_config.parameters);
  assembly_.class_names = assembly_.dataset->class_names();
  assembly_.positive_class = assembly_.dataset->positive_class();
  if (assembly_.class_names.size() < 2) {
    throw Error(fmt::format("dataset '{}' has {} class(es); classification needs at least 2",
                            dataset_config.name, assembly_.class_names.size()));
  }
  std::vector<Sample> samples = assembly_.dataset->samples();
  samples.erase(std::remove_if(samples.begin(), samples.end(), [](const Sample& s) { return s.label < 0; }),
                samples.end());
  if (samples.empty()) throw Error("dataset '" + dataset_config.name + "' has no labelled images");
  assembly_.split = split_samples(*assembly_.dataset, samples, pipeline_.section("split"),
                                  static_cast<std::uint64_t>(run_.get_int("seed")));
  if (assembly_.split.train.empty()) throw Error("the split left no images for training");
  if (assembly_.split.val.empty()) throw Error("the split left no images for validation; raise [split] val");
  write_split_manifest((fs::path(run_dir_) / "split.csv").string(), assembly_.split, assembly_.class_names);

  assembly_.preprocess = make_stages(pipeline_.preprocess, registry_, false, "preprocess");
  assembly_.augment = make_stages(pipeline_.augment, registry_, true, "augment");
  assembly_.architecture =
      registry_.create_as<Architecture>(kinds::architecture, pipeline_.model.name, pipeline_.model.parameters);
  assembly_.info = assembly_.architecture->info();
}

LoaderOptions Trainer::loader_options(bool training) const { return detail::loader_options(pipeline_, training); }

// Parameters whose names start with one of the group's prefixes ("layer4"
// matches "layer4.0.conv1.weight" but not "layer40...").
bool in_group(const std::string& name, const LayerGroup& group) {
  return std::any_of(group.module_prefixes.begin(), group.module_prefixes.end(),
                     [&](const std::string& module) { return detail::in_module(name, module); });
}

void Trainer::build_model() {
  const auto num_classes = static_cast<std::int64_t>(assembly_.class_names.size());
  model_ = assembly_.architecture->build(num_classes);

  const std::string mode = transfer_.get_string("mode");
  const std::string weights = transfer_.get_string("weights");
  if (!weights.empty()) {
    if (!fs::exists(weights)) {
      if (!transfer_.get_bool("allow_scratch")) {
        throw Error("[transfer] weights: " + weights +
                    " does not exist. Download the published weights (see docs/weights.md), or set "
                    "[transfer] allow_scratch = true to train from scratch");
      }
      log_ << "warning: " << weights << " does not exist; training from scratch (allow_scratch)\n";
    } else {
      WeightsReport report = load_starting_weights(*model_, weights, weights_options_for(assembly_.info));
      log_ << report.summary() << "\n";
      write_file_atomically((fs::path(run_dir_) / "weights.txt").string(), report.summary() + "\n");
    }
  } else if (mode != "scratch") {
    log_ << "note: [transfer] mode = \"" << mode << "\" without weights: every layer starts from random values\n";
  }

  // Which parameters train.
  const auto& groups = assembly_.info.layer_groups;
  std::size_t trainable_from = 0;  // index of the first trainable group
  if (mode == "feature_extract") trainable_from = groups.empty() ? 0 : groups.size() - 1;
  if (mode == "fine_tune") {
    auto n = static_cast<std::size_t>(transfer_.get_int("trainable_groups"));
    trainable_from = groups.size() > n ? groups.size() - n : 0;
  }
  if (trainable_from > 0) {
    for (auto& item : model_->named_parameters()) {
      bool trainable = false;
      for (std::size_t g = trainable_from; g < groups.size(); ++g) trainable |= in_group(item.key(), groups[g]);
      item.value().set_requires_grad(trainable);
    }
    // Frozen batch-norm layers keep their ImageNet statistics: they stay in
    // eval mode even while the rest of the network trains.
    for (auto& item : model_->named_modules("", false)) {
      bool frozen = true;
      for (std::size_t g = trainable_from; g < groups.size(); ++g) frozen &= !in_group(item.key(), groups[g]);
      if (frozen && (item.value()->as<torch::nn::BatchNorm2d>() || item.value()->as<torch::nn::BatchNorm1d>())) {
        frozen_modules_.push_back(item.value());
      }
    }
  }
  model_->to(device_);
  if (training_.get_bool("channels_last")) {
    torch::NoGradGuard no_grad;
    for (auto& parameter : model_->parameters()) {
      if (parameter.dim() == 4) parameter.set_data(parameter.contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }
}

void Trainer::build_optimizer() {
  const double head_lr = training_.get_float("learning_rate");
  double backbone_lr = training_.get_float("backbone_learning_rate");
  if (backbone_lr < 0) backbone_lr = head_lr;
  const auto& groups = assembly_.info.layer_groups;

  std::vector<torch::Tensor> backbone, head;
  for (auto& item : model_->named_parameters()) {
    if (!item.value().requires_grad()) continue;
    bool is_head = !groups.empty() && in_group(item.key(), groups.back());
    (is_head ? head : backbone).push_back(item.value());
  }
  if (backbone.empty() && head.empty()) throw Error("no trainable parameters: check [transfer] mode");

  const std::string name = training_.get_string("optimizer");
  const double decay = training_.get_float("weight_decay");
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  base_learning_rates_.clear();
  auto add_group = [&](std::vector<torch::Tensor>& parameters, double lr) {
    if (parameters.empty()) return;
    std::unique_ptr<torch::optim::OptimizerOptions> options;
    if (name == "adam") options = std::make_unique<torch::optim::AdamOptions>(torch::optim::AdamOptions(lr).weight_decay(decay));
    else if (name == "adamw") options = std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(lr).weight_decay(decay));
    else {
      options = std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(lr)
                                                               .momentum(training_.get_float("momentum"))
                                                               .nesterov(training_.get_bool("nesterov"))
                                                               .weight_decay(decay));
    }
    param_groups.emplace_back(parameters, std::move(options));
    base_learning_rates_.push_back(lr);
  };
  add_group(backbone, backbone_lr);
  add_group(head, head_lr);

  if (name == "adam") optimizer_ = std::make_unique<torch::optim::Adam>(param_groups, torch::optim::AdamOptions(head_lr));
  else if (name == "adamw") optimizer_ = std::make_unique<torch::optim::AdamW>(param_groups, torch::optim::AdamWOptions(head_lr));
  else {
    if (training_.get_bool("nesterov") && training_.get_float("momentum") <= 0) {
      throw Error("[training] nesterov = true needs momentum > 0");
    }
    optimizer_ = std::make_unique<torch::optim::SGD>(param_groups, torch::optim::SGDOptions(head_lr));
  }
}

// Learning-rate multiplier for an epoch (0-based): linear warm-up, then the schedule.
double Trainer::learning_rate_factor(int epoch) const {
  const int warmup = static_cast<int>(training_.get_int("warmup_epochs"));
  if (epoch < warmup) return static_cast<double>(epoch + 1) / (warmup + 1);
  const int after = epoch - warmup;
  const std::string schedule = training_.get_string("schedule");
  if (schedule == "step") {
    return std::pow(training_.get_float("gamma"), after / training_.get_int("step_size"));
  }
  if (schedule == "cosine") {
    const int total = std::max<int>(1, static_cast<int>(training_.get_int("epochs")) - warmup);
    return 0.5 * (1.0 + std::cos(M_PI * after / total));
  }
  if (schedule == "plateau") return state_.plateau_factor;
  return 1.0;
}

void Trainer::set_learning_rates(double factor) {
  auto& groups = optimizer_->param_groups();
  for (std::size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(base_learning_rates_[i] * factor);
}

torch::Tensor Trainer::to_input(const Batch& batch) const {
  return detail::to_input(batch, device_, training_.get_bool("channels_last"));
}

torch::Tensor Trainer::loss_of(const ClassifierOutput& output, const torch::Tensor& labels) {
  namespace F = torch::nn::functional;
  auto options = F::CrossEntropyFuncOptions().label_smoothing(training_.get_float("label_smoothing"));
  if (class_weights_.defined()) options.weight(class_weights_);
  auto loss = F::cross_entropy(output.logits.to(torch::kFloat), labels, options);
  if (output.aux_logits.defined()) {
    loss = loss + training_.get_float("aux_loss_weight") *
                      F::cross_entropy(output.aux_logits.to(torch::kFloat), labels, options);
  }
  return loss;
}

Evaluation Trainer::evaluate(ImageLoader& loader, bool keep_predictions, const std::string& predictions_path,
                             detail::FeatureCache* feature_cache) {
  auto settings = detail::evaluation_settings(pipeline_, device_, assembly_.class_names, assembly_.positive_class);
  Evaluation result = detail::evaluate_model(*model_, registry_, settings, loader, keep_predictions, feature_cache);
  if (keep_predictions) write_file_atomically(predictions_path, predictions_csv(result.predictions, assembly_.class_names));
  return result;
}

void Trainer::save_checkpoint(const std::string& name) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive, optimizer_archive;
  model_->save(model_archive);
  optimizer_->save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("epoch", torch::tensor(static_cast<std::int64_t>(state_.epoch)));
  archive.write("best_value", torch::tensor(state_.best_value, torch::kDouble));
  archive.write("best_epoch", torch::tensor(static_cast<std::int64_t>(state_.best_epoch)));
  archive.write("epochs_without_improvement", torch::tensor(static_cast<std::int64_t>(state_.epochs_without_improvement)));
  archive.write("plateau_factor", torch::tensor(state_.plateau_factor, torch::kDouble));
  archive.write("plateau_wait", torch::tensor(static_cast<std::int64_t>(state_.plateau_wait)));
  archive.write("plateau_best", torch::tensor(state_.plateau_best, torch::kDouble));
  archive.write("torch_rng", at::detail::getDefaultCPUGenerator().get_state());
  const fs::path path = fs::path(run_dir_) / "checkpoints" / (name + ".pt");
  const std::string temporary = path.string() + ".tmp";
  try {
    archive.save_to(temporary);
  } catch (const std::exception& error) {
    std::remove(temporary.c_str());
    throw Error(path.string() + ": cannot write checkpoint (" + error.what() + "); the previous one is unchanged");
  }
  fs::rename(temporary, path);
}

void Trainer::load_checkpoint(const std::string& name, bool with_optimizer) {
  const fs::path path = fs::path(run_dir_) / "checkpoints" / (name + ".pt");
  torch::serialize::InputArchive archive;
  detail::read_checkpoint(path.string(), device_, archive);
  detail::load_model_state(*model_, archive, path.string());
  if (!with_optimizer) return;
  torch::serialize::InputArchive optimizer_archive;
  archive.read("optimizer", optimizer_archive);
  optimizer_->load(optimizer_archive);
  // Each read needs a fresh tensor: reading into a used one resizes its storage.
  auto read = [&](const char* key) {
    torch::Tensor value;
    archive.read(key, value);
    return value;
  };
  state_.epoch = static_cast<int>(read("epoch").item<std::int64_t>());
  state_.best_value = read("best_value").item<double>();
  state_.best_epoch = static_cast<int>(read("best_epoch").item<std::int64_t>());
  state_.epochs_without_improvement = static_cast<int>(read("epochs_without_improvement").item<std::int64_t>());
  state_.plateau_factor = read("plateau_factor").item<double>();
  state_.plateau_wait = static_cast<int>(read("plateau_wait").item<std::int64_t>());
  state_.plateau_best = read("plateau_best").item<double>();
  torch::Tensor value = read("torch_rng");
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(value);
}

bool Trainer::improved(double value) const {
  if (std::isnan(state_.best_value)) return true;
  return monitor_minimises_ ? value < state_.best_value : value > state_.best_value;
}

std::string format_duration(double seconds) {
  int total = static_cast<int>(seconds + 0.5);
  return total >= 3600 ? fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
                       : fmt::format("{}:{:02}", total / 60, total % 60);
}

RunResult Trainer::run(bool resume) {
  using clock = std::chrono::steady_clock;
  const auto run_start = clock::now();
  RunResult result;
  result.run_dir = run_dir_;

  detail::set_compute_threads(run_);
  allocator_ = configure_allocator(run_.get_string("allocator"));
  const auto seed = static_cast<std::uint64_t>(run_.get_int("seed"));
  torch::manual_seed(seed);

  assemble();
  build_model();
  build_optimizer();

  monitor_ = training_.get_string("monitor");
  monitor_minimises_ = monitor_.find("loss") != std::string::npos;

  const auto& split = assembly_.split;
  log_ << fmt::format("run: {}\ndata: {} train, {} val, {} test images; {} classes ({}); {} duplicate group(s) kept within one split\n",
                      run_dir_, split.train.size(), split.val.size(), split.test.size(), assembly_.class_names.size(),
                      join(assembly_.class_names), split.duplicate_groups);
  log_ << fmt::format("model: {} on {} with {} thread(s)\n", pipeline_.model.name, device_.str(), torch::get_num_threads());
  log_ << "memory: " << allocator_ << "\n";

  if (training_.get_string("class_balance") == "loss_weights") {
    std::vector<double> counts(assembly_.class_names.size(), 0.0);
    for (const auto& sample : split.train) counts[static_cast<std::size_t>(sample.label)] += 1;
    std::vector<float> weights;
    for (double count : counts) {
      weights.push_back(count > 0 ? static_cast<float>(split.train.size() / (counts.size() * count)) : 0.0f);
    }
    class_weights_ = torch::tensor(weights).to(device_);
  }

  ImageLoader train_loader(assembly_.dataset, split.train, assembly_.preprocess, assembly_.augment, loader_options(true));
  ImageLoader val_loader(assembly_.dataset, split.val, assembly_.preprocess, {}, loader_options(false));

  const std::string metrics_path = (fs::path(run_dir_) / "metrics.jsonl").string();
  if (resume) {
    load_checkpoint("last", true);
    log_ << fmt::format("resuming after epoch {} (best {} = {:.4f} at epoch {})\n", state_.epoch, monitor_,
                        state_.best_value, state_.best_epoch);
  }

  const int epochs = static_cast<int>(training_.get_int("epochs"));
  // A frozen backbone without random augmentation sees the same images every
  // epoch: its features are computed once and the head trains on them.
  const bool cache_features = transfer_.get_string("mode") == "feature_extract" && assembly_.augment.empty();
  detail::FeatureCache train_features, val_features;
  if (cache_features) {
    log_ << "feature_extract without augmentation: backbone features are computed once and cached "
            "(auxiliary heads, if any, do not train in this mode)\n";
  }
  const int patience = static_cast<int>(training_.get_int("early_stopping_patience"));
  const bool terminal = isatty(fileno(stderr)) && &log_ == &std::cerr;
  const bool amp = training_.get_bool("amp") && device_.is_cuda();
  double loss_scale = 65536.0;  // dynamic loss scaling for float16 autocast on CUDA
  InterruptGuard interrupt_guard;
  result.status = "completed";

  while (state_.epoch < epochs) {
    const int epoch = state_.epoch;  // 0-based index of the epoch being trained
    const double factor = learning_rate_factor(epoch);
    set_learning_rates(factor);
    model_->train();
    for (auto& module : frozen_modules_) module->eval();

    const auto epoch_start = clock::now();
    double loss_sum = 0;
    std::size_t seen = 0, correct = 0, batch_index = 0;
    const std::size_t batches = train_loader.batches_per_epoch();
    train_loader.start_epoch(epoch);
    Batch batch;
    bool failed = false;
    while (train_loader.next(batch)) {
      ++batch_index;
      auto input = to_input(batch);
      auto labels = torch::from_blob(batch.labels.data(), {batch.n}, torch::kLong).to(device_);
      optimizer_->zero_grad();
      torch::Tensor loss;
      ClassifierOutput output;
      {
        if (amp) at::autocast::set_enabled(true);
        if (cache_features) {
          output.logits = model_->head(detail::cached_features(*model_, train_features, batch, input));
        } else {
          output = model_->forward_all(input);
        }
        loss = loss_of(output, labels);
        if (amp) {
          at::autocast::clear_cache();
          at::autocast::set_enabled(false);
        }
      }
      const double loss_value = loss.item<double>();
      if (!std::isfinite(loss_value)) {
        result.status = "failed";
        result.message = fmt::format("non-finite loss ({}) at epoch {}, batch {}; stopped. The last good "
                                     "checkpoint is kept; try a lower learning rate",
                                     loss_value, epoch + 1, batch_index);
        failed = true;
        break;
      }
      if (amp) {
        (loss * loss_scale).backward();
        bool finite = true;
        for (auto& p : model_->parameters()) {
          if (p.grad().defined()) {
            p.grad().div_(loss_scale);
            finite = finite && torch::isfinite(p.grad()).all().item<bool>();
          }
        }
        if (finite) optimizer_->step(); else loss_scale /= 2;
      } else {
        loss.backward();
        optimizer_->step();
      }
      loss_sum += loss_value * batch.n;
      seen += static_cast<std::size_t>(batch.n);
      correct += static_cast<std::size_t>(output.logits.argmax(1).eq(labels).sum().item<std::int64_t>());
      if (terminal) {
        double elapsed = std::chrono::duration<double>(clock::now() - epoch_start).count();
        double rate = seen / std::max(elapsed, 1e-9);
        int width = 24, done = static_cast<int>(width * batch_index / std::max<std::size_t>(batches, 1));
        std::fprintf(stderr, "\repoch %d/%d [%s%s] %3d%% loss %.4f %.0f img/s ETA %s   ", epoch + 1, epochs,
                     std::string(static_cast<std::size_t>(done), '=').c_str(),
                     std::string(static_cast<std::size_t>(width - done), ' ').c_str(),
                     static_cast<int>(100 * batch_index / std::max<std::size_t>(batches, 1)), loss_sum / seen, rate,
                     format_duration((batches - batch_index) * elapsed / batch_index).c_str());
      }
      if (interrupted.load()) break;
    }
    if (terminal) std::fprintf(stderr, "\r%*s\r", 100, "");
    if (failed) break;
    if (interrupted.load()) {
      result.status = "interrupted";
      result.message = fmt::format("interrupted during epoch {}; the run resumes from the end of epoch {} "
                                   "(cerebra run --resume {})", epoch + 1, state_.epoch, run_dir_);
      break;
    }
    const double train_seconds = std::chrono::duration<double>(clock::now() - epoch_start).count();

    Evaluation val = evaluate(val_loader, false, "", cache_features ? &val_features : nullptr);
    json line;
    line["epoch"] = epoch + 1;
    line["train_loss"] = seen ? loss_sum / seen : 0.0;
    line["train_accuracy"] = seen ? static_cast<double>(correct) / seen : 0.0;
    line["val_loss"] = val.loss;
    for (auto& [name, report] : val.metrics.items()) line["val_" + name] = headline(report);
    line["learning_rate"] = base_learning_rates_.back() * factor;
    line["images_per_second"] = seen / std::max(train_seconds, 1e-9);
    line["train_seconds"] = train_seconds;
    line["seconds"] = std::chrono::duration<double>(clock::now() - epoch_start).count();

    double monitored = line.contains(monitor_) && line[monitor_].is_number() ? line[monitor_].get<double>()
                                                                             : std::numeric_limits<double>::quiet_NaN();
    if (std::isnan(monitored)) {
      throw Error(fmt::format("[training] monitor = \"{}\" is not among the per-epoch figures: {}", monitor_, [&] {
        std::vector<std::string> keys;
        for (auto& item : line.items()) keys.push_back(item.key());
        return join(keys);
      }()));
    }
    state_.epoch = epoch + 1;
    bool is_best = improved(monitored);
    if (is_best) {
      state_.best_value = monitored;
      state_.best_epoch = state_.epoch;
      state_.epochs_without_improvement = 0;
    } else {
      ++state_.epochs_without_improvement;
    }
    // Reduce-on-plateau follows the validation loss.
    if (training_.get_string("schedule") == "plateau") {
      if (std::isnan(state_.plateau_best) || val.loss < state_.plateau_best - 1e-4) {
        state_.plateau_best = val.loss;
        state_.plateau_wait = 0;
      } else if (++state_.plateau_wait > training_.get_int("plateau_patience")) {
        state_.plateau_factor *= training_.get_float("gamma");
        state_.plateau_wait = 0;
      }
    }
    line["best"] = is_best;
    append_line(metrics_path, line.dump());
    if (is_best) save_checkpoint("best");
    save_checkpoint("last");
    result.epochs_completed = state_.epoch;

    log_ << fmt::format("epoch {}/{}: train loss {:.4f} acc {:.4f} | val loss {:.4f}", state_.epoch, epochs,
                        line["train_loss"].get<double>(), line["train_accuracy"].get<double>(), val.loss);
    for (auto& [name, report] : val.metrics.items()) log_ << fmt::format(" {} {:.4f}", name, headline(report));
    log_ << fmt::format(" | {:.0f} img/s, {:.1f}s{}\n", line["images_per_second"].get<double>(),
                        line["seconds"].get<double>(), is_best ? " *" : "");

    if (patience > 0 && state_.epochs_without_improvement >= patience) {
      result.status = "early_stopped";
      result.message = fmt::format("no improvement of {} for {} epochs", monitor_, patience);
      break;
    }
  }
  result.epochs_completed = state_.epoch;

  json summary;
  summary["status"] = result.status;
  summary["message"] = result.message;
  summary["pipeline"] = pipeline_.source_file;
  summary["dataset"] = pipeline_.dataset.name;
  summary["model"] = pipeline_.model.name;
  summary["classes"] = assembly_.class_names;
  summary["positive_class"] = assembly_.positive_class >= 0 ? json(assembly_.class_names[static_cast<std::size_t>(assembly_.positive_class)]) : json(nullptr);
  summary["seed"] = run_.get_int("seed");
  summary["device"] = device_.str();
  summary["threads"] = torch::get_num_threads();
  summary["allocator"] = allocator_;
  summary["split"] = {{"train", split.train.size()}, {"val", split.val.size()}, {"test", split.test.size()},
                      {"duplicate_groups", split.duplicate_groups}, {"duplicate_files", split.duplicate_files}};
  summary["epochs_completed"] = state_.epoch;
  summary["best_epoch"] = state_.best_epoch;
  summary["monitor"] = monitor_;
  summary["best_value"] = std::isnan(state_.best_value) ? json(nullptr) : json(state_.best_value);
  summary["weights"] = transfer_.get_string("weights");
  summary["transfer_mode"] = transfer_.get_string("mode");

  std::vector<SkippedFile> skipped = train_loader.skipped();
  for (const auto& s : val_loader.skipped()) skipped.push_back(s);

  if (state_.best_epoch > 0 && result.status != "interrupted") {
    load_checkpoint("best", false);
    fs::create_directories(fs::path(run_dir_) / "eval");
    Evaluation val = evaluate(val_loader, false, "");
    summary["val"] = {{"loss", val.loss}, {"metrics", val.metrics}};
    if (!split.test.empty()) {
      ImageLoader test_loader(assembly_.dataset, split.test, assembly_.preprocess, {}, loader_options(false));
      Evaluation test = evaluate(test_loader, true, (fs::path(run_dir_) / "eval" / "predictions_test.csv").string());
      summary["test"] = {{"loss", test.loss}, {"images", test.images}, {"metrics", test.metrics}};
      for (const auto& s : test_loader.skipped()) skipped.push_back(s);
      log_ << fmt::format("test ({} images, best epoch {}):", test.images, state_.best_epoch);
      for (auto& [name, report] : test.metrics.items()) log_ << fmt::format(" {} {:.4f}", name, headline(report));
      log_ << "\n";
    }
  }
  summary["skipped_files"] = skipped.size();
  if (!skipped.empty()) {
    std::string csv = "file,reason\n";
    for (const auto& s : skipped) csv += "\"" + s.id + "\",\"" + s.reason + "\"\n";
    write_file_atomically((fs::path(run_dir_) / "skipped.csv").string(), csv);
    log_ << skipped.size() << " unreadable file(s) skipped; listed in " << (fs::path(run_dir_) / "skipped.csv").string() << "\n";
  }
  summary["seconds"] = std::chrono::duration<double>(clock::now() - run_start).count();
  write_file_atomically((fs::path(run_dir_) / "summary.json").string(), summary.dump(2) + "\n");
  if (!result.message.empty()) log_ << result.message << "\n";
  log_ << "run directory: " << run_dir_ << "\n";
  return result;
}

// A Cerebra checkpoint's model tensors, flattened to "module.param" names.
void collect_checkpoint_tensors(torch::serialize::InputArchive& archive, const std::string& prefix, StateDict& out) {
  for (const auto& key : archive.keys()) {
    torch::Tensor tensor;
    if (archive.try_read(key, tensor)) {
      out.emplace_back(prefix + key, tensor);
      continue;
    }
    torch::serialize::InputArchive child;
    if (archive.try_read(key, child)) collect_checkpoint_tensors(child, prefix + key + ".", out);
  }
}

}  // namespace

WeightsReport load_starting_weights(ClassifierModel& model, const std::string& path, const WeightsOptions& options) {
  // A run directory, or one of its checkpoints, starts another run (e.g. train
  // on the four-class data, fine-tune on Br35H); anything else is a published
  // weights file.
  fs::path file = path;
  if (fs::is_directory(file)) file = file / "checkpoints" / "best.pt";
  bool is_checkpoint = false;
  if (fs::exists(file) && file.extension() == ".pt") {
    torch::serialize::InputArchive archive;
    try {
      archive.load_from(file.string());
      torch::serialize::InputArchive model_archive;
      is_checkpoint = archive.try_read("model", model_archive);
      if (is_checkpoint) {
        StateDict state;
        collect_checkpoint_tensors(model_archive, "", state);
        return load_state_dict(model, state, file.string(), options);
      }
    } catch (const c10::Error&) {
      is_checkpoint = false;  // not a Cerebra checkpoint: read it as published weights
    }
  }
  if (!fs::exists(file)) throw Error(file.string() + ": no such weights file or run directory");
  return load_weights(model, file.string(), options);
}

namespace {

std::string make_run_dir(const Pipeline& pipeline) {
  const Parameters& run = pipeline.section("run");
  std::string name = run.get_string("name");
  if (name.empty()) name = fs::path(pipeline.source_file).stem().string();
  if (name.empty()) name = "run";
  fs::path base = fs::path(run.get_string("output")) / (name + "-" + timestamp());
  fs::path dir = base;
  for (int suffix = 2; fs::exists(dir); ++suffix) dir = base.string() + "-" + std::to_string(suffix);
  std::error_code error;
  fs::create_directories(dir / "checkpoints", error);
  if (error) throw Error(dir.string() + ": cannot create the run directory: " + error.message());
  return dir.string();
}

}  // namespace

RunResult run_pipeline(const Pipeline& pipeline, const Registry& registry, const RunOptions& options) {
  std::ostream& log = options.log ? *options.log : std::cerr;
  if (!options.resume_dir.empty()) return resume_run(options.resume_dir, registry, options);
  const std::string run_dir = make_run_dir(pipeline);
  write_file_atomically((fs::path(run_dir) / "pipeline.toml").string(), pipeline.to_toml());
  Trainer trainer(pipeline, registry, run_dir, log);
  return trainer.run(false);
}

RunResult resume_run(const std::string& run_dir, const Registry& registry, const RunOptions& options) {
  std::ostream& log = options.log ? *options.log : std::cerr;
  const fs::path pipeline_file = fs::path(run_dir) / "pipeline.toml";
  if (!fs::exists(pipeline_file)) throw Error(run_dir + ": not a run directory (no pipeline.toml)");
  if (!fs::exists(fs::path(run_dir) / "checkpoints" / "last.pt")) {
    throw Error(run_dir + ": no checkpoint to resume from (checkpoints/last.pt); the first epoch never finished");
  }
  Pipeline pipeline = load_pipeline(pipeline_file.string(), {}, registry);
  Trainer trainer(pipeline, registry, run_dir, log);
  return trainer.run(true);
}

}  // namespace cerebra
