// Source clusters: images that share acquisition traits (size, aspect,
// intensity, background), found by k-means, with their class mix. A class
// that comes mostly from a cluster of its own is a confound: a network can
// tell the classes apart by the collection instead of the tumour.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>

#include <fmt/format.h>

#include "audit_parts.h"
#include "cerebra/error.h"

namespace cerebra::detail {

namespace {

using Point = std::vector<double>;

// The traits a scanner or an export leaves, not the anatomy.
Point acquisition_traits(const ImageTraits& t) {
  return {std::log(std::max(1, t.width)), std::log(std::max(1, t.height)),
          std::log(static_cast<double>(std::max(1, t.width)) / std::max(1, t.height)),
          t.mean, t.spread, t.black_share, t.border_mean};
}

// z-scores per trait, so that pixels and shares weigh alike.
std::vector<Point> standardised(const std::vector<const ImageTraits*>& traits) {
  std::vector<Point> points;
  for (const ImageTraits* t : traits) points.push_back(acquisition_traits(*t));
  const std::size_t dims = points.empty() ? 0 : points[0].size();
  for (std::size_t d = 0; d < dims; ++d) {
    double sum = 0, squares = 0;
    for (const auto& p : points) sum += p[d];
    const double mean = sum / points.size();
    for (const auto& p : points) squares += (p[d] - mean) * (p[d] - mean);
    const double spread = std::sqrt(squares / points.size());
    for (auto& p : points) p[d] = spread > 1e-12 ? (p[d] - mean) / spread : 0.0;
  }
  return points;
}

double distance2(const Point& a, const Point& b) {
  double sum = 0;
  for (std::size_t d = 0; d < a.size(); ++d) sum += (a[d] - b[d]) * (a[d] - b[d]);
  return sum;
}

// Every n-th index, so that quadratic steps stay bounded on large sets.
std::vector<std::size_t> spread_sample(std::size_t n, std::size_t most) {
  std::vector<std::size_t> picked;
  const double step = n > most ? static_cast<double>(n) / most : 1.0;
  for (double at = 0; at < n && picked.size() < most; at += step) picked.push_back(static_cast<std::size_t>(at));
  return picked;
}

// Lloyd's k-means from a k-means++ start; fixed seed, so the same data gives
// the same clusters. Returns each point's cluster.
std::vector<int> kmeans(const std::vector<Point>& points, int k) {
  std::mt19937_64 random(42);
  auto uniform = [&] { return static_cast<double>(random() >> 11) * 0x1.0p-53; };
  std::vector<Point> centres{points[random() % points.size()]};
  std::vector<double> nearest(points.size());
  while (static_cast<int>(centres.size()) < k) {
    double total = 0;
    for (std::size_t i = 0; i < points.size(); ++i) {
      nearest[i] = std::numeric_limits<double>::max();
      for (const auto& c : centres) nearest[i] = std::min(nearest[i], distance2(points[i], c));
      total += nearest[i];
    }
    double target = uniform() * total;
    std::size_t chosen = 0;
    while (chosen + 1 < points.size() && (target -= nearest[chosen]) > 0) ++chosen;
    centres.push_back(points[chosen]);
  }
  std::vector<int> assignment(points.size(), -1);
  for (int iteration = 0; iteration < 100; ++iteration) {
    bool changed = false;
    for (std::size_t i = 0; i < points.size(); ++i) {
      int best = 0;
      double nearest_centre = distance2(points[i], centres[0]);
      for (int c = 1; c < k; ++c) {
        const double d = distance2(points[i], centres[c]);
        if (d < nearest_centre) nearest_centre = d, best = c;
      }
      changed |= assignment[i] != best;
      assignment[i] = best;
    }
    if (!changed) break;
    std::vector<Point> sums(k, Point(points[0].size(), 0.0));
    std::vector<std::size_t> counts(k, 0);
    for (std::size_t i = 0; i < points.size(); ++i) {
      ++counts[assignment[i]];
      for (std::size_t d = 0; d < points[i].size(); ++d) sums[assignment[i]][d] += points[i][d];
    }
    for (int c = 0; c < k; ++c) {
      if (counts[c] == 0) continue;  // an empty cluster keeps its centre
      for (auto& value : sums[c]) value /= counts[c];
      centres[c] = sums[c];
    }
  }
  return assignment;
}

// Mean silhouette over a sample: how much closer each point lies to its own
// cluster than to the next one (1 well separated, 0 overlapping).
double silhouette(const std::vector<Point>& points, const std::vector<int>& assignment, int k) {
  const auto sample = spread_sample(points.size(), 800);
  double total = 0;
  for (std::size_t i : sample) {
    std::vector<double> sums(k, 0.0);
    std::vector<std::size_t> counts(k, 0);
    for (std::size_t j : sample) {
      if (j == i) continue;
      sums[assignment[j]] += std::sqrt(distance2(points[i], points[j]));
      ++counts[assignment[j]];
    }
    const int own = assignment[i];
    if (counts[own] == 0) continue;
    const double a = sums[own] / counts[own];
    double b = std::numeric_limits<double>::max();
    for (int c = 0; c < k; ++c) {
      if (c != own && counts[c] > 0) b = std::min(b, sums[c] / counts[c]);
    }
    if (b < std::numeric_limits<double>::max()) total += (b - a) / std::max(a, b);
  }
  return total / sample.size();
}

// Leave-one-out nearest neighbour on the traits alone: how well the
// collection, without the anatomy, predicts the class. A copy of the image
// (its near-duplicate group) is no neighbour: it would share its traits.
nlohmann::json trait_classifier(const std::vector<Point>& points, const std::vector<ClusterItem>& items,
                                const std::vector<std::string>& class_names) {
  const auto sample = spread_sample(points.size(), 3000);
  std::vector<std::size_t> total(class_names.size(), 0), right(class_names.size(), 0);
  for (std::size_t i : sample) {
    std::size_t best = i;
    double best_distance = std::numeric_limits<double>::max();
    for (std::size_t j : sample) {
      if (items[j].group == items[i].group) continue;
      const double d = distance2(points[i], points[j]);
      if (d < best_distance) best_distance = d, best = j;
    }
    ++total[items[i].label];
    right[items[i].label] += items[best].label == items[i].label;
  }
  std::size_t all = 0, correct = 0, largest = 0;
  nlohmann::json recall = nlohmann::json::object();
  for (std::size_t c = 0; c < class_names.size(); ++c) {
    all += total[c];
    correct += right[c];
    largest = std::max(largest, total[c]);
    if (total[c] > 0) recall[class_names[c]] = static_cast<double>(right[c]) / total[c];
  }
  return {{"accuracy", all ? static_cast<double>(correct) / all : 0.0},
          {"chance", all ? static_cast<double>(largest) / all : 0.0},
          {"recall", recall},
          {"images", all},
          {"traits", {"width", "height", "aspect", "mean", "spread", "black_share", "border_mean"}}};
}

template <typename T>
T median(std::vector<T> values) {
  std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
  return values[values.size() / 2];
}

// The most common value and its share.
std::pair<std::string, double> most_common(const std::vector<std::string>& values) {
  std::map<std::string, std::size_t> counts;
  for (const auto& v : values) ++counts[v];
  auto top = std::max_element(counts.begin(), counts.end(),
                              [](const auto& a, const auto& b) { return a.second < b.second; });
  return {top->first, static_cast<double>(top->second) / values.size()};
}

nlohmann::json describe_cluster(const std::vector<ClusterItem>& items, const std::vector<std::size_t>& members,
                                const std::vector<std::string>& class_names) {
  std::vector<std::string> sizes, patterns;
  std::vector<double> means, blacks, borders;
  nlohmann::json classes = nlohmann::json::object(), splits = nlohmann::json::object();
  for (const auto& name : class_names) classes[name] = 0;
  for (std::size_t i : members) {
    // Which split each class's files of this cluster went to: a source-held-
    // out split shows here which clusters it held out.
    if (!items[i].split.empty()) {
      auto& files = splits[items[i].split][class_names[items[i].label]];
      files = files.is_null() ? 1 : files.get<int>() + 1;
    }
    const ImageTraits& t = *items[i].traits;
    sizes.push_back(fmt::format("{}x{}", t.width, t.height));
    patterns.push_back(name_pattern(items[i].file));
    means.push_back(t.mean);
    blacks.push_back(t.black_share);
    borders.push_back(t.border_mean);
    classes[class_names[items[i].label]] = classes[class_names[items[i].label]].get<int>() + 1;
  }
  auto [size, size_share] = most_common(sizes);
  auto [pattern, pattern_share] = most_common(patterns);
  nlohmann::json out = {{"files", members.size()},         {"classes", classes},
                        {"size", size},                    {"size_share", size_share},
                        {"name_pattern", pattern},         {"name_pattern_share", pattern_share},
                        {"median_mean", median(means)},    {"median_black_share", median(blacks)},
                        {"median_border_mean", median(borders)}};
  if (!splits.empty()) out["splits"] = splits;
  return out;
}

// A class most of whose images lie in one cluster that is mostly that class.
nlohmann::json confounds(const nlohmann::json& clusters, const nlohmann::json& traits,
                         const std::vector<std::string>& class_names) {
  nlohmann::json found = nlohmann::json::array();
  // Halfway from chance to perfect on traits no tumour leaves.
  const double accuracy = traits["accuracy"], chance = traits["chance"];
  if (accuracy >= chance + (1 - chance) / 2) {
    found.push_back({{"traits", true},
                     {"message", fmt::format("acquisition traits alone (size, aspect, intensity, background) predict "
                                             "the class at {:.2f} against a chance of {:.2f}: a model can learn the "
                                             "collection instead of the tumour",
                                             accuracy, chance)}});
  }
  for (const auto& name : class_names) {
    int total = 0;
    for (const auto& c : clusters) total += c["classes"][name].get<int>();
    if (total < 10) continue;
    for (std::size_t k = 0; k < clusters.size(); ++k) {
      const auto& c = clusters[k];
      const double share = static_cast<double>(c["classes"][name].get<int>()) / total;
      const double purity = static_cast<double>(c["classes"][name].get<int>()) / c["files"].get<int>();
      if (share < 0.5 || purity < 0.75) continue;
      found.push_back({{"class", name}, {"cluster", k}, {"share_of_class", share}, {"purity", purity},
                       {"message", fmt::format("{}: {:.0f}% of its images lie in cluster {} ({}, mean gray {:.0f}, "
                                               "black {:.0f}%), which is {:.0f}% {} — a model can learn the "
                                               "cluster instead of the tumour",
                                               name, 100 * share, k, c["size"].get<std::string>(),
                                               c["median_mean"].get<double>(),
                                               100 * c["median_black_share"].get<double>(), 100 * purity, name)}});
    }
  }
  return found;
}

// k-means with k = `clusters`, or chosen by silhouette between 2 and 8 when
// 0 (each k's score into `scores`); clusters numbered in k-means order with
// the empty ones left out, so the audit and the split number them alike.
std::vector<int> cluster_points(const std::vector<Point>& points, int clusters, nlohmann::json& scores) {
  int best_k = clusters;
  std::vector<int> best;
  if (clusters > 0) {
    best = kmeans(points, clusters);
  } else {
    double best_score = -2;
    for (int k = 2; k <= 8; ++k) {
      auto assignment = kmeans(points, k);
      const double score = silhouette(points, assignment, k);
      scores[std::to_string(k)] = score;
      if (score > best_score) best_score = score, best_k = k, best = std::move(assignment);
    }
  }
  std::vector<int> number(best_k, -1);
  int used = 0;
  for (int c = 0; c < best_k; ++c) {
    if (std::find(best.begin(), best.end(), c) != best.end()) number[c] = used++;
  }
  for (int& c : best) c = number[c];
  return best;
}

}  // namespace

nlohmann::json source_clusters(const std::vector<ClusterItem>& items, const std::vector<std::string>& class_names,
                               int clusters) {
  if (items.size() < 20) return {{"skipped", "fewer than 20 labelled readable images"}};
  std::vector<const ImageTraits*> traits;
  for (const auto& item : items) traits.push_back(item.traits);
  const std::vector<Point> points = standardised(traits);
  nlohmann::json scores = nlohmann::json::object();
  const std::vector<int> cluster = cluster_points(points, clusters, scores);
  std::vector<std::vector<std::size_t>> members(*std::max_element(cluster.begin(), cluster.end()) + 1);
  for (std::size_t i = 0; i < cluster.size(); ++i) members[cluster[i]].push_back(i);
  nlohmann::json described = nlohmann::json::array();
  for (const auto& m : members) described.push_back(describe_cluster(items, m, class_names));
  nlohmann::json traits_only = trait_classifier(points, items, class_names);
  return {{"k", described.size()},
          {"silhouette", scores},
          {"clusters", described},
          {"trait_classifier", traits_only},
          {"confounds", confounds(described, traits_only, class_names)}};
}

}  // namespace cerebra::detail

