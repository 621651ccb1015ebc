// Evaluation shared by the trainer and the `eval` / `predict` commands, and
// re-opening a run directory for them.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <limits>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "cerebra/dataset.h"
#include "cerebra/memory.h"
#include "cerebra/metric.h"
#include "../pipeline/metric_tables.h"
#include "cerebra/run_directory.h"
#include "cerebra/tta.h"
#include "model_runtime.h"
#include "trained_run.h"
#include "tta.h"

namespace cerebra {

namespace fs = std::filesystem;
using nlohmann::json;

double headline(const json& report) {
  if (report.is_object() && report.contains("value") && report["value"].is_number()) return report["value"].get<double>();
  return std::numeric_limits<double>::quiet_NaN();
}

bool is_matrix(const json& report) { return report.is_object() && report.contains("matrix"); }

std::vector<std::vector<std::size_t>> confusion_counts(const std::vector<Prediction>& predictions, std::size_t classes) {
  std::vector<std::vector<std::size_t>> counts(classes, std::vector<std::size_t>(classes, 0));
  for (const auto& p : predictions) {
    if (p.label < 0 || p.predicted < 0 || static_cast<std::size_t>(p.label) >= classes ||
        static_cast<std::size_t>(p.predicted) >= classes) {
      continue;
    }
    ++counts[static_cast<std::size_t>(p.label)][static_cast<std::size_t>(p.predicted)];
  }
  return counts;
}

namespace detail {

torch::Device choose_device(const std::string& setting) {
  if (setting == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (setting == "cpu") return torch::Device(torch::kCPU);
  if (!torch::cuda::is_available()) {
    throw Error("[run] device = \"" + setting + "\" but no CUDA device is available; use \"auto\" or \"cpu\"");
  }
  torch::Device device(setting);
  if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count())) {
    throw Error(fmt::format("[run] device = \"{}\" but only {} CUDA device(s) exist", setting,
                            torch::cuda::device_count()));
  }
  return device;
}

namespace {

// Processes of a data-parallel job on this host (LOCAL_WORLD_SIZE, as --nproc
// and torchrun set it); 1 outside a job.
int ranks_on_this_host() {
  const char* value = std::getenv("LOCAL_WORLD_SIZE");
  if (!value || !*value) return 1;
  char* end = nullptr;
  const long ranks = std::strtol(value, &end, 10);
  if (*end != '\0' || ranks < 1 || ranks > 65535) {
    throw Error(fmt::format("LOCAL_WORLD_SIZE={} is not a number of processes (1 to 65535)", value));
  }
  return static_cast<int>(ranks);
}

int default_compute_threads() {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // The ranks of a job on this host share its cores: more threads than cores
  // make every rank wait for the others' threads.
  return std::max(1, cores / ranks_on_this_host());
}

}  // namespace

void set_compute_threads(const Parameters& run) {
  const int threads = static_cast<int>(run.get_int("threads"));
  // Measured on the 2-core development machine: two intra-op threads train the
  // CNN and ResNet50 markedly faster than one (docs/performance.md).
  torch::set_num_threads(threads > 0 ? threads : default_compute_threads());
}

std::vector<Stage> make_stages(const std::vector<ComponentConfig>& configs, const Registry& registry,
                               bool random, const char* section) {
  std::vector<Stage> stages;
  for (std::size_t i = 0; i < configs.size(); ++i) {
    const auto& config = configs[i];
    Stage stage = make_stage(registry, config.name, config.parameters);
    if (stage.transform->is_random() != random) {
      throw Error(fmt::format("[[{}]] #{} ({}): {} stage in the wrong section; {}", section, i + 1,
                              config.name, random ? "a deterministic" : "a random",
                              random ? "put it under [[preprocess]]" : "put it under [[augment]]"));
    }
    stages.push_back(std::move(stage));
  }
  return stages;
}

LoaderOptions loader_options(const Pipeline& pipeline, bool training) {
  const Parameters& training_ = pipeline.section("training");
  const Parameters& run_ = pipeline.section("run");
  const Parameters& loader_settings_ = pipeline.section("loader");
  LoaderOptions options;
  options.batch_size = static_cast<std::size_t>(training_.get_int("batch_size"));
  options.shuffle = training;
  options.drop_last = false;
  options.weighted_sampler = training && training_.get_string("class_balance") == "weighted_sampler";
  options.seed = static_cast<std::uint64_t>(run_.get_int("seed"));
  options.threads = static_cast<int>(loader_settings_.get_int("threads"));
  options.cache = loader_settings_.get_string("cache");
  options.cache_dir = loader_settings_.get_string("cache_dir");
  options.skip_bad_files = loader_settings_.get_string("on_bad_file") == "skip";
  options.prefetch = static_cast<int>(loader_settings_.get_int("prefetch"));
  options.reduced_decode = loader_settings_.get_bool("reduced_decode");
  return options;
}

torch::Tensor to_input(const Batch& batch, const torch::Device& device, bool channels_last) {
  auto input = torch::from_blob(const_cast<float*>(batch.images.data()),
                                {batch.n, batch.channels, batch.height, batch.width}, torch::kFloat);
  input = input.to(device, /*non_blocking=*/false, /*copy=*/device.is_cpu() ? false : true);
  if (channels_last) input = input.contiguous(torch::MemoryFormat::ChannelsLast);
  return input;
}

namespace {

// Torch's reason without its stack trace, cut to a line's length, to put in
// parentheses: brief() of the whole message would cut the closing one away.
std::string torch_reason(const std::exception& error) {
  std::string reason = brief(error);
  if (reason.size() > 300) reason = reason.substr(0, 300) + "...";
  return reason;
}

}  // namespace

void read_checkpoint(const std::string& path, const torch::Device& device, torch::serialize::InputArchive& archive) {
  if (!fs::exists(path)) throw Error(path + ": no such checkpoint");
  try {
    archive.load_from(path, device);
  } catch (const std::exception& error) {
    throw Error(path + ": cannot read checkpoint (" + torch_reason(error) + ")");
  }
}

void load_model_state(torch::nn::Module& model, torch::serialize::InputArchive& archive, const std::string& path) {
  torch::serialize::InputArchive model_archive;
  if (!archive.try_read("model", model_archive)) {
    throw Error(path + ": not a Cerebra checkpoint (no \"model\" entry)");
  }
  try {
    model.load(model_archive);
  } catch (const c10::Error& error) {
    // Typically a pipeline.toml edited after training: the architecture no
    // longer matches what was saved.
    throw Error(path + ": the checkpoint does not fit the model built from the pipeline (" + torch_reason(error) +
                ")");
  }
}

EvaluationSettings evaluation_settings(const Pipeline& pipeline, const torch::Device& device,
                                       std::vector<std::string> class_names, int positive_class) {
  const Parameters& evaluation = pipeline.section("evaluation");
  EvaluationSettings settings;
  settings.class_names = std::move(class_names);
  settings.positive_class = positive_class;
  settings.metrics = pipeline.metrics;
  settings.bootstrap = evaluation.get_int("bootstrap");
  settings.bootstrap_seed = static_cast<std::uint64_t>(evaluation.get_int("bootstrap_seed"));
  settings.device = device;
  settings.channels_last = pipeline.section("training").get_bool("channels_last");
  settings.precision = evaluation_precision(pipeline.section("run").get_string("precision"), device);
  return settings;
}

torch::Tensor cached_features(ClassifierModel& model, FeatureCache& cache, const Batch& batch,
                              const torch::Tensor& input) {
  const bool complete = std::all_of(batch.indices.begin(), batch.indices.end(),
                                    [&](std::size_t index) { return cache.count(index) != 0; });
  if (!complete) {
    torch::NoGradGuard no_grad;
    const bool was_training = model.is_training();
    model.eval();
    auto features = model.features(input);
    if (was_training) model.train();
    for (std::int64_t i = 0; i < batch.n; ++i) {
      cache[batch.indices[static_cast<std::size_t>(i)]] = features[i].clone();
    }
  }
  std::vector<torch::Tensor> rows;
  rows.reserve(batch.indices.size());
  for (std::size_t index : batch.indices) rows.push_back(cache.at(index));
  return torch::stack(rows);
}

MetricSet::MetricSet(const Registry& registry, const EvaluationSettings& settings, bool intervals) {
  for (const auto& config : settings.metrics) {
    const MetricSetup setup = metric_setup(config, settings.bootstrap, settings.bootstrap_seed);
    MetricContext context;
    context.class_names = settings.class_names;
    context.positive_class = settings.positive_class;
    context.bootstrap = intervals ? setup.bootstrap : 0;
    context.bootstrap_seed = setup.bootstrap_seed;
    metrics_.emplace_back(config.name, registry.create_as<Metric>(kinds::metric, config.name, setup.parameters));
    metrics_.back().second->reset(context);
  }
}

MetricSet::~MetricSet() = default;

void MetricSet::update(const float* probabilities, const std::int64_t* labels, std::size_t count) {
  for (auto& metric : metrics_) metric.second->update(probabilities, labels, count);
}

json MetricSet::compute() const {
  json out = json::object();
  for (const auto& metric : metrics_) out[metric.first] = metric.second->compute();
  return out;
}

namespace {

// The class probabilities of one batch, softmax of the logits averaged over
// the input and each test-time variant; appends each image's loss to
// `losses` (NaN unless every image of the batch is labelled). The variants go
// through the whole model: a feature cache holds the originals' features only.
torch::Tensor batch_probabilities(ClassifierModel& model, const EvaluationSettings& settings, const Batch& batch,
                                  const torch::Tensor& input, FeatureCache* feature_cache, std::vector<float>& losses) {
  auto logits = (feature_cache ? model.head(cached_features(model, *feature_cache, batch, input))
                               : model.forward_all(input).logits)
                    .to(torch::kFloat);
  auto probabilities = torch::softmax(logits, 1);
  for (const auto& name : settings.tta) {
    probabilities += torch::softmax(model.forward_all(tta_variant(input, name)).logits.to(torch::kFloat), 1);
  }
  if (!settings.tta.empty()) probabilities /= static_cast<double>(settings.tta.size() + 1);
  // Images to predict carry no label (-1), which the loss refuses.
  const bool all_labelled = std::all_of(batch.labels.begin(), batch.labels.end(), [](std::int64_t l) { return l >= 0; });
  if (!all_labelled) {
    losses.insert(losses.end(), static_cast<std::size_t>(batch.n), std::numeric_limits<float>::quiet_NaN());
    return probabilities.to(torch::kCPU).contiguous();
  }
  auto labels = torch::from_blob(const_cast<std::int64_t*>(batch.labels.data()), {batch.n}, torch::kLong)
                    .to(settings.device);
  // Without variants, exactly the training loss; with them, the
  // cross-entropy of the averaged probabilities. Per image, so that the mean
  // does not depend on how the images were batched (or sharded over ranks).
  namespace F = torch::nn::functional;
  auto loss = settings.tta.empty()
                  ? F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().reduction(torch::kNone))
                  : F::nll_loss(torch::log(probabilities.clamp_min(1e-12)), labels,
                                F::NLLLossFuncOptions().reduction(torch::kNone));
  loss = loss.to(torch::kCPU, torch::kFloat).contiguous();
  losses.insert(losses.end(), loss.data_ptr<float>(), loss.data_ptr<float>() + batch.n);
  return probabilities.to(torch::kCPU).contiguous();
}

// Every image of `loader` through the model.
EvaluationRows evaluation_rows(ClassifierModel& model, const EvaluationSettings& settings, ImageLoader& loader,
                               FeatureCache* feature_cache) {
  EvaluationRows rows;
  rows.classes = settings.class_names.size();
  loader.start_epoch(0);
  Batch batch;
  while (loader.next(batch)) {
    auto input = to_input(batch, settings.device, settings.channels_last);
    torch::Tensor probabilities;
    {
      AutocastScope autocast(settings.device, settings.precision);
      probabilities = batch_probabilities(model, settings, batch, input, feature_cache, rows.losses);
    }
    const float* values = probabilities.data_ptr<float>();
    rows.probabilities.insert(rows.probabilities.end(), values, values + batch.n * static_cast<std::int64_t>(rows.classes));
    rows.indices.insert(rows.indices.end(), batch.indices.begin(), batch.indices.end());
    rows.labels.insert(rows.labels.end(), batch.labels.begin(), batch.labels.end());
  }
  return rows;
}

}  // namespace

