// `cerebra audit`: the terminal summary, JSON and HTML of an audit.
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "audit_page.h"
#include "audit_sources.h"
#include "cerebra/files.h"
#include "cerebra/host.h"
#include "commands.h"

namespace cerebra::cli {

namespace {

using nlohmann::json;

// "no 1350, yes 1350" from {"no": 1350, "yes": 1350}.
std::string counts(const json& object) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : object.items()) parts.push_back(fmt::format("{} {}", key, value.dump()));
  return join(parts);
}

void print_source(const json& source) {
  std::cout << fmt::format("{}: {} files ({})", source["name"].get<std::string>(), source["files"].get<int>(),
                           counts(source["classes"]));
  if (!source["unlabelled"].empty()) std::cout << "; unlabelled " << counts(source["unlabelled"]);
  if (source.contains("splits")) std::cout << "; split " << counts(source["splits"]);
  if (source.contains("split_note")) std::cout << "\n  " << source["split_note"].get<std::string>();
  std::cout << fmt::format("\n  {} readable; channels {}; {} distinct sizes", source["readable"].get<int>(),
                           counts(source["channels"]), source["sizes"]["distinct"].get<int>());
  const auto& common = source["sizes"]["most_common"];
  if (!common.empty()) {
    std::cout << fmt::format(", most common {} ({} files)", common[0]["size"].get<std::string>(),
                             common[0]["files"].get<int>());
  }
  std::cout << "\n  intensity:";
  for (const auto& [name, s] : source["intensity"].items()) {
    std::cout << fmt::format(" {} mean {:.0f} black {:.0f}%;", name, s["mean"].get<double>(),
                             100 * s["black_share"].get<double>());
  }
  std::cout << "\n";
}

void print_groups(const std::string& title, const json& found, std::size_t examples) {
  std::cout << fmt::format("{}: {} group(s), {} file(s)\n", title, found["groups"].get<int>(), found["files"].get<int>());
  for (std::size_t g = 0; g < found["list"].size() && g < examples; ++g) {
    std::vector<std::string> members;
    for (const auto& m : found["list"][g]) {
      std::string where = m["source"].get<std::string>() + ":" + m["class"].get<std::string>();
      if (m.contains("split")) where += ":" + m["split"].get<std::string>();
      members.push_back(fmt::format("{} [{}]", m["file"].get<std::string>(), where));
    }
    std::cout << "  - " << join(members, "\n    ") << "\n";
  }
  if (found["list"].size() > examples) {
    std::cout << fmt::format("  ({} more; --json lists every group)\n", found["list"].size() - examples);
  }
}

void print_clusters(const json& source) {
  const json& c = source["clusters"];
  if (c.contains("skipped")) return;
  const json& traits = c["trait_classifier"];
  std::cout << fmt::format("source clusters of {}: {} ({}); acquisition traits alone predict the class "
                           "at {:.2f} (chance {:.2f}; nearest neighbour, leave one out)\n",
                           source["name"].get<std::string>(), c["k"].get<int>(),
                           c["silhouette"].empty() ? "k given" : "k by silhouette", traits["accuracy"].get<double>(),
                           traits["chance"].get<double>());
  for (std::size_t k = 0; k < c["clusters"].size(); ++k) {
    const json& cluster = c["clusters"][k];
    std::cout << fmt::format("  {}: {} files, {} ({:.0f}%), named {} ({:.0f}%), mean gray {:.0f}, black {:.0f}%: {}\n",
                             k, cluster["files"].get<int>(), cluster["size"].get<std::string>(),
                             100 * cluster["size_share"].get<double>(), cluster["name_pattern"].get<std::string>(),
                             100 * cluster["name_pattern_share"].get<double>(), cluster["median_mean"].get<double>(),
                             100 * cluster["median_black_share"].get<double>(), counts(cluster["classes"]));
    if (!cluster.contains("splits")) continue;
    std::vector<std::string> splits;
    for (const auto& [split, classes] : cluster["splits"].items()) splits.push_back(split + ": " + counts(classes));
    std::cout << "     " << join(splits, "; ") << "\n";
  }
  for (const auto& confound : c["confounds"]) std::cout << "  confound: " << confound["message"].get<std::string>() << "\n";
}

void print_summary(const json& report, std::size_t examples) {
  std::cout << fmt::format("audit: {} files in {} source(s), {:.1f} s ({} measured, {} from the cache)\n",
                           report["files"].get<int>(), report["sources"].size(),
                           report["seconds"]["total"].get<double>(), report["cache"]["misses"].get<int>(),
                           report["cache"]["hits"].get<int>());
  for (const auto& source : report["sources"]) print_source(source);
  print_groups("exact duplicates", report["exact_duplicates"], examples);
  print_groups(fmt::format("near duplicates (hash distance <= {}, thumbnail correlation >= {}, or >= {} aligned)",
                           report["thresholds"]["max_hamming"].get<int>(),
                           report["thresholds"]["min_correlation"].get<double>(),
                           report["thresholds"]["min_aligned"].get<double>()),
               report["near_duplicates"], examples);
  for (const char* kind : {"exact", "near"}) {
    const json& f = report[kind];
    print_groups(fmt::format("label conflicts ({})", kind), f["label_conflicts"], examples);
    print_groups(fmt::format("split leaks ({})", kind), f["split_leaks"], examples);
    if (report["sources"].size() > 1) print_groups(fmt::format("across sources ({})", kind), f["across_sources"], examples);
  }
  if (report["sources"].size() > 1) {
    const json& shared = report["shared_between_sources"];
    std::cout << fmt::format("shared images: {} distinct image(s) lie in more than one source", shared["distinct_images"].get<int>());
    for (const auto& [name, classes] : shared["files"].items()) std::cout << fmt::format("; {}: {}", name, counts(classes));
    std::cout << "\n";
  }
  std::cout << fmt::format("unreadable: {} file(s)\n", report["unreadable"].size());
  for (std::size_t i = 0; i < report["unreadable"].size() && i < examples; ++i) {
    std::cout << "  - " << report["unreadable"][i]["reason"].get<std::string>() << "\n";
  }
  for (const auto& source : report["sources"]) print_clusters(source);
  if (report["cache"].contains("warning")) std::cerr << "warning: " << report["cache"]["warning"].get<std::string>() << "\n";
}

}  // namespace

int command_audit(const CommonOptions& common, const std::vector<std::string>& inputs, const AuditCommandOptions& options) {
  int exit_code = kOk;
  auto host = open_host(common, false, exit_code);
  if (!host) return exit_code;
  std::vector<AuditSource> sources = audit_sources(host->registry(), inputs, options.overrides);
  AuditOptions audit_options;
  if (options.near_threshold >= 0) audit_options.near.max_hamming = options.near_threshold;
  audit_options.cache_dir = options.cache_dir;
  audit_options.clusters = options.clusters;
  json report = audit(sources, audit_options);
  if (!options.html.empty()) {
    write_file_atomically(options.html, audit_html(report, sources));
    if (!common.json) std::cerr << "audit: wrote " << options.html << "\n";
  }
  if (common.json) std::cout << report.dump(2) << "\n";
  else print_summary(report, options.examples);
  return kOk;
}

}  // namespace cerebra::cli
