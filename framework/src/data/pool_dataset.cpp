#include "pool_dataset.h"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "cerebra/audit.h"
#include "cerebra/pipeline.h"
#include "cerebra/registry.h"

namespace cerebra {

namespace {

// Unlabelled folders hold plain image files: the default load and fingerprint.
class PlainFiles : public Dataset {
 public:
  std::vector<std::string> class_names() const override { return {}; }
  std::vector<Sample> samples() const override { return {}; }
};

// Reads each sample through the dataset that listed it, and files of
// unlabelled folders plainly, so the pool's images are audited in one pass.
class ByListing : public Dataset {
 public:
  std::vector<std::string> class_names() const override { return {}; }
  std::vector<Sample> samples() const override { return {}; }
  using Dataset::load;
  cv::Mat load(const Sample& sample, const LoadHint& hint) const override { return of(sample).load(sample, hint); }
  std::string fingerprint(const Sample& sample) const override { return of(sample).fingerprint(sample); }
  // Records who listed `id` (null: an unlabelled folder); false when it was listed already.
  bool add(const std::string& id, const Dataset* dataset) { return listed_.emplace(id, dataset).second; }

 private:
  const Dataset& of(const Sample& sample) const {
    const auto it = listed_.find(sample.id);
    return it == listed_.end() || !it->second ? plain_ : *it->second;
  }
  std::unordered_map<std::string, const Dataset*> listed_;
  PlainFiles plain_;
};

bool names_pipeline(const std::string& entry) {
  return entry.size() > 5 && entry.compare(entry.size() - 5, 5, ".toml") == 0;
}

// "NAME", "NAME:ROOT" or a pipeline file (its dataset, later its split).
PoolDataset::Source create_source(const Registry& registry, const std::string& entry) {
  PoolDataset::Source source;
  if (names_pipeline(entry)) {
    auto pipeline = std::make_shared<Pipeline>(load_pipeline(entry, {}, registry));
    if (pipeline->dataset.name == "pool") throw Error("[dataset] pool: source " + entry + " is itself a pool");
    source.name = pipeline->dataset.name;
    source.dataset = registry.create_as<Dataset>(kinds::dataset, source.name, pipeline->dataset.parameters);
    source.pipeline = std::move(pipeline);
    return source;
  }
  const auto colon = entry.find(':');
  Parameters parameters;
  if (colon != std::string::npos) parameters.set("root", entry.substr(colon + 1));
  source.name = entry.substr(0, colon);
  source.dataset = registry.create_as<Dataset>(kinds::dataset, source.name, parameters);
  return source;
}

// Keeps the samples that are neither copies nor near copies of `forbidden`.
std::vector<Sample> without_copies(const Dataset& dataset, const std::vector<Sample>& samples,
                                   const std::vector<OtherImages>& forbidden, const std::string& cache_dir,
                                   std::size_t& removed) {
  const std::vector<bool> overlap = overlapping(dataset, samples, forbidden, cache_dir);
  std::vector<Sample> kept;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (!overlap[i]) kept.push_back(samples[i]);
  }
  removed += samples.size() - kept.size();
  return kept;
}

}  // namespace

struct PoolDataset::Contents {
  std::vector<Sample> samples;
  ByListing images;
  std::size_t excluded = 0;
};

PoolDataset::PoolDataset(const Parameters& parameters, const Registry& registry, PoolSplitting splitting)
    : registry_(registry), unlabelled_folders_(parameters.get_strings("unlabelled")), splitting_(std::move(splitting)) {
  const auto& names = parameters.get_strings("sources");
  if (names.empty()) throw Error("[dataset] pool: `sources` is empty; name at least one dataset, e.g. [\"br35h\"]");
  for (const auto& entry : names) {
    Source source = create_source(registry, entry);
    source.first_class = class_names_.size();
    // Two sources of one dataset type get distinct class names: "image_folder#2/...".
    const auto same = std::count_if(sources_.begin(), sources_.end(),
                                    [&](const Source& other) { return other.name.substr(0, other.name.find('#')) == source.name; });
    if (same > 0) source.name += "#" + std::to_string(same + 1);
    for (const auto& name : source.dataset->class_names()) class_names_.push_back(source.name + "/" + name);
    sources_.push_back(std::move(source));
  }
}