Prediction make_prediction(std::string file, int label, const float* row, std::size_t classes) {
  Prediction prediction;
  prediction.file = std::move(file);
  prediction.label = label;
  prediction.probabilities.assign(row, row + classes);
  // The lowest index wins a tie, as in the metrics.
  prediction.predicted = static_cast<int>(std::max_element(row, row + classes) - row);
  return prediction;
}

EvaluationReport evaluate_model(ClassifierModel& model, const Registry& registry, const EvaluationSettings& settings,
                                ImageLoader& loader, bool keep_predictions, FeatureCache* feature_cache,
                                const RowGather& gather) {
  torch::NoGradGuard no_grad;
  model.eval();
  EvaluationRows rows = evaluation_rows(model, settings, loader, feature_cache);
  if (gather) gather(rows);
  // Intervals only where predictions are kept: the final evaluations, not every epoch's.
  MetricSet metrics(registry, settings, keep_predictions);
  EvaluationReport result;
  const auto classes = rows.classes;
  metrics.update(rows.probabilities.data(), rows.labels.data(), rows.indices.size());
  double loss_sum = 0;
  std::size_t labelled = 0;
  for (std::size_t k = 0; k < rows.indices.size(); ++k) {
    if (!std::isnan(rows.losses[k])) loss_sum += rows.losses[k], ++labelled;
    if (keep_predictions) {
      result.predictions.push_back(make_prediction(loader.samples()[rows.indices[k]].id,
                                                   static_cast<int>(rows.labels[k]),
                                                   rows.probabilities.data() + k * classes, classes));
    }
  }
  result.images = rows.indices.size();
  result.loss = labelled ? loss_sum / static_cast<double>(labelled) : 0.0;
  result.metrics = metrics.compute();
  for (const auto& s : loader.skipped()) result.skipped.emplace_back(s.id, s.reason);
  return result;
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Re-opening a run (the Impl is in trained_run.h, shared with explanations).

TrainedRun::TrainedRun(const std::string& run_dir, const Registry& registry, const OpenRunOptions& options)
    : impl_(std::make_unique<Impl>(registry)) {
  Impl& run = *impl_;
  run.run_dir = run_dir;
  run.directory = RunDirectory::open(run_dir);
  run.pipeline = load_pipeline(run.directory->pipeline_file(), {}, registry);
  run.device = detail::choose_device(options.device);
  detail::set_compute_threads(run.pipeline.section("run"));
  configure_allocator(run.pipeline.section("run").get_string("allocator"));

  // The classes come from summary.json when the run finished, so predicting
  // does not need the training data; a run still going asks its dataset.
  if (run.directory->has_summary()) {
    RunSummary summary = run.directory->read_summary();
    run.class_names = summary.classes;
    run.positive_class = summary.positive_class;
  } else {
    run.dataset = registry.create_as<Dataset>(kinds::dataset, run.pipeline.dataset.name, run.pipeline.dataset.parameters);
    run.class_names = run.dataset->class_names();
    run.positive_class = run.dataset->positive_class();
  }

  run.tta = options.tta ? *options.tta : run.pipeline.section("evaluation").get_strings("tta");
  check_tta_names(run.tta);
  run.preprocess = detail::make_stages(run.pipeline.preprocess, registry, false, "preprocess");
  run.architecture =
      registry.create_as<Architecture>(kinds::architecture, run.pipeline.model.name, run.pipeline.model.parameters);
  run.model = run.architecture->build(static_cast<std::int64_t>(run.class_names.size()));
  run.model->to(run.device);
  const std::string checkpoint = run.directory->checkpoint_file("best");
  std::error_code error;
  if (!fs::exists(checkpoint, error)) {
    throw Error(checkpoint + ": no such checkpoint (the run never finished an epoch)");
  }
  torch::serialize::InputArchive archive;
  detail::read_checkpoint(checkpoint, run.device, archive);
  detail::load_model_state(*run.model, archive, checkpoint);
  detail::place_model(*run.model, run.device, run.pipeline.section("training").get_bool("channels_last"));
  run.model->eval();
}

TrainedRun::~TrainedRun() = default;

const std::string& TrainedRun::run_dir() const { return impl_->run_dir; }
const Pipeline& TrainedRun::pipeline() const { return impl_->pipeline; }
const std::vector<std::string>& TrainedRun::class_names() const { return impl_->class_names; }
int TrainedRun::positive_class() const { return impl_->positive_class; }
std::string TrainedRun::device() const { return impl_->device.str(); }
const std::vector<std::string>& TrainedRun::tta() const { return impl_->tta; }

EvaluationReport TrainedRun::evaluate_split(const std::string& split) {
  std::vector<Sample> samples = impl_->split_samples(split);  // creates the dataset first
  return impl_->evaluate(impl_->dataset, std::move(samples), true);
}

std::vector<Sample> TrainedRun::Impl::split_samples(const std::string& split) {
  if (split != "train" && split != "val" && split != "test") {
    throw Error("unknown split '" + split + "'; expected train, val or test");
  }
  const std::string manifest = directory->split_file();
  std::vector<std::pair<std::string, int>> rows;  // (file, label)
  for (const SplitRow& row : directory->read_split()) {
    if (row.split != split) continue;
    auto it = std::find(class_names.begin(), class_names.end(), row.class_name);
    if (it == class_names.end()) {
      throw Error(fmt::format("{}: {}: class '{}' is not one of the run's classes ({})", manifest, row.file,
                              row.class_name, join(class_names)));
    }
    rows.emplace_back(row.file, static_cast<int>(it - class_names.begin()));
  }
  if (rows.empty()) throw Error(manifest + ": the " + split + " split has no images");

  // The manifest names samples of the dataset as it was; check it still has
  // them, so moved or deleted data is reported once rather than file by file.
  const Dataset& source = run_dataset();
  std::unordered_map<std::string, const Sample*> by_id;
  std::vector<Sample> all = source.samples();
  for (const auto& sample : all) by_id.emplace(sample.id, &sample);
  std::vector<Sample> samples;
  std::vector<std::string> missing;
  for (const auto& [id, label] : rows) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      missing.push_back(id);
      continue;
    }
    Sample sample = *it->second;
    sample.label = label;
    samples.push_back(std::move(sample));
  }
  if (!missing.empty()) {
    throw Error(fmt::format("{}: {} of the {} {} images listed are not in dataset '{}' any more (first: {}); "
                            "has the data moved? Datasets are found under $CEREBRA_DATA",
                            manifest, missing.size(), rows.size(), split, pipeline.dataset.name, missing[0]));
  }
  return samples;
}

