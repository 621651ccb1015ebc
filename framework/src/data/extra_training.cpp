#include "extra_training.h"

#include <algorithm>
#include <map>
#include <utility>

#include <fmt/format.h>

#include "cerebra/audit.h"
#include "cerebra/pipeline.h"
#include "cerebra/error.h"
#include "cerebra/registry.h"

namespace cerebra {

namespace {

constexpr const char* kExtraSubset = "extra";

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

int index_of(const std::vector<std::string>& names, const std::string& name) {
  auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

// The pipeline's dataset for its own images, the extra one for the images
// add_extra_training() tagged: the loader, the cache and the explainers ask
// one dataset, whichever image it is.
class WithExtraImages : public Dataset {
 public:
  WithExtraImages(std::shared_ptr<const Dataset> own, std::shared_ptr<const Dataset> extra)
      : own_(std::move(own)), extra_(std::move(extra)) {}

  std::vector<std::string> class_names() const override { return own_->class_names(); }
  int positive_class() const override { return own_->positive_class(); }
  std::vector<Sample> samples() const override { return own_->samples(); }
  void check() const override {
    own_->check();
    extra_->check();
  }
  using Dataset::load;
  cv::Mat load(const Sample& sample, const LoadHint& hint) const override { return pick(sample).load(sample, hint); }
  std::string fingerprint(const Sample& sample) const override { return pick(sample).fingerprint(sample); }
  cv::Mat lesion_mask(const Sample& sample) const override { return pick(sample).lesion_mask(sample); }

 private:
  const Dataset& pick(const Sample& sample) const { return sample.subset == kExtraSubset ? *extra_ : *own_; }

  std::shared_ptr<const Dataset> own_, extra_;
};

// The label an extra image of class `extra_class` takes: the class itself
// when the entry names one, else k + the index of its set in `label_sets`.
std::map<int, int> label_map(const std::vector<CoarseLabel>& coarse, std::size_t classes,
                             std::vector<std::vector<int>>& label_sets) {
  std::map<int, int> labels;
  for (const auto& entry : coarse) {
    if (entry.classes.size() == 1) {
      labels[entry.extra_class] = entry.classes.front();
      continue;
    }
    labels[entry.extra_class] = static_cast<int>(classes + label_sets.size());
    label_sets.push_back(entry.classes);
  }
  return labels;
}

}  // namespace

std::vector<CoarseLabel> parse_coarse_labels(const std::vector<std::string>& entries,
                                             const std::vector<std::string>& extra_classes,
                                             const std::vector<std::string>& classes) {
  std::vector<CoarseLabel> result;
  for (const auto& entry : entries) {
    const auto equals = entry.find('=');
    const std::string where = "[extra_training] labels: '" + entry + "'";
    if (equals == std::string::npos) {
      throw Error(where + ": expected \"CLASS = A | B\" (its class, then this dataset's classes it may be)");
    }
    CoarseLabel label;
    const std::string name = trimmed(entry.substr(0, equals));
    label.extra_class = index_of(extra_classes, name);
    if (label.extra_class < 0) {
      throw Error(fmt::format("{}: the extra dataset has no class '{}' (it has {})", where, name,
                              join(extra_classes)));
    }
    for (const auto& item : result) {
      if (item.extra_class == label.extra_class) throw Error(where + ": '" + name + "' is given twice");
    }
    std::string rest = entry.substr(equals + 1);
    std::size_t start = 0;
    while (start <= rest.size()) {
      const auto bar = std::min(rest.find('|', start), rest.size());
      const std::string target = trimmed(rest.substr(start, bar - start));
      const int index = index_of(classes, target);
      if (index < 0) {
        throw Error(fmt::format("{}: this dataset has no class '{}' (it has {})", where, target, join(classes)));
      }
      if (std::find(label.classes.begin(), label.classes.end(), index) == label.classes.end()) {
        label.classes.push_back(index);
      }
      start = bar + 1;
    }
    std::sort(label.classes.begin(), label.classes.end());
    result.push_back(std::move(label));
  }
  return result;
}

std::shared_ptr<const Dataset> add_extra_training(const Pipeline& pipeline, const Registry& registry,
                                                  std::shared_ptr<const Dataset> dataset,
                                                  const std::vector<Sample>& samples, SplitResult& split) {
  const Parameters& section = pipeline.section("extra_training");
  const std::string name = section.get_string("dataset");
  if (name.empty()) return dataset;  // loading the pipeline checked the name and that labels is not empty
  Parameters parameters;
  if (!section.get_string("root").empty()) parameters.set("root", section.get_string("root"));
  std::shared_ptr<const Dataset> extra = registry.create_as<Dataset>(kinds::dataset, name, parameters);
  const auto classes = dataset->class_names();
  const auto coarse = parse_coarse_labels(section.get_strings("labels"), extra->class_names(), classes);
  const std::map<int, int> labels = label_map(coarse, classes.size(), split.label_sets);

  std::vector<Sample> joining;
  for (Sample sample : extra->samples()) {
    auto label = labels.find(sample.label);
    // Its own fixed test images (a Testing/ folder) stay for evaluating it.
    if (label == labels.end() || sample.subset == "test") continue;
    sample.label = label->second;
    sample.subset = kExtraSubset;
    joining.push_back(std::move(sample));
  }
  const std::string cache_dir = pipeline.section("loader").get_string("cache_dir");
  const std::vector<bool> copies = overlapping(*extra, joining, {OtherImages{dataset.get(), samples}}, cache_dir);
  for (std::size_t i = 0; i < joining.size(); ++i) {
    if (copies[i]) {
      ++split.excluded_extra;
    } else {
      split.train.push_back(joining[i]);
      ++split.extra_training;
    }
  }
  if (split.extra_training == 0) {
    throw Error(fmt::format("[extra_training] dataset '{}' adds no image: its classes named in labels are empty "
                            "or copies of this dataset's images",
                            name));
  }
  split.extra_dataset = name;
  std::sort(split.train.begin(), split.train.end(), [](const Sample& a, const Sample& b) { return a.id < b.id; });
  return std::make_shared<WithExtraImages>(std::move(dataset), std::move(extra));
}

}  // namespace cerebra