std::vector<std::string> PoolDataset::class_names() const { return class_names_; }

void PoolDataset::check() const {
  for (const auto& source : sources_) source.dataset->check();
  for (const auto& folder : unlabelled_folders_) list_image_files(resolve_dataset_root(folder));
}

const PoolDataset::Contents& PoolDataset::contents() const {
  std::call_once(gathered_, [this] {
    check();  // a missing root or folder is reported now, not after minutes of splitting
    auto contents = std::make_shared<Contents>();
    std::vector<Sample> candidates;
    std::vector<OtherImages> tests;
    for (const auto& source : sources_) {
      SplitResult split = split_source(source);
      for (auto [part, subset] : {std::pair{&split.train, "train"}, std::pair{&split.val, "val"}}) {
        for (const auto& s : *part) {
          if (!contents->images.add(s.id, source.dataset.get())) {
            throw Error(fmt::format("[dataset] pool: {} is listed by two sources; name each dataset once", s.id));
          }
          candidates.push_back({s.id, s.label + static_cast<int>(source.first_class), subset});
        }
      }
      tests.push_back({source.dataset.get(), std::move(split.test)});
    }
    for (const auto& folder : unlabelled_folders_) {
      for (auto& file : list_image_files(resolve_dataset_root(folder))) {
        if (contents->images.add(file, nullptr)) candidates.push_back({std::move(file), -1, "train"});
      }
    }
    contents->samples = without_copies(contents->images, candidates, tests, splitting_.cache_dir, contents->excluded);
    contents_ = std::move(contents);
  });
  return *contents_;
}

SplitResult PoolDataset::split_source(const Source& source) const {
  if (source.pipeline) return split_pipeline(*source.pipeline, registry_).split;
  std::vector<Sample> labelled = source.dataset->samples();
  labelled.erase(std::remove_if(labelled.begin(), labelled.end(), [](const Sample& s) { return s.label < 0; }),
                 labelled.end());
  return split_samples(*source.dataset, labelled, splitting_.split, splitting_.seed, splitting_.cache_dir);
}

std::vector<Sample> PoolDataset::samples() const { return contents().samples; }

cv::Mat PoolDataset::load(const Sample& sample, const LoadHint& hint) const {
  return contents().images.load(sample, hint);
}

std::string PoolDataset::fingerprint(const Sample& sample) const { return contents().images.fingerprint(sample); }

SplitResult PoolDataset::split() const {
  SplitResult result;
  result.group_by = splitting_.split.has("group_by") ? splitting_.split.get_string("group_by") : "exact";
  for (const auto& sample : contents().samples) (sample.subset == "val" ? result.val : result.train).push_back(sample);
  result.excluded_overlap = contents().excluded;
  return result;
}

void register_builtin_datasets(Registry& registry) {
  Schema schema;
  schema.add_required("sources", ParameterType::StringList,
                     "Where the pool's training (and validation) images come from: pipeline files (\"configs/"
                     "br35h_cnn.toml\": split as its runs split it) or datasets (\"NAME\" or \"NAME:ROOT\": split as "
                     "this pipeline's [split] and seed split it); every source's test images and their near copies "
                     "are left out");
  schema.add_strings("unlabelled", {},
                     "Folders of unlabelled images to add to training (relative to $CEREBRA_DATA like a root), "
                     "e.g. \"br35h/pred\"; copies of a source's test images are left out");
  ComponentInfo info;
  info.kind = kinds::dataset;
  info.name = "pool";
  info.summary = "Pretraining set: other datasets' training splits plus unlabelled folders, test images and their "
                 "near copies left out";
  info.schema = std::move(schema);
  info.factory = [&registry](const Parameters& parameters) -> std::unique_ptr<Component> {
    Parameters split;
    split.set("group_by", std::string("near"));
    return std::make_unique<PoolDataset>(parameters, registry, PoolSplitting{split, 42, ".cache/cerebra"});
  };
  registry.add(std::move(info));
}

}  // namespace cerebra
