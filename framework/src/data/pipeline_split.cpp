// The split of a pipeline's dataset, as a run makes it and as `cerebra audit`
// shows it before any run.
#include <algorithm>

#include <fmt/format.h>

#include "cerebra/audit.h"
#include "cerebra/data.h"
#include "cerebra/pipeline.h"
#include "extra_training.h"
#include "pool_dataset.h"

namespace cerebra {

namespace {

// [split] exclude_overlap_with: drops every sample that is, or nearly is, an
// image of the datasets named there ("NAME" or "NAME:ROOT"). Returns how many.
std::size_t remove_overlap(const Pipeline& pipeline, const Registry& registry, const Dataset& dataset,
                           std::vector<Sample>& samples, const std::string& cache_dir) {
  const auto& names = pipeline.section("split").get_strings("exclude_overlap_with");
  if (names.empty()) return 0;
  std::vector<std::unique_ptr<Dataset>> datasets;
  std::vector<OtherImages> others;
  for (const auto& entry : names) {
    const auto colon = entry.find(':');
    Parameters parameters;
    if (colon != std::string::npos) parameters.set("root", entry.substr(colon + 1));
    datasets.push_back(registry.create_as<Dataset>(kinds::dataset, entry.substr(0, colon), parameters));
    others.push_back({datasets.back().get(), datasets.back()->samples()});
  }
  const std::vector<bool> overlap = overlapping(dataset, samples, others, cache_dir);
  std::vector<Sample> kept;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (!overlap[i]) kept.push_back(samples[i]);
  }
  const std::size_t removed = samples.size() - kept.size();
  samples = std::move(kept);
  return removed;
}

// The pool fixes its own split: its sources split as this pipeline's [split]
// and seed split them (so their test images stay out of it).
PipelineSplit split_pool(const Pipeline& pipeline, const Registry& registry) {
  if (!pipeline.section("extra_training").get_string("dataset").empty()) {
    throw Error("[extra_training] does not apply to the pool (a pretraining set): name the pool's sources instead");
  }
  Parameters parameters = Parameters::defaults(registry.find(kinds::dataset, "pool").schema);
  for (const auto& [key, value] : pipeline.dataset.parameters.values()) parameters.set(key, value);
  PoolSplitting splitting{pipeline.section("split"), split_seed(pipeline),
                          pipeline.section("loader").get_string("cache_dir")};
  auto pool = std::make_shared<PoolDataset>(parameters, registry, std::move(splitting));
  SplitResult split = pool->split();
  return {std::move(pool), std::move(split)};
}

}  // namespace

std::uint64_t split_seed(const Pipeline& pipeline) {
  const std::int64_t own = pipeline.section("split").get_int("seed");
  return static_cast<std::uint64_t>(own >= 0 ? own : pipeline.section("run").get_int("seed"));
}

PipelineSplit split_pipeline(const Pipeline& pipeline, const Registry& registry) {
  const auto& config = pipeline.dataset;
  if (config.name == "pool") return split_pool(pipeline, registry);
  std::shared_ptr<const Dataset> dataset = registry.create_as<Dataset>(kinds::dataset, config.name, config.parameters);
  if (dataset->class_names().size() < 2) {
    throw Error(fmt::format("dataset '{}' has {} class(es); classification needs at least 2", config.name,
                            dataset->class_names().size()));
  }
  std::vector<Sample> samples = dataset->samples();
  samples.erase(std::remove_if(samples.begin(), samples.end(), [](const Sample& s) { return s.label < 0; }),
                samples.end());
  if (samples.empty()) throw Error("dataset '" + config.name + "' has no labelled images");
  const std::string cache_dir = pipeline.section("loader").get_string("cache_dir");
  const std::size_t excluded = remove_overlap(pipeline, registry, *dataset, samples, cache_dir);
  if (samples.empty()) {
    throw Error("[split] exclude_overlap_with removed every image of dataset '" + config.name + "'");
  }
  PipelineSplit result{dataset, split_samples(*dataset, samples, pipeline.section("split"), split_seed(pipeline),
                                              cache_dir)};
  result.split.excluded_overlap = excluded;
  result.dataset = add_extra_training(pipeline, registry, std::move(result.dataset), samples, result.split);
  return result;
}

}  // namespace cerebra
