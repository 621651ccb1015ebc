#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "cerebra/audit.h"
#include "cerebra/data.h"
#include "seeding.h"
#include "source_holdout.h"

namespace cerebra {

namespace {

struct Group {
  std::vector<std::size_t> members;  // indices into the id-sorted samples
  int label = -1;
  bool fixed_test = false;
};

double fraction_or(const Parameters& split, const std::string& name, double fallback) {
  return split.has(name) ? split.get_float(name) : fallback;
}

std::int64_t int_or(const Parameters& split, const std::string& name, std::int64_t fallback) {
  return split.has(name) ? split.get_int(name) : fallback;
}

struct Fractions {
  double train, val, test;
  std::int64_t folds, fold;
  bool fold_is_test = false;  // [split] fold_split = "test": the fold tests, val comes from the others
};

// The fractions that apply to the groups not fixed to test: with a fixed test
// set the rest is divided train:val.
Fractions free_fractions(Fractions f, bool has_fixed_test) {
  if (!has_fixed_test) return f;
  const double total = f.train + f.val;
  return {total > 0 ? f.train / total : 1.0, total > 0 ? f.val / total : 0.0, 0.0, f.folds, f.fold, f.fold_is_test};
}

// k-fold: each group joins the fold with the fewest files of this class so
// far, so folds stay balanced even with large duplicate groups. Fold `fold`
// is val, or (fold_is_test) test with val filled from the other folds' groups
// in their shuffled order, up to the val fraction of the class's files.
void deal_folds(const std::vector<Group>& groups, const std::vector<std::size_t>& list, std::size_t files,
                const Fractions& f, std::vector<int>& destination) {
  std::vector<std::size_t> fold_files(static_cast<std::size_t>(f.folds), 0);
  std::vector<std::size_t> others;
  for (std::size_t g : list) {
    const auto smallest = static_cast<std::size_t>(
        std::min_element(fold_files.begin(), fold_files.end()) - fold_files.begin());
    fold_files[smallest] += groups[g].members.size();
    const bool held_out = static_cast<std::int64_t>(smallest) == f.fold;
    destination[g] = held_out ? (f.fold_is_test ? 2 : 1) : 0;
    if (!held_out) others.push_back(g);
  }
  if (!f.fold_is_test) return;
  const auto target_val = static_cast<std::size_t>(std::llround(files * f.val));
  std::size_t in_val = 0;
  for (std::size_t g : others) {
    if (in_val >= target_val) break;
    destination[g] = 1;
    in_val += groups[g].members.size();
  }
}

// Random, stratified destinations (0 train, 1 val, 2 test): each class's
// groups shuffled, then dealt into folds or filled into test, val, train.
std::vector<int> random_destinations(const std::vector<Group>& groups, int class_count, const Fractions& fractions,
                                     std::uint64_t seed) {
  std::vector<int> destination(groups.size(), 0);
  bool has_fixed_test = false;
  std::vector<std::vector<std::size_t>> per_class(class_count);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].fixed_test) {
      destination[g] = 2;
      has_fixed_test = true;
    } else {
      per_class[groups[g].label].push_back(g);
    }
  }
  const Fractions f = free_fractions(fractions, has_fixed_test);
  for (int c = 0; c < class_count; ++c) {
    std::vector<std::size_t>& list = per_class[c];
    detail::portable_shuffle(list, detail::mix_seed({seed, 0x5b1175ull, static_cast<std::uint64_t>(c)}));
    std::size_t files = 0;
    for (std::size_t g : list) files += groups[g].members.size();

    if (f.folds > 0) {
      deal_folds(groups, list, files, f, destination);
      continue;
    }

    const auto target_test = static_cast<std::size_t>(std::llround(files * f.test));
    const auto target_val = static_cast<std::size_t>(std::llround(files * f.val));
    std::size_t in_test = 0, in_val = 0;
    for (std::size_t g : list) {
      std::size_t size = groups[g].members.size();
      if (in_test < target_test) {
        destination[g] = 2;
        in_test += size;
      } else if (in_val < target_val) {
        destination[g] = 1;
        in_val += size;
      } else {
        destination[g] = 0;
      }
    }
  }
  return destination;
}

// Source-held-out destinations: each group goes with its first member's
// (class, cluster); the cluster of every sample is recorded in `result`.
std::vector<int> source_destinations(const std::vector<Sample>& samples, const std::vector<Group>& groups,
                                     const SourceClusters& clusters, const Dataset& dataset,
                                     const Fractions& fractions, std::uint64_t seed, SplitResult& result) {
  std::vector<detail::SourceGroup> source_groups;
  bool has_fixed_test = false;
  for (const auto& group : groups) {
    source_groups.push_back({group.label, clusters.cluster[group.members.front()], group.members.size(),
                             group.fixed_test});
    has_fixed_test |= group.fixed_test;
  }
  const Fractions f = free_fractions(fractions, has_fixed_test);
  result.source_clusters = static_cast<int>(clusters.centres.size());
  for (std::size_t i = 0; i < samples.size(); ++i) result.source_of[samples[i].id] = clusters.cluster[i];
  return detail::hold_out_sources(source_groups, clusters, dataset.class_names(), f.val, f.test, seed);
}

// Group index of each sample (see group_samples) and, for a source-held-out
// split, each sample's source cluster, from one measurement of the traits.
std::vector<std::size_t> group_and_cluster(const Dataset& dataset, const std::vector<Sample>& samples, GroupBy by,
                                           const std::string& cache_dir, std::int64_t source_clusters,
                                           SourceClusters* clusters) {
  if (!clusters) return group_samples(dataset, samples, by, cache_dir);
  TraitStore store(cache_dir);
  std::vector<std::string> fingerprints;
  std::vector<ImageTraits> traits;
  store.measure(dataset, samples, 0, fingerprints, traits);
  store.save();  // a cache that cannot be written only costs time
  try {
    *clusters = cluster_sources(traits, static_cast<int>(source_clusters));
  } catch (const Error& error) {
    throw Error(std::string("[split] hold_out = \"source\": ") + error.what());
  }
  return group_ids(fingerprints, traits, by, NearOptions{});
}

}  // namespace

