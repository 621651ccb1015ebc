// Assembling a run from its pipeline: the data, the split, the network with
// its starting weights and frozen layers, and the parameter groups.
#include <algorithm>
#include <filesystem>
#include <ostream>

#include <fmt/format.h>

#include "../module_path.h"
#include "cerebra/weights.h"
#include "trainer.h"

namespace cerebra::detail {

namespace fs = std::filesystem;

namespace {

// Why the split left train or val empty, with the change that helps: more
// images when the data has too few to give each class one in each (for a
// generated dataset, its count), else a larger fraction.
std::string empty_split_message(const Pipeline& pipeline, const SplitResult& split, std::size_t classes) {
  const bool no_train = split.train.empty();
  const std::string problem = no_train ? "the split left no images for training" : "the split left no images for validation";
  const std::size_t splittable = split.train.size() + split.val.size();
  if (splittable < 2 * classes) {
    const std::string more = pipeline.dataset.parameters.has("count") ? "raise [dataset] count" : "add images";
    return fmt::format("{}: dataset '{}' has {} image(s) outside the test split for {} classes, too few to give "
                       "every class one image in training and one in validation; {}",
                       problem, pipeline.dataset.name, splittable, classes, more);
  }
  return problem + (no_train ? "; raise [split] train" : "; raise [split] val");
}

}  // namespace

Assembly assemble(const Pipeline& pipeline, const Registry& registry, const RunDirectory& directory) {
  Assembly assembly;
  PipelineSplit split = split_pipeline(pipeline, registry);
  assembly.dataset = std::move(split.dataset);
  assembly.class_names = assembly.dataset->class_names();
  assembly.positive_class = assembly.dataset->positive_class();
  assembly.split = std::move(split.split);
  if (assembly.split.train.empty() || assembly.split.val.empty()) {
    throw Error(empty_split_message(pipeline, assembly.split, assembly.class_names.size()));
  }
  directory.write_split(assembly.split, assembly.class_names);

  assembly.preprocess = make_stages(pipeline.preprocess, registry, false, "preprocess");
  assembly.augment = make_stages(pipeline.augment, registry, true, "augment");
  assembly.architecture =
      registry.create_as<Architecture>(kinds::architecture, pipeline.model.name, pipeline.model.parameters);
  assembly.info = assembly.architecture->info();
  return assembly;
}

namespace {

// Parameters whose names start with one of the group's prefixes ("layer4"
// matches "layer4.0.conv1.weight" but not "layer40...").
bool in_group(const std::string& name, const LayerGroup& group) {
  return detail::in_any_module(name, group.module_prefixes);
}

bool in_any_group(const std::string& name, const std::vector<LayerGroup>& groups, std::size_t from) {
  for (std::size_t g = from; g < groups.size(); ++g) {
    if (in_group(name, groups[g])) return true;
  }
  return false;
}

// "runs/pretrain_resnet50" names the newest run directory of that name
// ("runs/pretrain_resnet50-YYYYMMDD-HHMMSS" holding a best checkpoint), so a
// config can start from a pretraining run without knowing when it ran.
// Any other path is returned as it is.
std::string newest_run_of(const std::string& weights, std::ostream& log) {
  std::error_code error;
  const fs::path prefix(weights);
  const fs::path folder = prefix.has_parent_path() ? prefix.parent_path() : fs::path(".");
  if (weights.empty() || fs::exists(prefix, error) || !fs::is_directory(folder, error)) return weights;
  const std::string stem = prefix.filename().string() + "-";
  std::string newest;
  for (const auto& entry : fs::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    const bool run_name = name.rfind(stem, 0) == 0 && name.size() == stem.size() + 15;  // + YYYYMMDD-HHMMSS
    if (run_name && fs::exists(entry.path() / "checkpoints/best.pt") && entry.path().string() > newest) {
      newest = entry.path().string();
    }
  }
  if (newest.empty()) return weights;
  log << "weights: " << weights << " is the run " << newest << " (the newest of that name)\n";
  return newest;
}

void load_transfer_weights(ClassifierModel& model, const ArchitectureInfo& info, const Parameters& transfer,
                           const RunDirectory& directory, std::ostream& log) {
  const std::string weights = newest_run_of(transfer.get_string("weights"), log);
  if (weights.empty()) {
    if (transfer.get_string("mode") != "scratch") {
      log << "note: [transfer] mode = \"" << transfer.get_string("mode")
          << "\" without weights: every layer starts from random values\n";
    }
    return;
  }
  if (!fs::exists(weights)) {
    if (!transfer.get_bool("allow_scratch")) {
      throw Error("[transfer] weights: " + weights +
                  " does not exist. Download the published weights (see docs/weights.md), or set "
                  "[transfer] allow_scratch = true to train from scratch");
    }
    log << "warning: " << weights << " does not exist; training from scratch (allow_scratch)\n";
    return;
  }
  WeightsReport report = load_starting_weights(model, weights, weights_options_for(info));
  log << report.summary() << "\n";
  directory.write_weights_report(report.summary() + "\n");
}

// Index of the first layer group that trains under [transfer] mode.
std::size_t first_trainable_group(const Parameters& transfer, std::size_t groups) {
  const std::string mode = transfer.get_string("mode");
  if (mode == "feature_extract") return groups == 0 ? 0 : groups - 1;
  if (mode == "fine_tune") {
    auto n = static_cast<std::size_t>(transfer.get_int("trainable_groups"));
    return groups > n ? groups - n : 0;
  }
  return 0;
}

}  // namespace

BuiltModel build_model(const Pipeline& pipeline, const Assembly& assembly, const RunDirectory& directory,
                       const torch::Device& device, std::ostream& log) {
  BuiltModel built;
  built.model = assembly.architecture->build(static_cast<std::int64_t>(assembly.class_names.size()));
  const Parameters& transfer = pipeline.section("transfer");
  load_transfer_weights(*built.model, assembly.info, transfer, directory, log);

  const auto& groups = assembly.info.layer_groups;
  const std::size_t trainable_from = first_trainable_group(transfer, groups.size());
  if (trainable_from > 0) {
    for (auto& item : built.model->named_parameters()) {
      item.value().set_requires_grad(in_any_group(item.key(), groups, trainable_from));
    }
    // Frozen batch-norm layers keep their pretrained statistics.
    for (auto& item : built.model->named_modules("", false)) {
      const bool frozen = !in_any_group(item.key(), groups, trainable_from);
      if (frozen && (item.value()->as<torch::nn::BatchNorm2d>() || item.value()->as<torch::nn::BatchNorm1d>())) {
        built.frozen_modules.push_back(item.value());
      }
    }
  }
  place_model(*built.model, device, pipeline.section("training").get_bool("channels_last"));
  return built;
}

void clear_gradients(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) p.mutable_grad() = torch::Tensor();
  }
}

