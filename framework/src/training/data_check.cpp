// Every split's images, decoded and checked before the first epoch. A bad file
// in the test split would otherwise be found only after all training, and with
// on_bad_file = "skip" a class could lose every image and the run would still
// report figures (a perfect score over the classes left).
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "trainer.h"

namespace cerebra::detail {

namespace {

// How many images of each class a split has, and how many of them are usable.
struct ClassCounts {
  std::vector<std::size_t> listed, usable;
  std::vector<std::vector<std::string>> skipped;  // "file (reason)" per class
};

ClassCounts count_classes(const ImageLoader& loader, std::size_t classes) {
  ClassCounts counts{std::vector<std::size_t>(classes), std::vector<std::size_t>(classes),
                     std::vector<std::vector<std::string>>(classes)};
  std::map<std::string, std::string> reasons;
  for (const auto& file : loader.skipped()) reasons.emplace(file.id, file.reason);
  for (const auto& sample : loader.samples()) {
    if (sample.label < 0 || static_cast<std::size_t>(sample.label) >= classes) continue;
    const auto label = static_cast<std::size_t>(sample.label);
    ++counts.listed[label];
    if (auto it = reasons.find(sample.id); it != reasons.end()) {
      counts.skipped[label].push_back(it->second.find(sample.id) == std::string::npos
                                          ? sample.id + " (" + it->second + ")"
                                          : it->second);
    } else {
      ++counts.usable[label];
    }
  }
  return counts;
}

// Up to ten entries joined, then how many more.
std::string some_of(const std::vector<std::string>& items) {
  std::vector<std::string> shown(items.begin(), items.begin() + std::min<std::size_t>(items.size(), 10));
  std::string text = join(shown, "; ");
  if (items.size() > shown.size()) text += fmt::format("; and {} more", items.size() - shown.size());
  return text;
}

// A class with no usable image anywhere, or a split without a class the data has.
std::vector<std::string> class_problems(const std::vector<SplitImages>& splits, const std::vector<ClassCounts>& counts,
                                        const std::vector<std::string>& class_names) {
  std::vector<std::string> problems;
  for (std::size_t c = 0; c < class_names.size(); ++c) {
    std::size_t listed = 0, usable = 0;
    std::vector<std::string> skipped;
    for (const auto& split : counts) {
      listed += split.listed[c];
      usable += split.usable[c];
      skipped.insert(skipped.end(), split.skipped[c].begin(), split.skipped[c].end());
    }
    if (usable > 0) continue;
    problems.push_back(listed == 0 ? fmt::format("class '{}' has no image in the data", class_names[c])
                                   : fmt::format("class '{}' has no usable image: all {} of its files were "
                                                 "skipped as unreadable: {}",
                                                 class_names[c], listed, some_of(skipped)));
  }
  if (!problems.empty()) return problems;  // a class gone from the data is gone from every split
  for (std::size_t s = 0; s < splits.size(); ++s) {
    for (std::size_t c = 0; c < class_names.size(); ++c) {
      if (counts[s].usable[c] > 0) continue;
      problems.push_back(counts[s].listed[c] > 0
                             ? fmt::format("the {} split has no usable image of class '{}': its {} file(s) of "
                                           "that class were skipped as unreadable: {}",
                                           splits[s].name, class_names[c], counts[s].listed[c],
                                           some_of(counts[s].skipped[c]))
                             : fmt::format("the {} split has no image of class '{}' (too few images of that "
                                           "class to split); add images of it or change the [split] fractions",
                                           splits[s].name, class_names[c]));
    }
  }
  return problems;
}

}  // namespace

std::string check_split_images(const std::vector<SplitImages>& splits, const std::vector<std::string>& class_names) {
  std::vector<ClassCounts> counts;
  std::vector<std::string> used, skipped;
  for (const auto& split : splits) {
    const std::size_t usable = split.loader->check_all();  // throws on a bad file with on_bad_file = "stop"
    counts.push_back(count_classes(*split.loader, class_names.size()));
    used.push_back(fmt::format("{} {}", usable, split.name));
    const std::size_t bad = split.loader->size() - usable;
    if (bad > 0) skipped.push_back(fmt::format("{} {}", bad, split.name));
  }
  const std::vector<std::string> problems = class_problems(splits, counts, class_names);
  if (!problems.empty()) {
    throw Error(join(problems, "; ") + ". Every class needs usable images in every split: replace or remove "
                                       "the unreadable files, or add images");
  }
  std::string line = join(used, ", ") + " images";
  if (!skipped.empty()) line += " (unreadable, skipped: " + join(skipped, ", ") + ")";
  return line;
}

}  // namespace cerebra::detail
