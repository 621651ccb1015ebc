#include "cerebra/pipeline.h"

#include <algorithm>
#include <cmath>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cerebra/tta.h"
#include "pipeline/component_checks.h"
#include "pipeline/metric_tables.h"

namespace cerebra {

namespace {

std::vector<SectionSpec> make_sections() {
  std::vector<SectionSpec> sections;
  auto settings = [&](const std::string& name, const std::string& doc) -> Schema& {
    SectionSpec section;
    section.name = name;
    section.doc = doc;
    sections.push_back(std::move(section));
    return sections.back().schema;
  };
  auto component = [&](const std::string& name, const std::string& kind, bool list,
                       bool required, const std::string& doc, const std::string& default_type = "") {
    SectionSpec section;
    section.name = name;
    section.doc = doc;
    section.shape = list ? SectionSpec::Shape::ComponentList : SectionSpec::Shape::Component;
    section.component_kind = kind;
    section.required = required;
    section.default_type = default_type;
    sections.push_back(std::move(section));
  };

  {
    Schema& s = settings("run", "What the run is called, where it goes and what it runs on");
    s.add_string("name", "", "Run name; empty takes the pipeline file's name");
    s.add_int("seed", 42, "Seed for splits, initialisation, sampling and augmentation")
        .range(0, 4294967295.0);
    s.add_path("output", "runs", "Folder that receives the run directory");
    s.add_string("device", "auto", "auto, cpu, cuda or cuda:N");
    s.add_int("threads", 0, "Intra-op compute threads; 0 chooses by measurement for this machine")
        .range(0, 256);
    s.add_string("allocator", "retain",
                 "retain keeps freed memory for reuse (much faster CPU training steps); system leaves "
                 "the C library's defaults")
        .one_of({"retain", "system"});
    s.add_string("precision", "auto",
                 "Forward-pass arithmetic: auto (bf16 on a CPU with native bf16, bf16 or fp16 on a GPU by its "
                 "generation, else fp32), fp32, bf16, or fp16 (CUDA, with a dynamic loss scale); weights, "
                 "optimizer state, loss and metrics stay fp32")
        .one_of({"auto", "fp32", "bf16", "fp16"});
  }
  component("dataset", kinds::dataset, false, true, "Where the images come from");
  {
    Schema& s = settings("split", "How the dataset is divided (stratified, duplicate-aware)");
    s.add_float("train", 0.7, "Fraction of images for training").range(0, 1);
    s.add_float("val", 0.15, "Fraction of images for validation").range(0, 1);
    s.add_float("test", 0.15, "Fraction of images for the test split").range(0, 1);
    s.add_int("folds", 0, "k for k-fold cross-validation; 0 uses the fractions above")
        .range(0, 100);
    s.add_int("fold", 0, "Which fold is held out when folds > 0 (the validation fold, or the test fold)")
        .range(0, 99);
    s.add_string("fold_split", "val",
                 "What the held-out fold is: val (no test split), or test with val drawn from the other folds "
                 "(the val fraction of each class; cerebra kfold sets it)")
        .one_of({"val", "test"});
    s.add_int("seed", -1,
              "Seed of the split; -1 takes [run] seed. Set it to hold the split fixed while [run] seed varies "
              "(runs to ensemble, seed studies)")
        .range(-1, 4294967295.0);
    s.add_string("group_by", "near",
                 "Keep duplicates in one split: exact (byte-identical files), near (also resized, re-encoded "
                 "or slightly cropped copies; see cerebra audit) or none")
        .one_of({"exact", "near", "none"});
    s.add_string("hold_out", "none",
                 "none splits at random; source puts each class's least typical source clusters (acquisition "
                 "traits, as cerebra audit finds them) whole in test, then val: robustness to a new source")
        .one_of({"none", "source"});
    s.add_int("source_clusters", 0,
              "Source clusters for hold_out = \"source\"; 0 chooses k by silhouette (2 to 8) as the audit does")
        .range(0, 50);
    s.add_strings("exclude_overlap_with", {},
                  "Datasets (\"NAME\" or \"NAME:ROOT\") whose images, and near copies of them, are removed "
                  "from this dataset before it is split: for a model tested on another dataset");
  }
  {
    Schema& s = settings("extra_training",
                         "Images of another dataset added to the training split only, with coarse labels");
    s.add_string("dataset", "", "A registered dataset (cerebra list datasets); empty for none");
    s.add_string("root", "", "Its root folder (as [dataset] root); empty for the dataset's default");
    s.add_strings("labels", {},
                  "Each of its classes that joins, and what it may be here: \"yes = glioma | meningioma\" "
                  "(the loss counts any of them as right); its classes not named are left out");
  }
  component("preprocess", kinds::transform, true, false,
            "Deterministic stages, applied once per image and cached");
  component("augment", kinds::transform, true, false,
            "Random stages, applied to training images only, every epoch");
  {
    Schema& s = settings("loader", "How images are decoded, cached and batched");
    s.add_int("threads", 0, "Decoding threads; 0 chooses for this machine").range(0, 256);
    s.add_string("cache", "memory", "Cache preprocessed images: none, memory or disk")
        .one_of({"none", "memory", "disk"});
    s.add_path("cache_dir", ".cache/cerebra", "Folder for the disk cache");
    s.add_string("on_bad_file", "stop", "stop at the first unreadable image, or skip and list it")
        .one_of({"stop", "skip"});
    s.add_int("prefetch", 2, "Batches prepared ahead of the trainer").range(0, 64);
    s.add_bool("reduced_decode", true,
               "Decode large JPEGs at 1/2, 1/4 or 1/8 scale when the first preprocess stage (a resize) "
               "shrinks them anyway; false decodes every image in full");
  }
  component("model", kinds::architecture, false, true, "The network to train");
  {
    Schema& s = settings("transfer", "Starting weights and which layers train");
    s.add_string("mode", "scratch", "scratch, feature_extract, fine_tune or full")
        .one_of({"scratch", "feature_extract", "fine_tune", "full"});
    s.add_path("weights", "", "Published weights (.pth or .safetensors) or a run's checkpoint");
    s.add_int("trainable_groups", 1, "With fine_tune: how many of the last layer groups train")
        .range(0, 1000);
    s.add_bool("allow_scratch", false,
               "Train from scratch when the weights file is missing instead of stopping");
  }
  {
    Schema& s = settings("training", "The training loop: epochs, batches, the monitored figure");
    s.add_int("epochs", 10, "Passes over the training split").range(1, 100000);
    s.add_int("batch_size", 32, "Images per step").range(1, 65536);
    s.add_string("class_balance", "none",
                 "none, or weighted_sampler: draw classes in equal proportion (for loss weights see [loss])")
        .one_of({"none", "weighted_sampler"});
    s.add_string("monitor", "val_accuracy",
                 "Per-epoch figure that picks the best checkpoint (and drives early stopping)");
    s.add_bool("channels_last", true,
               "Channels-last weights and inputs (NHWC), which oneDNN's convolutions run fastest, most of all in "
               "bf16 (measured per architecture in docs/performance.md); false keeps NCHW");
    s.add_int("probe_every", 5,
              "Self-supervised objectives: every this many epochs (and after the last), a linear probe of the "
              "features on the labelled validation images gives val_probe_accuracy; 0 never")
        .range(0, 100000);
    sections.back().moved_keys = {
        {"optimizer", "[optimizer] type"},
        {"amp", "[run] precision (\"fp32\" for amp = false)"},
        {"learning_rate", "[optimizer] learning_rate"},
        {"backbone_learning_rate", "[optimizer] backbone_learning_rate"},
        {"weight_decay", "[optimizer] weight_decay"},
        {"momentum", "[optimizer] momentum (type = \"sgd\")"},
        {"nesterov", "[optimizer] nesterov (type = \"sgd\")"},
        {"schedule", "[schedule] type (\"none\" is now \"constant\")"},
        {"step_size", "[schedule] step_size (type = \"step\")"},
        {"gamma", "[schedule] gamma (type = \"step\" or \"plateau\")"},
        {"plateau_patience", "[schedule] patience (type = \"plateau\")"},
        {"warmup_epochs", "[schedule] warmup_epochs"},
        {"label_smoothing", "[loss] label_smoothing"},
        {"aux_loss_weight", "[objective] aux_loss_weight"},
        {"early_stopping_patience", "[[callbacks]] type = \"early_stopping\", patience"},
        {"class_balance=loss_weights", "[loss] class_weights = \"balanced\""},
    };
  }
  component("loss", kinds::loss, false, false, "What training minimises", "cross_entropy");
  component("optimizer", kinds::optimizer, false, false, "How the weights are updated", "adam");
  component("schedule", kinds::schedule, false, false, "The learning rate over training", "constant");
  component("objective", kinds::objective, false, false, "What one training step computes from a batch",
            "classification");
  component("callbacks", kinds::callback, true, false,
            "Hooks around the training loop, beyond the built-in ones (metrics log, checkpoints, progress, summary)");
  {
    Schema& s = settings("evaluation", "What is measured on validation and test splits");
    s.add_strings("metrics", {"accuracy", "precision", "sensitivity", "specificity", "f1"},
                  "Metric components to report; a table [evaluation.NAME] sets the parameters of one")
        .names_components(kinds::metric);
    s.add_int("bootstrap", 0, "Bootstrap resamples for 95% confidence intervals; 0 for none")
        .range(0, 100000);
    s.add_int("bootstrap_seed", 7, "Seed of the bootstrap resampling").range(0, 4294967295.0);
    s.add_strings("tta", {},
                  "Test-time augmentation of the final val/test evaluation, eval and predict: variants whose "
                  "probabilities are averaged with the original's (not used by the per-epoch validation)")
        .one_of(tta_variants());
  }
  return sections;
}

std::string section_header(const std::string& name) { return "[" + name + "]"; }

}  // namespace

const std::vector<SectionSpec>& pipeline_sections() {
  static const std::vector<SectionSpec> sections = make_sections();
  return sections;
}

const SectionSpec* find_section(const std::string& name) {
  for (const auto& section : pipeline_sections()) {
    if (section.name == name) return &section;
  }
  return nullptr;
}

Parameters resolve_parameters(const ConfigNode& table, const Schema& schema,
                              const Registry* registry,
                              const std::vector<std::string>& reserved_keys,
                              std::vector<Diagnostic>& diagnostics) {
  Parameters parameters = Parameters::defaults(schema);
  auto report = [&](const SourceLocation& where, const std::string& message) {
    diagnostics.push_back({where, message});
  };

  for (const auto& [key, node] : table.entries) {
    if (std::find(reserved_keys.begin(), reserved_keys.end(), key) != reserved_keys.end()) continue;
    const ParameterSpec* spec = schema.find(key);
    if (!spec) {
      std::vector<std::string> valid = schema.names();
      std::string message = "unknown key '" + key + "'";
      message += did_you_mean(key, valid);
      message += "; valid keys: " + join(valid);
      report(node.key_where, message);
      continue;
    }
    auto wrong_type = [&](const ConfigNode& found) {
      report(found.where, fmt::format("'{}': expected {}, found {}", key, to_string(spec->type),
                                      found.type_name()));
    };
    auto check_number = [&](double number, const SourceLocation& where) {
      if (!std::isfinite(number) || (spec->minimum && number < *spec->minimum) ||
          (spec->maximum && number > *spec->maximum)) {
        report(where, fmt::format("'{}': {} is out of range {}", key, number,
                                  spec->describe_constraint()));
        return false;
      }
      return true;
    };
    auto check_string = [&](const std::string& text, const SourceLocation& where) {
      if (!spec->choices.empty() &&
          std::find(spec->choices.begin(), spec->choices.end(), text) == spec->choices.end()) {
        std::string message = fmt::format("'{}': \"{}\" is not one of {}", key, text, join(spec->choices));
        message += did_you_mean(text, spec->choices);
        report(where, message);
        return false;
      }
      if (!spec->component_kind.empty() && registry &&
          !registry->try_find(spec->component_kind, text)) {
        auto available = registry->names(spec->component_kind);
        std::string message = fmt::format("'{}': unknown {} '{}'", key, spec->component_kind, text);
        message += did_you_mean(text, available);
        message += "; available: " + join(available);
        report(where, message);
        return false;
      }
      return true;
    };

    switch (spec->type) {
      case ParameterType::Bool:
        if (node.kind != ConfigNode::Kind::Bool) { wrong_type(node); break; }
        parameters.set(key, node.boolean);
        break;
      case ParameterType::Int:
        if (node.kind != ConfigNode::Kind::Int) { wrong_type(node); break; }
        if (check_number(static_cast<double>(node.integer), node.where)) parameters.set(key, node.integer);
        break;
      case ParameterType::Float: {
        double number;
        if (node.kind == ConfigNode::Kind::Float) number = node.floating;
        else if (node.kind == ConfigNode::Kind::Int) number = static_cast<double>(node.integer);
        else { wrong_type(node); break; }
        if (check_number(number, node.where)) parameters.set(key, number);
        break;
      }
      case ParameterType::String:
      case ParameterType::Path:
        if (node.kind != ConfigNode::Kind::String) { wrong_type(node); break; }
        if (check_string(node.string, node.where)) parameters.set(key, node.string);
        break;
      case ParameterType::NumberList: {
        if (node.kind != ConfigNode::Kind::Array) { wrong_type(node); break; }
        std::vector<double> numbers;
        bool ok = true;
        for (const auto& item : node.items) {
          double number;
          if (item.kind == ConfigNode::Kind::Float) number = item.floating;
          else if (item.kind == ConfigNode::Kind::Int) number = static_cast<double>(item.integer);
          else {
            report(item.where, fmt::format("'{}': expected a number in the list, found {}", key, item.type_name()));
            ok = false;
            continue;
          }
          ok = check_number(number, item.where) && ok;
          numbers.push_back(number);
        }
        if (ok) parameters.set(key, numbers);
        break;
      }
      case ParameterType::StringList: {
        if (node.kind != ConfigNode::Kind::Array) { wrong_type(node); break; }
        std::vector<std::string> strings;
        bool ok = true;
        for (const auto& item : node.items) {
          if (item.kind != ConfigNode::Kind::String) {
            report(item.where, fmt::format("'{}': expected a string in the list, found {}", key, item.type_name()));
            ok = false;
            continue;
          }
          ok = check_string(item.string, item.where) && ok;
          strings.push_back(item.string);
        }
        if (ok) parameters.set(key, strings);
        break;
      }
    }
  }
  for (const auto& spec : schema.parameters()) {
    if (spec.required() && !table.find(spec.name)) {
      report(table.where, "missing required value '" + spec.name + "' (" + to_string(spec.type) +
                              ": " + spec.doc + ")");
    }
  }
  return parameters;
}

namespace {

std::optional<ComponentConfig> resolve_component(const ConfigNode& table, const SectionSpec& section,
                                                 const std::string& label, const Registry& registry,
                                                 std::vector<Diagnostic>& diagnostics) {
  if (!table.is_table()) {
    diagnostics.push_back({table.where, label + ": expected a table, found " + table.type_name()});
    return std::nullopt;
  }
  const ConfigNode* type = table.find("type");
  if (!type) {
    auto available = registry.names(section.component_kind);
    diagnostics.push_back({table.where, label + ": missing required value 'type' (which " +
                                            section.component_kind + "; available: " +
                                            join(available) + ")"});
    return std::nullopt;
  }
  if (type->kind != ConfigNode::Kind::String) {
    diagnostics.push_back({type->where, label + ": 'type': expected string, found " + type->type_name()});
    return std::nullopt;
  }
  const ComponentInfo* info = registry.try_find(section.component_kind, type->string);
  if (!info) {
    auto available = registry.names(section.component_kind);
    std::string message = label + ": unknown " + section.component_kind + " '" + type->string + "'";
    message += did_you_mean(type->string, available);
    message += "; available: " + join(available);
    diagnostics.push_back({type->where, message});
    return std::nullopt;
  }
  std::vector<Diagnostic> own;
  ComponentConfig config;
  config.kind = section.component_kind;
  config.name = info->name;
  config.where = table.where;
  config.parameters = resolve_parameters(table, info->schema, &registry, {"type"}, own);
  for (auto& diagnostic : own) {
    diagnostic.message = label + " (" + info->name + "): " + diagnostic.message;
    diagnostics.push_back(std::move(diagnostic));
  }
  return config;
}

// `table` without the keys that moved to another section, each reported with
// where it lives now, so an old pipeline gets one clear message per setting.
ConfigNode without_moved_keys(const ConfigNode& table, const SectionSpec& section, const std::string& label,
                              std::vector<Diagnostic>& diagnostics) {
  ConfigNode kept = table;
  kept.entries.clear();
  for (const auto& [key, value] : table.entries) {
    // A key moves whole ("optimizer") or for one of its values ("class_balance=loss_weights").
    auto moved = section.moved_keys.find(key);
    if (moved == section.moved_keys.end() && value.kind == ConfigNode::Kind::String) {
      moved = section.moved_keys.find(key + "=" + value.string);
    }
    if (moved == section.moved_keys.end()) {
      kept.entries.emplace_back(key, value);
      continue;
    }
    diagnostics.push_back({value.key_where, label + ": '" + key + "' has moved; it is now " + moved->second +
                                                " (see docs/pipelines.md)"});
  }
  return kept;
}

// The fractions add up, hold_out = "source" comes without folds, and every
// dataset named by exclude_overlap_with
// ("NAME" or "NAME:ROOT") is registered.
void check_split(const ConfigNode& root, const Parameters& split, const Registry& registry,
                 std::vector<Diagnostic>& diagnostics) {
  const ConfigNode* node = root.find("split");
  const SourceLocation where = node ? node->where : root.where;
  if (split.has("train") && split.has("val") && split.has("test") && split.has("folds") &&
      split.get_int("folds") == 0) {
    double total = split.get_float("train") + split.get_float("val") + split.get_float("test");
    if (std::fabs(total - 1.0) > 1e-6) {
      diagnostics.push_back({where, fmt::format("[split]: train + val + test must be 1, found {:.6g}", total)});
    }
  }
  if (split.has("hold_out") && split.get_string("hold_out") == "source" && split.has("folds") &&
      split.get_int("folds") > 0) {
    diagnostics.push_back({where, "[split]: hold_out = \"source\" divides by the train/val/test fractions and "
                                  "cannot be combined with folds"});
  }
  if (!split.has("exclude_overlap_with")) return;
  const ConfigNode* list = node ? node->find("exclude_overlap_with") : nullptr;
  const auto known = registry.names(kinds::dataset);
  for (const auto& entry : split.get_strings("exclude_overlap_with")) {
    const std::string name = entry.substr(0, entry.find(':'));
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    diagnostics.push_back({list ? list->where : where,
                           fmt::format("[split]: exclude_overlap_with: '{}' is not a registered dataset{}", name,
                                       did_you_mean(name, known))});
  }
}

// [extra_training] names a registered dataset and, with it, at least one label
// entry (the entries themselves are checked against the class names when the
// split is made: that needs the datasets' folders).
void check_extra_training(const ConfigNode& root, const Parameters& extra, const Registry& registry,
                          std::vector<Diagnostic>& diagnostics) {
  const std::string name = extra.get_string("dataset");
  if (name.empty()) return;
  const ConfigNode* node = root.find("extra_training");
  const SourceLocation where = node ? node->where : root.where;
  const auto known = registry.names(kinds::dataset);
  if (std::find(known.begin(), known.end(), name) == known.end()) {
    diagnostics.push_back({where, fmt::format("[extra_training]: dataset: '{}' is not a registered dataset{}", name,
                                              did_you_mean(name, known))});
  }
  if (extra.get_strings("labels").empty()) {
    diagnostics.push_back({where, "[extra_training]: labels: empty; name the classes that join, as "
                                  "\"CLASS = A | B\""});
  }
}

// A variant listed twice would silently weigh double in the average.
void check_tta(const ConfigNode& root, const std::vector<std::string>& names, std::vector<Diagnostic>& diagnostics) {
  const ConfigNode* evaluation = root.find("evaluation");
  const ConfigNode* list = evaluation ? evaluation->find("tta") : nullptr;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), names[i]) ==
        names.begin() + static_cast<std::ptrdiff_t>(i)) {
      continue;
    }
    const bool item = list && list->is_array() && i < list->items.size();
    diagnostics.push_back({item ? list->items[i].where : root.where,
                           "[evaluation]: 'tta': '" + names[i] + "' is listed twice"});
  }
}

}  // namespace