void place_model(ClassifierModel& model, const torch::Device& device, bool channels_last) {
  model.to(device);
  if (!channels_last) return;
  torch::NoGradGuard no_grad;
  for (auto& parameter : model.parameters()) {
    if (parameter.dim() == 4) parameter.set_data(parameter.contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

std::vector<ParameterGroup> parameter_groups(ClassifierModel& model, const ArchitectureInfo& info,
                                             Objective& objective) {
  ParameterGroup backbone{"backbone", {}, 0}, head{"head", {}, 0};
  for (auto& item : model.named_parameters()) {
    if (!item.value().requires_grad()) continue;
    const bool is_head = !info.layer_groups.empty() && in_group(item.key(), info.layer_groups.back());
    (is_head ? head : backbone).parameters.push_back(item.value());
  }
  for (auto& parameter : objective.parameters()) head.parameters.push_back(parameter);
  if (backbone.parameters.empty() && head.parameters.empty()) {
    throw Error("no trainable parameters: check [transfer] mode");
  }
  std::vector<ParameterGroup> groups;
  for (auto* group : {&backbone, &head}) {
    if (!group->parameters.empty()) groups.push_back(std::move(*group));
  }
  return groups;
}

std::vector<std::int64_t> class_counts(const std::vector<Sample>& samples, std::size_t classes) {
  std::vector<std::int64_t> counts(classes, 0);
  for (const auto& sample : samples) {
    if (sample.label >= 0 && static_cast<std::size_t>(sample.label) < classes) ++counts[static_cast<std::size_t>(sample.label)];
  }
  return counts;
}

}  // namespace cerebra::detail
