// What one source holds: counts, sizes, channels and intensity per class.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "audit_parts.h"

namespace cerebra::detail {

namespace {

void count(nlohmann::json& object, const std::string& key) {
  auto& value = object[key];
  value = value.is_null() ? 1 : value.get<int>() + 1;
}

// The most common sizes, most common first, with the rest summed.
nlohmann::json common_sizes(const std::vector<const ImageTraits*>& traits) {
  std::map<std::string, std::size_t> counts;
  std::size_t readable = 0;
  for (const auto* t : traits) {
    if (!t->readable) continue;
    ++counts[fmt::format("{}x{}", t->width, t->height)];
    ++readable;
  }
  std::vector<std::pair<std::string, std::size_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  nlohmann::json list = nlohmann::json::array();
  std::size_t listed = 0;
  for (std::size_t i = 0; i < sorted.size() && i < 8; ++i) {
    list.push_back({{"size", sorted[i].first}, {"files", sorted[i].second}});
    listed += sorted[i].second;
  }
  return {{"distinct", counts.size()}, {"most_common", list}, {"other_files", readable - listed}};
}

struct Intensity {
  double mean = 0, spread = 0, black = 0, border = 0;
  std::size_t n = 0;
};

nlohmann::json intensity_by_class(const AuditSource& source, const std::vector<const ImageTraits*>& traits) {
  std::map<std::string, Intensity> by_class;
  for (std::size_t i = 0; i < traits.size(); ++i) {
    const ImageTraits& t = *traits[i];
    if (!t.readable) continue;
    const int label = source.samples[i].label;
    Intensity& s = by_class[label >= 0 ? source.class_names[label] : "(unlabelled)"];
    s.mean += t.mean;
    s.spread += t.spread;
    s.black += t.black_share;
    s.border += t.border_mean;
    ++s.n;
  }
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, s] : by_class) {
    out[name] = {{"mean", s.mean / s.n}, {"spread", s.spread / s.n}, {"black_share", s.black / s.n},
                 {"border_mean", s.border / s.n}, {"files", s.n}};
  }
  return out;
}

}  // namespace

nlohmann::json source_statistics(const AuditSource& source, const std::vector<const ImageTraits*>& traits,
                                 const std::vector<std::size_t>& groups, int clusters) {
  nlohmann::json classes = nlohmann::json::object(), unlabelled = nlohmann::json::object();
  nlohmann::json splits = nlohmann::json::object(), channels = nlohmann::json::object();
  for (const auto& name : source.class_names) classes[name] = 0;
  std::size_t readable = 0;
  std::vector<ClusterItem> items;
  for (std::size_t i = 0; i < source.samples.size(); ++i) {
    const Sample& sample = source.samples[i];
    if (sample.label >= 0) count(classes, source.class_names[sample.label]);
    else count(unlabelled, sample.subset.empty() ? "." : sample.subset);
    std::string split;
    if (auto it = source.split_of.find(sample.id); it != source.split_of.end()) count(splits, split = it->second);
    if (!traits[i]->readable) continue;
    ++readable;
    count(channels, std::to_string(traits[i]->channels));
    if (sample.label >= 0) items.push_back({traits[i], sample.label, sample.id, groups[i], split});
  }
  nlohmann::json out = {{"name", source.name},         {"classes", classes},
                        {"files", source.samples.size()}, {"readable", readable},
                        {"unlabelled", unlabelled},    {"channels", channels},
                        {"sizes", common_sizes(traits)}, {"intensity", intensity_by_class(source, traits)},
                        {"clusters", source_clusters(items, source.class_names, clusters)}};
  if (!splits.empty()) out["splits"] = splits;
  if (!source.split_note.empty()) out["split_note"] = source.split_note;
  return out;
}

}  // namespace cerebra::detail