Pipeline resolve_pipeline(const ConfigNode& root, const Registry& registry) {
  Pipeline pipeline;
  pipeline.source_file = root.where.file;
  std::vector<Diagnostic> diagnostics;

  std::vector<std::string> section_names;
  for (const auto& section : pipeline_sections()) section_names.push_back(section.name);
  for (const auto& [key, node] : root.entries) {
    if (find_section(key)) continue;
    std::string message = "unknown section '" + key + "'";
    message += did_you_mean(key, section_names);
    message += "; valid sections: " + join(section_names);
    diagnostics.push_back({node.key_where, message});
  }

  for (const auto& section : pipeline_sections()) {
    const ConfigNode* node = root.find(section.name);
    const std::string label = section_header(section.name);
    switch (section.shape) {
      case SectionSpec::Shape::Settings: {
        ConfigNode table;
        table.where = root.where;
        if (node && !node->is_table()) {
          diagnostics.push_back({node->where, label + ": expected a table, found " + node->type_name()});
        } else if (node) {
          table = without_moved_keys(*node, section, label, diagnostics);
        }
        std::vector<Diagnostic> own;
        // [evaluation]'s tables parametrise its metrics (resolve_metrics).
        auto nested = section.name == "evaluation" ? detail::metric_table_keys(node) : std::vector<std::string>{};
        pipeline.settings[section.name] = resolve_parameters(table, section.schema, &registry, nested, own);
        for (auto& diagnostic : own) {
          diagnostic.message = label + ": " + diagnostic.message;
          diagnostics.push_back(std::move(diagnostic));
        }
        break;
      }
      case SectionSpec::Shape::Component: {
        ConfigNode default_table;
        if (!node && !section.default_type.empty()) {
          default_table.where = root.where;
          ConfigNode type;
          type.kind = ConfigNode::Kind::String;
          type.string = section.default_type;
          type.where = root.where;
          default_table.set("type", type);
          node = &default_table;
        }
        if (!node) {
          if (section.required) {
            const bool vowel = std::string("aeiou").find(section.component_kind[0]) != std::string::npos;
            diagnostics.push_back({root.where, "missing section " + label + (vowel ? " (an " : " (a ") +
                                                  section.component_kind + ": " +
                                                  join(registry.names(section.component_kind)) + ")"});
          }
          break;
        }
        auto config = resolve_component(*node, section, label, registry, diagnostics);
        if (config) pipeline.component(section.name) = std::move(*config);
        break;
      }
      case SectionSpec::Shape::ComponentList: {
        if (!node) break;
        if (!node->is_array()) {
          diagnostics.push_back({node->where, label + ": expected a list of tables ([[" +
                                                  section.name + "]]), found " + node->type_name()});
          break;
        }
        auto& list = pipeline.component_list(section.name);
        for (std::size_t i = 0; i < node->items.size(); ++i) {
          auto config = resolve_component(node->items[i], section,
                                           "[[" + section.name + "]] #" + std::to_string(i + 1),
                                           registry, diagnostics);
          if (config) list.push_back(std::move(*config));
        }
        break;
      }
    }
  }

  // Checks that span keys.
  if (auto it = pipeline.settings.find("run"); it != pipeline.settings.end() && it->second.has("device")) {
    static const std::regex device_pattern("auto|cpu|cuda(:[0-9]+)?");
    const std::string& device = it->second.get_string("device");
    if (!std::regex_match(device, device_pattern)) {
      const ConfigNode* run = root.find("run");
      const ConfigNode* node = run ? run->find("device") : nullptr;
      diagnostics.push_back({node ? node->where : root.where,
                             "[run]: 'device': \"" + device + "\" is not auto, cpu, cuda or cuda:N"});
    }
  }
  if (auto it = pipeline.settings.find("split"); it != pipeline.settings.end()) {
    check_split(root, it->second, registry, diagnostics);
  }
  if (auto it = pipeline.settings.find("extra_training"); it != pipeline.settings.end()) {
    check_extra_training(root, it->second, registry, diagnostics);
  }

  if (auto it = pipeline.settings.find("evaluation"); it != pipeline.settings.end() && it->second.has("tta")) {
    check_tta(root, it->second.get_strings("tta"), diagnostics);
  }

  pipeline.metrics = detail::resolve_metrics(root, pipeline.section("evaluation"), registry, diagnostics);
  // What the components declare about themselves (sizes, random or not).
  if (diagnostics.empty()) detail::check_components(pipeline, registry, diagnostics);

  if (!diagnostics.empty()) throw ConfigError(std::move(diagnostics));
  return pipeline;
}

