// The audit as one self-contained HTML page (html_page.h): the summary, each
// source's make-up, every finding with thumbnails of its groups made now from
// the images themselves (never stored), and the source clusters.
#include "audit_page.h"

#include <map>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cerebra/html_page.h"

namespace cerebra::cli {

namespace {

using nlohmann::json;

constexpr std::size_t kGroupsShown = 40;  // per finding; the JSON lists them all
constexpr int kThumbHeight = 96;

// A small PNG of one image, or empty when it cannot be read now.
std::string thumbnail(const std::map<std::string, const AuditSource*>& sources, const json& member) {
  auto it = sources.find(member["source"].get<std::string>());
  if (it == sources.end()) return "";
  try {
    cv::Mat image = it->second->dataset->load(Sample{member["file"].get<std::string>(), -1, ""},
                                              LoadHint{kThumbHeight, kThumbHeight});
    cv::Mat small;
    const double scale = static_cast<double>(kThumbHeight) / image.rows;
    cv::resize(image, small, cv::Size(std::max(1, static_cast<int>(image.cols * scale)), kThumbHeight), 0, 0,
               cv::INTER_AREA);
    std::vector<unsigned char> png;
    cv::imencode(".png", small, png);
    return std::string(png.begin(), png.end());
  } catch (const std::exception&) {
    return "";
  }
}

std::string where(const json& member) {
  std::string text = member["source"].get<std::string>() + " · " + member["class"].get<std::string>();
  if (member.contains("split")) text += " · " + member["split"].get<std::string>();
  const std::string file = member["file"].get<std::string>();
  return text + "\n" + file.substr(file.find_last_of('/') + 1);
}

void groups_section(html::Page& page, const std::map<std::string, const AuditSource*>& sources, const std::string& id,
                    const std::string& title, const std::string& explanation, const json& found) {
  page.section(id, fmt::format("{} ({} groups, {} files)", title, found["groups"].get<int>(), found["files"].get<int>()));
  page.paragraph(explanation);
  if (found["list"].empty()) {
    page.paragraph("None found.");
    return;
  }
  for (std::size_t g = 0; g < found["list"].size() && g < kGroupsShown; ++g) {
    std::vector<html::Picture> pictures;
    for (const auto& member : found["list"][g]) {
      std::string png = thumbnail(sources, member);
      if (png.empty()) page.notice("cannot show " + member["file"].get<std::string>() + " (no longer readable)");
      else pictures.push_back({png, where(member)});
    }
    page.subheading(fmt::format("Group {}", g + 1)).gallery(pictures);
  }
  if (found["list"].size() > kGroupsShown) {
    page.notice(fmt::format("{} more groups: `cerebra audit --json` lists every one.", found["list"].size() - kGroupsShown));
  }
}

json class_chart(const json& source) {
  json labels = json::array(), counts = json::array();
  for (const auto& [name, count] : source["classes"].items()) {
    labels.push_back(name);
    counts.push_back(count);
  }
  return {{"type", "bar"},
          {"data", {{"labels", labels}, {"datasets", {{{"label", "images"}, {"data", counts}}}}}},
          {"options", {{"plugins", {{"legend", {{"display", false}}}}},
                       {"scales", {{"y", {{"title", {{"display", true}, {"text", "images"}}}}}}}}}};
}

void source_section(html::Page& page, const json& source, std::size_t index) {
  page.section(fmt::format("source-{}", index + 1), "Source: " + source["name"].get<std::string>());
  page.facts({{"files", std::to_string(source["files"].get<int>())},
              {"readable", std::to_string(source["readable"].get<int>())},
              {"distinct sizes", std::to_string(source["sizes"]["distinct"].get<int>())},
              {"channels", source["channels"].dump()},
              {"unlabelled", source["unlabelled"].empty() ? "none" : source["unlabelled"].dump()}});
  page.chart(fmt::format("classes-{}", index + 1), class_chart(source), "Images per class.");
  html::Table sizes{"Most common sizes", {"size", "files"}, {}};
  for (const auto& s : source["sizes"]["most_common"]) sizes.rows.push_back({s["size"].get<std::string>(), s["files"].dump()});
  page.table(sizes);
  html::Table intensity{"Intensity per class (gray levels 0-255)", {"class", "files", "mean", "spread", "black share", "border mean"}, {}};
  for (const auto& [name, s] : source["intensity"].items()) {
    intensity.rows.push_back({name, s["files"].dump(), fmt::format("{:.1f}", s["mean"].get<double>()),
                              fmt::format("{:.1f}", s["spread"].get<double>()),
                              fmt::format("{:.0f}%", 100 * s["black_share"].get<double>()),
                              fmt::format("{:.1f}", s["border_mean"].get<double>())});
  }
  page.table(intensity);
}

void clusters_section(html::Page& page, const json& source, std::size_t index) {
  const json& c = source["clusters"];
  page.section(fmt::format("clusters-{}", index + 1), "Source clusters: " + source["name"].get<std::string>());
  if (c.contains("skipped")) {
    page.paragraph("Not computed: " + c["skipped"].get<std::string>() + ".");
    return;
  }
  const json& traits = c["trait_classifier"];
  page.paragraph(fmt::format(
      "Images grouped by acquisition traits alone (size, aspect, intensity, background; k = {} by silhouette). A "
      "nearest neighbour on those traits, leaving each image and its copies out, predicts the class at {:.2f} against "
      "a chance of {:.2f}.",
      c["k"].get<int>(), traits["accuracy"].get<double>(), traits["chance"].get<double>()));
  for (const auto& confound : c["confounds"]) page.notice(confound["message"].get<std::string>());
  html::Table table{"Clusters", {"cluster", "files", "typical size", "file names", "mean gray", "black", "classes"}, {}};
  for (std::size_t k = 0; k < c["clusters"].size(); ++k) {
    const json& cluster = c["clusters"][k];
    std::vector<std::string> mix;
    for (const auto& [name, count] : cluster["classes"].items()) mix.push_back(name + " " + count.dump());
    table.rows.push_back({std::to_string(k), cluster["files"].dump(),
                          fmt::format("{} ({:.0f}%)", cluster["size"].get<std::string>(), 100 * cluster["size_share"].get<double>()),
                          fmt::format("{} ({:.0f}%)", cluster["name_pattern"].get<std::string>(),
                                      100 * cluster["name_pattern_share"].get<double>()),
                          fmt::format("{:.0f}", cluster["median_mean"].get<double>()),
                          fmt::format("{:.0f}%", 100 * cluster["median_black_share"].get<double>()), join(mix)});
  }
  page.table(table);
}

}  // namespace

std::string audit_html(const json& report, const std::vector<AuditSource>& sources) {
  std::map<std::string, const AuditSource*> by_name;
  for (const auto& source : sources) by_name[source.name] = &source;
  html::Page page("Cerebra data audit");
  page.section("summary", "Summary");
  const json& t = report["thresholds"];
  page.facts({{"files", std::to_string(report["files"].get<int>())},
              {"sources", std::to_string(report["sources"].size())},
              {"exact duplicate groups", std::to_string(report["exact_duplicates"]["groups"].get<int>())},
              {"near duplicate groups", std::to_string(report["near_duplicates"]["groups"].get<int>())},
              {"images in two sources", std::to_string(report["shared_between_sources"]["distinct_images"].get<int>())},
              {"unreadable files", std::to_string(report["unreadable"].size())},
              {"near duplicate when", fmt::format("hash distance <= {} and thumbnail correlation >= {} (>= {} once aligned)",
                                                  t["max_hamming"].get<int>(), t["min_correlation"].get<double>(),
                                                  t["min_aligned"].get<double>())},
              {"time", fmt::format("{:.1f} s", report["seconds"]["total"].get<double>())}});
  for (std::size_t i = 0; i < report["sources"].size(); ++i) source_section(page, report["sources"][i], i);
  groups_section(page, by_name, "exact", "Exact duplicates", "Byte-identical files.", report["exact_duplicates"]);
  groups_section(page, by_name, "near", "Near duplicates",
                 "Resized, re-encoded, re-processed or slightly cropped copies (groups joining at least two different files).",
                 report["near_duplicates"]);
  groups_section(page, by_name, "conflicts", "Label conflicts",
                 "The same or a near-identical image under two classes of one source.", report["near"]["label_conflicts"]);
  groups_section(page, by_name, "leaks", "Split leaks",
                 "Groups whose members lie in more than one of train, val and test.", report["near"]["split_leaks"]);
  if (sources.size() > 1) {
    groups_section(page, by_name, "across", "Across sources",
                   "Groups with members in two inputs: mind them whenever one trains and the other tests.",
                   report["near"]["across_sources"]);
  }
  page.section("unreadable", fmt::format("Unreadable files ({})", report["unreadable"].size()));
  html::Table unreadable{"", {"source", "reason"}, {}};
  for (const auto& u : report["unreadable"]) unreadable.rows.push_back({u["source"].get<std::string>(), u["reason"].get<std::string>()});
  if (unreadable.rows.empty()) page.paragraph("None.");
  else page.table(unreadable);
  for (std::size_t i = 0; i < report["sources"].size(); ++i) clusters_section(page, report["sources"][i], i);
  return page.render();
}

}  // namespace cerebra::cli
