// Source-held-out splits: each class's test (then val) images come from
// source clusters that the class's training images do not contain, a proxy
// for images from a scanner or collection the model has never seen.
#include "source_holdout.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "cerebra/data.h"
#include "cerebra/error.h"
#include "seeding.h"

namespace cerebra::detail {

namespace {

constexpr int kTrain = 0, kVal = 1, kTest = 2;

double distance2(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0;
  for (std::size_t d = 0; d < a.size(); ++d) sum += (a[d] - b[d]) * (a[d] - b[d]);
  return sum;
}

// The class's files in each cluster (unreadable ones, cluster -1, left out).
std::map<int, std::size_t> files_per_cluster(const std::vector<SourceGroup>& groups, int label) {
  std::map<int, std::size_t> files;
  for (const auto& g : groups) {
    if (g.label == label && !g.fixed_test && g.cluster >= 0) files[g.cluster] += g.files;
  }
  return files;
}

// The class's clusters other than its largest (which always trains), least
// typical first: farthest from the largest in trait space, ties by number.
// Why distance and not size: the largest cluster is what a model learns the
// class to look like, and the clusters farthest from it are the sources least
// like that, as a new scanner would be; the smallest cluster may be a mere
// sliver of the largest (the same size, a little brighter), a milder shift.
std::vector<int> least_typical_first(const std::map<int, std::size_t>& files, int largest,
                                     const SourceClusters& clusters) {
  std::vector<std::pair<double, int>> order;
  for (const auto& [cluster, count] : files) {
    if (cluster != largest) order.emplace_back(-distance2(clusters.centres[cluster], clusters.centres[largest]), cluster);
  }
  std::sort(order.begin(), order.end());
  std::vector<int> out;
  for (const auto& entry : order) out.push_back(entry.second);
  return out;
}

// Destination of each of the class's clusters. A cluster joins test while
// test is short of its target and stays within 1.5 times it (the first always
// joins, so every class has test images from a source it does not train on),
// then val likewise; what fits neither trains.
std::map<int, int> place_clusters(const std::vector<int>& order, const std::map<int, std::size_t>& files,
                                  std::size_t target_test, std::size_t target_val) {
  std::map<int, int> where;
  std::size_t in_test = 0, in_val = 0;
  auto fits = [](std::size_t in, std::size_t n, std::size_t target) {
    return in < target && 2 * (in + n) <= 3 * target;
  };
  for (int cluster : order) {
    const std::size_t n = files.at(cluster);
    if (target_test > 0 && (in_test == 0 || fits(in_test, n, target_test))) {
      where[cluster] = kTest;
      in_test += n;
    } else if (fits(in_val, n, target_val)) {
      where[cluster] = kVal;
      in_val += n;
    } else {
      where[cluster] = kTrain;
    }
  }
  return where;
}

// When the held-out clusters gave val less than half its target (a class
// with few clusters), val is topped up from the class's training groups, in
// seeded random order, so that model selection still has images of the
// class; the split's per-cluster counts show it. One training group stays.
void top_up_val(const std::vector<SourceGroup>& groups, int label, std::size_t target_val, std::uint64_t seed,
                std::vector<int>& destination) {
  std::size_t in_val = 0, in_train = 0;
  std::vector<std::size_t> training;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].label != label || groups[g].fixed_test) continue;
    if (destination[g] == kVal) in_val += groups[g].files;
    if (destination[g] == kTrain) training.push_back(g), in_train += groups[g].files;
  }
  if (2 * in_val >= target_val) return;
  portable_shuffle(training, mix_seed({seed, 0x50c7ceull, static_cast<std::uint64_t>(label)}));
  for (std::size_t g : training) {
    if (in_val >= target_val || in_train <= groups[g].files) break;
    destination[g] = kVal;
    in_val += groups[g].files;
    in_train -= groups[g].files;
  }
}

}  // namespace

std::vector<int> hold_out_sources(const std::vector<SourceGroup>& groups, const SourceClusters& clusters,
                                  const std::vector<std::string>& class_names, double val_fraction,
                                  double test_fraction, std::uint64_t seed) {
  std::vector<int> destination(groups.size(), kTrain);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].fixed_test) destination[g] = kTest;
  }
  for (int label = 0; label < static_cast<int>(class_names.size()); ++label) {
    const std::map<int, std::size_t> files = files_per_cluster(groups, label);
    if (files.empty()) continue;
    if (files.size() == 1) {
      throw Error(fmt::format("[split] hold_out = \"source\": every readable image of class '{}' lies in source "
                              "cluster {} (of {}), so none of its sources can be held out; set [split] "
                              "source_clusters to more clusters (e.g. 8; `cerebra audit --clusters K` shows them)",
                              class_names[label], files.begin()->first, clusters.centres.size()));
    }
    std::size_t total = 0;
    for (const auto& g : groups) {
      if (g.label == label && !g.fixed_test) total += g.files;
    }
    const int largest = std::max_element(files.begin(), files.end(), [](const auto& a, const auto& b) {
                          return a.second < b.second;
                        })->first;
    const auto target_test = static_cast<std::size_t>(std::llround(total * test_fraction));
    const auto target_val = static_cast<std::size_t>(std::llround(total * val_fraction));
    const std::map<int, int> where =
        place_clusters(least_typical_first(files, largest, clusters), files, target_test, target_val);
    for (std::size_t g = 0; g < groups.size(); ++g) {
      if (groups[g].label != label || groups[g].fixed_test) continue;
      auto it = where.find(groups[g].cluster);
      destination[g] = it == where.end() ? kTrain : it->second;
    }
    top_up_val(groups, label, target_val, seed, destination);
  }
  return destination;
}

}  // namespace cerebra::detail

namespace cerebra {

namespace {

// "glioma 4 (39), 3 (12)": the clusters of each class in one split; a
// cluster the class also trains on is marked "*" (val topped up).
std::string clusters_in(const SplitResult& split, const std::string& name) {
  auto it = split.sources_in.find(name);
  if (it == split.sources_in.end()) return "none";
  auto training = split.sources_in.find("train");
  std::vector<std::string> classes;
  for (const auto& [class_name, counts] : it->second) {
    std::vector<std::string> parts;
    for (const auto& [cluster, files] : counts) {
      const bool shared = training != split.sources_in.end() && training->second.count(class_name) &&
                          training->second.at(class_name).count(cluster);
      parts.push_back(fmt::format("{}{} ({})", cluster, shared ? "*" : "", files));
    }
    classes.push_back(class_name + " " + join(parts));
  }
  return join(classes, "; ");
}

}  // namespace

std::string describe_hold_out(const SplitResult& split) {
  if (split.hold_out != "source") return "";
  return fmt::format("source-held-out split over {} source clusters; test: {} | val: {} (cluster (files); * also "
                     "in the class's training)",
                     split.source_clusters, clusters_in(split, "test"), clusters_in(split, "val"));
}

}  // namespace cerebra