Pipeline load_pipeline(const std::string& path, const std::vector<std::string>& overrides,
                       const Registry& registry) {
  ConfigNode root = load_config_file(path);
  apply_overrides(root, overrides);
  Pipeline pipeline = resolve_pipeline(root, registry);
  pipeline.source_file = path;
  return pipeline;
}

ComponentConfig& Pipeline::component(const std::string& section) {
  if (section == "dataset") return dataset;
  if (section == "model") return model;
  if (section == "loss") return loss;
  if (section == "optimizer") return optimizer;
  if (section == "schedule") return schedule;
  if (section == "objective") return objective;
  throw Error("pipeline has no component section [" + section + "]");
}

const ComponentConfig& Pipeline::component(const std::string& section) const {
  return const_cast<Pipeline*>(this)->component(section);
}

std::vector<ComponentConfig>& Pipeline::component_list(const std::string& section) {
  if (section == "preprocess") return preprocess;
  if (section == "augment") return augment;
  if (section == "callbacks") return callbacks;
  throw Error("pipeline has no component list [[" + section + "]]");
}

const std::vector<ComponentConfig>& Pipeline::component_list(const std::string& section) const {
  return const_cast<Pipeline*>(this)->component_list(section);
}

const Parameters& Pipeline::section(const std::string& name) const {
  auto it = settings.find(name);
  if (it == settings.end()) throw Error("pipeline has no section [" + name + "]");
  return it->second;
}

