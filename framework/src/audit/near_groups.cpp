// Near-duplicate groups without an all-pairs matrix: a BK-tree over the
// perceptual hashes finds candidates within the Hamming radius, thumbnails
// confirm them, and union-find joins the confirmed pairs into groups.
#include <algorithm>
#include <atomic>
#include <thread>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "cerebra/audit.h"
#include "cerebra/error.h"

namespace cerebra {

namespace {

// Nodes hold an image; children are keyed by their distance to the node, so a
// search for radius r visits only children whose key lies within r of the
// query's distance to the node (triangle inequality of the Hamming metric).
class BkTree {
 public:
  explicit BkTree(const std::vector<ImageTraits>& traits) : traits_(traits) {}

  void add(std::size_t item) {
    if (nodes_.empty()) {
      nodes_.push_back({item, {}});
      return;
    }
    std::size_t at = 0;
    for (;;) {
      const int distance = hamming(traits_[nodes_[at].item].phash, traits_[item].phash);
      auto it = nodes_[at].children.find(distance);
      if (it == nodes_[at].children.end()) {
        nodes_[at].children.emplace(distance, nodes_.size());
        nodes_.push_back({item, {}});
        return;
      }
      at = it->second;
    }
  }

  template <typename Visit>
  void within(std::uint64_t hash, int radius, Visit visit) const {
    if (nodes_.empty()) return;
    std::vector<std::size_t> pending{0};
    while (!pending.empty()) {
      const Node& node = nodes_[pending.back()];
      pending.pop_back();
      const int distance = hamming(traits_[node.item].phash, hash);
      if (distance <= radius) visit(node.item);
      for (auto it = node.children.lower_bound(distance - radius);
           it != node.children.end() && it->first <= distance + radius; ++it) {
        pending.push_back(it->second);
      }
    }
  }

 private:
  struct Node {
    std::size_t item;
    std::map<int, std::size_t> children;
  };
  const std::vector<ImageTraits>& traits_;
  std::vector<Node> nodes_;
};

class UnionFind {
 public:
  explicit UnionFind(std::size_t n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), 0); }
  std::size_t find(std::size_t x) {
    while (parent_[x] != x) x = parent_[x] = parent_[parent_[x]];
    return x;
  }
  void join(std::size_t a, std::size_t b) {
    a = find(a);
    b = find(b);
    if (a != b) parent_[std::max(a, b)] = std::min(a, b);
  }

 private:
  std::vector<std::size_t> parent_;
};

// Candidates come from the tree on one thread (cheap); confirming them is
// the costly part and runs on every core.
void join_near(const std::vector<ImageTraits>& traits, const NearOptions& options, UnionFind& sets) {
  BkTree tree(traits);
  std::vector<std::pair<std::size_t, std::size_t>> candidates;
  for (std::size_t i = 0; i < traits.size(); ++i) {
    if (!traits[i].readable) continue;
    tree.within(traits[i].phash, options.max_hamming, [&](std::size_t j) { candidates.emplace_back(j, i); });
    tree.add(i);
  }
  std::vector<char> confirmed(candidates.size(), 0);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t c = next++; c < candidates.size(); c = next++) {
      confirmed[c] = near_duplicates(traits[candidates[c].first], traits[candidates[c].second], options);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::max(1u, std::thread::hardware_concurrency()); ++t) pool.emplace_back(work);
  work();
  for (auto& thread : pool) thread.join();
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    if (confirmed[c]) sets.join(candidates[c].first, candidates[c].second);
  }
}

}  // namespace

GroupBy parse_group_by(const std::string& text) {
  if (text == "none") return GroupBy::None;
  if (text == "exact") return GroupBy::Exact;
  if (text == "near") return GroupBy::Near;
  throw Error(fmt::format("group_by must be \"exact\", \"near\" or \"none\", found \"{}\"", text));
}

std::vector<std::size_t> group_ids(const std::vector<std::string>& fingerprints,
                                   const std::vector<ImageTraits>& traits, GroupBy by, const NearOptions& options) {
  UnionFind sets(fingerprints.size());
  if (by == GroupBy::Near) join_near(traits, options, sets);
  if (by != GroupBy::None) {
    std::map<std::string, std::size_t> first_with;
    for (std::size_t i = 0; i < fingerprints.size(); ++i) {
      if (fingerprints[i].empty()) continue;  // unreadable: its own group
      auto [it, inserted] = first_with.emplace(fingerprints[i], i);
      if (!inserted) sets.join(it->second, i);
    }
  }
  std::vector<std::size_t> group(fingerprints.size());
  for (std::size_t i = 0; i < group.size(); ++i) group[i] = sets.find(i);
  return group;
}

std::vector<std::size_t> group_samples(const Dataset& dataset, const std::vector<Sample>& samples, GroupBy by,
                                       const std::string& cache_dir, const NearOptions& options) {
  std::vector<std::string> fingerprints(samples.size());
  std::vector<ImageTraits> traits(samples.size());
  if (by == GroupBy::Exact) {
    for (std::size_t i = 0; i < samples.size(); ++i) {
      try {
        fingerprints[i] = dataset.fingerprint(samples[i]);
      } catch (const std::exception&) {
        // Unreadable: its own group. The loader then skips it or stops on it,
        // as [loader] on_bad_file says, with the reason.
      }
    }
  } else if (by == GroupBy::Near) {
    TraitStore store(cache_dir);
    store.measure(dataset, samples, 0, fingerprints, traits);
    store.save();  // a cache that cannot be written only costs time
  }
  return group_ids(fingerprints, traits, by, options);
}

std::vector<bool> overlapping(const Dataset& dataset, const std::vector<Sample>& samples,
                              const std::vector<OtherImages>& others, const std::string& cache_dir,
                              const NearOptions& options) {
  TraitStore store(cache_dir);
  std::vector<std::string> fingerprints;
  std::vector<ImageTraits> traits;
  store.measure(dataset, samples, 0, fingerprints, traits);
  for (const auto& other : others) {
    std::vector<std::string> more_fingerprints;
    std::vector<ImageTraits> more_traits;
    store.measure(*other.dataset, other.samples, 0, more_fingerprints, more_traits);
    fingerprints.insert(fingerprints.end(), more_fingerprints.begin(), more_fingerprints.end());
    traits.insert(traits.end(), more_traits.begin(), more_traits.end());
  }
  store.save();  // a cache that cannot be written only costs time
  const auto group = group_ids(fingerprints, traits, GroupBy::Near, options);
  std::vector<bool> has_other(group.size(), false);
  for (std::size_t i = samples.size(); i < group.size(); ++i) has_other[group[i]] = true;
  std::vector<bool> result(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) result[i] = has_other[group[i]];
  return result;
}

}  // namespace cerebra