EvaluationReport TrainedRun::evaluate_folder(const std::string& folder) {
  std::vector<Sample> samples = impl_->folder_samples(folder);
  return impl_->evaluate(std::make_shared<detail::FileDataset>(impl_->class_names), std::move(samples), true);
}

std::vector<Sample> TrainedRun::Impl::folder_samples(const std::string& folder) {
  const Impl& run = *this;
  std::error_code error;
  const std::string problem = missing_path_reason(folder);
  if (!problem.empty()) throw Error(folder + ": " + (problem == "no such file" ? "no such folder" : problem));
  if (!fs::is_directory(folder, error)) throw Error(folder + ": not a folder");
  const std::vector<std::string> found = list_subfolders(folder);
  if (found.empty()) {
    throw Error(fmt::format("{}: no class folders; expected one sub-folder per class ({})", folder,
                            join(run.class_names)));
  }
  std::vector<std::string> unknown;
  for (const auto& name : found) {
    if (std::find(run.class_names.begin(), run.class_names.end(), name) == run.class_names.end()) {
      unknown.push_back(name);
    }
  }
  if (!unknown.empty()) {
    throw Error(fmt::format("{}: folder(s) {} are not classes of run {} (its classes: {})", folder, join(unknown),
                            run.run_dir, join(run.class_names)));
  }
  std::vector<Sample> samples;
  for (std::size_t label = 0; label < run.class_names.size(); ++label) {
    const fs::path class_folder = fs::path(folder) / run.class_names[label];
    if (!fs::is_directory(class_folder, error)) continue;
    for (auto& file : list_image_files(class_folder.string())) samples.push_back({file, static_cast<int>(label), ""});
  }
  if (samples.empty()) throw Error(folder + ": the class folders hold no images");
  return samples;
}