SplitResult split_samples(const Dataset& dataset, const std::vector<Sample>& input,
                          const Parameters& split, std::uint64_t seed, const std::string& cache_dir) {
  const double train_fraction = fraction_or(split, "train", 0.7);
  const double val_fraction = fraction_or(split, "val", 0.15);
  const double test_fraction = fraction_or(split, "test", 0.15);
  const std::int64_t folds = int_or(split, "folds", 0);
  const std::int64_t fold = int_or(split, "fold", 0);

  for (double f : {train_fraction, val_fraction, test_fraction}) {
    if (f < 0 || f > 1) throw Error(fmt::format("[split]: fractions must lie in [0, 1], found {}", f));
  }
  if (folds == 0 && std::abs(train_fraction + val_fraction + test_fraction - 1.0) > 1e-6) {
    throw Error(fmt::format("[split]: train + val + test must be 1, found {} + {} + {} = {}",
                            train_fraction, val_fraction, test_fraction,
                            train_fraction + val_fraction + test_fraction));
  }
  if (folds == 1 || folds < 0) {
    throw Error(fmt::format("[split]: folds must be 0 (use fractions) or at least 2, found {}", folds));
  }
  if (folds > 0 && (fold < 0 || fold >= folds)) {
    throw Error(fmt::format("[split]: fold must be in [0, {}] with folds = {}, found {}", folds - 1,
                            folds, fold));
  }
  const std::string hold_out = split.has("hold_out") ? split.get_string("hold_out") : "none";
  if (hold_out != "none" && hold_out != "source") {
    throw Error(fmt::format("[split] hold_out must be \"none\" or \"source\", found \"{}\"", hold_out));
  }
  const std::int64_t source_clusters = int_or(split, "source_clusters", 0);
  if (source_clusters < 0) {
    throw Error(fmt::format("[split] source_clusters must be 0 (chosen by silhouette) or a number of clusters, "
                            "found {}",
                            source_clusters));
  }
  if (hold_out == "source" && folds > 0) {
    throw Error(fmt::format("[split] hold_out = \"source\" divides by the train/val/test fractions and cannot be "
                            "combined with folds = {}",
                            folds));
  }

  // The input order may come from a directory listing; sort so the split
  // depends only on the ids.
  std::vector<Sample> samples = input;
  std::sort(samples.begin(), samples.end(),
            [](const Sample& a, const Sample& b) { return a.id < b.id; });
  const int class_count = static_cast<int>(dataset.class_names().size());
  for (const auto& sample : samples) {
    if (sample.label < 0 || sample.label >= class_count) {
      throw Error(fmt::format("{}: label {} is not a class index (the dataset has {} classes)",
                              sample.id, sample.label, class_count));
    }
  }

  // Group duplicates (byte-identical, and near copies with group_by = near);
  // groups keep the order of their first id.
  SplitResult result;
  result.group_by = split.has("group_by") ? split.get_string("group_by") : "exact";
  result.hold_out = hold_out;
  SourceClusters clusters;
  const std::vector<std::size_t> group_id =
      group_and_cluster(dataset, samples, parse_group_by(result.group_by), cache_dir, source_clusters,
                        hold_out == "source" ? &clusters : nullptr);
  std::vector<Group> groups;
  std::map<std::size_t, std::size_t> group_of;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    auto [it, inserted] = group_of.emplace(group_id[i], groups.size());
    if (inserted) {
      groups.emplace_back();
      groups.back().label = samples[i].label;
    }
    Group& group = groups[it->second];
    group.members.push_back(i);
    result.group_of[samples[i].id] = it->second;
    if (samples[i].subset == "test") group.fixed_test = true;
  }
  for (const auto& group : groups) {
    if (group.members.size() < 2) continue;
    ++result.duplicate_groups;
    result.duplicate_files += group.members.size();
    for (std::size_t member : group.members) {
      if (samples[member].label != group.label) {
        ++result.conflicting_groups;
        break;
      }
    }
  }

  const std::string fold_split = split.has("fold_split") ? split.get_string("fold_split") : "val";
  if (fold_split != "val" && fold_split != "test") {
    throw Error(fmt::format("[split] fold_split must be \"val\" or \"test\", found \"{}\"", fold_split));
  }
  const Fractions fractions{train_fraction, val_fraction, test_fraction, folds, fold, fold_split == "test"};
  const std::vector<int> destination =
      hold_out == "source" ? source_destinations(samples, groups, clusters, dataset, fractions, seed, result)
                           : random_destinations(groups, class_count, fractions, seed);

  const char* names[] = {"train", "val", "test"};
  for (std::size_t g = 0; g < groups.size(); ++g) {
    auto& out = destination[g] == 0 ? result.train : destination[g] == 1 ? result.val : result.test;
    for (std::size_t member : groups[g].members) {
      out.push_back(samples[member]);
      if (hold_out == "source") {
        ++result.sources_in[names[destination[g]]][dataset.class_names()[samples[member].label]]
                           [clusters.cluster[member]];
      }
    }
  }
  auto by_id = [](const Sample& a, const Sample& b) { return a.id < b.id; };
  std::sort(result.train.begin(), result.train.end(), by_id);
  std::sort(result.val.begin(), result.val.end(), by_id);
  std::sort(result.test.begin(), result.test.end(), by_id);
  return result;
}

}  // namespace cerebra
