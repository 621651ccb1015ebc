// The audit: measures every image of every source once, then reads the
// groups, conflicts, leaks, statistics and clusters off those measurements.
#include <chrono>
#include <map>
#include <set>

#include <fmt/format.h>

#include "audit_parts.h"

namespace cerebra {

namespace {

struct Entry {
  std::size_t source;
  const Sample* sample;
};

struct Measured {
  std::vector<Entry> entries;
  std::vector<std::string> fingerprints;
  std::vector<ImageTraits> traits;
};

Measured measure_all(const std::vector<AuditSource>& sources, const AuditOptions& options, nlohmann::json& out) {
  Measured all;
  TraitStore store(options.cache_dir);
  for (std::size_t s = 0; s < sources.size(); ++s) {
    std::vector<std::string> fingerprints;
    std::vector<ImageTraits> traits;
    store.measure(*sources[s].dataset, sources[s].samples, options.threads, fingerprints, traits);
    for (std::size_t i = 0; i < sources[s].samples.size(); ++i) all.entries.push_back({s, &sources[s].samples[i]});
    all.fingerprints.insert(all.fingerprints.end(), fingerprints.begin(), fingerprints.end());
    all.traits.insert(all.traits.end(), traits.begin(), traits.end());
  }
  out["cache"] = {{"hits", store.hits()}, {"misses", store.misses()}};
  if (std::string warning = store.save(); !warning.empty()) out["cache"]["warning"] = warning;
  return all;
}

std::string class_of(const AuditSource& source, const Sample& sample) {
  if (sample.label >= 0 && sample.label < static_cast<int>(source.class_names.size())) {
    return source.class_names[sample.label];
  }
  return "(unlabelled" + (sample.subset.empty() ? std::string() : ": " + sample.subset) + ")";
}

std::string split_of(const AuditSource& source, const Sample& sample) {
  auto it = source.split_of.find(sample.id);
  return it == source.split_of.end() ? "" : it->second;
}

nlohmann::json member(const std::vector<AuditSource>& sources, const Entry& entry) {
  const AuditSource& source = sources[entry.source];
  nlohmann::json m = {{"source", source.name}, {"file", entry.sample->id}, {"class", class_of(source, *entry.sample)}};
  if (std::string split = split_of(source, *entry.sample); !split.empty()) m["split"] = split;
  return m;
}

// Groups of two or more, from group ids (each group sorted, in order of its
// smallest member).
std::vector<std::vector<std::size_t>> groups_of(const std::vector<std::size_t>& ids) {
  std::map<std::size_t, std::vector<std::size_t>> by_id;
  for (std::size_t i = 0; i < ids.size(); ++i) by_id[ids[i]].push_back(i);
  std::vector<std::vector<std::size_t>> groups;
  for (auto& [id, members] : by_id) {
    if (members.size() > 1) groups.push_back(std::move(members));
  }
  return groups;
}

nlohmann::json group_list(const std::vector<AuditSource>& sources, const Measured& all,
                          const std::vector<std::vector<std::size_t>>& groups) {
  nlohmann::json list = nlohmann::json::array();
  std::size_t files = 0;
  for (const auto& group : groups) {
    nlohmann::json members = nlohmann::json::array();
    for (std::size_t i : group) members.push_back(member(sources, all.entries[i]));
    list.push_back(members);
    files += group.size();
  }
  return {{"groups", groups.size()}, {"files", files}, {"list", list}};
}

// What a group spans: the classes (within one source), the splits (within one
// source) or the sources; more than one of a kind is a finding.
struct Span {
  std::map<std::size_t, std::set<int>> labels;
  std::map<std::size_t, std::set<std::string>> splits;
  std::set<std::size_t> sources;
};

Span span_of(const std::vector<AuditSource>& sources, const Measured& all, const std::vector<std::size_t>& group) {
  Span span;
  for (std::size_t i : group) {
    const Entry& e = all.entries[i];
    span.sources.insert(e.source);
    if (e.sample->label >= 0) span.labels[e.source].insert(e.sample->label);
    if (std::string split = split_of(sources[e.source], *e.sample); !split.empty()) span.splits[e.source].insert(split);
  }
  return span;
}

template <typename Test>
std::vector<std::vector<std::size_t>> select(const std::vector<std::vector<std::size_t>>& groups, Test test) {
  std::vector<std::vector<std::size_t>> picked;
  for (const auto& g : groups) {
    if (test(g)) picked.push_back(g);
  }
  return picked;
}

// Conflicts, leaks and cross-source groups, each for exact and near groups.
nlohmann::json findings(const std::vector<AuditSource>& sources, const Measured& all,
                        const std::vector<std::vector<std::size_t>>& groups) {
  auto many = [](const auto& per_source) {
    for (const auto& [source, values] : per_source) {
      if (values.size() > 1) return true;
    }
    return false;
  };
  std::vector<std::vector<std::size_t>> conflicts, leaks, shared;
  for (const auto& group : groups) {
    const Span span = span_of(sources, all, group);
    if (many(span.labels)) conflicts.push_back(group);
    if (many(span.splits)) leaks.push_back(group);
    if (span.sources.size() > 1) shared.push_back(group);
  }
  return {{"label_conflicts", group_list(sources, all, conflicts)},
          {"split_leaks", group_list(sources, all, leaks)},
          {"across_sources", group_list(sources, all, shared)}};
}

// Near groups are those that join at least two different contents; groups of
// byte-identical files alone are already the exact list.
std::vector<std::vector<std::size_t>> near_only(const std::vector<std::vector<std::size_t>>& groups,
                                                const std::vector<std::size_t>& exact) {
  return select(groups, [&](const auto& g) {
    for (std::size_t i : g) {
      if (exact[i] != exact[g.front()]) return true;
    }
    return false;
  });
}

// Distinct contents that lie in more than one source, and how many files of
// each source's folders they are.
nlohmann::json shared_contents(const std::vector<AuditSource>& sources, const Measured& all) {
  std::map<std::string, std::set<std::size_t>> sources_of;
  for (std::size_t i = 0; i < all.entries.size(); ++i) {
    if (!all.fingerprints[i].empty()) sources_of[all.fingerprints[i]].insert(all.entries[i].source);
  }
  std::size_t distinct = 0;
  for (const auto& [fingerprint, in] : sources_of) distinct += in.size() > 1;
  nlohmann::json files = nlohmann::json::object();
  for (std::size_t i = 0; i < all.entries.size(); ++i) {
    if (all.fingerprints[i].empty() || sources_of[all.fingerprints[i]].size() < 2) continue;
    const Entry& e = all.entries[i];
    auto& count = files[sources[e.source].name][class_of(sources[e.source], *e.sample)];
    count = count.is_null() ? 1 : count.get<int>() + 1;
  }
  return {{"distinct_images", distinct}, {"files", files}};
}

}  // namespace

nlohmann::json audit(const std::vector<AuditSource>& sources, const AuditOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  nlohmann::json out = nlohmann::json::object();
  Measured all = measure_all(sources, options, out);
  const auto measured = std::chrono::steady_clock::now();

  const auto exact = group_ids(all.fingerprints, all.traits, GroupBy::Exact, options.near);
  const auto near = group_ids(all.fingerprints, all.traits, GroupBy::Near, options.near);
  const auto exact_groups = groups_of(exact), near_groups = groups_of(near);
  const auto grouped = std::chrono::steady_clock::now();
  out["thresholds"] = {{"max_hamming", options.near.max_hamming},
                       {"min_correlation", options.near.min_correlation},
                       {"min_aligned", options.near.min_aligned}};
  out["exact_duplicates"] = group_list(sources, all, exact_groups);
  out["near_duplicates"] = group_list(sources, all, near_only(near_groups, exact));
  out["exact"] = findings(sources, all, exact_groups);
  out["near"] = findings(sources, all, near_groups);
  out["shared_between_sources"] = shared_contents(sources, all);

  nlohmann::json unreadable = nlohmann::json::array(), per_source = nlohmann::json::array();
  std::size_t offset = 0;
  for (const auto& source : sources) {
    std::vector<const ImageTraits*> traits;
    std::vector<std::size_t> groups;
    for (std::size_t i = 0; i < source.samples.size(); ++i) {
      const ImageTraits& t = all.traits[offset + i];
      traits.push_back(&t);
      groups.push_back(near[offset + i]);
      if (!t.readable) unreadable.push_back({{"source", source.name}, {"file", source.samples[i].id}, {"reason", t.error}});
    }
    offset += source.samples.size();
    per_source.push_back(
        detail::source_statistics(source, traits, groups, source.clusters >= 0 ? source.clusters : options.clusters));
  }
  out["unreadable"] = unreadable;
  out["sources"] = per_source;
  out["files"] = all.entries.size();
  const auto end = std::chrono::steady_clock::now();
  auto seconds = [](auto from, auto to) { return std::chrono::duration<double>(to - from).count(); };
  out["seconds"] = {{"measure", seconds(start, measured)},
                    {"group", seconds(measured, grouped)},
                    {"total", seconds(start, end)}};
  return out;
}

}  // namespace cerebra