std::vector<Prediction> TrainedRun::predict(const std::vector<std::string>& files) {
  Impl& run = *impl_;
  auto dataset = std::make_shared<detail::FileDataset>(run.class_names);
  std::vector<Prediction> out(files.size());
  std::vector<Sample> samples;
  std::vector<std::size_t> positions;  // index into `out` of each sample
  for (std::size_t i = 0; i < files.size(); ++i) {
    out[i].file = files[i];
    out[i].error = detail::path_problem(files[i]);
    if (out[i].error.empty()) {
      samples.push_back({files[i], -1, ""});
      positions.push_back(i);
    }
  }
  if (samples.empty()) return out;

  LoaderOptions options = detail::loader_options(run.pipeline, false);
  options.skip_bad_files = true;  // one bad file must not stop the others
  auto fill = [&](const EvaluationReport& report, const std::vector<std::size_t>& where) {
    // Predictions are in sample order with skipped files left out.
    std::unordered_map<std::string, const Prediction*> by_file;
    for (const auto& p : report.predictions) by_file.emplace(p.file, &p);
    std::unordered_map<std::string, std::string> reasons(report.skipped.begin(), report.skipped.end());
    for (std::size_t position : where) {
      Prediction& target = out[position];
      if (auto it = by_file.find(target.file); it != by_file.end()) {
        target.predicted = it->second->predicted;
        target.probabilities = it->second->probabilities;
      } else if (auto r = reasons.find(target.file); r != reasons.end()) {
        target.error = r->second;
      } else {
        target.error = "not predicted";
      }
    }
  };
  try {
    ImageLoader loader(dataset, samples, run.preprocess, {}, options);
    fill(detail::evaluate_model(*run.model, run.registry, run.settings(false), loader, true), positions);
    return out;
  } catch (const Error&) {
    // A preprocessing failure or mismatched image sizes stop a whole batch;
    // predict one image at a time so each failure is pinned on its file.
  }
  options.batch_size = 1;
  for (std::size_t k = 0; k < samples.size(); ++k) {
    try {
      ImageLoader loader(dataset, {samples[k]}, run.preprocess, {}, options);
      fill(detail::evaluate_model(*run.model, run.registry, run.settings(false), loader, true), {positions[k]});
    } catch (const std::exception& error) {
      out[positions[k]].error = brief(error);
    }
  }
  return out;
}

namespace detail {

std::string path_problem(const std::string& path) {
  // A looping or dangling link is named as one, not as "no such file".
  if (std::string problem = missing_path_reason(path); !problem.empty()) return problem;
  std::error_code error;
  if (fs::is_directory(path, error)) return "folder holds no image files";
  return "";
}

}  // namespace detail

std::vector<std::string> expand_image_paths(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& path : paths) {
    std::error_code error;
    if (!fs::is_directory(path, error)) {
      files.push_back(path);  // predict() says what is wrong with it, if anything
      continue;
    }
    std::vector<std::string> found = list_image_files(path, true);
    // An empty folder stays in the list so predict() can say so.
    if (found.empty()) found.push_back(path);
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

}  // namespace cerebra
