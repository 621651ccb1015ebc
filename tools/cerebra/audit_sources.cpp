// What `cerebra audit` audits: a dataset folder (read by whichever dataset
// plugin recognises it, plus any image outside its classes), a pipeline (its
// dataset, split as a run would split it) or a run directory (its split.csv).
#include "audit_sources.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "cerebra/data.h"
#include "cerebra/pipeline.h"
#include "cerebra/run_directory.h"

namespace cerebra::cli {

namespace {

namespace fs = std::filesystem;

bool takes_root(const Registry& registry, const std::string& name) {
  const ComponentInfo* info = registry.try_find(kinds::dataset, name);
  return info && info->schema.find("root");
}

// The first dataset plugin whose reading of `folder` succeeds; the generic
// image_folder last, so a specific layout wins. Throws listing every refusal.
AuditSource read_folder(const Registry& registry, const std::string& folder) {
  std::vector<std::string> names = registry.names(kinds::dataset);
  std::stable_partition(names.begin(), names.end(), [](const std::string& n) { return n != "image_folder"; });
  std::vector<std::string> refusals;
  for (const auto& name : names) {
    if (!takes_root(registry, name)) continue;
    Parameters parameters;
    parameters.set("root", folder);
    try {
      std::shared_ptr<const Dataset> dataset = registry.create_as<Dataset>(kinds::dataset, name, parameters);
      std::vector<Sample> samples = dataset->samples();
      if (samples.empty()) continue;
      return {fs::path(folder).filename().string(), dataset, dataset->class_names(), std::move(samples), {}};
    } catch (const std::exception& error) {
      refusals.push_back(name + ": " + brief(error));
    }
  }
  throw Error(fmt::format("{}: no dataset plugin reads this folder ({})", folder, join(refusals, "; ")));
}

// Image files under the source's folder that its dataset does not list (an
// unlabelled pred/, a class the plugin does not know): audited as unlabelled,
// with their folder. Links that dangle or loop are listed as the walker lists
// them, and the audit reports them unreadable with that reason.
void add_unlisted_images(const std::string& folder, AuditSource& source) {
  std::set<std::string> listed;
  for (const auto& sample : source.samples) listed.insert(fs::path(sample.id).lexically_normal().string());
  std::vector<Sample> extra;
  for (const auto& file : list_image_files(folder, true)) {
    const fs::path path(file);
    const std::string id = path.lexically_normal().string();
    if (listed.count(id)) continue;
    extra.push_back({id, -1, path.parent_path().lexically_relative(folder).string()});
  }
  std::sort(extra.begin(), extra.end(), [](const Sample& a, const Sample& b) { return a.id < b.id; });
  source.samples.insert(source.samples.end(), extra.begin(), extra.end());
}

AuditSource read_pipeline(const Registry& registry, const std::string& file, const std::vector<std::string>& overrides) {
  Pipeline pipeline = load_pipeline(file, overrides, registry);
  PipelineSplit made = split_pipeline(pipeline, registry);
  AuditSource source{fs::path(file).stem().string(), made.dataset, made.dataset->class_names(), {}, {}};
  for (const auto& [samples, name] : {std::pair{&made.split.train, "train"}, {&made.split.val, "val"},
                                      {&made.split.test, "test"}}) {
    for (Sample sample : *samples) {
      // [extra_training]'s coarse labels are no class of this dataset: the
      // audit lists those images as outside its classes, by where they come from.
      if (sample.label >= static_cast<int>(source.class_names.size())) {
        sample.label = -1;
        sample.subset = "[extra_training] " + made.split.extra_dataset;
      }
      source.samples.push_back(sample);
      source.split_of[sample.id] = name;
    }
  }
  // In id order, as the split clustered them, and with the split's k: the
  // audit's source clusters are then the split's, numbers included.
  std::sort(source.samples.begin(), source.samples.end(), [](const Sample& a, const Sample& b) { return a.id < b.id; });
  if (made.split.hold_out == "source") {
    source.clusters = static_cast<int>(pipeline.section("split").get_int("source_clusters"));
    source.split_note = describe_hold_out(made.split);
  }
  return source;
}

// A run's dataset as its pipeline.toml re-creates it, with the split its
// split.csv recorded (files the dataset no longer holds are reported by the
// audit as unreadable).
AuditSource read_run(const Registry& registry, const std::string& folder) {
  RunDirectory run = RunDirectory::open(folder);
  Pipeline pipeline = load_pipeline(run.pipeline_file(), {}, registry);
  std::shared_ptr<const Dataset> dataset =
      registry.create_as<Dataset>(kinds::dataset, pipeline.dataset.name, pipeline.dataset.parameters);
  AuditSource source{fs::path(folder).lexically_normal().filename().string(), dataset, dataset->class_names(), {}, {}};
  const auto& classes = source.class_names;
  for (const SplitRow& row : run.read_split()) {
    const auto at = std::find(classes.begin(), classes.end(), row.class_name);
    source.samples.push_back({row.file, at == classes.end() ? -1 : static_cast<int>(at - classes.begin()), ""});
    source.split_of[row.file] = row.split;
  }
  return source;
}

}  // namespace

std::vector<AuditSource> audit_sources(const Registry& registry, const std::vector<std::string>& inputs,
                                       const std::vector<std::string>& overrides) {
  std::vector<AuditSource> sources;
  for (const auto& input : inputs) {
    std::error_code error;
    const std::string path = fs::absolute(input, error).lexically_normal().string();
    if (!fs::exists(path, error)) throw Error(input + ": no such file or folder");
    if (fs::is_regular_file(path, error)) {
      if (fs::path(path).extension() != ".toml") throw Error(input + ": not a folder, a pipeline (.toml) or a run");
      sources.push_back(read_pipeline(registry, path, overrides));
    } else if (fs::exists(fs::path(path) / "pipeline.toml", error) && fs::exists(fs::path(path) / "split.csv", error)) {
      sources.push_back(read_run(registry, path));
    } else {
      sources.push_back(read_folder(registry, path));
      add_unlisted_images(path, sources.back());
    }
  }
  // Two inputs of one name stay told apart in the report.
  for (std::size_t i = 0; i < sources.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (sources[j].name == sources[i].name) sources[i].name += fmt::format(" ({})", i + 1);
    }
  }
  return sources;
}

}  // namespace cerebra::cli