namespace cerebra {

SourceClusters cluster_sources(const std::vector<ImageTraits>& traits, int clusters) {
  std::vector<const ImageTraits*> readable;
  for (const auto& t : traits) {
    if (t.readable) readable.push_back(&t);
  }
  const int needed = std::max(clusters, 2);
  if (static_cast<int>(readable.size()) < needed) {
    throw Error(fmt::format("source clusters need at least {} readable images, found {}", needed, readable.size()));
  }
  const std::vector<detail::Point> points = detail::standardised(readable);
  nlohmann::json scores = nlohmann::json::object();
  const std::vector<int> found = detail::cluster_points(points, clusters, scores);
  SourceClusters result;
  result.centres.assign(*std::max_element(found.begin(), found.end()) + 1, {});
  std::vector<std::size_t> counts(result.centres.size(), 0);
  for (std::size_t i = 0; i < points.size(); ++i) {
    auto& centre = result.centres[found[i]];
    if (centre.empty()) centre.assign(points[i].size(), 0.0);
    for (std::size_t d = 0; d < points[i].size(); ++d) centre[d] += points[i][d];
    ++counts[found[i]];
  }
  for (std::size_t c = 0; c < counts.size(); ++c) {
    for (double& value : result.centres[c]) value /= counts[c];
  }
  std::size_t next = 0;
  for (const auto& t : traits) result.cluster.push_back(t.readable ? found[next++] : -1);
  return result;
}

}  // namespace cerebra