std::string Pipeline::to_toml() const {
  std::string out = "# Resolved pipeline: every default filled in.\n";
  auto write_parameters = [&](const Parameters& parameters) {
    for (const auto& [key, value] : parameters.values()) {
      out += key + " = " + format_value(value) + "\n";
    }
  };
  auto write_component = [&](const std::string& header, const ComponentConfig& component) {
    out += "\n" + header + "\n";
    out += "type = " + format_value(Value(component.name)) + "\n";
    write_parameters(component.parameters);
  };
  for (const auto& section : pipeline_sections()) {
    switch (section.shape) {
      case SectionSpec::Shape::Settings:
        out += "\n[" + section.name + "]\n";
        write_parameters(this->section(section.name));
        break;
      case SectionSpec::Shape::Component: {
        const ComponentConfig& config = component(section.name);
        if (!config.name.empty()) write_component("[" + section.name + "]", config);
        break;
      }
      case SectionSpec::Shape::ComponentList:
        for (const auto& component : component_list(section.name)) {
          write_component("[[" + section.name + "]]", component);
        }
        break;
    }
  }
  return out + detail::metric_tables_toml(metrics);
}

nlohmann::json Pipeline::to_json() const {
  nlohmann::json j;
  auto component_json = [](const ComponentConfig& component) {
    nlohmann::json c = component.parameters.to_json();
    c["type"] = component.name;
    return c;
  };
  for (const auto& [name, parameters] : settings) j[name] = parameters.to_json();
  for (const auto& metric : metrics) {
    if (!metric.parameters.values().empty()) j["evaluation"][metric.name] = metric.parameters.to_json();
  }
  for (const auto& section : pipeline_sections()) {
    if (section.shape == SectionSpec::Shape::Component) {
      const ComponentConfig& config = component(section.name);
      if (!config.name.empty()) j[section.name] = component_json(config);
    } else if (section.shape == SectionSpec::Shape::ComponentList) {
      j[section.name] = nlohmann::json::array();
      for (const auto& c : component_list(section.name)) j[section.name].push_back(component_json(c));
    }
  }
  return j;
}

}  // namespace cerebra
